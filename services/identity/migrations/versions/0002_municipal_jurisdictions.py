"""jurisdiction holds municipal office dockets ("AR-B/omic-la-plata")

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
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("jurisdiction", type_=sa.String(64), existing_type=sa.String(16), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("jurisdiction", type_=sa.String(16), existing_type=sa.String(64), existing_nullable=True)
