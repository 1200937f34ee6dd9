import sqlalchemy as sa

from concilia.chassis.db import UtcDateTime

from concilia.chassis.audit import define_access_log_table
from concilia.chassis.outbox import define_outbox_tables

metadata = sa.MetaData()

accounts = sa.Table(
    "accounts", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    # Compact national ID; unique among consumers (NULL for staff, who sign in by e-mail only).
    sa.Column("national_id", sa.String(32), nullable=True, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("company_id", sa.String(36), nullable=True),
    sa.Column("group_id", sa.String(36), nullable=True),
    sa.Column("jurisdiction", sa.String(64), nullable=True),  # "AR-B/omic-la-plata" for a municipal office
    # A sector monitor's market segments, comma-separated pack segment codes ("" = every segment).
    sa.Column("segments", sa.String(2000), nullable=False, server_default=""),
    sa.Column("locale", sa.String(10), nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # Set when the personal data was erased on request (name, e-mail, national ID and password blanked).
    sa.Column("erased_at", UtcDateTime(), nullable=True),
)

refresh_tokens = sa.Table(
    "refresh_tokens", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    # sha256 of the token: a database leak does not leak usable tokens.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False, index=True),
    # Rotation family: reuse of a rotated token revokes the whole family (stolen-token signal).
    sa.Column("family_id", sa.String(36), nullable=False, index=True),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

outbox, processed_events = define_outbox_tables(metadata)
# Reads of an account by someone other than its owner (docs/adr/0020-access-audit.md).
access_log = define_access_log_table(metadata)
