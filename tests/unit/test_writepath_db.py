"""concilia.chassis.db on a real PostgreSQL: driver connections in autocommit for single-statement
writes, the ordinary transactions beside them, pooled connections checked only after idling, and
batch writes sent in one round trip (Writes)."""
import psycopg
import psycopg.rows
import pytest
import sqlalchemy as sa

from concilia.chassis import db as chassis_db
from concilia.chassis.db import Database


@pytest.fixture(scope="module")
def url(make_database):
    url = make_database("writepath_db")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE items (id integer PRIMARY KEY)")
        connection.execute("CREATE TABLE labels (id text PRIMARY KEY)")  # Writes' tests
    return url


@pytest.fixture
def database(url):
    database = Database(url, pool_size=2)
    with database.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM items"))
        connection.execute(sa.text("DELETE FROM labels"))
    yield database
    database.dispose()


def ids(url) -> list[int]:
    with psycopg.connect(url) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM items ORDER BY id")]


def kill(backend_pid: int, url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))


def test_a_driver_connection_commits_each_statement_by_itself(database, url):
    with database.driver_connection() as connection:
        connection.execute("INSERT INTO items VALUES (1)")
        assert ids(url) == [1]  # visible to others before the block ends: no transaction was open
        with pytest.raises(psycopg.errors.UniqueViolation):
            connection.execute("INSERT INTO items VALUES (2), (1)")  # one statement: all or nothing
    assert ids(url) == [1]


def test_transactions_still_roll_back_after_driver_connections_were_used(database, url):
    for _ in range(3):
        with database.driver_connection() as connection:
            connection.execute("SELECT 1")
    with pytest.raises(RuntimeError):
        with database.transaction() as session:
            session.execute(sa.text("INSERT INTO items VALUES (5)"))
            raise RuntimeError("refused")
    assert ids(url) == []


def test_a_driver_connection_killed_by_the_server_is_replaced(database, url):
    with database.driver_connection() as connection:
        pid = connection.info.backend_pid
    kill(pid, url)
    with pytest.raises(psycopg.OperationalError):
        with database.driver_connection() as connection:
            connection.execute("SELECT 1")
    with database.driver_connection() as connection:  # the broken one was not put back
        assert connection.execute("SELECT 1").fetchone() == (1,)
        assert connection.info.backend_pid != pid


