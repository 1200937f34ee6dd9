"""the idempotency key's unique constraint leads with the key

On a new (empty) table, the generic plan PostgreSQL caches for the filing's "earlier complaint
with this key?" lookup picked ix_complaints_consumer_filed (consumer_id, filed_at) and filtered the
key, reading every complaint of the consumer per filing, until the first autoanalyze replanned it.
With the key first, the unique index is the only one that matches both conditions.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("complaints") as batch:  # batch: SQLite rebuilds the table
        batch.drop_constraint("uq_complaints_consumer_idempotency_key", type_="unique")
        batch.create_unique_constraint("uq_complaints_idempotency_key_consumer", ["idempotency_key", "consumer_id"])


def downgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        batch.drop_constraint("uq_complaints_idempotency_key_consumer", type_="unique")
        batch.create_unique_constraint("uq_complaints_consumer_idempotency_key", ["consumer_id", "idempotency_key"])
