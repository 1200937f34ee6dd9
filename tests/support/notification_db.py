"""The notification database for tests run on both engines."""
from concilia.chassis.db import Database, migrate


def notification_database(kind: str, postgres_url: str, tmp_path) -> Database:
    """The module's (migrated) PostgreSQL database, or a new, migrated SQLite file (the embedded
    default). The PostgreSQL one is shared by the module's tests."""
    url = postgres_url if kind == "postgresql" else f"sqlite:///{tmp_path}/notification.db"
    if kind == "sqlite":
        migrate("services.notification", url)
    return Database(url)
