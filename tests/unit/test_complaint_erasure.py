"""Erasure on request (LGPD / Ley 25.326), the complaint service's part: identity's account_erased
event empties what the consumer wrote (complaint texts, messages, attachments) and keeps what the
lifecycle and the indicators use. And erasure at the end of the pack's retention period: a closed
complaint loses every text and attachment. On PostgreSQL and SQLite, with rows compared before and
after."""
import dataclasses
import hashlib
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from concilia.chassis import audit
from concilia.chassis.auth import Principal
from concilia.chassis.country import Retention, load_pack
from concilia.chassis.db import migrate
from concilia.chassis.errors import PermissionDenied
from concilia.chassis.outbox import envelope
from concilia.events.v1 import events_pb2 as ev
from services.complaint import models as m
from services.complaint.domain import Complaints, Filing, NewAttachment
from services.complaint.storage import LocalFolderStore
from support.complaint_db import ManualClock, both_complaint_databases

SEGMENT = "bancos-financeiras-e-administradoras-de-cartao"
CONSUMER = Principal("consumer-1", "consumer")
OTHER_CONSUMER = Principal("consumer-2", "consumer")
AGENT = Principal("agent-1", "company_agent", company_id="company-a", group_id="group-g")
MINE = b"%PDF-1.4\nCPF 123.456.789-00" + b"m" * 50      # only consumer-1 uploaded these bytes
SHARED = b"%PDF-1.4\nstore receipt" + b"s" * 50          # uploaded by both consumers (stored once)
AGENTS = b"%PDF-1.4\ncompany policy" + b"a" * 50         # uploaded by the company's agent
ERASED = ev.AccountErased(account_id="consumer-1", role="consumer")
MANAGER = Principal("manager-1", "manager", jurisdiction="BR")
TABLES = (m.complaints, m.messages, m.attachments, m.history, m.outbox, m.access_log)


class RecordingStore(LocalFolderStore):
    """Records each deletion and whether a committed attachment row still referenced the bytes then."""

    def __init__(self, folder, db):
        super().__init__(folder)
        self.db, self.deleted = db, []

    def delete(self, sha256: str) -> None:
        with self.db.engine.connect() as connection:  # sees committed rows only
            referenced = connection.execute(sa.select(sa.func.count()).select_from(m.attachments)
                                            .where(m.attachments.c.sha256 == sha256)).scalar_one()
        self.deleted.append((sha256, referenced))
        super().delete(sha256)


@pytest.fixture(scope="module")
def postgres_url(make_database):
    url = make_database("complaint_erasure")
    migrate("services.complaint", url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, postgres_url, tmp_path):
    database = both_complaint_databases(request.param, postgres_url, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def clock():
    return ManualClock(datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc))  # Monday 10:00 in São Paulo


@pytest.fixture
def store(db, tmp_path):
    return RecordingStore(tmp_path / "attachments", db)


@pytest.fixture
def rules(db, clock, store):
    rules = Complaints(db, load_pack("BR"), clock, store)
    with db.transaction() as session:
        rules.company_adhered(session, ev.CompanyAdhered(company_id="company-a", group_id="group-g",
                                                         trade_name="Banco Alfa", segment_code=SEGMENT),
                              datetime(2026, 1, 1, tzinfo=timezone.utc))
    return rules


def file(rules, principal, description, **extra) -> str:
    path = next(p for p in sorted(rules.taxonomy.paths) if p[0] == SEGMENT)
    return rules.file(principal, Filing(
        company_id="company-a", segment_code=path[0], area=path[1], subject=path[2], problem_group=path[3],
        problem=path[4], purchase_channel="Internet", contacted_company_first=True, description=description,
        desired_outcome="Call me on 11 99999-0000", region_code="BR-SP", city="São Paulo", **extra))["complaint"].id


def pdf(name, content) -> NewAttachment:
    return NewAttachment(name, "application/pdf", content)


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def complaints(rules, clock) -> dict:
    """consumer-1: an open complaint (messages both ways, attachments from both parties) and a
    finalised, evaluated one with a comment; consumer-2: a complaint sharing one of the files."""
    opened = file(rules, CONSUMER, "I am Maria, CPF 123.456.789-00.", idempotency_key="maria-1",
                  attachments=[pdf("cpf.pdf", MINE), pdf("receipt.pdf", SHARED)])
    rules.add_message(CONSUMER, opened, "My address is Rua A, 1.")
    rules.add_message(AGENT, opened, "We are looking into it.")
    rules.add_attachment(AGENT, opened, pdf("policy.pdf", AGENTS))
    closed = file(rules, CONSUMER, "Maria again: charged twice.")
    clock.advance(days=1)
    rules.answer(AGENT, closed, "Refunded.")
    rules.evaluate(CONSUMER, closed, "resolved", 4, "Thanks, Maria here.")
    other = file(rules, OTHER_CONSUMER, "João: card blocked.", idempotency_key="joao-1",
                 attachments=[pdf("receipt.pdf", SHARED)])
    rules.add_message(OTHER_CONSUMER, other, "João's address is Rua B, 2.")
    clock.advance(hours=1)
    return {"opened": opened, "closed": closed, "other": other}


