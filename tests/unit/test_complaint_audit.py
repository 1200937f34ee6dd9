"""Access audit in the complaint service (docs/adr/0020-access-audit.md): each read of a consumer's
complaint by someone else leaves one access_log row in the read's transaction, and the consumer (or
an admin) lists them with ListAccesses. On PostgreSQL and SQLite."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from concilia.chassis.auth import Principal
from concilia.chassis.country import load_pack
from concilia.chassis.db import migrate
from concilia.chassis.errors import InvalidArgument, NotFound, PermissionDenied
from concilia.events.v1 import events_pb2 as ev
from services.complaint import models as m
from services.complaint.domain import Complaints, Filing, ListQuery, NewAttachment
from services.complaint.storage import LocalFolderStore
from support.complaint_db import ManualClock, both_complaint_databases

SEGMENT = "bancos-financeiras-e-administradoras-de-cartao"
PDF = b"%PDF-1.4\n" + b"x" * 100
CONSUMER = Principal("consumer-1", "consumer")
OTHER_CONSUMER = Principal("consumer-2", "consumer")
AGENT = Principal("agent-1", "company_agent", company_id="company-a", group_id="group-g")
OTHER_AGENT = Principal("agent-3", "company_agent", company_id="company-c")
MANAGER_SP = Principal("manager-sp", "manager", jurisdiction="BR-SP")
MONITOR_SP = Principal("monitor-sp", "monitor", jurisdiction="BR-SP")
ADMIN = Principal("admin-1", "admin")


@pytest.fixture(scope="module")
def postgres_url(make_database):
    url = make_database("complaint_audit")
    migrate("services.complaint", url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, postgres_url, tmp_path):
    database = both_complaint_databases(request.param, postgres_url, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def clock():
    return ManualClock(datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc))


@pytest.fixture
def rules(db, clock, tmp_path):
    rules = Complaints(db, load_pack("BR"), clock, LocalFolderStore(tmp_path / "attachments"))
    with db.transaction() as session:
        for company_id, group_id in (("company-a", "group-g"), ("company-c", "")):
            rules.company_adhered(session, ev.CompanyAdhered(company_id=company_id, group_id=group_id,
                                                             trade_name=company_id, segment_code=SEGMENT),
                                  datetime(2026, 1, 1, tzinfo=timezone.utc))
    return rules


def file(rules, principal, company_id="company-a", **extra):
    path = next(p for p in sorted(rules.taxonomy.paths) if p[0] == SEGMENT)
    return rules.file(principal, Filing(
        company_id=company_id, segment_code=path[0], area=path[1], subject=path[2], problem_group=path[3],
        problem=path[4], purchase_channel="Internet", contacted_company_first=True, description="Charged twice.",
        desired_outcome="Refund", region_code="BR-SP", city="São Paulo", **extra))


def accesses(db) -> list[tuple]:
    """Every access_log row as (owner, actor, role, action, subject, at), oldest first."""
    c = m.access_log.c
    with db.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(sa.select(
            c.owner_id, c.actor_id, c.actor_role, c.action, c.subject_id, c.at).order_by(c.seq))]


@pytest.fixture
def complaint(rules):
    """consumer-1's complaint against company-a, with an attachment; returns (id, attachment id)."""
    view = file(rules, CONSUMER, attachments=[NewAttachment("bill.pdf", "application/pdf", PDF)])
    return view["complaint"].id, view["attachments"][0].id


READS = {
    "complaint.read": lambda rules, who, c: rules.get(who, c[0]),
    "history.read": lambda rules, who, c: rules.history(who, c[0]),
    "attachment.read": lambda rules, who, c: rules.attachment(who, c[0], c[1]),
    "complaint.listed": lambda rules, who, c: rules.list(who, ListQuery()),
}


@pytest.mark.parametrize("action", sorted(READS))
def test_a_read_by_someone_else_leaves_one_row_and_the_consumers_own_read_none(rules, db, clock, complaint, action):
    READS[action](rules, CONSUMER, complaint)
    assert accesses(db) == []
    clock.advance(minutes=5)
    READS[action](rules, AGENT, complaint)
    assert accesses(db) == [("consumer-1", "agent-1", "company_agent", action, complaint[0], clock.now())]


