"""One transaction of the complaint rules (`Work`): the complaint it changes, read locked, the
complaint's messages and attachments, and the changes the lifecycle transitions collect, written
when the transaction ends (`Work.write_changes`).

On PostgreSQL a transition runs on the driver's own connection (`DriverWork`, from
`Database.driver_connection()`): lock and read, one statement writing the complaint's new values,
its history entry and its events (`transition_write`), commit. SQLAlchemy's work per statement cost
more than the statements themselves, as for filing (docs/adr/0012-write-path.md). Elsewhere
(SQLite), and where rules need a session of their own (the worker's sweeps claim rows with
SQLAlchemy queries), `SessionWork` does the same on a SQLAlchemy session.
"""
import collections
import functools
from dataclasses import dataclass, field

import sqlalchemy as sa
from psycopg.rows import namedtuple_row, tuple_row

from concilia.chassis.db import execute_numbered

from . import models as m

# A complaint row read by DriverWork (attributes and _asdict(), like a SQLAlchemy row).
ComplaintRow = collections.namedtuple("ComplaintRow", [column.name for column in m.complaints.c])


def _select_list(table: sa.Table) -> str:
    return ", ".join(f'{table.name}."{column.name}"' for column in table.c)


# The complaint a transition changes, locked until the transaction ends, and whether it has messages
# and attachments. Adding either locks the complaint first, so none can appear while it is locked,
# and the usual complaint, with neither, needs no further read.
LOCK_COMPLAINT = sa.text(
    "SELECT EXISTS (SELECT FROM messages WHERE complaint_id = :id) AS has_messages,"
    " EXISTS (SELECT FROM attachments WHERE complaint_id = :id) AS has_attachments,"
    f" {_select_list(m.complaints)} FROM complaints WHERE id = :id FOR UPDATE OF complaints")
MESSAGES_OF = sa.text(f"SELECT {_select_list(m.messages)} FROM messages WHERE complaint_id = :id"
                      " ORDER BY sent_at, id")
ATTACHMENTS_OF = sa.text(f"SELECT {_select_list(m.attachments)} FROM attachments WHERE complaint_id = :id"
                         " ORDER BY uploaded_at, id")
ERASED_CONSUMER = sa.text("SELECT 1 FROM erased_consumers WHERE account_id = :id")


def consumer_erased(connection, account_id: str) -> bool:
    """On a SQLAlchemy connection (SessionWork, and the rules' session transactions)."""
    return connection.execute(ERASED_CONSUMER, {"id": account_id}).first() is not None


def typed_values(table: sa.Table, columns: tuple, prefix: str, dialect) -> list[str]:
    """`CAST(:<prefix><column> AS <the column's type>)` for each column: the statement types its
    parameters itself, so it does not depend on how the driver sends each value."""
    return [f"CAST(:{prefix}{name} AS {table.c[name].type.compile(dialect)})" for name in columns]


@dataclass
class Change:
    """A transition of one complaint: its new values, its history entry and its events (outbox rows,
    in the order they are to be published)."""
    complaint_id: str
    values: dict
    entry: dict
    events: list[dict] = field(default_factory=list)


@functools.lru_cache(maxsize=64)
def _transition_statement(value_columns: tuple, entry_columns: tuple, event_columns: tuple, events: int,
                          dialect) -> sa.TextClause:
    """The statement of `transition_write`, built once per set of columns and number of events."""
    quote = dialect.identifier_preparer.quote

    def names(columns: tuple) -> str:
        return ", ".join(quote(name) for name in columns)
    assignments = ", ".join(f"{quote(name)} = {value}" for name, value in zip(
        value_columns, typed_values(m.complaints, value_columns, "c_", dialect)))
    statements = [
        f"UPDATE {m.complaints.name} SET {assignments} WHERE id = :id",
        f"INSERT INTO {m.history.name} ({names(entry_columns)})"
        f" VALUES ({', '.join(typed_values(m.history, entry_columns, 'h_', dialect))})"]
    if events:
        # One INSERT of several rows: their sequence numbers, hence the publishing order, follow the
        # list (the parts of a WITH run in no set order).
        rows = ", ".join(f"({', '.join(typed_values(m.outbox, event_columns, f'o{i}_', dialect))})"
                         for i in range(events))
        statements.append(f"INSERT INTO {m.outbox.name} ({names(event_columns)}) VALUES {rows}")
    *parts, last = statements
    return sa.text("WITH " + ", ".join(f"part{i} AS ({part})" for i, part in enumerate(parts)) + " " + last)


