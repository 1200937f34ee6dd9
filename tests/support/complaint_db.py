"""Shared pieces of the complaint rules' in-process tests: a clock the test moves, and the complaint
database emptied between tests."""
from datetime import datetime, timedelta

import sqlalchemy as sa

from concilia.chassis.db import Database, migrate

COMPLAINT_TABLES = ("access_log", "erased_consumers", "history", "messages", "attachments", "complaints",
                    "companies", "outbox", "processed_events", "rate_counters")


class ManualClock:
    controlled = True

    def __init__(self, now: datetime):
        self.instant = now

    def now(self) -> datetime:
        return self.instant

    def advance(self, **kwargs) -> None:
        self.instant += timedelta(**kwargs)


def emptied_complaint_database(url: str, pool_size: int = 2) -> Database:
    """The (migrated) complaint database at `url`, every table emptied; history is append-only, so
    its trigger is lifted for the delete (PostgreSQL)."""
    database = Database(url, pool_size=pool_size)
    with database.engine.begin() as connection:
        if database.is_postgres:
            connection.execute(sa.text("ALTER TABLE history DISABLE TRIGGER history_append_only"))
        for table in COMPLAINT_TABLES:
            connection.execute(sa.text(f"DELETE FROM {table}"))
        if database.is_postgres:
            connection.execute(sa.text("ALTER TABLE history ENABLE TRIGGER history_append_only"))
    return database


def both_complaint_databases(kind: str, postgres_url: str, tmp_path, pool_size: int = 2) -> Database:
    """For tests run on both engines: the module's (migrated) PostgreSQL database, or a new SQLite
    file (the embedded default), emptied."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/complaint.db"
        migrate("services.complaint", url)
    else:
        url = postgres_url
    return emptied_complaint_database(url, pool_size)
