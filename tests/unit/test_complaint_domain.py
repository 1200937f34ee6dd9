"""Complaint lifecycle rules against a real PostgreSQL database (migrated), a controlled clock and
the real BR country pack. No gRPC, no broker: events are checked in the outbox table."""
import csv
import dataclasses
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from concilia.chassis.auth import Principal
from concilia.chassis.country import load_pack
from concilia.chassis.db import migrate
from concilia.chassis.errors import (FailedPrecondition, InvalidArgument, NotFound, PermissionDenied,
                                     ResourceExhausted)
from concilia.events.v1 import events_pb2 as ev
from services.complaint import models as m
from services.complaint.domain import Complaints, Filing, ListQuery, NewAttachment
from services.complaint.storage import LocalFolderStore
from support.complaint_db import ManualClock, emptied_complaint_database

SP = ZoneInfo("America/Sao_Paulo")
PDF = b"%PDF-1.4\n" + b"x" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"y" * 100


@pytest.fixture(scope="module")
def database_url(make_database):
    url = make_database("complaint_unit")
    migrate("services.complaint", url)
    return url


@pytest.fixture
def db(database_url):
    database = emptied_complaint_database(database_url)
    yield database
    database.engine.dispose()


@pytest.fixture
def pack():
    return load_pack("BR")


@pytest.fixture
def clock():
    # Monday 2 March 2026, 10:00 in São Paulo (13:00 UTC).
    return ManualClock(datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc))


@pytest.fixture
def rules(db, pack, clock, tmp_path):
    return Complaints(db, pack, clock, LocalFolderStore(tmp_path / "attachments"))


def taxonomy_row(pack, segment="bancos-financeiras-e-administradoras-de-cartao"):
    with pack.taxonomy_file.open(encoding="utf-8") as handle:
        return next(r for r in csv.DictReader(handle) if r["segment_code"] == segment)


CONSUMER = Principal("consumer-1", "consumer")
OTHER_CONSUMER = Principal("consumer-2", "consumer")
AGENT = Principal("agent-1", "company_agent", company_id="company-a", group_id="group-g")
GROUP_AGENT = Principal("agent-2", "company_agent", company_id="company-b", group_id="group-g")
OTHER_AGENT = Principal("agent-3", "company_agent", company_id="company-c")
MANAGER_BR = Principal("manager-br", "manager", jurisdiction="BR")
MANAGER_SP = Principal("manager-sp", "manager", jurisdiction="BR-SP")
MANAGER_RJ = Principal("manager-rj", "manager", jurisdiction="BR-RJ")
MONITOR_SP = Principal("monitor-sp", "monitor", jurisdiction="BR-SP")
ADMIN = Principal("admin-1", "admin")


def adhere(rules, company_id="company-a", group_id="group-g", trade_name="Banco Alfa",
           segment="bancos-financeiras-e-administradoras-de-cartao", at=None, event_id=None):
    with rules.db.transaction() as session:
        rules.company_adhered(session, ev.CompanyAdhered(company_id=company_id, group_id=group_id,
                                                         trade_name=trade_name, segment_code=segment),
                              at or datetime(2026, 1, 1, tzinfo=timezone.utc))


def filing(pack, **overrides) -> Filing:
    row = taxonomy_row(pack)
    values = dict(company_id="company-a", segment_code=row["segment_code"], area=row["area"],
                  subject=row["subject"], problem_group=row["problem_group"], problem=row["problem"],
                  purchase_channel="Internet", contacted_company_first=True,
                  description="Charged twice for the same card bill.", desired_outcome="Refund the second charge",
                  region_code="BR-SP", city="São Paulo")
    values.update(overrides)
    return Filing(**values)


def events(db, event_type=None) -> list[dict]:
    with db.engine.connect() as connection:
        rows = connection.execute(sa.select(m.outbox).order_by(m.outbox.c.seq)).all()
    bodies = [json.loads(r.body) for r in rows]
    return [b for b in bodies if event_type is None or b["type"] == event_type]


