"""The filing write path (docs/adr/0012-write-path.md) on a real PostgreSQL database: one read and
one write statement, so what matters is what that statement does under refusal and concurrency;
and the same rules on SQLite (embedded use), where filing takes the statement-by-statement path."""
import dataclasses
import json
import threading
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from concilia.chassis.auth import Principal
from concilia.chassis.clock import clock_from_env
from concilia.chassis.country import load_pack
from concilia.chassis.db import migrate
from concilia.chassis.errors import FailedPrecondition, ResourceExhausted
from concilia.events.v1 import events_pb2 as ev
from services.complaint import models as m
from services.complaint.domain import Complaints, Filing
from services.complaint.storage import LocalFolderStore
from support.complaint_db import both_complaint_databases

SEGMENT = "bancos-financeiras-e-administradoras-de-cartao"
CONSUMER = Principal("consumer-1", "consumer")


@pytest.fixture(scope="module")
def postgres_url(make_database):
    url = make_database("writepath_filing")
    migrate("services.complaint", url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, postgres_url, tmp_path):
    database = both_complaint_databases(request.param, postgres_url, tmp_path, pool_size=10)
    yield database
    database.dispose()


def rules_for(db, tmp_path, filings_per_day=20) -> Complaints:
    pack = load_pack("BR")
    pack = dataclasses.replace(pack, limits={**pack.limits, "filings_per_day": filings_per_day})
    rules = Complaints(db, pack, clock_from_env(), LocalFolderStore(tmp_path / "attachments"))
    with db.transaction() as session:
        rules.company_adhered(session, ev.CompanyAdhered(company_id="company-a", group_id="group-g",
                                                         trade_name="Banco Alfa", segment_code=SEGMENT),
                              datetime(2026, 1, 1, tzinfo=timezone.utc))
    return rules


def new_filing(rules, **overrides) -> Filing:
    path = next(p for p in sorted(rules.taxonomy.paths) if p[0] == SEGMENT)
    values = dict(company_id="company-a", segment_code=path[0], area=path[1], subject=path[2],
                  problem_group=path[3], problem=path[4], purchase_channel="Internet",
                  contacted_company_first=True, description="Charged twice.", desired_outcome="Refund",
                  region_code="BR-SP", city="São Paulo")
    return Filing(**{**values, **overrides})


def counts(db) -> dict:
    with db.engine.connect() as connection:
        found = {table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                 for table in (m.complaints, m.history, m.outbox)}
        found["counter"] = connection.execute(sa.select(sa.func.coalesce(sa.func.sum(m.rate_counters.c.count), 0))
                                              ).scalar_one()
    return found


def test_a_filing_writes_its_complaint_history_event_and_count_together(db, tmp_path):
    rules = rules_for(db, tmp_path)
    view = rules.file(CONSUMER, new_filing(rules))
    complaint = view["complaint"]
    assert counts(db) == {"complaints": 1, "history": 1, "outbox": 1, "counter": 1}
    with db.engine.connect() as connection:
        stored = connection.execute(sa.select(m.complaints)).one()
        entry = connection.execute(sa.select(m.history)).one()
        event = connection.execute(sa.select(m.outbox)).one()
    # What the call answered is what was stored (the answer is not read back).
    for column in ("id", "status", "consumer_id", "company_group_id", "company_name", "segment_name",
                   "authority_jurisdiction", "description"):
        assert getattr(stored, column) == getattr(complaint, column), column
    assert stored.answer_deadline.astimezone(timezone.utc) == complaint.answer_deadline.astimezone(timezone.utc)
    assert (entry.complaint_id, entry.action, entry.actor_id, entry.to_status) == (
        complaint.id, "filed", CONSUMER.account_id, "waiting_company")
    body = json.loads(event.body)
    assert (event.event_type, body["type"], body["id"]) == ("complaint_filed", "complaint_filed", event.event_id)
    assert body["data"]["complaint"]["complaint_id"] == complaint.id
    assert body["data"]["complaint"]["company_group_id"] == "group-g"


def test_a_filing_over_the_days_allowance_changes_nothing(db, tmp_path):
    rules = rules_for(db, tmp_path, filings_per_day=2)
    rules.file(CONSUMER, new_filing(rules))
    rules.file(CONSUMER, new_filing(rules))
    before = counts(db)
    for _ in range(2):
        with pytest.raises(ResourceExhausted):
            rules.file(CONSUMER, new_filing(rules))
    assert counts(db) == before == {"complaints": 2, "history": 2, "outbox": 2, "counter": 2}


def test_a_filing_against_a_company_not_participating_changes_nothing(db, tmp_path):
    rules = rules_for(db, tmp_path)
    with pytest.raises(FailedPrecondition, match="SuggestCompany"):
        rules.file(CONSUMER, new_filing(rules, company_id="company-unknown"))
    with db.engine.begin() as connection:  # as the company_suspended event leaves the replica
        connection.execute(m.companies.update().values(status="suspended"))
    with pytest.raises(FailedPrecondition):
        rules.file(CONSUMER, new_filing(rules))
    assert counts(db) == {"complaints": 0, "history": 0, "outbox": 0, "counter": 0}


def test_concurrent_filings_of_one_account_never_pass_its_allowance(db, tmp_path):
    if not db.is_postgres:
        pytest.skip("SQLite serialises writers anyway")
    rules = rules_for(db, tmp_path, filings_per_day=5)
    outcomes, lock = [], threading.Lock()

    def file_one():
        try:
            rules.file(CONSUMER, new_filing(rules))
            outcome = "filed"
        except ResourceExhausted:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)
    threads = [threading.Thread(target=file_one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["filed"] * 5 + ["refused"] * 7
    assert counts(db) == {"complaints": 5, "history": 5, "outbox": 5, "counter": 5}


def test_concurrent_replays_of_one_key_file_one_complaint(db, tmp_path):
    if not db.is_postgres:
        pytest.skip("SQLite serialises writers anyway")
    rules = rules_for(db, tmp_path)
    answers, lock = [], threading.Lock()
    start = threading.Barrier(8)

    def file_one():
        start.wait()
        complaint_id = rules.file(CONSUMER, new_filing(rules, idempotency_key="same-key"))["complaint"].id
        with lock:
            answers.append(complaint_id)
    threads = [threading.Thread(target=file_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8 and len(set(answers)) == 1
    assert counts(db) == {"complaints": 1, "history": 1, "outbox": 1, "counter": 1}
