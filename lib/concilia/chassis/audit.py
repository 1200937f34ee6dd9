"""Access audit (../shared/docs/domain.md, "Privacy": access is audited): each read of a person's
data by someone else leaves a row in the reading service's `access_log`, written in the read's own
transaction (no read without its row), and the person can list who read it (ListAccesses).

Rows hold ids, roles and what was read, never the data itself. They outlive an erasure on request:
the trail of who saw the data is kept as the authorities' record (docs/adr/0020-access-audit.md).

    access_log = audit.define_access_log_table(metadata)
    audit.record(connection, access_log, principal, "complaint.read", [(row.consumer_id, row.id)], now)
    rows, next_token = audit.page(connection, access_log, owner_id, page_size, page_token)
"""
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from .auth import Principal
from . import retention
from .db import Database, UtcDateTime
from .errors import InvalidArgument, PermissionDenied

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def define_access_log_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "access_log", metadata,
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),  # whose data was read
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),  # e.g. "complaint.read"
        sa.Column("subject_id", sa.String(64), nullable=False, server_default=""),  # the complaint, the account
        sa.Index("ix_access_log_owner_seq", "owner_id", "seq"),
    )


def create_access_log_table_v1(op) -> None:
    """The access_log table as first defined, for the services' alembic migrations. Frozen: a later
    change to the table gets a function and a migration of its own."""
    op.create_table(
        "access_log",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_access_log_owner_seq", "access_log", ["owner_id", "seq"])


def drop_access_log_table(op) -> None:
    op.drop_index("ix_access_log_owner_seq", table_name="access_log")
    op.drop_table("access_log")


def record(connection, table: sa.Table, reader: Principal, action: str, reads: Iterable[tuple[str, str]],
           at: datetime) -> int:
    """One row per (owner id, subject id) read by `reader`, except what readers read of their own.
    Returns how many rows were written."""
    rows = [dict(at=at, owner_id=owner, actor_id=reader.account_id, actor_role=reader.role, action=action,
                 subject_id=subject) for owner, subject in dict.fromkeys(reads)
            if owner and owner != reader.account_id]
    if rows:
        connection.execute(table.insert(), rows)
    return len(rows)


def owner_to_list(caller: Principal, owner_id: str) -> str:
    """Whose accesses `caller` may list: their own, or (admins) anyone's."""
    owner_id = (owner_id or "").strip() or caller.account_id
    if owner_id != caller.account_id and caller.role != "admin":
        raise PermissionDenied("you can only list who read your own data")
    return owner_id


def page(connection, table: sa.Table, owner_id: str, page_size: int = 0, page_token: str = "") -> tuple[list, str]:
    """The owner's rows, newest first, and the token of the next page ("" at the end)."""
    if page_size < 0:
        raise InvalidArgument("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    query = sa.select(table).where(table.c.owner_id == owner_id).order_by(table.c.seq.desc()).limit(size + 1)
    if page_token:
        if not page_token.isdigit() or len(page_token) > 19:
            raise InvalidArgument("page_token", "is not a token returned by this list")
        query = query.where(table.c.seq < int(page_token))
    rows = connection.execute(query).all()
    return rows[:size], str(rows[size - 1].seq) if len(rows) > size else ""


def prune(database: Database, table: sa.Table, days: int | None, now: datetime) -> int:
    """Deletes the rows older than `days` (the pack's retention.access_log_days; None keeps them)."""
    if days is None:
        return 0
    return retention.prune_older_than(database, table, "at", now - timedelta(days=days))
