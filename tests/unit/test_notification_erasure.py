"""Erasure on request (LGPD, Ley 25.326): identity's account_erased through the worker's batch function,
on SQLite and PostgreSQL (the tombstone rests on ON CONFLICT ... DO UPDATE ... WHERE, which each dialect
writes its own way)."""
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from concilia.chassis.auth import Principal
from concilia.chassis.country import load_pack
from concilia.chassis.db import migrate
from concilia.chassis.outbox import envelope, parse_data
from concilia.events.v1 import events_pb2 as ev
from services.notification import domain
from services.notification import models as m
from services.notification.worker import MESSAGE_CLASSES, apply_events
from support.notification_db import notification_database

BR = load_pack("BR")
NOW = datetime(2024, 3, 4, 15, 0, tzinfo=timezone.utc)
RUNTIME = SimpleNamespace(pack=BR, clock=SimpleNamespace(now=lambda: NOW),
                          settings=SimpleNamespace(email_enabled=True, public_base_url=""))


@pytest.fixture(scope="module")
def postgres_url(make_database):
    url = make_database("notification_erasure")
    migrate("services.notification", url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, postgres_url, tmp_path):
    # The PostgreSQL database is shared by the module's tests: every assertion is about a test's own ids.
    database = notification_database(request.param, postgres_url, tmp_path)
    yield database
    database.dispose()


def new_id() -> str:
    return str(uuid.uuid4())


def item(event_type: str, source: str, data, event_id=None):
    """(type, envelope, data) as the worker's write_events builds it (parsed with MESSAGE_CLASSES)."""
    body = envelope(event_type, source, data, "BR", event_id=event_id)
    return event_type, body, parse_data(body, MESSAGE_CLASSES[source][event_type])


def address(account_id):
    return f"{account_id[:8]}@erase.test"


def created(account_id, role="consumer", company_id="", event_id=None):
    return item("account_created", "identity", ev.AccountCreated(
        account_id=account_id, role=role, name="Ana Apagada", email=address(account_id), locale="en",
        company_id=company_id), event_id)


def erased(account_id, role="consumer"):
    return item("account_erased", "identity", ev.AccountErased(account_id=account_id, role=role))


def filed(consumer_id, company_id):
    data = ev.ComplaintFiled(complaint=ev.ComplaintRef(complaint_id=new_id(), consumer_id=consumer_id,
                                                       company_id=company_id, region_code="BR-SP"))
    data.answer_deadline.FromDatetime(BR.add_days(NOW, 10))
    return item("complaint_filed", "complaint", data)


def apply(db, *items):
    with db.transaction() as s:
        apply_events(s, RUNTIME, list(items))


def contact(db, account_id):
    with db.transaction() as s:
        return s.execute(sa.select(m.contacts).where(m.contacts.c.account_id == account_id)).first()


def held(db, account_id) -> dict:
    """What the service keeps about an account. E-mails are found by address, not through the
    notifications, so that e-mails left behind by deleted notifications still count."""
    n, e, u = m.notifications.c, m.email_outbox.c, m.unaddressed_events.c

    def count(table, *where):
        return s.scalar(sa.select(sa.func.count()).select_from(table).where(*where))
    with db.transaction() as s:
        return dict(
            inbox=count(m.notifications, n.account_id == account_id),
            emails=sorted(s.scalars(sa.select(e.status).where(e.to_address == address(account_id)))),
            preferences=count(m.preferences, m.preferences.c.account_id == account_id),
            kept=count(m.unaddressed_events, u.waiting_for == "consumer", u.consumer_id == account_id))


def assert_tombstone(row, role="consumer"):
    assert row is not None and row.erased_at is not None and row.role == role
    assert (row.name, row.email, row.locale, row.company_id, row.group_id, row.jurisdiction) == ("",) * 6


NOTHING = dict(inbox=0, emails=[], preferences=0, kept=0)


def test_erasure_drops_the_inbox_preferences_and_emails_and_leaves_a_blank_tombstone(db):
    company, lonely_company = new_id(), new_id()  # the second has no agent: its events wait for one
    gone, stays, agent, not_yet = new_id(), new_id(), new_id(), new_id()
    apply(db, created(gone), created(stays), created(agent, "company_agent", company))
    with db.transaction() as s:
        for account_id in (gone, stays):
            domain.update_preferences(s, BR, Principal(account_id, "consumer"), True, "pt-BR", [], NOW)
    first = filed(gone, company)
    waiting = filed(not_yet, lonely_company)  # no contact for this consumer yet either
    apply(db, first, filed(gone, company), filed(stays, company), waiting)
    with db.transaction() as s:
        s.execute(m.email_outbox.update().where(
            m.email_outbox.c.notification_id == domain.notification_id(first[1]["id"], gone)).values(
            status="sent", sent_at=NOW))
    assert held(db, gone) == dict(inbox=2, emails=["pending", "sent"], preferences=1, kept=0)
    assert held(db, not_yet)["kept"] == 1

    apply(db, erased(gone), erased(not_yet))
    assert held(db, gone) == NOTHING
    assert_tombstone(contact(db, gone))
    assert held(db, not_yet) == NOTHING
    assert_tombstone(contact(db, not_yet))  # account_created had not arrived: the tombstone is inserted
    # Nobody else loses anything: another consumer, the agent, the event kept for the lonely company.
    assert held(db, stays) == dict(inbox=1, emails=["pending"], preferences=1, kept=0)
    assert contact(db, stays).email == address(stays) and contact(db, stays).erased_at is None
    assert held(db, agent)["inbox"] == 3 and len(held(db, agent)["emails"]) == 3
    with db.transaction() as s:
        assert s.scalars(sa.select(m.unaddressed_events.c.waiting_for).where(
            m.unaddressed_events.c.event_id == waiting[1]["id"])).all() == ["company"]


