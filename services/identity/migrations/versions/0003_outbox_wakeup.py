"""outbox rows wake the relay: a statement trigger sends NOTIFY at commit (PostgreSQL only)

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from concilia.chassis.outbox import OUTBOX_NOTIFY_DDL_V1, OUTBOX_NOTIFY_DROP_V1, run_on_postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_on_postgresql(op, OUTBOX_NOTIFY_DDL_V1)


def downgrade() -> None:
    run_on_postgresql(op, OUTBOX_NOTIFY_DROP_V1)
