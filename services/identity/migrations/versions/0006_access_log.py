"""access_log: reads of an account by someone other than its owner

Revision ID: 0006
Revises: 0005
"""
from alembic import op

from concilia.chassis.audit import create_access_log_table_v1, drop_access_log_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_access_log_table_v1(op)


def downgrade() -> None:
    drop_access_log_table(op)