def test_a_late_or_redelivered_account_created_does_not_bring_the_data_back(db):
    account_id = new_id()
    first = created(account_id)
    apply(db, first)
    apply(db, erased(account_id))
    erased_at = contact(db, account_id).erased_at
    apply(db, first)  # redelivered: claim_events drops it
    apply(db, created(account_id))  # the same account in a new event (identity replaying, say)
    apply(db, erased(account_id))  # erased twice: the first erasure's time stays
    row = contact(db, account_id)
    assert_tombstone(row)
    assert row.erased_at == erased_at
    # Created and erased in one batch, in either order: erased.
    for pair in ((created, erased), (erased, created)):
        other = new_id()
        apply(db, *(make(other) for make in pair))
        assert_tombstone(contact(db, other))


def test_an_erasure_that_arrives_before_the_account_leaves_a_tombstone_the_account_cannot_fill(db):
    consumer, agent, company = new_id(), new_id(), new_id()
    apply(db, erased(consumer), erased(agent, "company_agent"))
    assert_tombstone(contact(db, consumer))
    assert_tombstone(contact(db, agent), role="company_agent")
    apply(db, created(consumer), created(agent, "company_agent", company))
    assert_tombstone(contact(db, consumer))
    assert_tombstone(contact(db, agent), role="company_agent")
    assert held(db, consumer) == NOTHING


def test_events_for_an_erased_consumer_reach_nobody_on_their_side_and_the_company_side_as_before(db):
    company = new_id()
    consumer, agent, never_created, in_batch = new_id(), new_id(), new_id(), new_id()
    apply(db, created(consumer), created(agent, "company_agent", company))
    apply(db, erased(consumer), erased(never_created))
    later, unknown, same_batch = filed(consumer, company), filed(never_created, company), filed(in_batch, company)
    apply(db, later, unknown)
    apply(db, created(in_batch), same_batch, erased(in_batch))  # the erasure in the same batch wins
    for account_id in (consumer, never_created, in_batch):
        assert held(db, account_id) == NOTHING  # no inbox entry, no e-mail, nothing kept for a late contact
    events = [later[1]["id"], unknown[1]["id"], same_batch[1]["id"]]
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(m.unaddressed_events)
                        .where(m.unaddressed_events.c.event_id.in_(events))) == 0
        told = s.execute(sa.select(m.notifications.c.account_id, m.notifications.c.event_id)
                         .where(m.notifications.c.event_id.in_(events))).all()
    assert sorted(told) == sorted((agent, event_id) for event_id in events)
    assert held(db, agent)["emails"] == ["pending"] * 3


def test_events_kept_for_a_company_are_not_handed_to_an_erased_agent(db):
    company, erased_agent, living_agent = new_id(), new_id(), new_id()
    apply(db, erased(erased_agent, "company_agent"))
    event = filed(new_id(), company)
    apply(db, event)  # no living agent of the company: kept for its first one
    apply(db, created(erased_agent, "company_agent", company))  # the erased agent's late account_created
    assert held(db, erased_agent)["inbox"] == 0
    apply(db, created(living_agent, "company_agent", company))
    assert held(db, erased_agent)["inbox"] == 0
    with db.transaction() as s:
        assert s.scalars(sa.select(m.notifications.c.event_id).where(
            m.notifications.c.account_id == living_agent)).all() == [event[1]["id"]]
        assert s.scalars(sa.select(m.unaddressed_events.c.waiting_for).where(  # its consumer is still unknown
            m.unaddressed_events.c.event_id == event[1]["id"])).all() == ["consumer"]


def test_an_erased_manager_hears_of_no_refusal(db):
    consumer, manager = new_id(), new_id()
    jurisdiction = BR.authority_for("BR-SP").jurisdiction
    apply(db, item("account_created", "identity", ev.AccountCreated(
        account_id=manager, role="manager", name="Gestora", email=address(manager), jurisdiction=jurisdiction)))
    apply(db, erased(manager, "manager"))
    data = ev.ComplaintRefused(complaint=ev.ComplaintRef(complaint_id=new_id(), consumer_id=consumer,
                                                         company_id=new_id(), region_code="BR-SP"))
    apply(db, item("complaint_refused", "complaint", data, event_id=new_id()))
    assert held(db, manager) == NOTHING
