"""Tables of the notification database. Statuses are stored as short lowercase words."""
import sqlalchemy as sa

from concilia.chassis.db import UtcDateTime

from concilia.chassis.outbox import define_outbox_tables

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s", "pk": "pk_%(table_name)s"})

Id = sa.String(36)
Instant = UtcDateTime()

# outbox is unused today (this service publishes nothing); processed_events backs consume_once.
outbox, processed_events = define_outbox_tables(metadata)

# The contact directory, fed by identity's account_created. Personal data: never log these columns.
# identity's account_erased leaves a tombstone (erased_at set, every other column but the role blank)
# so that a late or redelivered account_created cannot bring the data back.
contacts = sa.Table(
    "contacts", metadata,
    sa.Column("account_id", Id, primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("email", sa.String(320), nullable=False, server_default=""),
    sa.Column("locale", sa.String(16), nullable=False, server_default=""),
    sa.Column("company_id", Id, nullable=False, server_default=""),
    sa.Column("group_id", Id, nullable=False, server_default=""),
    sa.Column("jurisdiction", sa.String(20), nullable=False, server_default=""),
    sa.Column("updated_at", Instant, nullable=False),
    sa.Column("erased_at", Instant, nullable=True),
    sa.Index("ix_contacts_role_company", "role", "company_id"),
    sa.Index("ix_contacts_role_group", "role", "group_id"),
)

# Companies as company_registry announced them (for the company's name in texts).
companies = sa.Table(
    "companies", metadata,
    sa.Column("company_id", Id, primary_key=True),
    sa.Column("trade_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("group_id", Id, nullable=False, server_default=""),
    sa.Column("updated_at", Instant, nullable=False),
)

preferences = sa.Table(
    "preferences", metadata,
    sa.Column("account_id", Id, primary_key=True),
    sa.Column("email_enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("locale", sa.String(16), nullable=False, server_default=""),
    sa.Column("muted_kinds", sa.Text, nullable=False, server_default="[]"),  # JSON list
    sa.Column("updated_at", Instant, nullable=False),
)

notifications = sa.Table(
    "notifications", metadata,
    sa.Column("id", Id, primary_key=True),  # uuid5(event id, recipient): the same on every redelivery
    sa.Column("account_id", Id, nullable=False),
    sa.Column("event_id", Id, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("complaint_id", Id, nullable=False, server_default=""),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("read_at", Instant, nullable=True),
    sa.UniqueConstraint("event_id", "account_id", name="uq_notifications_event_account"),
    sa.Index("ix_notifications_inbox", "account_id", "created_at"),
)

# Complaint events that reached nobody on one side: no agent of the company was known yet, or
# (with e-mail on) the consumer's contact was not. account_created comes from identity on a queue of
# its own and can arrive after the complaint's events (identity's worker down or behind). The first
# contacts recorded for that side get the notifications and e-mails then (domain.deliver_late);
# rows older than UNADDRESSED_RETENTION are pruned.
unaddressed_events = sa.Table(
    "unaddressed_events", metadata,
    sa.Column("event_id", Id, primary_key=True),
    sa.Column("waiting_for", sa.String(10), primary_key=True),  # company | consumer
    sa.Column("company_id", Id, nullable=False, server_default=""),
    sa.Column("company_group_id", Id, nullable=False, server_default=""),
    sa.Column("consumer_id", Id, nullable=False, server_default=""),
    sa.Column("envelope", sa.Text, nullable=False),  # the event as received (JSON)
    sa.Column("created_at", Instant, nullable=False),
    sa.Index("ix_unaddressed_events_company", "company_id"),
    sa.Index("ix_unaddressed_events_group", "company_group_id"),
    sa.Index("ix_unaddressed_events_consumer", "consumer_id"),
    sa.Index("ix_unaddressed_events_created", "created_at"),
)

# One row per e-mail to send; drained by the worker. Same key as its notification (Message-ID).
email_outbox = sa.Table(
    "email_outbox", metadata,
    sa.Column("notification_id", Id, primary_key=True),
    sa.Column("to_address", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Instant, nullable=False),
    sa.Column("last_error", sa.String(300), nullable=False, server_default=""),
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("sent_at", Instant, nullable=True),
    sa.Index("ix_email_outbox_due", "status", "next_attempt_at"),
)

webhooks = sa.Table(
    "webhooks", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("company_id", Id, nullable=False, index=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("event_types", sa.Text, nullable=False),  # JSON list
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("created_at", Instant, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
    sa.Column("id", Id, primary_key=True),  # uuid5(event id, webhook id)
    sa.Column("webhook_id", Id, sa.ForeignKey("webhooks.id"), nullable=False),
    sa.Column("event_id", Id, nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | retrying | delivered | dead_lettered
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("replays", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_http_status", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(300), nullable=False, server_default=""),
    sa.Column("next_attempt_at", Instant, nullable=False),
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("delivered_at", Instant, nullable=True),
    # Exactly one delivery per (event, endpoint), whatever AMQP redelivers.
    sa.UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_webhook_event"),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_list", "webhook_id", "created_at"),
)