def count(db, table) -> int:
    with db.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def status_of(rules, complaint_id) -> str:
    return rules.get(MANAGER_BR, complaint_id)["complaint"].status


# --- filing ----------------------------------------------------------------------------------

def test_filing_sets_the_answer_deadline_at_local_midnight_ten_days_later_and_writes_its_event(rules, db, pack):
    adhere(rules)
    view = rules.file(CONSUMER, filing(pack))
    complaint = view["complaint"]
    assert complaint.status == "waiting_company"
    # Filed Monday 2 March 10:00 local; 10 calendar days -> end of Thursday 12 March, local time.
    assert complaint.answer_deadline == datetime(2026, 3, 13, 0, 0, tzinfo=SP)
    assert complaint.company_name == "Banco Alfa"
    assert complaint.segment_name == "Bancos, Financeiras e Administradoras de Cartão"
    filed = events(db, "complaint_filed")
    assert len(filed) == 1
    assert filed[0]["source"] == "complaint"
    assert filed[0]["data"]["complaint"]["complaint_id"] == complaint.id
    assert filed[0]["data"]["complaint"]["region_code"] == "BR-SP"
    assert filed[0]["data"]["answer_deadline"] == "2026-03-13T03:00:00Z"
    stored = rules.get(CONSUMER, complaint.id)["complaint"]
    assert stored.description == "Charged twice for the same card bill."
    assert [h.action for h in rules.history(CONSUMER, complaint.id)] == ["filed"]


def test_business_day_packs_skip_weekends_and_holidays(db, pack, clock, tmp_path):
    business = dataclasses.replace(pack, windows=dataclasses.replace(pack.windows, day_count="business"),
                                   holidays=frozenset({datetime(2026, 3, 4).date()}))
    rules = Complaints(db, business, clock, LocalFolderStore(tmp_path))
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack))["complaint"]
    # From Monday 2 March: 10 business days, skipping Wednesday 4 March (holiday) and two weekends.
    assert complaint.answer_deadline == datetime(2026, 3, 18, 0, 0, tzinfo=SP)


@pytest.mark.parametrize("company", ["unknown-company", "company-suspended"])
def test_filing_against_a_company_that_is_not_participating_is_refused_and_changes_nothing(rules, db, pack, company):
    adhere(rules, company_id="company-suspended")
    with rules.db.transaction() as session:
        rules.company_suspended(session, ev.CompanySuspended(company_id="company-suspended"),
                                datetime(2026, 2, 1, tzinfo=timezone.utc))
    with pytest.raises(FailedPrecondition, match="SuggestCompany"):
        rules.file(CONSUMER, filing(pack, company_id=company))
    assert count(db, m.complaints) == 0
    assert events(db) == []


@pytest.mark.parametrize("overrides, field", [
    ({"description": "x" * 3001}, "description"),
    ({"description": "   "}, "description"),
    ({"problem": "Not a problem of this taxonomy"}, "taxonomy"),
    ({"region_code": "AR-C"}, "region_code"),
    ({"city": ""}, "city"),
    ({"purchase_channel": ""}, "purchase_channel"),
    ({"desired_outcome": ""}, "desired_outcome"),
    ({"company_id": ""}, "company_id"),
    ({"attachments": [NewAttachment("bill.pdf", "application/pdf", PNG)]}, "attachments[0].content"),
    ({"attachments": [NewAttachment("bill.exe", "application/x-msdownload", b"MZ" + b"0" * 10)]},
     "attachments[0].content_type"),
    ({"attachments": [NewAttachment("big.pdf", "application/pdf", b"%PDF-" + b"0" * 5242880)]},
     "attachments[0].content"),
    ({"attachments": [NewAttachment("../etc/passwd.pdf", "application/pdf", PDF)]}, "attachments[0].file_name"),
])
def test_bad_filings_name_the_field_and_change_nothing(rules, db, pack, overrides, field):
    adhere(rules)
    with pytest.raises(InvalidArgument) as error:
        rules.file(CONSUMER, filing(pack, **overrides))
    assert error.value.field == field
    assert count(db, m.complaints) == 0
    assert count(db, m.attachments) == 0
    assert events(db) == []


