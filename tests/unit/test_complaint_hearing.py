"""Argentina's flow in the complaint rules: routing to the competent authority (municipal office,
province, nation), business-day deadlines that cross holidays, and the conciliation hearing.
Real PostgreSQL (migrated), the real AR and BR packs, a manual clock; events read from the outbox."""
import csv
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from concilia.chassis.auth import Principal
from concilia.chassis.country import load_pack
from concilia.chassis.db import migrate
from concilia.chassis.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from concilia.events.v1 import events_pb2 as ev
from services.complaint import models as m
from services.complaint.domain import Complaints, Filing, ListQuery
from support import complaint_db
from support.complaint_db import emptied_complaint_database

BA = ZoneInfo("America/Argentina/Buenos_Aires")
URL = "https://meet.example.org/audiencia-123"


class ManualClock(complaint_db.ManualClock):
    def set_local(self, *args) -> None:
        self.instant = datetime(*args, tzinfo=BA).astimezone(timezone.utc)


@pytest.fixture(scope="module")
def database_url(make_database):
    url = make_database("complaint_hearing")
    migrate("services.complaint", url)
    return url


@pytest.fixture
def db(database_url):
    database = emptied_complaint_database(database_url)
    yield database
    database.engine.dispose()


@pytest.fixture
def clock():
    # Friday 13 March 2026, 10:00 in Buenos Aires.
    return ManualClock(datetime(2026, 3, 13, 10, 0, tzinfo=BA).astimezone(timezone.utc))


@pytest.fixture
def ar(db, clock):
    return Complaints(db, load_pack("AR"), clock)


@pytest.fixture
def br(db, clock):
    return Complaints(db, load_pack("BR"), clock)


CONSUMER = Principal("consumer-1", "consumer")
AGENT = Principal("agent-1", "company_agent", company_id="company-a")
NATIONAL = Principal("manager-dndc", "manager", jurisdiction="AR")
PROVINCE_BA = Principal("manager-pba", "manager", jurisdiction="AR-B")
LA_PLATA = Principal("manager-la-plata", "manager", jurisdiction="AR-B/omic-la-plata")
CORDOBA = Principal("manager-cordoba", "manager", jurisdiction="AR-X")
MONITOR_BA = Principal("monitor-ba", "monitor", jurisdiction="AR-B")


def adhere(rules: Complaints, segment: str) -> None:
    with rules.db.transaction() as session:
        rules.company_adhered(session, ev.CompanyAdhered(company_id="company-a", trade_name="Telefónica Sur",
                                                         segment_code=segment),
                              datetime(2026, 1, 1, tzinfo=timezone.utc))


