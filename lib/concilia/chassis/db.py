"""SQLAlchemy engines and transactions, and Alembic migrations per service.

PostgreSQL in production and integration tests; SQLite files as the embedded default. The URL
decides. Each service has its own database and its own `migrations/` folder next to its models.
"""
import importlib
import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


def normalise_url(url: str) -> str:
    # Plain postgresql:// URLs (what operators write) use psycopg 3, the driver we ship.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, pool_size: int = 10) -> sa.Engine:
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
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                            pool_recycle=1800)


class Database:
    """An engine and a session factory. `with db.transaction() as session:` commits or rolls back."""

    def __init__(self, url: str, pool_size: int = 10):
        self.engine = make_engine(url, pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

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
