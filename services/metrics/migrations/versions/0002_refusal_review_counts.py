"""open_complaints counts refusals and reviews: no past-deadline while under refusal review

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
    with op.batch_alter_table("open_complaints") as batch:  # batch: SQLite (embedded use) too
        batch.add_column(sa.Column("refusals", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reviews", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("open_complaints") as batch:
        batch.drop_column("reviews")
        batch.drop_column("refusals")