def filing(rules: Complaints, **overrides) -> Filing:
    with rules.pack.taxonomy_file.open(encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    adhere(rules, row["segment_code"])
    region = "AR-B" if rules.pack.code == "AR" else "BR-SP"
    values = dict(company_id="company-a", segment_code=row["segment_code"], area=row["area"], subject=row["subject"],
                  problem_group=row["problem_group"], problem=row["problem"], purchase_channel="Internet",
                  contacted_company_first=True, description="Me cobraron dos veces la factura.",
                  desired_outcome="Reintegro", region_code=region, city="La Plata")
    values.update(overrides)
    return Filing(**values)


def outbox(db, event_type: str) -> list[dict]:
    with db.engine.connect() as connection:
        bodies = [json.loads(r.body) for r in connection.execute(sa.select(m.outbox).order_by(m.outbox.c.seq))]
    return [b["data"] for b in bodies if b["type"] == event_type]


def history(db) -> list:
    with db.engine.connect() as connection:
        return connection.execute(sa.select(m.history).order_by(m.history.c.seq)).all()


def local(*args) -> datetime:
    return datetime(*args, tzinfo=BA)


# --- routing -----------------------------------------------------------------------------------

def test_complaints_are_routed_to_the_municipal_office_the_province_or_the_nation(ar, db):
    la_plata = ar.file(CONSUMER, filing(ar, city="  la plata "))["complaint"]
    quilmes = ar.file(CONSUMER, filing(ar, city="Quilmes"))["complaint"]
    santa_cruz = ar.file(CONSUMER, filing(ar, region_code="AR-Z", city="Río Gallegos"))["complaint"]
    assert (la_plata.authority_id, la_plata.authority_jurisdiction) == ("omic-la-plata", "AR-B/omic-la-plata")
    assert (quilmes.authority_id, quilmes.authority_jurisdiction) == ("pba", "AR-B")
    assert (santa_cruz.authority_id, santa_cruz.authority_jurisdiction) == ("dndc", "AR")
    filed = {e["complaint"]["complaint_id"]: e["complaint"]["authority_id"] for e in outbox(db, "complaint_filed")}
    assert filed == {la_plata.id: "omic-la-plata", quilmes.id: "pba", santa_cruz.id: "dndc"}

    def listed(principal):
        return {c.id for c in ar.list(principal, ListQuery())[0]}

    assert listed(NATIONAL) == {la_plata.id, quilmes.id, santa_cruz.id}
    assert listed(PROVINCE_BA) == {la_plata.id, quilmes.id}  # the province supervises its offices
    assert listed(MONITOR_BA) == {la_plata.id, quilmes.id}
    assert listed(LA_PLATA) == {la_plata.id}  # an office sees only what is routed to it
    assert listed(CORDOBA) == set()
    assert ar.get(LA_PLATA, la_plata.id)["complaint"].id == la_plata.id
    for principal, complaint in ((LA_PLATA, quilmes), (LA_PLATA, santa_cruz), (CORDOBA, la_plata),
                                 (PROVINCE_BA, santa_cruz)):
        with pytest.raises(PermissionDenied):
            ar.get(principal, complaint.id)


def test_only_managers_covering_the_routed_authority_review_its_refusals(ar, clock):
    complaint = ar.file(CONSUMER, filing(ar, city="Quilmes"))["complaint"]  # pba
    ar.refuse(AGENT, complaint.id, "not_customer", "No es cliente")
    for outsider in (LA_PLATA, CORDOBA, MONITOR_BA):
        with pytest.raises(PermissionDenied):
            ar.review_refusal(outsider, complaint.id, False, "")
    assert ar.review_refusal(PROVINCE_BA, complaint.id, False, "")["complaint"].status == "waiting_company"


def test_brazil_routes_by_state_and_keeps_its_region_visibility(br):
    sp = br.file(CONSUMER, filing(br, region_code="BR-SP", city="Campinas"))["complaint"]
    bahia = br.file(CONSUMER, filing(br, region_code="BR-BA", city="Salvador"))["complaint"]
    assert (sp.authority_id, sp.authority_jurisdiction) == ("procon-sp", "BR-SP")
    assert (bahia.authority_id, bahia.authority_jurisdiction) == ("senacon", "BR")
    assert {c.id for c in br.list(Principal("m", "manager", jurisdiction="BR-SP"), ListQuery())[0]} == {sp.id}


# --- business days -------------------------------------------------------------------------------

def test_answer_deadline_counts_business_days_and_skips_the_holiday(ar):
    complaint = ar.file(CONSUMER, filing(ar))["complaint"]
    # Friday 13 March + 10 business days, 24 March (Memoria) skipped: the last day is Monday 30 March.
    assert complaint.answer_deadline == local(2026, 3, 31)


def test_a_rejected_refusal_moves_the_deadline_by_the_business_days_lost_across_holidays(ar, clock, db):
    complaint = ar.file(CONSUMER, filing(ar))["complaint"]
    clock.set_local(2026, 3, 18, 9, 0)  # Wednesday
    ar.refuse(AGENT, complaint.id, "not_customer", "No es cliente")
    clock.set_local(2026, 3, 23, 15, 0)  # the next Monday: Wed, Thu, Fri were lost (3 business days)
    back = ar.review_refusal(NATIONAL, complaint.id, False, "Es cliente")["complaint"]
    # Last day Monday 30 March + 3 business days: 31 March, 1 April, (2 and 3 April are holidays,
    # then the weekend) 6 April. Calendar days would have given 4 April.
    assert back.answer_deadline == local(2026, 4, 7)
    assert back.under_review_days == 5  # answer time still excludes whole local days, as the open data does
    reviewed = outbox(db, "complaint_refusal_reviewed")[0]
    assert reviewed["answer_deadline"] == "2026-04-07T03:00:00Z"


def test_brazil_still_moves_the_deadline_by_calendar_days(br, clock):
    complaint = br.file(CONSUMER, filing(br))["complaint"]
    clock.instant += timedelta(days=2)
    br.refuse(AGENT, complaint.id, "duplicate", "Duplicada")
    clock.instant += timedelta(days=3)
    back = br.review_refusal(Principal("m", "manager", jurisdiction="BR"), complaint.id, False, "")["complaint"]
    assert back.answer_deadline == complaint.answer_deadline + timedelta(days=3)


# --- the hearing ----------------------------------------------------------------------------------

def answered_and_judged_unresolved(ar, clock, **overrides):
    complaint = ar.file(CONSUMER, filing(ar, **overrides))["complaint"]
    clock.set_local(2026, 3, 16, 11, 0)
    ar.answer(AGENT, complaint.id, "Le reintegramos el cargo.")
    clock.set_local(2026, 3, 17, 12, 0)  # Tuesday
    return ar.evaluate(CONSUMER, complaint.id, "not_resolved", 2, "No recibí nada")["complaint"]


def test_the_argentine_hearing_path_from_unresolved_answer_to_agreement(ar, clock, db):
    pending = answered_and_judged_unresolved(ar, clock)
    assert pending.status == "hearing_pending"
    assert (pending.resolution, pending.satisfaction_score) == ("not_resolved", 2)
    # 15 business days after Tuesday 17 March, skipping 24 March, 2 and 3 April: Friday 10 April.
    assert pending.hearing_window_ends == local(2026, 4, 11)
    assert outbox(db, "complaint_finalised") == []
    assert outbox(db, "complaint_evaluated")[0]["resolution"] == "not_resolved"

    clock.set_local(2026, 3, 18, 9, 0)
    when = local(2026, 4, 6, 10, 0)
    scheduled = ar.schedule_hearing(LA_PLATA, pending.id, when, URL, "Primera audiencia")["complaint"]
    assert (scheduled.status, scheduled.hearing_at, scheduled.hearing_url) == ("hearing_scheduled", when, URL)
    event = outbox(db, "complaint_hearing_scheduled")[0]
    assert event["scheduled_at"] == "2026-04-06T13:00:00Z" and event["scheduler_id"] == LA_PLATA.account_id
    assert event["complaint"]["authority_id"] == "omic-la-plata"

    with pytest.raises(FailedPrecondition, match="not taken place"):
        ar.record_hearing_outcome(LA_PLATA, pending.id, "agreement", "")
    clock.set_local(2026, 4, 6, 11, 30)
    done = ar.record_hearing_outcome(LA_PLATA, pending.id, "agreement", "Reintegro en 5 días")["complaint"]
    assert (done.status, done.resolution, done.hearing_outcome) == ("finalised_evaluated", "resolved", "agreement")
    assert done.satisfaction_score == 2 and done.finalised_at == clock.now()
    held = outbox(db, "complaint_hearing_held")[0]
    assert held["outcome"] == "agreement" and held["recorder_id"] == LA_PLATA.account_id
    finalised = outbox(db, "complaint_finalised")[0]
    assert (finalised["status"], finalised["resolution"], finalised["hearing_outcome"]) == (
        "finalised_evaluated", "resolved", "agreement")

    steps = [(h.action, h.actor_id, h.to_status) for h in history(db)]
    assert steps[-3:] == [("evaluated", CONSUMER.account_id, "hearing_pending"),
                          ("hearing_scheduled", LA_PLATA.account_id, "hearing_scheduled"),
                          ("hearing_held", LA_PLATA.account_id, "finalised_evaluated")]
    assert history(db)[-1].at == clock.now()


def test_scheduling_checks_the_window_business_days_the_address_and_who_asks(ar, clock, db):
    pending = answered_and_judged_unresolved(ar, clock)
    before = len(history(db))
    bad = [
        (local(2026, 4, 13, 10, 0), URL, "scheduled_at"),   # after the window (ends 10 April)
        (local(2026, 3, 17, 9, 0), URL, "scheduled_at"),    # in the past
        (local(2026, 3, 24, 10, 0), URL, "scheduled_at"),   # a holiday
        (local(2026, 3, 21, 10, 0), URL, "scheduled_at"),   # a Saturday
        (None, URL, "scheduled_at"),
        (local(2026, 3, 25, 10, 0), "http://meet.example.org/x", "meeting_url"),
        (local(2026, 3, 25, 10, 0), "", "meeting_url"),
    ]
    for when, url, field in bad:
        with pytest.raises(InvalidArgument) as error:
            ar.schedule_hearing(LA_PLATA, pending.id, when, url, "")
        assert error.value.field == field
    for someone in (CONSUMER, AGENT, MONITOR_BA, CORDOBA):
        with pytest.raises(PermissionDenied):
            ar.schedule_hearing(someone, pending.id, local(2026, 3, 25, 10, 0), URL, "")
    assert len(history(db)) == before and outbox(db, "complaint_hearing_scheduled") == []
    assert ar.get(NATIONAL, pending.id)["complaint"].status == "hearing_pending"
    with pytest.raises(InvalidArgument) as error:
        ar.record_hearing_outcome(LA_PLATA, pending.id, "settled", "")
    assert error.value.field == "outcome"
    with pytest.raises(FailedPrecondition):
        ar.record_hearing_outcome(LA_PLATA, pending.id, "agreement", "")  # nothing scheduled


def test_no_hearing_before_the_consumer_judges_or_after_a_resolved_evaluation(ar, clock):
    complaint = ar.file(CONSUMER, filing(ar))["complaint"]
    when = local(2026, 3, 25, 10, 0)
    with pytest.raises(FailedPrecondition):
        ar.schedule_hearing(NATIONAL, complaint.id, when, URL, "")  # waiting for the company
    ar.answer(AGENT, complaint.id, "Resuelto.")
    with pytest.raises(FailedPrecondition):
        ar.schedule_hearing(NATIONAL, complaint.id, when, URL, "")  # answered, not judged unresolved
    done = ar.evaluate(CONSUMER, complaint.id, "resolved", 5, "")["complaint"]
    assert done.status == "finalised_evaluated"
    with pytest.raises(FailedPrecondition):
        ar.schedule_hearing(NATIONAL, complaint.id, when, URL, "")


def test_an_unanswered_complaint_goes_to_a_hearing_and_a_no_show_ends_it_not_resolved(ar, clock, db):
    complaint = ar.file(CONSUMER, filing(ar, city="Quilmes"))["complaint"]
    clock.instant = complaint.answer_deadline + timedelta(minutes=1)
    ar.sweep()
    lapsed = ar.get(NATIONAL, complaint.id)["complaint"]
    assert (lapsed.status, lapsed.answered) == ("waiting_evaluation", False)
    # The window opens when the deadline lapses (Tuesday 31 March, 00:00): 15 business days after
    # that day, skipping 2 and 3 April, is Thursday 23 April.
    assert lapsed.hearing_window_ends == local(2026, 4, 24)
    scheduled = ar.schedule_hearing(PROVINCE_BA, complaint.id, local(2026, 4, 8, 15, 0), URL, "")["complaint"]
    assert scheduled.status == "hearing_scheduled"
    ar.sweep()  # the evaluation window no longer applies to a scheduled hearing
    # Rescheduling before it happens is allowed, within the same window.
    again = ar.schedule_hearing(PROVINCE_BA, complaint.id, local(2026, 4, 9, 15, 0), URL + "b", "")["complaint"]
    assert again.hearing_at == local(2026, 4, 9, 15, 0)
    clock.set_local(2026, 4, 9, 16, 0)
    done = ar.record_hearing_outcome(NATIONAL, complaint.id, "no_show", "La empresa no se presentó")["complaint"]
    assert (done.status, done.resolution, done.hearing_outcome, done.answered) == (
        "finalised_evaluated", "not_resolved", "no_show", False)
    actions = [h.action for h in history(db)]
    assert actions == ["filed", "answer_deadline_lapsed", "hearing_scheduled", "hearing_rescheduled", "hearing_held"]


def test_a_hearing_not_scheduled_in_time_finalises_as_the_consumer_judged_it(ar, clock, db):
    pending = answered_and_judged_unresolved(ar, clock)
    clock.instant = pending.hearing_window_ends + timedelta(hours=5)
    assert ar.sweep()["hearing_not_scheduled"] == 1
    done = ar.get(NATIONAL, pending.id)["complaint"]
    assert (done.status, done.resolution, done.satisfaction_score) == ("finalised_evaluated", "not_resolved", 2)
    assert done.finalised_at == pending.hearing_window_ends  # not when the sweep happened to run
    assert outbox(db, "complaint_finalised")[0].get("hearing_outcome", "") == ""  # no hearing held
    with pytest.raises(FailedPrecondition):
        ar.schedule_hearing(NATIONAL, pending.id, clock.now() + timedelta(days=1), URL, "")


def test_brazil_has_no_hearing_and_an_unresolved_evaluation_finalises_at_once(br, clock, db):
    complaint = br.file(CONSUMER, filing(br))["complaint"]
    br.answer(AGENT, complaint.id, "Resolvido.")
    done = br.evaluate(CONSUMER, complaint.id, "not_resolved", 1, "")["complaint"]
    assert (done.status, done.hearing_window_ends) == ("finalised_evaluated", None)
    manager = Principal("m", "manager", jurisdiction="BR")
    with pytest.raises(FailedPrecondition, match="no conciliation hearing"):
        br.schedule_hearing(manager, complaint.id, clock.now() + timedelta(days=1), URL, "")
    with pytest.raises(FailedPrecondition, match="no conciliation hearing"):
        br.record_hearing_outcome(manager, complaint.id, "agreement", "")
    assert "hearing_not_scheduled" not in br.sweep()
