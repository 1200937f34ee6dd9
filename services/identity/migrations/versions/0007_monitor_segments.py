"""accounts.segments: the market segments a sector monitor is limited to

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("segments", sa.String(length=2000), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:  # batch: SQLite rebuilds the table
        batch.drop_column("segments")
