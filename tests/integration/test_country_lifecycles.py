"""The complaint lifecycle under each country pack, as real processes (identity, company_registry,
complaint api + worker) on PostgreSQL and RabbitMQ with the controlled clock: Brazil (calendar days,
no hearing), Argentina (business days across holidays, municipal routing, the hearing path),
Uruguay (an unanswered complaint goes to a hearing) and a fictional fourth country whose pack is
written into a temporary folder, with no code change.

Expected dates are worked out by hand from each pack's holidays (see the comments), never by
calling the code under test."""
import csv
import itertools
import random
import time
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from stdnum.uy import rut

from concilia.chassis.clock import FileClock
from concilia.chassis.country import load_pack
from concilia.chassis.grpc_client import bearer
from concilia.complaint.v1 import complaint_pb2 as pb
from support.ids import new_cnpj, new_cpf, new_cuit
from support.complaints import EventQueue, World, rpc_error

pytestmark = pytest.mark.integration
MEETING = "https://reuniones.example.org/audiencia"
_serial = itertools.count(random.randrange(100_000, 900_000))


def new_dni() -> str:
    return f"{next(_serial) % 10**8:08d}"


def new_uy_ci() -> str:
    # Cédula: 7 digits and a check digit with weights 2987634 (the pack's uy.ci scheme).
    base = f"{next(_serial) % 10**7:07d}"
    total = sum(int(d) * w for d, w in zip(base, (2, 9, 8, 7, 6, 3, 4)))
    return base + str((10 - total % 10) % 10)


def new_uy_rut() -> str:
    while True:  # about one base in eleven has no valid check digit ("10"): take the next one
        base = f"21{next(_serial) % 10**6:06d}001"
        number = base + rut.calc_check_digit(base)
        if rut.is_valid(number):
            return number