def test_only_consumers_file(rules, pack):
    adhere(rules)
    for principal in (AGENT, MANAGER_BR, MONITOR_SP, ADMIN):
        with pytest.raises(PermissionDenied):
            rules.file(principal, filing(pack))


def test_attachments_are_stored_with_their_hash_and_read_back(rules, db, pack, tmp_path):
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack, attachments=[NewAttachment("bill.pdf", "application/pdf", PDF)]))
    attachment = complaint["attachments"][0]
    import hashlib
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert attachment.size_bytes == len(PDF)
    row, content = rules.attachment(AGENT, complaint["complaint"].id, attachment.id)
    assert content == PDF and row.file_name == "bill.pdf"
    with pytest.raises(PermissionDenied):
        rules.attachment(OTHER_CONSUMER, complaint["complaint"].id, attachment.id)
    with pytest.raises(NotFound):
        rules.attachment(CONSUMER, complaint["complaint"].id, "no-such-attachment")


def test_a_replayed_idempotency_key_returns_the_same_complaint_without_a_second_event(rules, db, pack):
    adhere(rules)
    first = rules.file(CONSUMER, filing(pack, idempotency_key="key-1"))["complaint"]
    again = rules.file(CONSUMER, filing(pack, idempotency_key="key-1"))["complaint"]
    assert again.id == first.id
    assert count(db, m.complaints) == 1
    assert len(events(db, "complaint_filed")) == 1
    # Another consumer may use the same key for their own complaint.
    other = rules.file(OTHER_CONSUMER, filing(pack, idempotency_key="key-1"))["complaint"]
    assert other.id != first.id
    # The same key with a different request is a client bug, not a replay.
    with pytest.raises(FailedPrecondition, match="idempotency_key"):
        rules.file(CONSUMER, filing(pack, idempotency_key="key-1", description="Something else entirely"))
    assert count(db, m.complaints) == 2


def test_filings_per_day_are_limited_per_account(db, pack, clock, tmp_path):
    limited = dataclasses.replace(pack, limits={**pack.limits, "filings_per_day": 2})
    rules = Complaints(db, limited, clock, LocalFolderStore(tmp_path))
    adhere(rules)
    rules.file(CONSUMER, filing(pack))
    rules.file(CONSUMER, filing(pack))
    with pytest.raises(ResourceExhausted):
        rules.file(CONSUMER, filing(pack))
    assert count(db, m.complaints) == 2
    rules.file(OTHER_CONSUMER, filing(pack))  # the limit is per account
    clock.advance(days=1, seconds=1)
    rules.file(CONSUMER, filing(pack))  # and per day
    assert count(db, m.complaints) == 4


# --- answer, refusal, review ------------------------------------------------------------------

def test_answer_moves_to_evaluation_with_answer_time_in_local_days(rules, db, pack, clock):
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack))["complaint"]
    clock.advance(days=3, hours=12)  # Thursday 5 March 22:00 local
    answered = rules.answer(AGENT, complaint.id, "We refunded the second charge.")["complaint"]
    assert answered.status == "waiting_evaluation"
    assert answered.answered is True
    assert answered.answer_time_days == 3
    assert answered.evaluation_deadline == datetime(2026, 3, 26, 0, 0, tzinfo=SP)
    event = events(db, "complaint_answered")[0]["data"]
    assert event["answer_time_days"] == 3
    with pytest.raises(FailedPrecondition):
        rules.answer(AGENT, complaint.id, "again")
    assert len(events(db, "complaint_answered")) == 1


