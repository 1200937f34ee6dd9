"""The lifecycle transitions' write path (docs/adr/0012-write-path.md): on PostgreSQL a transition
locks and reads the complaint on the driver's connection, then writes its new values, its history
entry and its events in one statement; on SQLite (embedded use) the same rows statement by
statement. Checked on both against rows and event JSON built here, not by the code under test."""
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from concilia.chassis.auth import Principal
from concilia.chassis.country import load_pack
from concilia.chassis.db import migrate
from concilia.chassis.errors import FailedPrecondition, NotFound, PermissionDenied
from concilia.events.v1 import events_pb2 as ev
from services.complaint import models as m
from services.complaint.domain import Complaints, Filing, NewAttachment
from services.complaint.storage import LocalFolderStore
from support.complaint_db import ManualClock, both_complaint_databases

SEGMENT = "bancos-financeiras-e-administradoras-de-cartao"
CONSUMER = Principal("consumer-1", "consumer")
AGENT = Principal("agent-1", "company_agent", company_id="company-a", group_id="group-g")
OTHER_AGENT = Principal("agent-3", "company_agent", company_id="company-c")
MANAGER = Principal("manager-br", "manager", jurisdiction="BR")
FILED_AT = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)  # Monday 10:00 in São Paulo
PDF = b"%PDF-1.4\n" + b"x" * 100


@pytest.fixture(scope="module")
def postgres_url(make_database):
    url = make_database("writepath_transitions")
    migrate("services.complaint", url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, postgres_url, tmp_path):
    database = both_complaint_databases(request.param, postgres_url, tmp_path, pool_size=10)
    yield database
    database.dispose()


@pytest.fixture
def clock():
    return ManualClock(FILED_AT)


@pytest.fixture
def rules(db, clock, tmp_path):
    rules = Complaints(db, load_pack("BR"), clock, LocalFolderStore(tmp_path / "attachments"))
    with db.transaction() as session:
        rules.company_adhered(session, ev.CompanyAdhered(company_id="company-a", group_id="group-g",
                                                         trade_name="Banco Alfa", segment_code=SEGMENT),
                              datetime(2026, 1, 1, tzinfo=timezone.utc))
    return rules


def file_one(rules) -> str:
    path = next(p for p in sorted(rules.taxonomy.paths) if p[0] == SEGMENT)
    return rules.file(CONSUMER, Filing(
        company_id="company-a", segment_code=path[0], area=path[1], subject=path[2], problem_group=path[3],
        problem=path[4], purchase_channel="Internet", contacted_company_first=True, description="Charged twice.",
        desired_outcome="Refund", region_code="BR-SP", city="São Paulo"))["complaint"].id


def stored(db, complaint_id: str) -> dict:
    with db.engine.connect() as connection:
        return connection.execute(sa.select(m.complaints).where(m.complaints.c.id == complaint_id)).one()._asdict()


def history(db) -> list[dict]:
    with db.engine.connect() as connection:
        return [row._asdict() for row in connection.execute(sa.select(m.history).order_by(m.history.c.seq))]


def outbox(db) -> list[dict]:
    with db.engine.connect() as connection:
        return [dict(row._asdict(), body=json.loads(row.body))
                for row in connection.execute(sa.select(m.outbox).order_by(m.outbox.c.seq))]


