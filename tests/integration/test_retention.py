"""Pruning of processed_events (concilia.chassis.retention): rows older than the retention go, in
bounded batches, on PostgreSQL and SQLite; recent rows stay; and every worker that consumes events
prunes its own table on its timer."""
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from concilia.chassis import retention
from concilia.chassis.db import Database
from concilia.chassis.outbox import define_outbox_tables

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
RETENTION = timedelta(days=30)


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request, make_database, tmp_path):
    url = make_database("retention") if request.param == "postgresql" else f"sqlite:///{tmp_path}/retention.db"
    metadata = sa.MetaData()
    _, processed = define_outbox_tables(metadata)
    db = Database(url, pool_size=2)
    metadata.create_all(db.engine)
    yield db, processed
    db.dispose()


def insert(db, table, ages: dict[str, timedelta], consumer: str = "svc.handler", now: datetime = NOW) -> None:
    with db.transaction() as session:
        session.execute(table.insert(), [dict(consumer=consumer, event_id=event_id, processed_at=now - age)
                                         for event_id, age in ages.items()])


def remaining(db, table) -> set[tuple[str, str]]:
    with db.engine.connect() as connection:
        return {tuple(row) for row in connection.execute(sa.select(table.c.consumer, table.c.event_id))}


def test_old_rows_are_pruned_in_batches_and_recent_rows_kept(database):
    db, table = database
    old = {f"old-{n}": RETENTION + timedelta(hours=1 + n) for n in range(7)}
    recent = {"just-now": timedelta(0), "yesterday": timedelta(days=1),
              "at-the-edge": RETENTION - timedelta(seconds=1), "exactly-the-retention": RETENTION}
    insert(db, table, {**old, **recent})
    insert(db, table, {"other-old": RETENTION * 2, "other-recent": timedelta(days=2)}, consumer="svc.other")

    pruned = retention.prune_processed_events(db, table, RETENTION, now=NOW, batch_size=3)  # 8 old rows: 3 batches

    assert pruned == 8
    assert remaining(db, table) == {("svc.handler", e) for e in recent} | {("svc.other", "other-recent")}
    assert retention.prune_processed_events(db, table, RETENTION, now=NOW, batch_size=3) == 0


def test_one_run_is_bounded_and_the_next_runs_finish(database, monkeypatch):
    db, table = database
    monkeypatch.setattr(retention, "MAX_BATCHES_PER_RUN", 2)
    insert(db, table, {f"old-{n}": RETENTION * 2 for n in range(5)} | {"recent": timedelta(hours=1)})
    assert retention.prune_processed_events(db, table, RETENTION, now=NOW, batch_size=2) == 4
    assert retention.prune_processed_events(db, table, RETENTION, now=NOW, batch_size=2) == 1
    assert remaining(db, table) == {("svc.handler", "recent")}


@pytest.mark.parametrize("value", ["0", "-3", "thirty"])
def test_a_retention_below_one_day_or_not_a_number_is_refused(monkeypatch, value):
    from concilia.chassis.config import ConfigError
    monkeypatch.setenv("PROCESSED_EVENTS_RETENTION_DAYS", value)
    with pytest.raises(ConfigError, match="PROCESSED_EVENTS_RETENTION_DAYS"):
        retention.load_settings()


# --- the workers' timers ---------------------------------------------------------------------------
CONSUMERS = ["complaint", "notification", "metrics"]  # the services whose workers consume events


@pytest.fixture(scope="module")
def stack(start_stack):
    # Real workers with a short prune interval and the default retention (30 days).
    return start_stack(services=CONSUMERS, gateway=False,
                       extra_env={"PROCESSED_EVENTS_PRUNE_INTERVAL_SECONDS": "0.5"})


def test_every_consuming_worker_prunes_its_own_processed_events(stack):
    now = datetime.now(timezone.utc)
    databases = {name: Database(stack.database_urls[name], pool_size=1) for name in CONSUMERS}
    _, table = define_outbox_tables(sa.MetaData())
    try:
        for name, db in databases.items():
            insert(db, table, {str(uuid.uuid4()): timedelta(days=31), str(uuid.uuid4()): timedelta(days=45)},
                   consumer="test.old", now=now)
            insert(db, table, {str(uuid.uuid4()): timedelta(days=29), str(uuid.uuid4()): timedelta(minutes=1)},
                   consumer="test.recent", now=now)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            left = {name: {c for c, _ in remaining(db, table) if c.startswith("test.")}
                    for name, db in databases.items()}
            if all(consumers == {"test.recent"} for consumers in left.values()):
                break
            time.sleep(0.2)
        assert left == {name: {"test.recent"} for name in CONSUMERS}
        for db in databases.values():
            assert sum(1 for c, _ in remaining(db, table) if c == "test.recent") == 2
    finally:
        for db in databases.values():
            db.dispose()