def test_agents_of_the_same_economic_group_may_answer_other_companies_may_not(rules, pack):
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack))["complaint"]
    for principal in (OTHER_AGENT, CONSUMER, MANAGER_BR):
        with pytest.raises(PermissionDenied):
            rules.answer(principal, complaint.id, "answer")
    assert status_of(rules, complaint.id) == "waiting_company"
    assert rules.answer(GROUP_AGENT, complaint.id, "answer from the group")["complaint"].answered


def test_answering_after_the_deadline_fails_even_before_the_sweep(rules, pack, clock):
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack))["complaint"]
    clock.instant = complaint.answer_deadline
    with pytest.raises(FailedPrecondition, match="deadline"):
        rules.answer(AGENT, complaint.id, "too late")
    with pytest.raises(FailedPrecondition, match="deadline"):
        rules.refuse(AGENT, complaint.id, "duplicate", "too late")
    assert status_of(rules, complaint.id) == "waiting_company"


def test_rejected_refusal_resumes_the_clock_and_review_time_is_not_answer_time(rules, db, pack, clock):
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack))["complaint"]
    clock.advance(days=2)  # Wednesday 4 March
    with pytest.raises(InvalidArgument) as error:
        rules.refuse(AGENT, complaint.id, "not-a-reason", "text")
    assert error.value.field == "reason_code"
    refused = rules.refuse(AGENT, complaint.id, "not_customer", "We have no record of this customer")["complaint"]
    assert refused.status == "under_refusal_review"
    assert events(db, "complaint_refused")[0]["data"]["reason_code"] == "not_customer"
    # Under review, the answer deadline does not run out: the sweep leaves it alone.
    clock.advance(days=12)  # Monday 16 March, after the original deadline
    assert rules.sweep()["unanswered"] == 0
    with pytest.raises(PermissionDenied):
        rules.review_refusal(MANAGER_RJ, complaint.id, False, "")  # another jurisdiction
    reviewed = rules.review_refusal(MANAGER_SP, complaint.id, False, "The consumer sent the contract")["complaint"]
    assert reviewed.status == "waiting_company"
    assert reviewed.under_review_days == 12
    assert reviewed.answer_deadline == datetime(2026, 3, 25, 0, 0, tzinfo=SP)  # 13 March + 12 days
    event = events(db, "complaint_refusal_reviewed")[0]["data"]
    assert event.get("upheld", False) is False and event["answer_deadline"] == "2026-03-25T03:00:00Z"
    clock.advance(days=1)  # Tuesday 17 March: 15 calendar days since filing, 12 of them under review
    answered = rules.answer(AGENT, complaint.id, "Refunded")["complaint"]
    assert answered.answer_time_days == 3
    actions = [h.action for h in rules.history(MANAGER_SP, complaint.id)]
    assert actions == ["filed", "refused", "refusal_rejected", "answered"]


def test_upheld_refusal_cancels_the_complaint(rules, db, pack, clock):
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack))["complaint"]
    rules.refuse(AGENT, complaint.id, "duplicate", "Same as the other one")
    with pytest.raises(PermissionDenied):
        rules.review_refusal(MONITOR_SP, complaint.id, True, "")
    cancelled = rules.review_refusal(MANAGER_BR, complaint.id, True, "Duplicate indeed")["complaint"]
    assert cancelled.status == "cancelled"
    assert [e["type"] for e in events(db)][-2:] == ["complaint_refusal_reviewed", "complaint_cancelled"]
    with pytest.raises(FailedPrecondition):
        rules.review_refusal(MANAGER_BR, complaint.id, False, "")


# --- evaluation and deadlines ------------------------------------------------------------------

