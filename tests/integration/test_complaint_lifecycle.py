"""The complaint lifecycle as real processes: identity, company_registry and complaint (api + worker)
on PostgreSQL and RabbitMQ, with the controlled clock (CONCILIA_CLOCK_FILE) and a country pack
folder of our own whose limits are small enough to hit."""
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import pytest
import yaml

from concilia.chassis.clock import FileClock
from concilia.chassis.country import DEFAULT_PACKS_DIR
from concilia.chassis.grpc_client import bearer
from concilia.complaint.v1 import complaint_pb2 as pb
from support.complaints import PDF, EventQueue, World, filing, module_stack, rpc_error

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def packs_dir(tmp_path_factory) -> Path:
    """The real packs, with BR limits lowered so the rate limits can be reached quickly."""
    folder = tmp_path_factory.mktemp("packs")
    shutil.copytree(DEFAULT_PACKS_DIR / "br", folder / "br")
    pack = folder / "br" / "pack.yaml"
    text = pack.read_text(encoding="utf-8")
    text = text.replace("filings_per_day: 20", "filings_per_day: 4").replace("messages_per_hour: 30",
                                                                               "messages_per_hour: 3")
    assert yaml.safe_load(text)["limits"]["filings_per_day"] == 4
    pack.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def clock(tmp_path_factory) -> FileClock:
    clock = FileClock(tmp_path_factory.mktemp("clock") / "now")
    clock.set(datetime.now(timezone.utc).replace(microsecond=0))
    return clock


@pytest.fixture(scope="module")
def running(start_stack, packs_dir, clock):
    with module_stack(start_stack, ["identity", "company_registry", "complaint"], False,
                      {"CONCILIA_CLOCK_FILE": str(clock.path), "CONCILIA_COUNTRY_PACKS_DIR": str(packs_dir),
                       "DEADLINE_SWEEP_INTERVAL_SECONDS": "0.2"}) as running:
        yield running


@pytest.fixture(scope="module")
def stack(running):
    return running[0]


@pytest.fixture(scope="module")
def world(stack):
    return World(stack)


@pytest.fixture(scope="module")
def events(running):
    queue = EventQueue(running[1])
    yield queue
    queue.close()


@pytest.fixture(scope="module")
def company(world):
    return world.company("Banco Alfa")


