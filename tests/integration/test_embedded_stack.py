"""The stack on its embedded defaults (SQLite files, as `make run` starts it): a complaint lives
its whole life, deadlines included, and the public indicators count it."""
import time
from datetime import datetime, timedelta, timezone

import grpc
import pytest

from concilia.chassis.clock import FileClock
from concilia.chassis.grpc_client import bearer
from concilia.complaint.v1 import complaint_pb2 as pb
from concilia.devstack import Stack, sqlite_urls
from concilia.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from support.complaints import World


@pytest.fixture(scope="module")
def stack(make_vhost, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("embedded")
    clock = FileClock(data_dir / "clock")
    clock.set(datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc))
    stack = Stack(data_dir=data_dir, database_urls=sqlite_urls(data_dir), amqp_uri=make_vhost(), random_ports=True,
                  extra_env={"BOOTSTRAP_ADMIN_EMAIL": "admin@concilia.test", "BOOTSTRAP_ADMIN_PASSWORD": "admin-password-1",
                             "CONCILIA_CLOCK_FILE": str(data_dir / "clock"), "DEADLINE_SWEEP_INTERVAL_SECONDS": "0.2"})
    stack.clock = clock
    stack.start(timeout=120)
    yield stack
    stack.stop()


def test_a_complaint_lives_its_whole_life_on_sqlite(stack):
    world = World(stack)
    company = world.company("Loja Embutida")
    agent = world.agent(company)
    _, consumer = world.consumer()
    answered = world.file(consumer, company)
    world.complaints.AnswerComplaint(pb.AnswerComplaintRequest(complaint_id=answered.id, text="Estornado."),
                                     metadata=bearer(agent), timeout=10)
    evaluated = world.complaints.EvaluateComplaint(pb.EvaluateComplaintRequest(
        complaint_id=answered.id, resolution=pb.RESOLUTION_RESOLVED, satisfaction_score=5),
        metadata=bearer(consumer), timeout=10).complaint
    assert evaluated.status == pb.COMPLAINT_STATUS_FINALISED_EVALUATED

    silent = world.file(consumer, company)  # never answered, never evaluated
    stack.clock.set(stack.clock.now() + timedelta(days=40))  # both windows lapse
    metrics = metrics_pb2_grpc.MetricsServiceStub(grpc.insecure_channel(stack.addr("metrics")))
    deadline = datetime.now() + timedelta(seconds=30)
    while datetime.now() < deadline:
        status = world.complaints.GetComplaint(pb.GetComplaintRequest(complaint_id=silent.id),
                                               metadata=bearer(consumer), timeout=10).complaint.status
        counted = metrics.GetIndicators(metrics_pb2.GetIndicatorsRequest(
            scope=metrics_pb2.SCOPE_COMPANY, key=company), timeout=10).indicators
        if status == pb.COMPLAINT_STATUS_FINALISED_NOT_EVALUATED and counted.complaints == 2:
            break
        time.sleep(0.2)
    assert status == pb.COMPLAINT_STATUS_FINALISED_NOT_EVALUATED
    assert (counted.complaints, counted.resolved, counted.not_evaluated, counted.answered) == (2, 1, 1, 1)
    assert counted.solution_index == 1.0 and counted.strict_solution_index == 0.5