def test_evaluation_rules(rules, db, pack, clock):
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack))["complaint"]
    with pytest.raises(FailedPrecondition, match="before the company answers"):
        rules.evaluate(CONSUMER, complaint.id, "resolved", 5, "")
    rules.answer(AGENT, complaint.id, "Refunded")
    for score in (0, 6, -1):
        with pytest.raises(InvalidArgument) as error:
            rules.evaluate(CONSUMER, complaint.id, "resolved", score, "")
        assert error.value.field == "satisfaction_score"
    with pytest.raises(InvalidArgument):
        rules.evaluate(CONSUMER, complaint.id, "maybe", 3, "")
    with pytest.raises(PermissionDenied):
        rules.evaluate(OTHER_CONSUMER, complaint.id, "resolved", 5, "")
    with pytest.raises(PermissionDenied):
        rules.evaluate(AGENT, complaint.id, "resolved", 5, "")
    assert status_of(rules, complaint.id) == "waiting_evaluation"
    clock.advance(days=1)
    done = rules.evaluate(CONSUMER, complaint.id, "resolved", 4, "Quick refund")["complaint"]
    assert done.status == "finalised_evaluated"
    finalised = events(db, "complaint_finalised")[0]["data"]
    assert finalised["status"] == "finalised_evaluated"
    assert finalised["resolution"] == "resolved" and finalised["satisfaction_score"] == 4
    assert finalised["answered"] is True
    assert finalised["company_name"] == "Banco Alfa"
    assert finalised["segment_name"] == "Bancos, Financeiras e Administradoras de Cartão"
    assert finalised["problem"] == complaint.problem and finalised["city"] == "São Paulo"
    assert "description" not in json.dumps(finalised)  # free text (personal data risk) never leaves
    assert events(db, "complaint_evaluated")[0]["data"]["satisfaction_score"] == 4
    with pytest.raises(FailedPrecondition, match="closed"):
        rules.evaluate(CONSUMER, complaint.id, "not_resolved", 1, "")


def test_one_sweep_reminds_every_due_complaint_of_its_own_deadline_across_batches(rules, db, pack, clock):
    adhere(rules)
    filed = []
    for _ in range(5):  # five complaints filed on five consecutive days: five different deadlines
        filed.append(rules.file(CONSUMER, filing(pack))["complaint"])
        clock.instant += timedelta(days=1)
    clock.instant = filed[0].answer_deadline - timedelta(hours=1)  # within two days of every deadline but the last two
    due = [c for c in filed if c.answer_deadline - timedelta(days=2) <= clock.instant < c.answer_deadline]
    assert 1 < len(due) < len(filed)
    assert rules.sweep(batch_size=2)["reminders"] == len(due)  # batches of two: the last one is short
    reminders = {r["data"]["complaint"]["complaint_id"]: r["data"] for r in events(db, "deadline_reminder")}
    assert set(reminders) == {c.id for c in due}
    for complaint in due:
        sent = reminders[complaint.id]
        assert datetime.fromisoformat(sent["deadline"]) == complaint.answer_deadline
        assert sent["days_left"] == rules.days_left(complaint.answer_deadline, clock.instant)
    assert rules.sweep(batch_size=2)["reminders"] == 0  # each deadline is reminded once
    clock.instant = filed[-1].answer_deadline - timedelta(hours=1)  # later: the last ones come due, once each
    later = [c for c in filed if c.answer_deadline - timedelta(days=2) <= clock.instant < c.answer_deadline]
    assert later and not {c.id for c in later} & {c.id for c in due}
    assert rules.sweep(batch_size=2)["reminders"] == len(later)
    assert len(events(db, "deadline_reminder")) == len(due) + len(later)


def test_a_complaint_answered_while_the_sweep_builds_its_reminder_is_not_reminded(rules, db, pack, clock):
    """The reminder sweep reads without locking (answers must not wait for its batch): an answer
    committed between its read and its update wins, and no reminder goes out for that complaint."""
    adhere(rules)
    first = rules.file(CONSUMER, filing(pack))["complaint"]
    second = rules.file(CONSUMER, filing(pack))["complaint"]
    clock.instant = first.answer_deadline - timedelta(days=1)
    build = rules._reminder

    def answer_first_then_build(row, *args):
        if row.id == first.id and not rules.get(CONSUMER, first.id)["complaint"].answered:
            rules.answer(AGENT, first.id, "Answered while the sweep was busy.")  # its own transaction
        return build(row, *args)

    rules._reminder = answer_first_then_build
    assert rules.sweep()["reminders"] == 1
    assert [r["data"]["complaint"]["complaint_id"] for r in events(db, "deadline_reminder")] == [second.id]
    assert rules.get(CONSUMER, first.id)["complaint"].answered