def test_a_pooled_connection_that_idled_is_checked_before_use(url, monkeypatch):
    monkeypatch.setattr(chassis_db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout counts as idle
    database = Database(url, pool_size=1)
    try:
        with database.engine.connect() as connection:
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        kill(pid, url)
        with database.engine.connect() as connection:  # the ping finds it dead: a new one, no error
            assert connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        database.dispose()


def test_a_connection_in_steady_use_is_not_pinged(url):
    database = Database(url, pool_size=1)  # PING_AFTER_IDLE_SECONDS: back within it, no ping
    try:
        with database.engine.connect() as connection:
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        kill(pid, url)
        # Not pinged: the statement fails (its request answers an error), the pool replaces it.
        with pytest.raises(sa.exc.OperationalError):
            with database.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        with database.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        database.dispose()


def test_a_driver_connection_that_idled_is_checked_before_use(url, monkeypatch):
    monkeypatch.setattr(chassis_db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout counts as idle
    database = Database(url, pool_size=1)
    try:
        with database.driver_connection() as connection:
            pid = connection.info.backend_pid
        kill(pid, url)
        with database.driver_connection() as connection:  # the ping finds it dead: a new one, no error
            assert connection.execute("SELECT pg_backend_pid()").fetchone()[0] != pid
    finally:
        database.dispose()


def test_numbered_statements_bind_each_name_once_in_order(database, url):
    statement = sa.text("INSERT INTO items SELECT :a UNION ALL SELECT :b + :a")
    sql, names = chassis_db.numbered_sql(statement, database.engine.dialect)
    assert names == ("a", "b") and "$1" in sql and "$2" in sql and ":" not in sql
    with database.driver_connection() as connection:
        chassis_db.execute_numbered(connection, statement, database.engine.dialect, {"b": 10, "a": 3},
                                    psycopg.rows.tuple_row)
    assert ids(url) == [3, 13]


LABELS = sa.Table("labels", sa.MetaData(), sa.Column("id", sa.Text, primary_key=True))


def labels(url) -> list[str]:
    with psycopg.connect(url) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM labels ORDER BY id")]


def _queue_claims(writes, first: list[str], second: list[str]):
    claimed = writes.insert(LABELS, [{"id": i} for i in first], "ON CONFLICT (id) DO NOTHING", returning="id")
    writes.delete(LABELS, "id", [first[0]])
    again = writes.insert(LABELS, [{"id": i} for i in second], "ON CONFLICT (id) DO NOTHING", returning="id")
    return claimed, again


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_writes_run_in_order_in_the_transaction_and_return_what_they_claimed(database, url, engine, tmp_path):
    if engine == "sqlite":
        database = Database(f"sqlite:///{tmp_path}/writes.db")
        with database.engine.begin() as connection:
            LABELS.create(connection)
    with database.transaction() as session:
        writes = chassis_db.Writes(session)
        assert writes.pipelined == (engine == "postgresql")
        claimed, again = _queue_claims(writes, ["a", "b", "c"], ["a", "c", "d"])
        assert claimed == [] and again == []  # nothing is sent before send()
        writes.send()
        # "a" was deleted after its claim, so the second insert claims it again; "c" was not.
        assert sorted(claimed) == ["a", "b", "c"] and sorted(again) == ["a", "d"]
        assert sorted(session.execute(sa.select(LABELS.c.id)).scalars()) == ["a", "b", "c", "d"]
    with database.transaction() as session:
        assert sorted(session.execute(sa.select(LABELS.c.id)).scalars()) == ["a", "b", "c", "d"]
    database.dispose()


def test_a_failing_write_fails_the_send_and_its_transaction_writes_nothing(database, url):
    with pytest.raises(psycopg.errors.UniqueViolation) as raised:
        with database.transaction() as session:
            writes = chassis_db.Writes(session)
            writes.insert(LABELS, [{"id": "g"}])
            writes.insert(LABELS, [{"id": "g"}])  # no ON CONFLICT: a unique violation
            writes.insert(LABELS, [{"id": "h"}])
            writes.send()
    assert isinstance(raised.value, psycopg.errors.UniqueViolation)
    assert labels(url) == []
    with database.transaction() as session:  # the pooled connection is usable again
        writes = chassis_db.Writes(session)
        writes.insert(LABELS, [{"id": "i"}])
        writes.send()
    assert labels(url) == ["i"]


def test_a_savepoint_in_the_writes_undoes_only_what_came_after_it(database, url):
    with database.transaction() as session:
        writes = chassis_db.Writes(session)
        writes.insert(LABELS, [{"id": "a"}])
        writes.execute("SAVEPOINT attempt")
        writes.insert(LABELS, [{"id": "b"}])
        writes.send()
        session.execute(sa.text("ROLLBACK TO SAVEPOINT attempt"))
        writes.insert(LABELS, [{"id": "c"}])
        writes.send()
    assert labels(url) == ["a", "c"]


def test_writes_on_a_connection_killed_by_the_server_fail_and_the_next_transaction_gets_a_new_one(database, url):
    with pytest.raises(psycopg.OperationalError):
        with database.transaction() as session:
            backend = session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            kill(backend, url)
            writes = chassis_db.Writes(session)
            writes.insert(LABELS, [{"id": "lost"}])
            writes.send()
    with database.transaction() as session:  # the pool did not hand the dead connection back
        writes = chassis_db.Writes(session)
        writes.insert(LABELS, [{"id": "kept"}])
        writes.send()
    assert labels(url) == ["kept"]