def snapshot(db) -> dict:
    """Every row of the tables erasure could touch, by primary key."""
    found = {}
    with db.engine.connect() as connection:
        for table in TABLES:
            key = next(iter(table.primary_key.columns)).name
            found[table.name] = {getattr(r, key): r._asdict() for r in connection.execute(sa.select(table))}
    return found


def erase(rules, db, message=ERASED) -> tuple:
    with db.transaction() as session:
        return rules.account_erased(session, message, rules.clock.now())


def test_erasure_empties_what_the_consumer_wrote_and_keeps_everything_else(rules, db, store, complaints):
    before = snapshot(db)
    keys = erase(rules, db)
    after = snapshot(db)
    mine = (complaints["opened"], complaints["closed"])

    # Complaints: only the consumer's texts and idempotency key change (status, dates, resolution,
    # score, region, city, company fields and request_hash stay).
    expected = {i: dict(row) for i, row in before["complaints"].items()}
    for complaint_id in mine:
        expected[complaint_id].update(description="", desired_outcome="", evaluation_comment="", idempotency_key=None)
    assert after["complaints"] == expected
    assert before["complaints"][complaints["closed"]]["evaluation_comment"] == "Thanks, Maria here."
    assert after["complaints"][complaints["closed"]]["status"] == "finalised_evaluated"
    assert after["complaints"][complaints["closed"]]["satisfaction_score"] == 4
    assert after["complaints"][complaints["other"]]["description"] == "João: card blocked."

    # Messages: the consumer's text is empty; the agent's and the other consumer's are unchanged.
    expected = {i: dict(row, text="") if row["author_id"] == "consumer-1" else row
                for i, row in before["messages"].items()}
    assert after["messages"] == expected
    assert sorted(r["text"] for r in after["messages"].values()) == ["", "João's address is Rua B, 2.",
                                                                      "We are looking into it."]

    # Attachments: the consumer's rows are gone; the agent's and the other consumer's stay.
    assert after["attachments"] == {i: row for i, row in before["attachments"].items()
                                    if row["uploaded_by"] != "consumer-1"}
    assert sorted(r["uploaded_by"] for r in after["attachments"].values()) == ["agent-1", "consumer-2"]

    # History: one entry per complaint touched, appended; nothing else; no event.
    new = [row for seq, row in after["history"].items() if seq not in before["history"]]
    assert {seq: after["history"][seq] for seq in before["history"]} == before["history"]
    assert sorted((h["complaint_id"], h["action"], h["actor_id"], h["actor_role"], h["from_status"], h["to_status"],
                   h["detail"], h["at"]) for h in new) == sorted(
        (complaint_id, "personal_data_erased", "consumer-1", "consumer", status, status,
         "at the account owner's request", rules.clock.now())
        for complaint_id, status in ((complaints["opened"], "waiting_company"),
                                     (complaints["closed"], "finalised_evaluated")))
    assert after["outbox"] == before["outbox"]

    # Stored content: only what no attachment references any more, and only once asked, after the commit.
    assert keys == (sha(MINE),)
    assert store.get(sha(MINE)) == MINE and store.deleted == []
    rules.remove_content(keys)
    assert store.deleted == [(sha(MINE), 0)]
    with pytest.raises(FileNotFoundError):
        store.get(sha(MINE))
    other_attachment = next(r for r in after["attachments"].values() if r["uploaded_by"] == "consumer-2")
    assert rules.attachment(OTHER_CONSUMER, complaints["other"], other_attachment["id"])[1] == SHARED
    assert store.get(sha(AGENTS)) == AGENTS

    # A second erasure finds nothing left: no change, no history entry.
    assert erase(rules, db) == ()
    assert snapshot(db) == after


def test_the_erased_consumers_open_complaint_goes_on_and_finalises_not_evaluated(rules, db, clock, complaints):
    erase(rules, db)
    answered = rules.answer(AGENT, complaints["opened"], "We refunded you.")["complaint"]
    assert answered.status == "waiting_evaluation" and answered.description == ""
    clock.instant = answered.evaluation_deadline
    rules.sweep()
    row = rules.get(AGENT, complaints["opened"])["complaint"]
    assert (row.status, row.finalised_at) == ("finalised_not_evaluated", answered.evaluation_deadline)
    assert [h.action for h in rules.history(AGENT, complaints["opened"])][-3:] == [
        "personal_data_erased", "answered", "evaluation_deadline_lapsed"]