def test_the_sweep_sends_reminders_then_marks_unanswered_then_finalises_not_evaluated(rules, db, pack, clock):
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack))["complaint"]
    assert rules.sweep() == {"reminders": 0, "unanswered": 0, "not_evaluated": 0}
    clock.instant = complaint.answer_deadline - timedelta(days=2)  # reminder_days_before: 2
    assert rules.sweep()["reminders"] == 1
    assert rules.sweep()["reminders"] == 0  # once per deadline
    reminder = events(db, "deadline_reminder")[0]["data"]
    assert reminder["deadline_kind"] == "company_answer" and reminder["days_left"] == 2
    clock.instant = complaint.answer_deadline
    assert rules.sweep()["unanswered"] == 1
    lapsed = rules.get(CONSUMER, complaint.id)["complaint"]
    assert lapsed.status == "waiting_evaluation" and lapsed.answered is False
    # Lapsed at the start of 13 March (day zero, as for filing): 20 days -> end of 2 April.
    assert lapsed.evaluation_deadline == datetime(2026, 4, 3, 0, 0, tzinfo=SP)
    assert len(events(db, "complaint_unanswered")) == 1
    clock.instant = lapsed.evaluation_deadline - timedelta(hours=1)
    assert rules.sweep()["reminders"] == 1
    assert events(db, "deadline_reminder")[-1]["data"]["deadline_kind"] == "consumer_evaluation"
    clock.instant = lapsed.evaluation_deadline + timedelta(days=3)
    assert rules.sweep()["not_evaluated"] == 1
    assert rules.sweep() == {"reminders": 0, "unanswered": 0, "not_evaluated": 0}
    closed = rules.get(CONSUMER, complaint.id)["complaint"]
    assert closed.status == "finalised_not_evaluated"
    assert closed.finalised_at == lapsed.evaluation_deadline  # the deadline, not when the sweep ran
    finalised = events(db, "complaint_finalised")
    assert len(finalised) == 1
    assert finalised[0]["data"]["status"] == "finalised_not_evaluated"
    assert finalised[0]["data"].get("answered", False) is False
    actions = [(h.action, h.actor_role) for h in rules.history(CONSUMER, complaint.id)]
    assert actions == [("filed", "consumer"), ("answer_deadline_lapsed", "system"),
                       ("evaluation_deadline_lapsed", "system")]


def test_an_unanswered_complaint_can_still_be_evaluated(rules, pack, clock):
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack))["complaint"]
    clock.instant = complaint.answer_deadline + timedelta(minutes=1)
    rules.sweep()
    done = rules.evaluate(CONSUMER, complaint.id, "not_resolved", 1, "They never answered")["complaint"]
    assert done.status == "finalised_evaluated" and done.answered is False


# --- messages, closing, redaction, cancellation ---------------------------------------------------

