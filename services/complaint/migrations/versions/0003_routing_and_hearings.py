"""routing to the competent authority and the conciliation hearing

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("complaints", sa.Column("authority_id", sa.String(length=64), server_default="", nullable=False))
    op.add_column("complaints", sa.Column("authority_jurisdiction", sa.String(length=120), server_default="",
                                          nullable=False))
    op.add_column("complaints", sa.Column("hearing_window_ends", sa.DateTime(timezone=True), nullable=True))
    op.add_column("complaints", sa.Column("hearing_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("complaints", sa.Column("hearing_url", sa.String(length=500), server_default="", nullable=False))
    op.add_column("complaints", sa.Column("hearing_outcome", sa.String(length=16), server_default="", nullable=False))
    # Complaints filed before routing keep the visibility they had: their region is their scope.
    op.execute("UPDATE complaints SET authority_jurisdiction = region_code")
    op.create_index("ix_complaints_authority_filed", "complaints", ["authority_jurisdiction", "filed_at"])
    op.create_index("ix_complaints_status_hearing_window", "complaints", ["status", "hearing_window_ends"])


def downgrade() -> None:
    op.drop_index("ix_complaints_status_hearing_window", table_name="complaints")
    op.drop_index("ix_complaints_authority_filed", table_name="complaints")
    for column in ("hearing_outcome", "hearing_url", "hearing_at", "hearing_window_ends", "authority_jurisdiction",
                   "authority_id"):
        op.drop_column("complaints", column)