def test_erasure_of_a_company_agent_changes_nothing(rules, db, store, complaints):
    before = snapshot(db)
    assert erase(rules, db, ev.AccountErased(account_id="agent-1", role="company_agent")) == ()
    # The role decides, not the id: a consumer's id sent with another role is not a consumer's erasure.
    assert erase(rules, db, ev.AccountErased(account_id="consumer-1", role="manager")) == ()
    assert snapshot(db) == before
    assert store.deleted == []


def test_a_rolled_back_erasure_changes_nothing_and_removes_no_content(rules, db, store, complaints):
    before = snapshot(db)
    with pytest.raises(RuntimeError):
        with db.transaction() as session:
            assert rules.account_erased(session, ERASED, rules.clock.now()) == (sha(MINE),)
            raise RuntimeError("the commit fails")
    assert snapshot(db) == before
    assert store.deleted == []
    assert store.get(sha(MINE)) == MINE
    # Nothing was lost: the erasure can run again in full.
    assert erase(rules, db) == (sha(MINE),)


def test_the_worker_consumes_the_event_once_and_removes_content_after_the_commit(rules, db, store, complaints):
    from services.complaint.worker import ComplaintWorker
    worker = ComplaintWorker()
    worker.db, worker.rules = db, rules
    body = envelope("account_erased", "identity", ERASED, "BR", event_id="event-1")
    worker.on_account_erased(body)
    after = snapshot(db)
    assert store.deleted == [(sha(MINE), 0)]  # no committed row referenced it when it was removed
    assert [h["action"] for h in after["history"].values()].count("personal_data_erased") == 2
    worker.on_account_erased(body)  # a redelivery
    assert snapshot(db) == after and store.deleted == [(sha(MINE), 0)]


def test_a_token_still_valid_after_the_erasure_files_writes_and_evaluates_nothing(rules, db, store, complaints):
    """Access tokens outlive the erasure until they expire (ADR 0018): the erased consumer's calls
    are refused and change nothing, whoever else goes on."""
    erase(rules, db)
    answered = rules.answer(AGENT, complaints["opened"], "We refunded you.")["complaint"]
    assert answered.status == "waiting_evaluation"
    before = snapshot(db)
    refusals = [
        lambda: file(rules, CONSUMER, "A new complaint after the erasure."),
        lambda: rules.add_message(CONSUMER, complaints["opened"], "Me again, Maria."),
        lambda: rules.add_attachment(CONSUMER, complaints["opened"], pdf("new.pdf", b"%PDF-1.4\nnew" + b"n" * 40)),
        lambda: rules.evaluate(CONSUMER, complaints["opened"], "resolved", 5, "Thanks, Maria"),
    ]
    for attempt in refusals:
        with pytest.raises(PermissionDenied, match="erased"):
            attempt()
    assert snapshot(db) == before
    # The other consumer is not affected, and the company still writes to the erased consumer's case.
    file(rules, OTHER_CONSUMER, "Still filing.")
    rules.add_message(AGENT, complaints["opened"], "Closing our side.")


# --- retention (the pack's retention.closed_complaint_days; docs/adr/0021-retention.md) -----------------

TEXTS = dict(description="", desired_outcome="", answer_text="", refusal_text="", evaluation_comment="",
             cancellation_reason="", hearing_url="", idempotency_key=None)


def close_the_open_one(rules, clock, complaints) -> datetime:
    """consumer-1's open complaint (messages and attachments of both parties, one file shared with
    consumer-2's still open complaint) answered and evaluated; returns when the last one closed."""
    rules.answer(AGENT, complaints["opened"], "We refunded you, Maria.")
    return rules.evaluate(CONSUMER, complaints["opened"], "not_resolved", 2, "Still waiting, Maria")["complaint"].finalised_at


def test_a_closed_complaint_keeps_its_texts_until_the_retention_period_ends(rules, db, clock, store, complaints):
    last_closed = close_the_open_one(rules, clock, complaints)
    days = rules.pack.retention.closed_complaint_days
    assert days == 1825
    clock.instant = last_closed + timedelta(days=days) - timedelta(seconds=1)
    before = snapshot(db)
    expired_first = rules.apply_retention()
    # The first closed one ("closed", an hour older) is due; the last one not yet, nor the open one.
    after = snapshot(db)
    assert expired_first["complaints_expired"] == 1
    assert after["complaints"][complaints["closed"]]["texts_expired_at"] == clock.now()
    assert after["complaints"][complaints["opened"]] == before["complaints"][complaints["opened"]]
    assert after["messages"] == before["messages"] and after["attachments"] == before["attachments"]
    assert store.deleted == []


