"""Retention (the pack's retention.notification_days; docs/adr/0021-retention.md): inbox
notifications, e-mails and webhook deliveries go once older than the period, each aged on the clock
that stamped it. Through the worker's own batch function and timer, on PostgreSQL and SQLite."""
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from concilia.chassis.country import load_pack
from concilia.chassis.db import migrate
from concilia.chassis.outbox import envelope, parse_data
from concilia.events.v1 import events_pb2 as ev
from services.notification import domain
from services.notification import models as m
from services.notification.worker import MESSAGE_CLASSES, NotificationWorker, apply_events
from support.notification_db import notification_database

BR = load_pack("BR")
NOW = datetime(2024, 3, 4, 15, 0, tzinfo=timezone.utc)  # the platform clock (a replay's, say)
DAYS = BR.retention.notification_days


@pytest.fixture(scope="module")
def postgres_url(make_database):
    url = make_database("notification_retention")
    migrate("services.notification", url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, postgres_url, tmp_path):
    database = notification_database(request.param, postgres_url, tmp_path)
    with database.transaction() as s:  # the module's PostgreSQL database: each test starts empty
        for table in (m.webhook_deliveries, m.webhooks, m.email_outbox, m.notifications, m.contacts):
            s.execute(table.delete())
    yield database
    database.dispose()


def item(event_type: str, source: str, data):
    body = envelope(event_type, source, data, "BR", event_id=str(uuid.uuid4()))
    return event_type, body, parse_data(body, MESSAGE_CLASSES[source][event_type])


def runtime(now: datetime):
    return SimpleNamespace(pack=BR, clock=SimpleNamespace(now=lambda: now),
                           settings=SimpleNamespace(email_enabled=True, public_base_url=""))


def deliver_a_filing(db, now: datetime) -> str:
    """A consumer and a company agent get the filing's notification and e-mail; the company's
    webhook one delivery. Returns the webhook's id."""
    consumer, agent, company = (str(uuid.uuid4()) for _ in range(3))
    people = [item("account_created", "identity", ev.AccountCreated(
        account_id=account, role=role, name="Ana", email=f"{account[:8]}@keep.test", locale="en",
        company_id=company_id)) for account, role, company_id in ((consumer, "consumer", ""),
                                                                  (agent, "company_agent", company))]
    webhook = str(uuid.uuid4())
    with db.transaction() as s:
        apply_events(s, runtime(now), people)
        s.execute(m.webhooks.insert().values(id=webhook, company_id=company, url="https://hooks.example/c",
                                             secret="s" * 32, event_types='["complaint_filed"]', active=True,
                                             created_by=agent, created_at=now))
    data = ev.ComplaintFiled(complaint=ev.ComplaintRef(complaint_id=str(uuid.uuid4()), consumer_id=consumer,
                                                       company_id=company, region_code="BR-SP"))
    data.answer_deadline.FromDatetime(BR.add_days(now, 10))
    with db.transaction() as s:
        apply_events(s, runtime(now), [item("complaint_filed", "complaint", data)])
    return webhook


def counts(db) -> dict:
    with db.transaction() as s:
        return {name: s.scalar(sa.select(sa.func.count()).select_from(table))
                for name, table in (("notifications", m.notifications), ("emails", m.email_outbox),
                                    ("webhook_deliveries", m.webhook_deliveries))}


def test_each_kind_goes_after_the_period_on_the_clock_that_stamped_it(db):
    wall = datetime.now(timezone.utc)
    deliver_a_filing(db, NOW)
    held = counts(db)
    assert held["notifications"] >= 1 and held["emails"] >= 1 and held["webhook_deliveries"] == 1
    nothing = dict.fromkeys(held, 0)

    # One second short of the period on both clocks: everything stays.
    period = timedelta(days=DAYS)
    assert domain.apply_retention(db, DAYS, NOW + period - timedelta(seconds=1), wall + period - timedelta(minutes=1)) \
        == nothing
    assert counts(db) == held
    # The platform clock past the period, the wall clock not: only the inbox (stamped on the platform
    # clock) goes; e-mails and deliveries are sent in real time and age in it.
    assert domain.apply_retention(db, DAYS, NOW + period + timedelta(seconds=1), wall) == dict(
        nothing, notifications=held["notifications"])
    assert counts(db) == dict(held, notifications=0)
    # Then the wall clock past it too; each kind is counted for the operators' graphs.
    counted = REGISTRY.get_sample_value("concilia_retention_removed_total", {"kind": "emails"}) or 0
    assert domain.apply_retention(db, DAYS, NOW + period, wall + period + timedelta(minutes=1)) == dict(
        nothing, emails=held["emails"], webhook_deliveries=1)
    assert counts(db) == nothing
    assert REGISTRY.get_sample_value("concilia_retention_removed_total", {"kind": "emails"}) == counted + held["emails"]


def test_a_pack_without_a_period_keeps_everything(db):
    deliver_a_filing(db, NOW)
    held = counts(db)
    assert domain.apply_retention(db, None, NOW + timedelta(days=36500), datetime.now(timezone.utc)
                                  + timedelta(days=36500)) == {}
    assert counts(db) == held


def test_the_worker_timer_ages_the_inbox_on_the_platform_clock(db):
    deliver_a_filing(db, NOW)
    held = counts(db)
    worker = NotificationWorker()
    worker.db, worker.runtime = db, runtime(NOW + timedelta(days=DAYS, seconds=1))
    worker.apply_retention()
    assert counts(db) == dict(held, notifications=0)
