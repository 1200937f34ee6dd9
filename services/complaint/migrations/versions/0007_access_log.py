"""access_log: reads of a consumer's complaints by anyone other than the consumer

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_access_log_owner_seq", "access_log", ["owner_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_access_log_owner_seq", table_name="access_log")
    op.drop_table("access_log")