def test_a_complaint_lives_its_whole_life_over_grpc_and_every_step_reaches_rabbitmq(world, events, company):
    consumer_id, consumer = world.consumer()
    agent = world.agent(company)
    complaint = world.file(consumer, company, attachments=[pb.NewAttachment(
        file_name="bill.pdf", content_type="application/pdf", content=PDF)])
    assert complaint.status == pb.COMPLAINT_STATUS_WAITING_COMPANY
    assert complaint.consumer_id == consumer_id and complaint.company_name == "Banco Alfa"
    filed = events.wait_for("complaint_filed", complaint.id)
    assert filed["data"]["complaint"]["company_id"] == company
    assert filed["country"] == "BR"

    stub = world.complaints
    attachment = stub.GetAttachment(pb.GetAttachmentRequest(
        complaint_id=complaint.id, attachment_id=complaint.attachments[0].id), metadata=bearer(agent), timeout=10)
    assert attachment.content == PDF

    stub.AddMessage(pb.AddMessageRequest(complaint_id=complaint.id, text="Could you send the bill number?"),
                    metadata=bearer(agent), timeout=10)
    events.wait_for("complaint_message_added", complaint.id)
    answered = stub.AnswerComplaint(pb.AnswerComplaintRequest(complaint_id=complaint.id, text="Refunded."),
                                    metadata=bearer(agent), timeout=10).complaint
    assert answered.status == pb.COMPLAINT_STATUS_WAITING_EVALUATION and answered.answered
    assert events.wait_for("complaint_answered", complaint.id)["data"].get("answer_time_days", 0) == 0

    evaluated = stub.EvaluateComplaint(pb.EvaluateComplaintRequest(
        complaint_id=complaint.id, resolution=pb.RESOLUTION_RESOLVED, satisfaction_score=5, comment="Thanks"),
        metadata=bearer(consumer), timeout=10).complaint
    assert evaluated.status == pb.COMPLAINT_STATUS_FINALISED_EVALUATED
    finalised = events.wait_for("complaint_finalised", complaint.id)["data"]
    assert finalised["status"] == "finalised_evaluated" and finalised["resolution"] == "resolved"
    assert finalised["company_name"] == "Banco Alfa"
    assert finalised["segment_name"] == "Bancos, Financeiras e Administradoras de Cartão"

    history = stub.GetHistory(pb.GetHistoryRequest(complaint_id=complaint.id), metadata=bearer(consumer),
                              timeout=10).entries
    assert [(e.action, e.actor_role) for e in history] == [
        ("filed", "consumer"), ("attachment_added", "consumer"), ("message_added", "company_agent"),
        ("answered", "company_agent"), ("evaluated", "consumer")]
    assert history[0].actor_id == consumer_id
    # Closed: nothing changes any more.
    error = rpc_error(lambda: stub.AddMessage(pb.AddMessageRequest(complaint_id=complaint.id, text="hi"),
                                              metadata=bearer(consumer), timeout=10))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_refusal_review_round_trip(world, events, company):
    _, consumer = world.consumer()
    agent = world.agent(company)
    manager_sp = world.staff("manager", "BR-SP")
    complaint = world.file(consumer, company)
    stub = world.complaints
    error = rpc_error(lambda: stub.RefuseComplaint(pb.RefuseComplaintRequest(
        complaint_id=complaint.id, reason_code="because", text="no"), metadata=bearer(agent), timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(error.trailing_metadata())["concilia-field"] == "reason_code"
    stub.RefuseComplaint(pb.RefuseComplaintRequest(complaint_id=complaint.id, reason_code="not_customer",
                                                   text="Unknown customer"), metadata=bearer(agent), timeout=10)
    events.wait_for("complaint_refused", complaint.id)
    back = stub.ReviewRefusal(pb.ReviewRefusalRequest(complaint_id=complaint.id, uphold=False, note="He is"),
                              metadata=bearer(manager_sp), timeout=10).complaint
    assert back.status == pb.COMPLAINT_STATUS_WAITING_COMPANY
    reviewed = events.wait_for("complaint_refusal_reviewed", complaint.id)["data"]
    assert reviewed.get("upheld", False) is False and reviewed["answer_deadline"]


def test_only_participating_companies_receive_complaints(world, company):
    _, consumer = world.consumer()
    suspended = world.company("Banco Suspenso")
    world.suspend(suspended)
    before = world.count("complaints")
    for company_id in (suspended, "00000000-0000-0000-0000-000000000000"):
        error = rpc_error(lambda: world.file(consumer, company_id))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "SuggestCompany" in error.details()
    assert world.count("complaints") == before


def test_bad_input_gets_a_clear_status_naming_the_field_and_changes_nothing(world, company):
    _, consumer = world.consumer()
    before = (world.count("complaints"), world.count("outbox") + world.count("history"))
    cases = [
        (filing(company, description="x" * 3001), "description"),
        (filing(company, city=""), "city"),
        (filing(company, region_code="XX"), "region_code"),
        (filing(company, attachments=[pb.NewAttachment(file_name="a.pdf", content_type="application/pdf",
                                                       content=b"MZ not a pdf")]), "attachments[0].content"),
        (filing(company, attachments=[pb.NewAttachment(file_name="a.zip", content_type="application/zip",
                                                       content=b"PK")]), "attachments[0].content_type"),
        (filing(company, attachments=[pb.NewAttachment(file_name="big.pdf", content_type="application/pdf",
                                                       content=b"%PDF-" + b"0" * 5_242_880)]),
         "attachments[0].content"),
    ]
    for request, field in cases:
        error = rpc_error(lambda: world.complaints.FileComplaint(request, metadata=bearer(consumer), timeout=10))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert dict(error.trailing_metadata())["concilia-field"] == field
    assert (world.count("complaints"), world.count("outbox") + world.count("history")) == before
    anonymous = rpc_error(lambda: world.complaints.FileComplaint(filing(company), timeout=10))
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED


def test_replays_and_floods_are_answered_without_side_effects(world, events, company):
    _, consumer = world.consumer()
    first = world.file(consumer, company, idempotency_key="retry-1")
    again = world.file(consumer, company, idempotency_key="retry-1")
    assert again.id == first.id
    events.wait_for("complaint_filed", first.id)
    events.drain(seconds=1.5)  # give a second event every chance to arrive
    assert len(events.of("complaint_filed", first.id)) == 1
    # filings_per_day is 4 in this deployment's pack: two more, then RESOURCE_EXHAUSTED.
    world.file(consumer, company)
    world.file(consumer, company)
    world.file(consumer, company)
    error = rpc_error(lambda: world.file(consumer, company))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # messages_per_hour is 3.
    for n in range(3):
        world.complaints.AddMessage(pb.AddMessageRequest(complaint_id=first.id, text=f"message {n}"),
                                    metadata=bearer(consumer), timeout=10)
    error = rpc_error(lambda: world.complaints.AddMessage(pb.AddMessageRequest(complaint_id=first.id, text="4"),
                                                          metadata=bearer(consumer), timeout=10))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_deadlines_are_enforced_by_the_worker_when_the_clock_moves(world, events, company, clock):
    """Last in this module: it moves the shared clock weeks ahead."""
    _, consumer = world.consumer()
    complaint = world.file(consumer, company)
    deadline = complaint.answer_deadline.ToDatetime(tzinfo=timezone.utc)
    clock.set(deadline - timedelta(days=2))
    reminder = events.wait_for("deadline_reminder", complaint.id)["data"]
    assert reminder["deadline_kind"] == "company_answer" and reminder["days_left"] == 2
    clock.set(deadline + timedelta(seconds=1))
    unanswered = events.wait_for("complaint_unanswered", complaint.id)["data"]
    current = world.complaints.GetComplaint(pb.GetComplaintRequest(complaint_id=complaint.id),
                                            metadata=bearer(consumer), timeout=10).complaint
    assert current.status == pb.COMPLAINT_STATUS_WAITING_EVALUATION and not current.answered
    assert unanswered["evaluation_deadline"] == current.evaluation_deadline.ToJsonString()
    clock.set(current.evaluation_deadline.ToDatetime(tzinfo=timezone.utc) + timedelta(seconds=1))
    finalised = events.wait_for("complaint_finalised", complaint.id)["data"]
    assert finalised["status"] == "finalised_not_evaluated"
    assert finalised.get("answered", False) is False
    assert finalised["finalised_at"] == current.evaluation_deadline.ToJsonString()
    assert len(events.of("complaint_unanswered", complaint.id)) == 1