def transition_write(change: Change, dialect) -> tuple[sa.TextClause, dict]:
    """A transition's writes as one PostgreSQL statement (data-modifying CTEs), and its parameters.
    Nothing in it is conditional: the transaction holds the complaint locked since it was read."""
    event_columns = tuple(change.events[0]) if change.events else ()
    statement = _transition_statement(tuple(change.values), tuple(change.entry), event_columns,
                                      len(change.events), dialect)
    params = {"id": change.complaint_id, **{f"c_{k}": v for k, v in change.values.items()},
              **{f"h_{k}": v for k, v in change.entry.items()},
              **{f"o{i}_{k}": v for i, event in enumerate(change.events) for k, v in event.items()}}
    return statement, params


class Work:
    """What one transaction of the rules reads and the changes it collects (`changes`, written by
    `write_changes` when the transaction ends)."""

    def __init__(self):
        self.changes: list[Change] = []

    def complaint(self, complaint_id: str, for_update: bool):
        """The complaint row, or None."""
        raise NotImplementedError

    def consumer_erased(self, account_id: str) -> bool:
        """Whether this consumer's account was erased on request (ADR 0018)."""
        raise NotImplementedError

    def related(self, row) -> tuple[list, list]:
        """The complaint's messages and attachments, in the order they came."""
        raise NotImplementedError

    def write_changes(self) -> None:
        for change in self.changes:
            self._write(change)
        self.changes.clear()

    def _write(self, change: Change) -> None:
        raise NotImplementedError


class SessionWork(Work):
    """On a SQLAlchemy session (`session`, for statements of the caller's own)."""

    def __init__(self, session):
        super().__init__()
        self.session = session
        self.dialect = session.get_bind().dialect

    def complaint(self, complaint_id: str, for_update: bool):
        query = sa.select(m.complaints).where(m.complaints.c.id == complaint_id)
        if for_update and self.dialect.name == "postgresql":
            query = query.with_for_update()
        return self.session.execute(query).first()

    def consumer_erased(self, account_id: str) -> bool:
        return consumer_erased(self.session.connection(), account_id)

    def related(self, row) -> tuple[list, list]:
        return (self.session.execute(sa.select(m.messages).where(m.messages.c.complaint_id == row.id)
                                     .order_by(m.messages.c.sent_at, m.messages.c.id)).all(),
                self.session.execute(sa.select(m.attachments).where(m.attachments.c.complaint_id == row.id)
                                     .order_by(m.attachments.c.uploaded_at, m.attachments.c.id)).all())

    def _write(self, change: Change) -> None:
        connection = self.session.connection()
        if self.dialect.name == "postgresql":
            connection.execute(*transition_write(change, self.dialect))
            return
        # SQLite (embedded use; no data-modifying CTEs): statement by statement.
        connection.execute(m.complaints.update().where(m.complaints.c.id == change.complaint_id)
                           .values(**change.values))
        connection.execute(m.history.insert(), change.entry)
        for event in change.events:
            connection.execute(m.outbox.insert(), event)


class DriverWork(Work):
    """On a psycopg connection inside a transaction (PostgreSQL), for the transitions: every
    complaint it reads is locked."""

    def __init__(self, connection, dialect):
        super().__init__()
        self.connection = connection
        self.dialect = dialect
        self._has_related: dict[str, tuple[bool, bool]] = {}  # complaint id -> (messages?, attachments?)

    def complaint(self, complaint_id: str, for_update: bool):
        if not for_update:
            raise ValueError("DriverWork reads complaints only to change them (locked)")
        found = execute_numbered(self.connection, LOCK_COMPLAINT, self.dialect, {"id": complaint_id},
                                 tuple_row).fetchone()
        if found is None:
            return None
        has_messages, has_attachments, *columns = found
        row = ComplaintRow(*columns)
        self._has_related[row.id] = (has_messages, has_attachments)
        return row

    def consumer_erased(self, account_id: str) -> bool:
        return execute_numbered(self.connection, ERASED_CONSUMER, self.dialect, {"id": account_id},
                                tuple_row).fetchone() is not None

    def related(self, row) -> tuple[list, list]:
        has_messages, has_attachments = self._has_related[row.id]
        return (self._rows(MESSAGES_OF, row.id) if has_messages else [],
                self._rows(ATTACHMENTS_OF, row.id) if has_attachments else [])

    def _rows(self, statement: sa.TextClause, complaint_id: str) -> list:
        return execute_numbered(self.connection, statement, self.dialect, {"id": complaint_id},
                                namedtuple_row).fetchall()

    def _write(self, change: Change) -> None:
        statement, params = transition_write(change, self.dialect)
        execute_numbered(self.connection, statement, self.dialect, params, tuple_row)
