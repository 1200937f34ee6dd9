"""access_log: reads of a consumer's complaints by anyone other than the consumer

Revision ID: 0007
Revises: 0006
"""
from alembic import op

from concilia.chassis.audit import create_access_log_table_v1, drop_access_log_table

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_access_log_table_v1(op)


def downgrade() -> None:
    drop_access_log_table(op)
