"""mandatory adhesion: company facts, manager waivers and their history

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
    op.create_table(
        "company_facts",
        sa.Column("tax_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("tax_id"),
    )
    op.create_table(
        "adhesion_waivers",
        sa.Column("tax_id", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("granted_by", sa.String(length=36), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tax_id", "rule_id"),
    )
    op.create_table(
        "adhesion_history",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tax_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_adhesion_history_tax_id"), "adhesion_history", ["tax_id"], unique=False)
    # Waivers are legal decisions: their history is evidence, like company_history.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION adhesion_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'adhesion_history is append-only';
            END $$""")
        op.execute("CREATE TRIGGER adhesion_history_append_only BEFORE UPDATE OR DELETE ON adhesion_history "
                   "FOR EACH ROW EXECUTE FUNCTION adhesion_history_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER adhesion_history_no_{action.lower()} BEFORE {action} ON adhesion_history "
                       "BEGIN SELECT RAISE(ABORT, 'adhesion_history is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS adhesion_history_append_only ON adhesion_history")
        op.execute("DROP FUNCTION IF EXISTS adhesion_history_append_only()")
    op.drop_index(op.f("ix_adhesion_history_tax_id"), table_name="adhesion_history")
    op.drop_table("adhesion_history")
    op.drop_table("adhesion_waivers")
    op.drop_table("company_facts")
