import sqlalchemy as sa

from concilia.chassis.db import UtcDateTime

from concilia.chassis.outbox import define_outbox_tables

metadata = sa.MetaData()

economic_groups = sa.Table(
    "economic_groups", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    # Case- and accent-insensitive form of the name: "Grupo Ação" and "grupo acao" are one group.
    sa.Column("name_key", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

companies = sa.Table(
    "companies", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    # Compact national company ID (BR: CNPJ, AR: CUIT).
    sa.Column("tax_id", sa.String(32), nullable=False, unique=True),
    sa.Column("legal_name", sa.String(200), nullable=False),
    sa.Column("trade_name", sa.String(200), nullable=False),
    sa.Column("segment_code", sa.String(80), nullable=False, index=True),
    sa.Column("group_id", sa.String(36), sa.ForeignKey("economic_groups.id"), nullable=True, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("status_reason", sa.String(500), nullable=False, server_default=""),
    # Sort key of listings (folded trade name) and the text the name filter searches.
    sa.Column("sort_name", sa.String(200), nullable=False, index=True),
    sa.Column("search_text", sa.String(401), nullable=False),
    sa.Column("terms_accepted_at", UtcDateTime(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# Append-only (the migration installs triggers that refuse UPDATE and DELETE).
company_history = sa.Table(
    "company_history", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("company_id", sa.String(36), sa.ForeignKey("companies.id"), nullable=False, index=True),
    sa.Column("from_status", sa.String(16), nullable=True),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False, server_default=""),
    # Who did it: an account id and its role ("" and "public" for an anonymous application).
    sa.Column("actor_id", sa.String(36), nullable=False),
    sa.Column("actor_role", sa.String(20), nullable=False),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
)

company_suggestions = sa.Table(
    "company_suggestions", metadata,
    sa.Column("tax_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("times_suggested", sa.Integer, nullable=False),
    sa.Column("first_suggested_at", UtcDateTime(), nullable=False),
    sa.Column("last_suggested_at", UtcDateTime(), nullable=False),
    sa.Index("ix_company_suggestions_ranking", "times_suggested", "tax_id"),
)

# Mandatory adhesion (rules are data in the country pack). Keyed by the compact tax id, so facts can
# be recorded for a company that is not on the platform yet (e.g. one consumers suggested).
company_facts = sa.Table(
    "company_facts", metadata,
    sa.Column("tax_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    # JSON object: fact name (as the pack declares it) -> number, boolean or segment code.
    sa.Column("facts", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(36), nullable=False),
)

# A manager's waiver of one adhesion rule for one company (current state; the history keeps every change).
adhesion_waivers = sa.Table(
    "adhesion_waivers", metadata,
    sa.Column("tax_id", sa.String(32), primary_key=True),
    sa.Column("rule_id", sa.String(100), primary_key=True),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("granted_by", sa.String(36), nullable=False),
    sa.Column("granted_at", UtcDateTime(), nullable=False),
)

# Append-only (the migration installs triggers that refuse UPDATE and DELETE).
adhesion_history = sa.Table(
    "adhesion_history", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("tax_id", sa.String(32), nullable=False, index=True),
    sa.Column("action", sa.String(20), nullable=False),   # facts_recorded | waiver_granted | waiver_revoked
    sa.Column("detail", sa.String(500), nullable=False),  # fact names changed, or the rule id
    sa.Column("reason", sa.String(500), nullable=False, server_default=""),
    sa.Column("actor_id", sa.String(36), nullable=False),
    sa.Column("actor_role", sa.String(20), nullable=False),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
)

outbox, processed_events = define_outbox_tables(metadata)