def stamp(instant: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(instant)
    return value


def as_utc(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=timezone.utc)


FICTIONAL_PACK = """\
# Ruritania: a country that exists only in this test, added with files alone.
code: XR
name: Ruritania
pack_version: "0.1"
languages: [en]
default_locale: en
time_zone: Europe/Dublin
currency: EUR
person_id: {label: Ruritanian ID, schemes: [ar.dni]}
company_id: {label: Ruritanian company number, schemes: [ar.cuit]}
windows: {company_answer_days: 5, consumer_evaluation_days: 5, reminder_days_before: 1, day_count: business}
holidays_file: holidays.csv
taxonomy_file: taxonomy.csv
indicators: {formula_version: strict-v1}
refusal_reasons: [not_customer, duplicate]
hearing: {enabled: true, schedule_within_business_days: 3, outcomes: [agreement, no_agreement]}
routing: {by: region}
company_facts: {}
adhesion_rules: []
limits: {description_max_chars: 2000}
authorities:
  - {id: rca, name: Ruritanian Consumer Agency, jurisdiction: XR}
  - {id: strel, name: Strelsau Consumer Office, jurisdiction: XR-S, regions: [XR-S]}
"""


class Country(World):
    """The World of one running stack under one pack, with its clock and its events."""

    def __init__(self, stack, code: str, packs_dir, clock: FileClock, person_id, company_id):
        super().__init__(stack, jurisdiction=code, new_company_id=company_id, new_person_id=person_id)
        self.clock = clock
        self.pack = load_pack(code, packs_dir)
        with self.pack.taxonomy_file.open(encoding="utf-8") as handle:
            self.row = next(csv.DictReader(handle))
        self.events = EventQueue(stack.amqp_uri)

    def close(self) -> None:
        self.events.close()
        super().close()

    def set_local(self, *args) -> None:
        self.clock.set(datetime(*args, tzinfo=self.pack.zone).astimezone(timezone.utc))

    def local(self, *args) -> datetime:
        return datetime(*args, tzinfo=self.pack.zone)

    def participant(self, trade_name: str) -> tuple[str, str]:
        """(company id, agent token) of an active participant in the pack's first segment."""
        company_id = self.company(trade_name, segment_code=self.row["segment_code"])
        return company_id, self.agent(company_id)

    def file(self, consumer: str, company_id: str, region: str, city: str) -> pb.Complaint:
        row = self.row
        return super().file(consumer, company_id, taxonomy=pb.Taxonomy(
            segment_code=row["segment_code"], area=row["area"], subject=row["subject"],
            problem_group=row["problem_group"], problem=row["problem"]), description="Cobro duplicado",
            desired_outcome="Reintegro", region_code=region, city=city)

    def get(self, token: str, complaint_id: str) -> pb.Complaint:
        return self.complaints.GetComplaint(pb.GetComplaintRequest(complaint_id=complaint_id),
                                            metadata=bearer(token), timeout=10).complaint

    def wait_status(self, token: str, complaint_id: str, status: int, timeout: float = 20) -> pb.Complaint:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            complaint = self.get(token, complaint_id)
            if complaint.status == status:
                return complaint
            time.sleep(0.2)
        raise AssertionError(f"complaint never reached status {status}; it is {complaint.status}")

    def history(self, token: str, complaint_id: str) -> list[tuple[str, str]]:
        entries = self.complaints.GetHistory(pb.GetHistoryRequest(complaint_id=complaint_id), metadata=bearer(token),
                                             timeout=10).entries
        return [(e.action, e.actor_role) for e in entries]


@pytest.fixture
def country(start_stack, tmp_path):
    """country(code, ...) -> a Country on a stack of its own, stopped after the test."""
    started = []

    def start(code: str, person_id, company_id, packs_dir=None, **extra_env) -> Country:
        clock = FileClock(tmp_path / f"clock-{code}")
        clock.set(datetime.now(timezone.utc).replace(microsecond=0))
        env = {"CONCILIA_COUNTRY": code, "CONCILIA_CLOCK_FILE": str(clock.path),
               "DEADLINE_SWEEP_INTERVAL_SECONDS": "0.2", **extra_env}
        if packs_dir:
            env["CONCILIA_COUNTRY_PACKS_DIR"] = str(packs_dir)
        stack = start_stack(services=["identity", "company_registry", "complaint"], gateway=False, extra_env=env)
        world = Country(stack, code, packs_dir, clock, person_id, company_id)
        started.append((stack, world))
        return world

    yield start
    for stack, world in started:
        world.close()
        stack.stop()


def test_brazil_counts_calendar_days_and_has_no_hearing(country):
    br = country("BR", new_cpf, new_cnpj)
    company, agent = br.participant("Banco Brasil Teste")
    _, consumer = br.consumer()
    manager_sp = br.staff("manager", "BR-SP")
    br.set_local(2026, 3, 2, 10, 0)  # Monday
    complaint = br.file(consumer, company, "BR-SP", "Campinas")
    assert complaint.answer_deadline.ToDatetime(tzinfo=timezone.utc) == br.local(2026, 3, 13)  # 10 calendar days
    assert (complaint.authority_id, complaint.authority_jurisdiction) == ("procon-sp", "BR-SP")
    assert br.events.wait_for("complaint_filed", complaint.id)["data"]["complaint"]["authority_id"] == "procon-sp"

    br.complaints.RefuseComplaint(pb.RefuseComplaintRequest(complaint_id=complaint.id, reason_code="duplicate",
                                                            text="Duplicada"), metadata=bearer(agent), timeout=10)
    br.set_local(2026, 3, 5, 16, 0)  # three days under review
    back = br.complaints.ReviewRefusal(pb.ReviewRefusalRequest(complaint_id=complaint.id, uphold=False),
                                       metadata=bearer(manager_sp), timeout=10).complaint
    assert as_utc(back.answer_deadline) == br.local(2026, 3, 16)

    br.complaints.AnswerComplaint(pb.AnswerComplaintRequest(complaint_id=complaint.id, text="Estornado"),
                                  metadata=bearer(agent), timeout=10)
    done = br.complaints.EvaluateComplaint(pb.EvaluateComplaintRequest(
        complaint_id=complaint.id, resolution=pb.RESOLUTION_NOT_RESOLVED, satisfaction_score=2),
        metadata=bearer(consumer), timeout=10).complaint
    assert done.status == pb.COMPLAINT_STATUS_FINALISED_EVALUATED  # no hearing step in Brazil
    finalised = br.events.wait_for("complaint_finalised", complaint.id)["data"]
    assert finalised["resolution"] == "not_resolved" and "hearing_outcome" not in finalised
    error = rpc_error(lambda: br.complaints.ScheduleHearing(pb.ScheduleHearingRequest(
        complaint_id=complaint.id, scheduled_at=stamp(br.local(2026, 3, 10, 10)), meeting_url=MEETING),
        metadata=bearer(br.manager), timeout=10))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_the_running_worker_empties_a_closed_complaint_at_the_end_of_the_retention_period(country):
    br = country("BR", new_cpf, new_cnpj, RETENTION_SWEEP_INTERVAL_SECONDS="0.3")
    company, agent = br.participant("Banco Retenção Teste")
    _, consumer = br.consumer()
    br.set_local(2026, 3, 2, 10, 0)
    complaint = br.file(consumer, company, "BR-SP", "Campinas")
    br.complaints.AnswerComplaint(pb.AnswerComplaintRequest(complaint_id=complaint.id, text="Estornado, Maria"),
                                  metadata=bearer(agent), timeout=10)
    br.set_local(2026, 3, 4, 9, 0)
    done = br.complaints.EvaluateComplaint(pb.EvaluateComplaintRequest(
        complaint_id=complaint.id, resolution=pb.RESOLUTION_RESOLVED, satisfaction_score=5, comment="Obrigada, Maria"),
        metadata=bearer(consumer), timeout=10).complaint
    # 1,825 days (the BR pack) after finalisation, less a minute: several sweeps change nothing.
    br.clock.set(as_utc(done.finalised_at) + timedelta(days=1825, minutes=-1))
    time.sleep(1.5)
    kept = br.get(consumer, complaint.id)
    assert (kept.description, kept.answer_text, kept.evaluation_comment) == (
        "Cobro duplicado", "Estornado, Maria", "Obrigada, Maria")
    br.clock.set(as_utc(done.finalised_at) + timedelta(days=1825, minutes=1))
    deadline = time.monotonic() + 20
    while ("retention_expired", "system") not in br.history(consumer, complaint.id):
        assert time.monotonic() < deadline, "the worker never applied the retention period"
        time.sleep(0.2)
    expired = br.get(consumer, complaint.id)
    assert (expired.description, expired.desired_outcome, expired.answer_text, expired.evaluation_comment) == ("",) * 4
    assert (expired.status, expired.resolution, expired.satisfaction_score) == (
        pb.COMPLAINT_STATUS_FINALISED_EVALUATED, pb.RESOLUTION_RESOLVED, 5)


def test_argentina_business_days_municipal_routing_and_the_hearing_path(country):
    ar = country("AR", new_dni, new_cuit)
    company, agent = ar.participant("Telefónica Test")
    _, consumer = ar.consumer()
    province = ar.staff("manager", "AR-B")
    cordoba = ar.staff("manager", "AR-X")
    ar.set_local(2026, 3, 13, 10, 0)  # Friday
    complaint = ar.file(consumer, company, "AR-B", "Mar del Plata")
    # 10 business days, Tuesday 24 March (Día de la Memoria) skipped: the last day is Monday 30 March.
    assert as_utc(complaint.answer_deadline) == ar.local(2026, 3, 31)
    assert (complaint.authority_id, complaint.authority_jurisdiction) == (
        "omic-general-pueyrredon", "AR-B/omic-general-pueyrredon")
    filed = ar.events.wait_for("complaint_filed", complaint.id)
    assert filed["country"] == "AR" and filed["data"]["complaint"]["authority_id"] == "omic-general-pueyrredon"
    assert rpc_error(lambda: ar.get(cordoba, complaint.id)).code() == grpc.StatusCode.PERMISSION_DENIED

    # Refused on Wednesday 18, the refusal rejected on Monday 23: three business days were lost, so
    # the last day moves from 30 March to 6 April (2 and 3 April are holidays).
    ar.set_local(2026, 3, 18, 9, 0)
    ar.complaints.RefuseComplaint(pb.RefuseComplaintRequest(complaint_id=complaint.id, reason_code="not_customer",
                                                            text="No es cliente"), metadata=bearer(agent), timeout=10)
    ar.set_local(2026, 3, 23, 15, 0)
    back = ar.complaints.ReviewRefusal(pb.ReviewRefusalRequest(complaint_id=complaint.id, uphold=False,
                                                               note="Es cliente"), metadata=bearer(province),
                                       timeout=10).complaint
    assert as_utc(back.answer_deadline) == ar.local(2026, 4, 7)

    ar.set_local(2026, 3, 25, 11, 0)
    ar.complaints.AnswerComplaint(pb.AnswerComplaintRequest(complaint_id=complaint.id, text="Reintegrado"),
                                  metadata=bearer(agent), timeout=10)
    ar.set_local(2026, 3, 26, 12, 0)  # Thursday
    pending = ar.complaints.EvaluateComplaint(pb.EvaluateComplaintRequest(
        complaint_id=complaint.id, resolution=pb.RESOLUTION_NOT_RESOLVED, satisfaction_score=1,
        comment="Sigo sin el reintegro"), metadata=bearer(consumer), timeout=10).complaint
    assert pending.status == pb.COMPLAINT_STATUS_HEARING_PENDING
    # 15 business days after Thursday 26 March, without 2 and 3 April: Monday 20 April.
    assert as_utc(pending.hearing_window_ends) == ar.local(2026, 4, 21)

    schedule = pb.ScheduleHearingRequest(complaint_id=complaint.id, scheduled_at=stamp(ar.local(2026, 4, 21, 10)),
                                         meeting_url=MEETING)
    error = rpc_error(lambda: ar.complaints.ScheduleHearing(schedule, metadata=bearer(province), timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(error.trailing_metadata())["concilia-field"] == "scheduled_at"
    schedule.scheduled_at.CopyFrom(stamp(ar.local(2026, 4, 8, 10)))
    for outsider in (cordoba, consumer, agent):
        error = rpc_error(lambda: ar.complaints.ScheduleHearing(schedule, metadata=bearer(outsider), timeout=10))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    scheduled = ar.complaints.ScheduleHearing(schedule, metadata=bearer(province), timeout=10).complaint
    assert scheduled.status == pb.COMPLAINT_STATUS_HEARING_SCHEDULED and scheduled.hearing_url == MEETING
    assert ar.get(consumer, complaint.id).hearing_url == MEETING  # the consumer gets the address
    event = ar.events.wait_for("complaint_hearing_scheduled", complaint.id)["data"]
    assert event["scheduled_at"] == "2026-04-08T13:00:00Z"

    ar.set_local(2026, 4, 8, 11, 0)
    done = ar.complaints.RecordHearingOutcome(pb.RecordHearingOutcomeRequest(
        complaint_id=complaint.id, outcome=pb.HEARING_OUTCOME_AGREEMENT, note="Reintegro acordado"),
        metadata=bearer(province), timeout=10).complaint
    assert done.status == pb.COMPLAINT_STATUS_FINALISED_EVALUATED and done.resolution == pb.RESOLUTION_RESOLVED
    assert done.hearing_outcome == pb.HEARING_OUTCOME_AGREEMENT
    assert ar.events.wait_for("complaint_hearing_held", complaint.id)["data"]["outcome"] == "agreement"
    finalised = ar.events.wait_for("complaint_finalised", complaint.id)["data"]
    assert (finalised["resolution"], finalised["hearing_outcome"], finalised["complaint"]["authority_id"]) == (
        "resolved", "agreement", "omic-general-pueyrredon")
    assert finalised["finalised_at"] == "2026-04-08T14:00:00Z"
    assert ar.history(consumer, complaint.id) == [
        ("filed", "consumer"), ("refused", "company_agent"), ("refusal_rejected", "manager"),
        ("answered", "company_agent"), ("evaluated", "consumer"), ("hearing_scheduled", "manager"),
        ("hearing_held", "manager")]


def test_uruguay_an_unanswered_complaint_goes_to_a_hearing(country):
    uy = country("UY", new_uy_ci, new_uy_rut)
    company, _ = uy.participant("Antel Test")
    _, consumer = uy.consumer()
    uy.set_local(2026, 3, 23, 10, 0)  # Monday before Semana de Turismo
    complaint = uy.file(consumer, company, "UY-MO", "Montevideo")
    assert complaint.authority_id == "adc"  # one national authority
    # 24-27 March (4), Semana de Turismo 30 March - 3 April skipped, 6-10 April (9), 13 April (10).
    assert as_utc(complaint.answer_deadline) == uy.local(2026, 4, 14)

    uy.clock.set(as_utc(complaint.answer_deadline) + timedelta(seconds=30))
    lapsed = uy.wait_status(consumer, complaint.id, pb.COMPLAINT_STATUS_WAITING_EVALUATION)
    assert not lapsed.answered
    # 10 business days from Tuesday 14 April (the day the deadline lapsed): 28 April.
    assert as_utc(lapsed.hearing_window_ends) == uy.local(2026, 4, 29)
    uy.events.wait_for("complaint_unanswered", complaint.id)

    uy.set_local(2026, 4, 15, 9, 0)
    uy.complaints.ScheduleHearing(pb.ScheduleHearingRequest(
        complaint_id=complaint.id, scheduled_at=stamp(uy.local(2026, 4, 20, 14)), meeting_url=MEETING),
        metadata=bearer(uy.manager), timeout=10)
    uy.set_local(2026, 4, 20, 15, 0)
    done = uy.complaints.RecordHearingOutcome(pb.RecordHearingOutcomeRequest(
        complaint_id=complaint.id, outcome=pb.HEARING_OUTCOME_NO_SHOW), metadata=bearer(uy.manager),
        timeout=10).complaint
    assert (done.status, done.resolution, done.answered) == (
        pb.COMPLAINT_STATUS_FINALISED_EVALUATED, pb.RESOLUTION_NOT_RESOLVED, False)
    finalised = uy.events.wait_for("complaint_finalised", complaint.id)
    assert finalised["country"] == "UY" and finalised["data"]["hearing_outcome"] == "no_show"


def test_a_fictional_fourth_country_runs_the_lifecycle_from_files_alone(country, tmp_path):
    packs = tmp_path / "packs"
    folder = packs / "xr"
    folder.mkdir(parents=True)
    (folder / "pack.yaml").write_text(FICTIONAL_PACK, encoding="utf-8")
    (folder / "holidays.csv").write_text("date,name\n2026-07-14,Founders' Day\n", encoding="utf-8")
    (folder / "taxonomy.csv").write_text("segment_code,segment,area,subject,problem_group,problem\n"
                                         "retail,Retail,Shops,Clothes,Delivery,Never delivered\n", encoding="utf-8")
    xr = country("XR", new_dni, lambda: new_cuit("30"), packs_dir=packs)
    company, agent = xr.participant("Strelsau Stores")
    _, consumer = xr.consumer()
    office = xr.staff("manager", "XR-S")
    xr.set_local(2026, 7, 10, 10, 0)  # Friday
    complaint = xr.file(consumer, company, "XR-S", "Strelsau")
    # 5 business days: 13 July, (14 is Founders' Day), 15, 16, 17, 20 -> end of Monday 20 July.
    assert as_utc(complaint.answer_deadline) == xr.local(2026, 7, 21)
    assert complaint.authority_id == "strel"

    xr.complaints.AnswerComplaint(pb.AnswerComplaintRequest(complaint_id=complaint.id, text="Refunded"),
                                  metadata=bearer(agent), timeout=10)
    xr.complaints.EvaluateComplaint(pb.EvaluateComplaintRequest(
        complaint_id=complaint.id, resolution=pb.RESOLUTION_NOT_RESOLVED, satisfaction_score=3),
        metadata=bearer(consumer), timeout=10)
    pending = xr.get(office, complaint.id)
    # 3 business days after Friday 10 July, skipping the 14th: 13, 15, 16 -> end of Thursday 16 July.
    assert as_utc(pending.hearing_window_ends) == xr.local(2026, 7, 17)
    error = rpc_error(lambda: xr.complaints.ScheduleHearing(pb.ScheduleHearingRequest(
        complaint_id=complaint.id, scheduled_at=stamp(xr.local(2026, 7, 14, 10)), meeting_url=MEETING),
        metadata=bearer(office), timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # Founders' Day
    xr.complaints.ScheduleHearing(pb.ScheduleHearingRequest(
        complaint_id=complaint.id, scheduled_at=stamp(xr.local(2026, 7, 15, 10)), meeting_url=MEETING),
        metadata=bearer(office), timeout=10)
    xr.set_local(2026, 7, 15, 11, 0)
    error = rpc_error(lambda: xr.complaints.RecordHearingOutcome(pb.RecordHearingOutcomeRequest(
        complaint_id=complaint.id, outcome=pb.HEARING_OUTCOME_NO_SHOW), metadata=bearer(office), timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # this pack has no "no_show" outcome
    xr.complaints.RecordHearingOutcome(pb.RecordHearingOutcomeRequest(
        complaint_id=complaint.id, outcome=pb.HEARING_OUTCOME_NO_AGREEMENT), metadata=bearer(office), timeout=10)
    finalised = xr.events.wait_for("complaint_finalised", complaint.id)
    assert finalised["country"] == "XR"
    assert (finalised["data"]["resolution"], finalised["data"]["hearing_outcome"]) == ("not_resolved", "no_agreement")