def test_messages_between_the_parties_with_a_per_hour_limit(db, pack, clock, tmp_path):
    limited = dataclasses.replace(pack, limits={**pack.limits, "messages_per_hour": 2})
    rules = Complaints(db, limited, clock, LocalFolderStore(tmp_path))
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack))["complaint"]
    rules.add_message(CONSUMER, complaint.id, "Any news?")
    clock.advance(seconds=1)
    rules.add_message(AGENT, complaint.id, "We are looking into it.")
    clock.advance(seconds=1)
    rules.add_message(CONSUMER, complaint.id, "Thanks")
    with pytest.raises(ResourceExhausted):
        rules.add_message(CONSUMER, complaint.id, "Hello?")
    for principal in (MANAGER_BR, MONITOR_SP, OTHER_AGENT, OTHER_CONSUMER):
        with pytest.raises(PermissionDenied):
            rules.add_message(principal, complaint.id, "hi")
    with pytest.raises(InvalidArgument):
        rules.add_message(AGENT, complaint.id, "x" * 3001)
    texts = [(msg.author_role, msg.text) for msg in rules.get(MONITOR_SP, complaint.id)["messages"]]
    assert texts == [("consumer", "Any news?"), ("company_agent", "We are looking into it."), ("consumer", "Thanks")]
    assert len(events(db, "complaint_message_added")) == 3
    clock.advance(hours=1)
    rules.add_message(CONSUMER, complaint.id, "Hello again")


