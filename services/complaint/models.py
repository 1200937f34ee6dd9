"""Tables of the complaint service (one `metadata`; Alembic migrations in migrations/)."""
import sqlalchemy as sa

from concilia.chassis.audit import define_access_log_table
from concilia.chassis.db import UtcDateTime

from concilia.chassis.outbox import define_outbox_tables

metadata = sa.MetaData()
Timestamp = UtcDateTime()

# Replica of participating companies, fed by company_registry events (company_adhered/suspended).
companies = sa.Table(
    "companies", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("group_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("trade_name", sa.String(200), nullable=False),
    sa.Column("segment_code", sa.String(120), nullable=False),
    sa.Column("segment_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),  # active | suspended
    # occurred_at of the last applied event: an older event delivered late must not win.
    sa.Column("changed_at", Timestamp, nullable=False),
)

complaints = sa.Table(
    "complaints", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("consumer_id", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(128)),
    sa.Column("request_hash", sa.String(64)),
    sa.Column("company_id", sa.String(64), nullable=False),
    sa.Column("company_group_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("company_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("segment_code", sa.String(120), nullable=False),
    sa.Column("segment_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("area", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("problem_group", sa.String(200), nullable=False),
    sa.Column("problem", sa.String(300), nullable=False),
    sa.Column("purchase_channel", sa.String(100), nullable=False),
    sa.Column("contacted_company_first", sa.Boolean, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("desired_outcome", sa.Text, nullable=False),
    sa.Column("region_code", sa.String(16), nullable=False),
    sa.Column("city", sa.String(100), nullable=False),
    sa.Column("filed_at", Timestamp, nullable=False),
    sa.Column("answer_deadline", Timestamp, nullable=False),
    sa.Column("answered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("answered_at", Timestamp),
    sa.Column("answer_text", sa.Text, nullable=False, server_default=""),
    sa.Column("answer_time_days", sa.Integer),
    sa.Column("refused_at", Timestamp),
    sa.Column("refusal_reason", sa.String(64), nullable=False, server_default=""),
    sa.Column("refusal_text", sa.Text, nullable=False, server_default=""),
    sa.Column("under_review_days", sa.Integer, nullable=False, server_default="0"),
    sa.Column("evaluation_deadline", Timestamp),
    sa.Column("resolution", sa.String(16), nullable=False, server_default=""),
    sa.Column("satisfaction_score", sa.Integer, nullable=False, server_default="0"),
    sa.Column("evaluation_comment", sa.Text, nullable=False, server_default=""),
    sa.Column("finalised_at", Timestamp),
    sa.Column("cancellation_reason", sa.Text, nullable=False, server_default=""),
    # The deadline a reminder was last sent for: a moved deadline (refusal rejected) gets a new one.
    sa.Column("answer_reminder_for", Timestamp),
    sa.Column("evaluation_reminder_for", Timestamp),
    # The competent authority (pack authority id) and the scope its managers act in: the
    # authority's jurisdiction, "<jurisdiction>/<id>" for a municipal office (docs/adr/0011).
    sa.Column("authority_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("authority_jurisdiction", sa.String(120), nullable=False, server_default=""),
    # Conciliation hearing (packs with hearings): last moment a hearing may be held, when it is
    # held, where (online), and how it ended.
    sa.Column("hearing_window_ends", Timestamp),
    sa.Column("hearing_at", Timestamp),
    sa.Column("hearing_url", sa.String(500), nullable=False, server_default=""),
    sa.Column("hearing_outcome", sa.String(16), nullable=False, server_default=""),
    # When the retention period (pack) emptied the closed complaint's texts (docs/adr/0021).
    sa.Column("texts_expired_at", Timestamp),
    # The key first: the index ix_complaints_consumer_filed must not look like a match for the
    # filing's key lookup (migration 0006).
    sa.UniqueConstraint("idempotency_key", "consumer_id", name="uq_complaints_idempotency_key_consumer"),
    sa.Index("ix_complaints_consumer_filed", "consumer_id", "filed_at"),
    sa.Index("ix_complaints_company_deadline", "company_id", "answer_deadline"),
    sa.Index("ix_complaints_group", "company_group_id"),
    sa.Index("ix_complaints_status_answer_deadline", "status", "answer_deadline"),
    sa.Index("ix_complaints_status_evaluation_deadline", "status", "evaluation_deadline"),
    sa.Index("ix_complaints_region_filed", "region_code", "filed_at"),
    sa.Index("ix_complaints_filed", "filed_at"),
    sa.Index("ix_complaints_authority_filed", "authority_jurisdiction", "filed_at"),
    sa.Index("ix_complaints_status_hearing_window", "status", "hearing_window_ends"),
    sa.Index("ix_complaints_retention_due", "texts_expired_at", "finalised_at"),
)

messages = sa.Table(
    "messages", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), nullable=False, index=True),
    sa.Column("author_id", sa.String(64), nullable=False),
    sa.Column("author_role", sa.String(32), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("sent_at", Timestamp, nullable=False),
    sa.Index("ix_messages_author_sent", "author_id", "sent_at"),
)

attachments = sa.Table(
    "attachments", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), nullable=False, index=True),
    sa.Column("file_name", sa.String(200), nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("uploaded_by", sa.String(64), nullable=False),
    sa.Column("uploaded_at", Timestamp, nullable=False),
)

# Append-only (on PostgreSQL a trigger rejects UPDATE and DELETE; see the first migration).
history = sa.Table(
    "history", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("actor_role", sa.String(32), nullable=False),
    sa.Column("from_status", sa.String(32), nullable=False, server_default=""),
    sa.Column("to_status", sa.String(32), nullable=False, server_default=""),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("at", Timestamp, nullable=False),
)

# Per-account rate limits: one counter row per account, kind and window (a local day for filings,
# an hour for messages), incremented with an upsert, so checking a limit costs one statement
# however many complaints the account has.
rate_counters = sa.Table(
    "rate_counters", metadata,
    sa.Column("account_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("window_start", Timestamp, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)

# Consumers whose account was erased on request (identity's account_erased; ADR 0018): an access
# token issued before the erasure stays valid until it expires, and must not add anything new.
erased_consumers = sa.Table(
    "erased_consumers", metadata,
    sa.Column("account_id", sa.String(64), primary_key=True),
    sa.Column("erased_at", Timestamp, nullable=False),
)

outbox, processed_events = define_outbox_tables(metadata)

# Reads of a consumer's complaints by anyone else (docs/adr/0020-access-audit.md).
access_log = define_access_log_table(metadata)
