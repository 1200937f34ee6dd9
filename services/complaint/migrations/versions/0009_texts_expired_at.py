"""complaints.texts_expired_at: when the pack's retention period emptied a closed complaint's texts

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("complaints", sa.Column("texts_expired_at", sa.DateTime(timezone=True), nullable=True))
    # The retention sweep's "not expired yet, closed before the cutoff, oldest first".
    op.create_index("ix_complaints_retention_due", "complaints", ["texts_expired_at", "finalised_at"])


def downgrade() -> None:
    op.drop_index("ix_complaints_retention_due", table_name="complaints")
    with op.batch_alter_table("complaints") as batch:  # batch: SQLite rebuilds the table
        batch.drop_column("texts_expired_at")
