"""Shared fixtures: real PostgreSQL databases and a RabbitMQ vhost per test session, and the stack
of service processes started as in production.

PostgreSQL: TEST_DATABASE_ADMIN_URL (default postgresql://postgres:postgres@127.0.0.1:5432/postgres).
RabbitMQ: TEST_AMQP_HOST (default 127.0.0.1:5672, guest/guest); vhosts are made with rabbitmqctl.
`make test` starts both when they are not running (scripts/ensure-services.sh).
"""
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
AMQP_HOST = os.environ.get("TEST_AMQP_HOST", "127.0.0.1:5672")
RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def make_database():
    """make_database(name) -> SQLAlchemy URL of a new, empty PostgreSQL database (dropped afterwards)."""
    created = []

    def make(name: str) -> str:
        database = f"concilia_t{RUN_ID}_{name}_{len(created)}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        created.append(database)
        return ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"

    yield make
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        for database in created:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def make_vhost():
    """make_vhost() -> AMQP URI of a new RabbitMQ vhost (deleted afterwards), so stacks and parallel
    test runs never consume each other's events."""
    created = []

    def make() -> str:
        vhost = f"concilia-test-{RUN_ID}-{len(created)}"
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        created.append(vhost)
        return f"amqp://guest:guest@{AMQP_HOST}/{vhost}"

    yield make
    for vhost in created:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def amqp_uri(make_vhost):
    """A RabbitMQ vhost of this test session's own."""
    return make_vhost()


@pytest.fixture(scope="module")
def start_stack(make_database, make_vhost, tmp_path_factory):
    """start_stack(services=[...], gateway=True, extra_env={}) -> a running concilia.devstack.Stack
    on PostgreSQL databases and a RabbitMQ vhost of its own, with random ports. Every stack started
    this way is stopped when its test module ends (a session's worth of stacks would exhaust
    PostgreSQL's connections)."""
    from concilia.devstack import FLOOR_PASSWORD_HASH, Stack, available_services
    stacks = []

    def start(services=None, gateway=True, extra_env=None, timeout=120.0):
        services = services or available_services()
        urls = {name: make_database(name) for name in services}
        data_dir = tmp_path_factory.mktemp("stack")
        env = {"BOOTSTRAP_ADMIN_EMAIL": "admin@concilia.test", "BOOTSTRAP_ADMIN_PASSWORD": "admin-password-1",
               "LOG_LEVEL": "INFO", **FLOOR_PASSWORD_HASH, **(extra_env or {})}
        stack = Stack(data_dir=data_dir, database_urls=urls, amqp_uri=env.pop("AMQP_URI", None) or make_vhost(),
                      services=services,
                      gateway=gateway, extra_env=env, random_ports=True)
        stacks.append(stack)
        stack.start(timeout=timeout)
        return stack

    yield start
    for stack in stacks:
        stack.stop()
