"""outbox rows wake the relay: a statement trigger sends NOTIFY at commit (PostgreSQL only)

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from concilia.chassis.outbox import OUTBOX_NOTIFY_DDL_V1, OUTBOX_NOTIFY_DROP_V1

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # SQLite (embedded use) has no NOTIFY: its relay polls
        for statement in OUTBOX_NOTIFY_DDL_V1:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in OUTBOX_NOTIFY_DROP_V1:
            op.execute(statement)
