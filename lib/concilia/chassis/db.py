"""SQLAlchemy engines and transactions, and Alembic migrations per service.

PostgreSQL in production and integration tests; SQLite files as the embedded default. The URL
decides. Each service has its own database and its own `migrations/` folder next to its models.
"""
import collections
import functools
import importlib
import json
import logging
import re
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


class UtcDateTime(sa.types.TypeDecorator):
    """A timezone-aware instant on every database: stored as UTC, read back aware. PostgreSQL
    does this itself; SQLite (the embedded default) would store the wall-clock fields of whatever
    zone it was given and hand back naive values that cannot be compared with aware ones."""
    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None and dialect.name == "sqlite":
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def normalise_url(url: str) -> str:
    # Plain postgresql:// URLs (what operators write) use psycopg 3, the driver we ship.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, pool_size: int = 10, autocommit: bool = False) -> sa.Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):
            # WAL lets the api and worker processes share the file; foreign keys are off by default.
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
        return engine
    # In autocommit no transaction is ever left open, so a connection needs no rollback on its way
    # back to the pool.
    extra = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if autocommit else {}
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, **extra)
    _ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


# A connection back from the pool is checked with a ping only when it sat idle this long: a ping on
# every checkout (pool_pre_ping) is one more round trip per request, as much as a whole statement.
# A connection that breaks while in steady use fails its statement and is replaced by the pool.
PING_AFTER_IDLE_SECONDS = 5.0


def _ping_when_idle(engine: sa.Engine, idle_seconds: float) -> None:
    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        if time.monotonic() - record.info.get("idle_since", 0.0) < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # noqa: BLE001 - any failure means: not usable
            # The pool discards this connection and checks out (or opens) another one.
            raise sa.exc.DisconnectionError(f"stale pooled connection: {type(error).__name__}") from error


@functools.lru_cache(maxsize=64)
def numbered_sql(statement: sa.TextClause, dialect) -> tuple[str, tuple[str, ...]]:
    """A text statement with PostgreSQL's own numbered placeholders ($1, $2, ...) and the names of
    its parameters in that order, compiled once. psycopg's RawCursor sends such a statement as it
    is; with named parameters psycopg parses the statement again on every execution once it is over
    4 KB or 50 parameters (its own cache limit), as the filing's write is."""
    names: list[str] = []

    def number(match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"
    sql = re.sub(r"%\((\w+)\)s", number, str(statement.compile(dialect=dialect)))
    return sql.replace("%%", "%"), tuple(names)


def execute_numbered(connection, statement: sa.TextClause, dialect, params: dict, row_factory):
    """Runs a text statement on a driver connection (`Database.driver_connection()`) with
    `numbered_sql`; returns the cursor, whose rows `row_factory` builds."""
    import psycopg
    sql, names = numbered_sql(statement, dialect)
    cursor = psycopg.RawCursor(connection, row_factory=row_factory)
    return cursor.execute(sql, [params[name] for name in names])


class DriverPool:
    """psycopg connections in autocommit, for `Database.driver_connection()`: a last-in-first-out
    stack of idle connections, at most `size` kept, more opened when more threads ask at once.
    Its own pool rather than SQLAlchemy's: that pool's checkout and return (events, reset, fairy
    objects) cost about as much CPU as the filing's statements (docs/adr/0012-write-path.md).
    Same rules as the engine's pool: a connection that idled PING_AFTER_IDLE_SECONDS is pinged
    before use, one older than RECYCLE_SECONDS is closed on return."""

    RECYCLE_SECONDS = 1800.0

    def __init__(self, url: str, size: int):
        import psycopg
        self._connect = functools.partial(
            psycopg.connect, sa.engine.make_url(normalise_url(url)).set(drivername="postgresql")
            .render_as_string(hide_password=False), autocommit=True)
        self.size = size
        self._idle: collections.deque = collections.deque()  # (connection, opened at, idle since)
        self._opened_at: dict[int, float] = {}

    def get(self):
        while True:
            try:
                connection, idle_since = self._idle.pop()  # deque.pop is atomic: no lock needed
            except IndexError:
                connection = self._connect()
                self._opened_at[id(connection)] = time.monotonic()
                return connection
            if time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
                return connection
            try:
                connection.execute("SELECT 1")
                return connection
            except Exception:  # noqa: BLE001 - any failure means: not usable; try the next one
                self._discard(connection)

    def put(self, connection) -> None:
        now = time.monotonic()
        if (connection.closed or connection.broken or len(self._idle) >= self.size
                or now - self._opened_at.get(id(connection), now) > self.RECYCLE_SECONDS):
            self._discard(connection)
        else:
            self._idle.append((connection, now))

    def _discard(self, connection) -> None:
        self._opened_at.pop(id(connection), None)
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - closing a dead connection may fail; it is gone either way
            pass

    def clear(self) -> None:
        """Closes every idle connection (a server restart broke them all)."""
        while True:
            try:
                connection, _ = self._idle.pop()
            except IndexError:
                return
            self._discard(connection)


class Database:
    """An engine and a session factory. `with db.transaction() as session:` commits or rolls back."""

    def __init__(self, url: str, pool_size: int = 10):
        self.url = url
        self.pool_size = pool_size
        self.engine = make_engine(url, pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._driver_pool: DriverPool | None = None
        self._autocommit_lock = threading.Lock()

    def dispose(self) -> None:
        """Closes every pooled connection (both pools)."""
        self.engine.dispose()
        if self._driver_pool is not None:
            self._driver_pool.clear()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def driver_connection(self) -> Iterator[Any]:
        """A pooled connection as the driver's own object (a psycopg connection on PostgreSQL), in
        autocommit mode: every statement is its own transaction, with no BEGIN or COMMIT round
        trips. For hot paths of one or two statements whose writes are a single statement, where
        SQLAlchemy's own work per statement would cost more than the statement (docs/adr/0012).
        PostgreSQL only."""
        if not self.is_postgres:
            raise RuntimeError("driver_connection() is for PostgreSQL databases")
        if self._driver_pool is None:
            with self._autocommit_lock:
                if self._driver_pool is None:
                    self._driver_pool = DriverPool(self.url, self.pool_size)
        connection = self._driver_pool.get()
        try:
            yield connection
        except BaseException:
            if connection.broken:
                # Not put back; and a server restart broke the idle ones too: they are replaced.
                connection.close()
                self._driver_pool.clear()
            raise
        finally:
            self._driver_pool.put(connection)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def wait_for_database(url: str, timeout: float = 60.0) -> None:
    """Start-up tolerance: a database that arrives late is waited for, with backoff."""
    engine = make_engine(url, pool_size=1)
    deadline, delay = time.monotonic() + timeout, 0.2
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))
                return
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                log.warning("database not reachable yet; retrying")
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
    finally:
        engine.dispose()