def zulu(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ref(complaint: dict) -> dict:
    """The JSON of the event's ComplaintRef (proto field names; empty strings are left out)."""
    names = ("complaint_id", "consumer_id", "company_id", "company_group_id", "segment_code", "region_code",
             "authority_id")
    values = dict(complaint, complaint_id=complaint["id"])
    return {name: values[name] for name in names if values[name]}


def envelope(row: dict, event_type: str, occurred_at: datetime, data: dict) -> dict:
    return {"id": row["event_id"], "type": event_type, "source": "complaint", "occurred_at": zulu(occurred_at),
            "country": "BR", "data": data}


def entry(complaint_id: str, action: str, actor: Principal | None, from_status: str, to_status: str,
          at: datetime, detail: str = "") -> dict:
    actor_id, actor_role = (actor.account_id, actor.role) if actor else ("system", "system")
    return dict(complaint_id=complaint_id, action=action, actor_id=actor_id, actor_role=actor_role,
                from_status=from_status, to_status=to_status, detail=detail, at=at)


def without_seq(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seq"} for row in rows]


def assert_view_is_stored(db, view: dict, complaint_id: str) -> None:
    """The transition's response is the complaint as stored, column by column."""
    assert vars(view["complaint"]) == stored(db, complaint_id)


def test_an_answer_writes_its_values_one_history_entry_and_one_event(db, rules, clock):
    complaint_id = file_one(rules)
    before, entries, events = stored(db, complaint_id), history(db), outbox(db)
    clock.advance(days=3)
    view = rules.answer(AGENT, complaint_id, "We refunded the second charge.")
    after = stored(db, complaint_id)
    evaluation_deadline = after["evaluation_deadline"]
    assert {k: v for k, v in after.items() if before[k] != v} == dict(
        status="waiting_evaluation", answered=True, answered_at=clock.now(),
        answer_text="We refunded the second charge.", answer_time_days=3, evaluation_deadline=evaluation_deadline)
    assert without_seq(history(db)[len(entries):]) == [
        entry(complaint_id, "answered", AGENT, "waiting_company", "waiting_evaluation", clock.now())]
    new = outbox(db)[len(events):]
    assert [row["event_type"] for row in new] == ["complaint_answered"]
    assert new[0]["body"] == envelope(new[0], "complaint_answered", clock.now(), {
        "complaint": ref(after), "answered_at": zulu(clock.now()), "answer_time_days": 3,
        "evaluation_deadline": zulu(evaluation_deadline)})
    assert_view_is_stored(db, view, complaint_id)
    assert view["messages"] == [] and view["attachments"] == []


def test_an_evaluation_writes_one_history_entry_and_its_two_events_in_order(db, rules, clock):
    complaint_id = file_one(rules)
    clock.advance(days=2)
    rules.answer(AGENT, complaint_id, "Refunded.")
    answered_at = clock.now()
    entries, events = history(db), outbox(db)
    clock.advance(days=1)
    view = rules.evaluate(CONSUMER, complaint_id, "resolved", 4, "Solved, thanks.")
    after = stored(db, complaint_id)
    assert (after["status"], after["resolution"], after["satisfaction_score"], after["evaluation_comment"],
            after["finalised_at"]) == ("finalised_evaluated", "resolved", 4, "Solved, thanks.", clock.now())
    assert without_seq(history(db)[len(entries):]) == [
        entry(complaint_id, "evaluated", CONSUMER, "waiting_evaluation", "finalised_evaluated", clock.now(),
              "resolved, score 4")]
    new = outbox(db)[len(events):]
    assert [row["event_type"] for row in new] == ["complaint_evaluated", "complaint_finalised"]
    assert new[0]["body"] == envelope(new[0], "complaint_evaluated", clock.now(), {
        "complaint": ref(after), "resolution": "resolved", "satisfaction_score": 4})
    assert new[1]["body"] == envelope(new[1], "complaint_finalised", clock.now(), {
        "complaint": ref(after), "status": "finalised_evaluated", "resolution": "resolved", "satisfaction_score": 4,
        "answered": True, "answer_time_days": 2, "filed_at": zulu(FILED_AT), "answered_at": zulu(answered_at),
        "finalised_at": zulu(clock.now()), "area": after["area"], "subject": after["subject"],
        "problem_group": after["problem_group"], "problem": after["problem"], "purchase_channel": "Internet",
        "contacted_company_first": True, "city": "São Paulo", "company_name": "Banco Alfa",
        "segment_name": after["segment_name"]})
    assert_view_is_stored(db, view, complaint_id)


def test_a_transition_answers_with_the_messages_and_attachments_the_complaint_has(db, rules, clock):
    complaint_id = file_one(rules)
    rules.add_message(CONSUMER, complaint_id, "Any news?")
    clock.advance(minutes=1)
    rules.add_attachment(AGENT, complaint_id, NewAttachment("receipt.pdf", "application/pdf", PDF))
    rules.add_message(AGENT, complaint_id, "Looking into it.")
    view = rules.answer(AGENT, complaint_id, "Refunded.")
    read = rules.get(CONSUMER, complaint_id)
    assert [r._asdict() for r in view["messages"]] == [r._asdict() for r in read["messages"]]
    assert [r.text for r in view["messages"]] == ["Any news?", "Looking into it."]
    assert [r._asdict() for r in view["attachments"]] == [r._asdict() for r in read["attachments"]]
    assert [r.file_name for r in view["attachments"]] == ["receipt.pdf"]


def test_a_refused_transition_writes_nothing_and_says_why(db, rules):
    complaint_id = file_one(rules)
    rules.answer(AGENT, complaint_id, "Refunded.")
    complaint, entries, events = stored(db, complaint_id), history(db), outbox(db)
    with pytest.raises(FailedPrecondition, match="^the complaint is waiting_evaluation, not waiting for the company$"):
        rules.answer(AGENT, complaint_id, "Again.")
    with pytest.raises(PermissionDenied, match="outside what your account may see"):
        rules.answer(OTHER_AGENT, complaint_id, "Not ours.")
    with pytest.raises(NotFound):
        rules.evaluate(CONSUMER, "no-such-complaint", "resolved", 5, "")
    assert (stored(db, complaint_id), history(db), outbox(db)) == (complaint, entries, events)


def test_a_redaction_writes_one_history_entry_and_no_event(db, rules, clock):
    complaint_id = file_one(rules)
    entries, events = history(db), outbox(db)
    view = rules.redact(MANAGER, complaint_id, "Charged twice (redacted).", "", "", "personal data")
    assert stored(db, complaint_id)["description"] == "Charged twice (redacted)."
    assert without_seq(history(db)[len(entries):]) == [
        entry(complaint_id, "redacted", MANAGER, "waiting_company", "waiting_company", clock.now(),
              "fields: description; personal data")]
    assert outbox(db) == events
    assert_view_is_stored(db, view, complaint_id)


def test_an_upheld_refusal_writes_its_two_events_in_order(db, rules, clock):
    complaint_id = file_one(rules)
    rules.refuse(AGENT, complaint_id, rules.pack.refusal_reasons[0], "Not a customer of ours.")
    events = outbox(db)
    clock.advance(days=1)
    view = rules.review_refusal(MANAGER, complaint_id, True, "")
    after = stored(db, complaint_id)
    assert after["cancellation_reason"] == f"refusal upheld: {rules.pack.refusal_reasons[0]}"
    new = outbox(db)[len(events):]
    assert [row["event_type"] for row in new] == ["complaint_refusal_reviewed", "complaint_cancelled"]
    assert new[1]["body"]["data"] == {"complaint": ref(after), "reason": after["cancellation_reason"]}
    assert_view_is_stored(db, view, complaint_id)


def test_the_sweep_writes_a_lapsed_deadline_with_its_history_entry_and_event(db, rules, clock):
    complaint_id = file_one(rules)
    answer_deadline = stored(db, complaint_id)["answer_deadline"]
    entries, events = history(db), outbox(db)
    clock.instant = answer_deadline + timedelta(hours=1)
    assert rules.sweep()["unanswered"] == 1
    after = stored(db, complaint_id)
    assert (after["status"], after["answered"]) == ("waiting_evaluation", False)
    assert without_seq(history(db)[len(entries):]) == [
        entry(complaint_id, "answer_deadline_lapsed", None, "waiting_company", "waiting_evaluation", clock.now())]
    new = outbox(db)[len(events):]
    assert [row["event_type"] for row in new] == ["complaint_unanswered"]
    assert new[0]["body"]["data"] == {"complaint": ref(after), "answer_deadline": zulu(answer_deadline),
                                      "evaluation_deadline": zulu(after["evaluation_deadline"])}


def test_concurrent_answers_to_one_complaint_let_exactly_one_through(db, rules):
    if not db.is_postgres:
        pytest.skip("row locks are PostgreSQL's")
    complaint_id = file_one(rules)
    entries, events = history(db), outbox(db)
    start, outcomes = threading.Barrier(6), []

    def answer(n: int) -> None:
        start.wait()
        try:
            rules.answer(AGENT, complaint_id, f"Answer {n}.")
            outcomes.append("answered")
        except FailedPrecondition as error:
            outcomes.append(str(error))
    threads = [threading.Thread(target=answer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["answered"] + ["the complaint is waiting_evaluation, not waiting for the company"] * 5
    assert [e["action"] for e in history(db)[len(entries):]] == ["answered"]
    assert [e["event_type"] for e in outbox(db)[len(events):]] == ["complaint_answered"]