@pytest.mark.parametrize("reader", [MANAGER_SP, MONITOR_SP])
def test_authority_reads_are_recorded_with_their_role(rules, db, clock, complaint, reader):
    for action in sorted(READS):
        READS[action](rules, reader, complaint)
    assert accesses(db) == [("consumer-1", reader.account_id, reader.role, action, complaint[0], clock.now())
                            for action in sorted(READS)]


def test_a_list_records_each_listed_complaint_with_its_own_consumer(rules, db, clock, complaint):
    clock.advance(minutes=1)
    second = file(rules, CONSUMER)["complaint"].id
    clock.advance(minutes=1)
    others = file(rules, OTHER_CONSUMER)["complaint"].id
    file(rules, OTHER_CONSUMER, company_id="company-c")  # not the agent's: not listed, not recorded
    clock.advance(minutes=1)
    rows, token = rules.list(AGENT, ListQuery())
    assert [r.id for r in rows] == [others, second, complaint[0]] and token == ""
    listed = [("consumer-2", others), ("consumer-1", second), ("consumer-1", complaint[0])]
    assert accesses(db) == [(owner, "agent-1", "company_agent", "complaint.listed", subject, clock.now())
                            for owner, subject in listed]
    # Paged: only the page's complaints count, not the row read to know whether a next page exists.
    rows, token = rules.list(AGENT, ListQuery(page_size=2))
    assert [r.id for r in rows] == [others, second] and token
    assert [a[4] for a in accesses(db)[3:]] == [others, second]
    rows, _ = rules.list(AGENT, ListQuery(page_size=2, page_token=token))
    assert [r.id for r in rows] == [complaint[0]]
    assert [a[4] for a in accesses(db)[5:]] == [complaint[0]]


def test_refused_and_failed_reads_leave_no_row(rules, db, complaint):
    for action in ("complaint.read", "history.read", "attachment.read"):
        with pytest.raises(PermissionDenied):
            READS[action](rules, OTHER_AGENT, complaint)
        with pytest.raises(PermissionDenied):
            READS[action](rules, ADMIN, complaint)
        with pytest.raises(NotFound):
            READS[action](rules, AGENT, ("no-such-complaint", complaint[1]))
    with pytest.raises(NotFound):
        rules.attachment(AGENT, complaint[0], "no-such-attachment")
    assert rules.list(OTHER_AGENT, ListQuery()) == ([], "")
    with pytest.raises(PermissionDenied):
        rules.list(ADMIN, ListQuery())
    assert accesses(db) == []


def test_the_consumer_lists_who_read_their_complaints_newest_first_in_pages(rules, db, clock, complaint):
    readers = [(AGENT, "complaint.read"), (MANAGER_SP, "history.read"), (MONITOR_SP, "attachment.read")]
    for reader, action in readers:
        clock.advance(minutes=1)
        READS[action](rules, reader, complaint)
    rules.get(OTHER_CONSUMER, file(rules, OTHER_CONSUMER)["complaint"].id)  # nothing of consumer-1's

    def seen(rows):
        return [(r.actor_id, r.actor_role, r.action, r.subject_id, r.at) for r in rows]
    start = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)
    expected = [(who.account_id, who.role, action, complaint[0], start + timedelta(minutes=i + 1))
                for i, (who, action) in enumerate(readers)][::-1]
    first, token = rules.list_accesses(CONSUMER, "", 2, "")
    assert seen(first) == expected[:2] and token
    second, last_token = rules.list_accesses(CONSUMER, "", 2, token)
    assert seen(second) == expected[2:] and last_token == ""
    assert seen(rules.list_accesses(CONSUMER, "consumer-1", 0, "")[0]) == expected  # their own id, named
    assert seen(rules.list_accesses(ADMIN, "consumer-1", 0, "")[0]) == expected
    assert rules.list_accesses(OTHER_CONSUMER, "", 0, "") == ([], "")
    for caller in (OTHER_CONSUMER, AGENT, MANAGER_SP):
        with pytest.raises(PermissionDenied):
            rules.list_accesses(caller, "consumer-1", 0, "")
    for bad in ("abc", "-1", "1" * 20):
        with pytest.raises(InvalidArgument):
            rules.list_accesses(CONSUMER, "", 2, bad)
    with pytest.raises(InvalidArgument):
        rules.list_accesses(CONSUMER, "", -1, "")
    assert len(accesses(db)) == 3  # listing who read is not itself recorded