def migrations_dir(service_package: str) -> Path:
    return Path(importlib.import_module(service_package).__file__).parent / "migrations"


def alembic_config(service_package: str, url: str):
    from alembic.config import Config
    config = Config()
    config.set_main_option("script_location", str(migrations_dir(service_package)))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def migrate(service_package: str, url: str, revision: str = "head") -> None:
    """Brings the service's database to `revision` (Alembic upgrade)."""
    from alembic import command
    wait_for_database(url)
    command.upgrade(alembic_config(service_package, url), revision)


def run_alembic_env(target_metadata: sa.MetaData) -> None:
    """Body of every service's migrations/env.py (online mode only)."""
    from alembic import context
    engine = make_engine(context.config.get_main_option("sqlalchemy.url"), pool_size=1)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


# --- batch writes (consumers write a whole batch of events in a few statements) ----------------

def bulk_insert(session: Session, table: sa.Table, rows: list[dict], conflict: str = "",
                returning: str = "", where: str = "") -> list:
    """One INSERT of many rows (all with the same keys), with an ON CONFLICT clause.

    PostgreSQL: one short statement with the rows as one JSON parameter, expanded by
    json_populate_recordset into the table's row type. It is parsed once whatever the batch size
    (a multi-row VALUES list is a new, long statement per batch size and costs more to build and
    parse than to run) and json.dumps is C code (psycopg's text dumping of arrays is not).
    SQLite, the embedded default: one row at a time. Rows are written in the given order:
    callers sort them so concurrent writers lock in the same order."""
    if not rows:
        return []
    names = list(rows[0])
    tail = _tail(conflict, returning)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        sql = _pg_insert_sql(table, names, ":rows", where, tail)
        result = session.execute(sa.text(sql), {"rows": json.dumps(rows, default=_json_value)})
        return list(result.scalars()) if returning else []
    values = ", ".join(f":{n} AS {n}" for n in names)
    # Typed parameters, so column types (UtcDateTime) convert values as an ORM insert would.
    sql = sa.text(f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM (SELECT {values}) AS r"
                  f" WHERE {where or 'true'}{tail}").bindparams(
        *(sa.bindparam(n, type_=table.c[n].type) for n in names))
    found = []
    for row in rows:
        result = session.execute(sql, row)
        if returning:
            found.extend(result.scalars())
    return found