def test_after_closing_nothing_changes_except_a_recorded_redaction(rules, db, pack, clock):
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack, description="My CPF is 123.456.789-09, charged twice"))["complaint"]
    rules.answer(AGENT, complaint.id, "Refunded")
    rules.evaluate(CONSUMER, complaint.id, "resolved", 5, "ok")
    events_before = len(events(db))
    with pytest.raises(FailedPrecondition):
        rules.add_message(CONSUMER, complaint.id, "one more thing")
    with pytest.raises(FailedPrecondition):
        rules.add_attachment(CONSUMER, complaint.id, NewAttachment("a.pdf", "application/pdf", PDF))
    with pytest.raises(FailedPrecondition):
        rules.cancel(MANAGER_BR, complaint.id, "abuse")
    with pytest.raises(PermissionDenied):
        rules.redact(MONITOR_SP, complaint.id, "Charged twice", "", "", "")
    with pytest.raises(InvalidArgument):
        rules.redact(MANAGER_SP, complaint.id, "", "", "", "")
    redacted = rules.redact(MANAGER_SP, complaint.id, "My CPF is [removed], charged twice", "", "", "LGPD")["complaint"]
    assert redacted.description == "My CPF is [removed], charged twice"
    assert redacted.status == "finalised_evaluated"
    last = rules.history(CONSUMER, complaint.id)[-1]
    assert (last.action, last.actor_id, last.actor_role) == ("redacted", "manager-sp", "manager")
    assert "description" in last.detail and "123.456" not in last.detail
    assert len(events(db)) == events_before
    # The history is append-only in the database itself.
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db.transaction() as session:
            session.execute(m.history.update().values(detail="rewritten"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db.transaction() as session:
            session.execute(m.history.delete())


def test_managers_cancel_open_complaints_for_abuse(rules, db, pack):
    adhere(rules)
    complaint = rules.file(CONSUMER, filing(pack))["complaint"]
    for principal in (CONSUMER, AGENT, MONITOR_SP, MANAGER_RJ):
        with pytest.raises(PermissionDenied):
            rules.cancel(principal, complaint.id, "abuse")
    with pytest.raises(InvalidArgument):
        rules.cancel(MANAGER_SP, complaint.id, "")
    assert rules.cancel(MANAGER_SP, complaint.id, "Offensive content")["complaint"].status == "cancelled"
    assert events(db, "complaint_cancelled")[0]["data"]["reason"] == "Offensive content"


# --- who sees what ---------------------------------------------------------------------------

def test_visibility_and_lists_follow_owner_company_group_and_jurisdiction(rules, pack, clock):
    adhere(rules)
    adhere(rules, company_id="company-b", group_id="group-g", trade_name="Banco Beta")
    adhere(rules, company_id="company-c", group_id="", trade_name="Banco Gama")
    mine_sp = rules.file(CONSUMER, filing(pack))["complaint"]
    clock.advance(days=1)
    mine_rj = rules.file(CONSUMER, filing(pack, company_id="company-b", region_code="BR-RJ", city="Rio"))["complaint"]
    clock.advance(days=1)
    theirs = rules.file(OTHER_CONSUMER, filing(pack, company_id="company-c", region_code="BR-SP"))["complaint"]

    def listed(principal, **query):
        return [c.id for c in rules.list(principal, ListQuery(**query))[0]]

    assert listed(CONSUMER) == [mine_rj.id, mine_sp.id]  # newest first
    assert listed(OTHER_CONSUMER) == [theirs.id]
    assert listed(AGENT) == [mine_rj.id, mine_sp.id]  # own company + group company-b
    assert listed(OTHER_AGENT) == [theirs.id]
    assert listed(Principal("x", "company_agent", company_id="company-b")) == [mine_rj.id]  # no group claim
    assert listed(MANAGER_BR) == [theirs.id, mine_rj.id, mine_sp.id]
    assert listed(MANAGER_SP) == [theirs.id, mine_sp.id]
    assert listed(MONITOR_SP) == [theirs.id, mine_sp.id]
    assert listed(MANAGER_RJ) == [mine_rj.id]
    assert listed(MANAGER_BR, company_id="company-c") == [theirs.id]
    assert listed(MANAGER_BR, status="waiting_company", order_by="deadline") == [mine_sp.id, mine_rj.id, theirs.id]
    assert listed(MANAGER_BR, filed_from=mine_rj.filed_at, filed_to=theirs.filed_at) == [mine_rj.id]
    with pytest.raises(PermissionDenied):
        rules.list(ADMIN, ListQuery())
    with pytest.raises(InvalidArgument):
        rules.list(MANAGER_BR, ListQuery(status="bogus"))
    for principal in (OTHER_CONSUMER, OTHER_AGENT, MANAGER_RJ, ADMIN):
        with pytest.raises(PermissionDenied):
            rules.get(principal, mine_sp.id)
        with pytest.raises(PermissionDenied):
            rules.history(principal, mine_sp.id)
    with pytest.raises(NotFound):
        rules.get(MANAGER_BR, "00000000-0000-0000-0000-000000000000")


def test_cursor_pagination_visits_every_complaint_once(rules, pack, clock):
    adhere(rules)
    filed = []
    for _ in range(7):
        filed.append(rules.file(CONSUMER, filing(pack))["complaint"].id)
        clock.advance(seconds=1 if len(filed) % 2 else 0)  # some share filed_at: the id breaks ties
    for order in ("filed", "deadline"):
        seen, token = [], ""
        while True:
            page, token = rules.list(CONSUMER, ListQuery(page_size=3, page_token=token, order_by=order))
            assert len(page) <= 3
            seen.extend(c.id for c in page)
            if not token:
                break
        assert sorted(seen) == sorted(filed) and len(seen) == 7
    with pytest.raises(InvalidArgument) as error:
        rules.list(CONSUMER, ListQuery(page_token="garbage!"))
    assert error.value.field == "page_token"


# --- company replica ---------------------------------------------------------------------------

def test_the_replica_ignores_events_older_than_what_it_holds(rules, pack):
    adhere(rules, at=datetime(2026, 2, 1, tzinfo=timezone.utc))
    with rules.db.transaction() as session:
        rules.company_suspended(session, ev.CompanySuspended(company_id="company-a"),
                                datetime(2026, 1, 15, tzinfo=timezone.utc))  # delivered late
    rules.file(CONSUMER, filing(pack))  # still active
    with rules.db.transaction() as session:
        rules.company_suspended(session, ev.CompanySuspended(company_id="company-a"),
                                datetime(2026, 2, 2, tzinfo=timezone.utc))
    with pytest.raises(FailedPrecondition):
        rules.file(CONSUMER, filing(pack))
    adhere(rules, trade_name="Banco Alfa Novo", at=datetime(2026, 2, 3, tzinfo=timezone.utc))  # reinstated
    assert rules.file(CONSUMER, filing(pack))["complaint"].company_name == "Banco Alfa Novo"
