"""Identity's access log (who read whose account) is pruned by the worker's retention timer after
the pack's retention.access_log_days; on PostgreSQL and SQLite."""
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from concilia.chassis import audit
from concilia.chassis.auth import Principal
from concilia.chassis.country import load_pack
from concilia.chassis.db import Database, migrate
from services.identity.models import access_log
from services.identity.worker import IdentityWorker

BR = load_pack("BR")
ADMIN = Principal("admin-1", "admin")
START = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, make_database, tmp_path):
    url = make_database("identity_retention") if request.param == "postgresql" else f"sqlite:///{tmp_path}/identity.db"
    migrate("services.identity", url)
    database = Database(url)
    yield database
    database.dispose()


def read_accounts(db, at: datetime, *owners: str) -> None:
    with db.transaction() as session:
        audit.record(session.connection(), access_log, ADMIN, "account.read", [(o, o) for o in owners], at)


def owners(db) -> list[str]:
    with db.transaction() as session:
        return sorted(session.scalars(sa.select(access_log.c.owner_id)))


@pytest.mark.parametrize("pack", [BR, load_pack("AR")], ids=["BR", "AR"])
def test_the_worker_prunes_reads_older_than_the_pack_period(db, pack):
    days = pack.retention.access_log_days
    read_accounts(db, START, "old-1", "old-2")
    read_accounts(db, START + timedelta(days=1), "recent")
    worker = IdentityWorker()
    worker.db = db
    worker.platform = SimpleNamespace(pack=pack, clock=SimpleNamespace(now=lambda: START + timedelta(days=days, hours=1)))
    worker.apply_retention()
    assert owners(db) == ["recent"]
    worker.platform.clock.now = lambda: START + timedelta(days=days + 1, hours=1)
    worker.apply_retention()
    assert owners(db) == []
