"""complaint events kept for the contacts that arrive after them (unaddressed_events)

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unaddressed_events",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("waiting_for", sa.String(length=10), nullable=False),
        sa.Column("company_id", sa.String(length=36), server_default="", nullable=False),
        sa.Column("company_group_id", sa.String(length=36), server_default="", nullable=False),
        sa.Column("consumer_id", sa.String(length=36), server_default="", nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "waiting_for", name=op.f("pk_unaddressed_events")),
    )
    op.create_index("ix_unaddressed_events_company", "unaddressed_events", ["company_id"])
    op.create_index("ix_unaddressed_events_group", "unaddressed_events", ["company_group_id"])
    op.create_index("ix_unaddressed_events_consumer", "unaddressed_events", ["consumer_id"])
    op.create_index("ix_unaddressed_events_created", "unaddressed_events", ["created_at"])


def downgrade() -> None:
    op.drop_table("unaddressed_events")
