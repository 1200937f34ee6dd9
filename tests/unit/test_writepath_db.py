"""concilia.chassis.db on a real PostgreSQL: driver connections in autocommit for single-statement
writes, the ordinary transactions beside them, and pooled connections checked only after idling."""
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
    return url


@pytest.fixture
def database(url):
    database = Database(url, pool_size=2)
    with database.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM items"))
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
