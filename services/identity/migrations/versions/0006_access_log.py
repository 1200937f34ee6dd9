"""access_log: reads of an account by someone other than its owner

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
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