def test_at_the_end_of_the_retention_period_a_closed_complaint_keeps_only_what_indicators_use(
        rules, db, clock, store, complaints):
    close_the_open_one(rules, clock, complaints)
    clock.advance(days=rules.pack.retention.closed_complaint_days, seconds=1)
    before = snapshot(db)
    counted = REGISTRY.get_sample_value("concilia_retention_removed_total", {"kind": "complaint_texts"}) or 0
    assert rules.apply_retention(batch_size=1) == {"complaints_expired": 2, "accesses_pruned": 0}
    after = snapshot(db)
    assert REGISTRY.get_sample_value("concilia_retention_removed_total", {"kind": "complaint_texts"}) == counted + 2
    closed = (complaints["opened"], complaints["closed"])

    # Complaints: every free text empties and the expiry is stamped; statuses, dates, resolution,
    # score and the taxonomy stay. consumer-2's complaint is still open: untouched, however old.
    expected = {i: dict(row) for i, row in before["complaints"].items()}
    for complaint_id in closed:
        expected[complaint_id].update(TEXTS, texts_expired_at=clock.now())
    assert after["complaints"] == expected
    assert before["complaints"][complaints["opened"]]["answer_text"] == "We refunded you, Maria."
    assert (after["complaints"][complaints["opened"]]["resolution"],
            after["complaints"][complaints["opened"]]["satisfaction_score"]) == ("not_resolved", 2)

    # Messages: every party's text on the closed complaints; attachments: all of theirs.
    assert after["messages"] == {i: dict(row, text="") if row["complaint_id"] in closed else row
                                 for i, row in before["messages"].items()}
    assert [r["complaint_id"] for r in after["attachments"].values()] == [complaints["other"]]

    # History: one system entry per complaint; no event.
    new = [row for seq, row in after["history"].items() if seq not in before["history"]]
    assert sorted((h["complaint_id"], h["action"], h["actor_role"], h["from_status"], h["to_status"], h["at"])
                  for h in new) == sorted(
        (complaint_id, "retention_expired", "system", "finalised_evaluated", "finalised_evaluated", clock.now())
        for complaint_id in closed)
    assert after["outbox"] == before["outbox"]

    # Content: removed after the commit, except the file consumer-2's open complaint still uses.
    assert sorted(store.deleted) == sorted([(sha(MINE), 0), (sha(AGENTS), 0)])
    assert store.get(sha(SHARED)) == SHARED

    # Once: a later sweep changes nothing.
    clock.advance(days=400)
    assert rules.apply_retention() == {"complaints_expired": 0, "accesses_pruned": 0}
    assert snapshot(db) == after


def test_a_pack_without_retention_keeps_closed_complaints(rules, db, clock, store, complaints):
    close_the_open_one(rules, clock, complaints)
    rules.pack = dataclasses.replace(rules.pack, retention=Retention())
    clock.advance(days=36500)
    before = snapshot(db)
    assert rules.apply_retention() == {"complaints_expired": 0, "accesses_pruned": 0}
    assert snapshot(db) == before and store.deleted == []


def test_the_access_log_is_pruned_after_its_own_period(rules, db, clock, complaints):
    rules.get(MANAGER, complaints["closed"])          # read now: logged
    clock.advance(days=10)
    rules.get(MANAGER, complaints["other"])           # read ten days later
    logged = snapshot(db)["access_log"]
    assert sorted(r["subject_id"] for r in logged.values()) == sorted([complaints["closed"], complaints["other"]])
    period = rules.pack.retention.access_log_days
    clock.advance(days=period - 5)                    # the first read is past the period, the second not
    assert rules.apply_retention()["accesses_pruned"] == 1
    assert [r["subject_id"] for r in snapshot(db)["access_log"].values()] == [complaints["other"]]
    assert audit.prune(db, m.access_log, None, clock.now() + timedelta(days=period)) == 0  # None: kept
    assert len(snapshot(db)["access_log"]) == 1


def test_the_worker_applies_retention_on_its_timer(rules, db, clock, store, complaints):
    from services.complaint.worker import ComplaintWorker
    worker = ComplaintWorker()
    worker.db, worker.rules = db, rules
    clock.advance(days=rules.pack.retention.closed_complaint_days + 2)
    worker.apply_retention()
    assert snapshot(db)["complaints"][complaints["closed"]]["texts_expired_at"] == clock.now()
    assert [h.action for h in rules.history(AGENT, complaints["closed"])][-1] == "retention_expired"