def _tail(conflict: str, returning: str) -> str:
    return f" {conflict}" + (f" RETURNING {returning}" if returning else "")


def _pg_insert_sql(table: sa.Table, names: list[str], placeholder: str, where: str, tail: str) -> str:
    columns = ", ".join(names)
    return (f"INSERT INTO {table.name} ({columns}) SELECT {columns} "
            f"FROM json_populate_recordset(NULL::{table.name}, CAST({placeholder} AS json)) AS r"
            f"{' WHERE ' + where if where else ''}{tail}")


def _pg_delete_sql(table: sa.Table, column: str, placeholder: str) -> str:
    return f"DELETE FROM {table.name} WHERE {column} IN (SELECT json_array_elements_text(CAST({placeholder} AS json)))"


def delete_many(session: Session, table: sa.Table, column: str, values: list) -> None:
    """DELETE rows whose `column` is in `values`; on PostgreSQL with one JSON parameter (an IN
    list is a new statement per length, and parsing it costs more than the delete)."""
    if not values:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(_pg_delete_sql(table, column, ":values")), {"values": json.dumps(values)})
    else:
        session.execute(table.delete().where(table.c[column].in_(values)))


class Writes:
    """Batch writes of one transaction sent together. On PostgreSQL they go in psycopg's pipeline
    mode: every statement, and the BEGIN before them, in one round trip instead of one each. A
    consumer on a busy machine waits for the database to be scheduled once per round trip, so the
    number of round trips, not the statements' work, sets how long a batch takes
    (docs/adr/0009-metrics-group-commit.md). On SQLite each runs by itself, in order.

        writes = Writes(session)
        claimed = writes.insert(table, rows, "ON CONFLICT DO NOTHING", returning="id")
        writes.delete(other, "id", ids)
        writes.send()        # now `claimed` holds the RETURNING values

    The statements run in the order given, in the session's transaction; a failing one fails
    `send()` and leaves the transaction to be rolled back."""

    def __init__(self, session: Session):
        self.session = session
        self.pipelined = session.get_bind().dialect.name == "postgresql"
        self._queued: list[tuple] = []

    def insert(self, table: sa.Table, rows: list[dict], conflict: str = "", returning: str = "",
               where: str = "") -> list:
        """Queues a `bulk_insert`; returns the list that `send()` fills with the RETURNING values."""
        found: list = []
        if rows:
            self._queued.append(("insert", (table, rows, conflict, returning, where), found))
        return found

    def delete(self, table: sa.Table, column: str, values: list) -> None:
        """Queues a `delete_many`."""
        if values:
            self._queued.append(("delete", (table, column, values), None))

    def execute(self, sql: str) -> None:
        """Queues a statement without parameters (SAVEPOINT, say)."""
        self._queued.append(("sql", (sql,), None))

    def send(self) -> None:
        queued, self._queued = self._queued, []
        if not queued:
            return
        if not self.pipelined:
            for kind, args, found in queued:
                if kind == "insert":
                    found.extend(bulk_insert(self.session, *args))
                elif kind == "delete":
                    delete_many(self.session, *args)
                else:
                    self.session.execute(sa.text(args[0]))
            return
        bound = self.session.connection()
        connection = bound.connection.driver_connection
        cursors = []
        try:
            self._pipeline(connection, queued, cursors)
        except Exception:
            if connection.broken or connection.closed:
                bound.invalidate()  # SQLAlchemy did not see it break: the pool must not reuse it
            raise
        for cursor, found in cursors:  # the pipeline's end waited for every result
            if found is not None and cursor.description is not None:  # RETURNING
                found.extend(row[0] for row in cursor.fetchall())
            cursor.close()

    @staticmethod
    def _pipeline(connection, queued: list, cursors: list) -> None:
        with connection.pipeline():
            for kind, args, found in queued:
                cursor = connection.cursor()
                if kind == "insert":
                    table, rows, conflict, returning, where = args
                    cursor.execute(_pg_insert_sql(table, list(rows[0]), "%s", where, _tail(conflict, returning)),
                                   [json.dumps(rows, default=_json_value)])
                elif kind == "delete":
                    table, column, values = args
                    cursor.execute(_pg_delete_sql(table, column, "%s"), [json.dumps(values)])
                else:
                    cursor.execute(args[0])
                cursors.append((cursor, found))


def _json_value(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
