"""Filing while RabbitMQ is unreachable: the complaint is stored, its event waits in the outbox, and
it is delivered exactly once when the broker is back. The broker loss is simulated by deleting
the stack's own vhost (the machine's RabbitMQ is shared and keeps running)."""
import subprocess
import time
import uuid

import pytest

from support.complaints import EventQueue, World

pytestmark = pytest.mark.integration
AMQP_HOST = "127.0.0.1:5672"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def create_vhost(vhost: str) -> None:
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")


@pytest.fixture(scope="module")
def vhost():
    name = f"concilia-test-broker-{uuid.uuid4().hex[:8]}"
    create_vhost(name)
    yield name
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def stack(start_stack, vhost):
    stack = start_stack(services=["identity", "company_registry", "complaint"], gateway=False,
                        extra_env={"AMQP_URI": f"amqp://guest:guest@{AMQP_HOST}/{vhost}"})
    yield stack
    stack.stop()


def test_filing_succeeds_while_the_broker_is_gone_and_the_event_follows_when_it_returns(stack, vhost):
    world = World(stack)
    company = world.company("Banco Resiliente")  # needs the broker: the replica is fed by events
    _, consumer = world.consumer()
    amqp_uri = f"amqp://guest:guest@{AMQP_HOST}/{vhost}"

    rabbitmqctl("delete_vhost", vhost)
    complaint = world.file(consumer, company)  # the api never talks to the broker
    time.sleep(2.0)  # many relay intervals: nothing can be published
    assert world.count("outbox") >= 1

    create_vhost(vhost)
    events = EventQueue(amqp_uri, routing_key="complaint_filed")  # bound before the relay can publish
    try:
        worker = stack.processes["complaint-worker"]
        if not worker.running:  # the broker took the worker's connections with it; an orchestrator restarts it
            stack.restart("complaint-worker")
        delivered = events.wait_for("complaint_filed", complaint.id, timeout=60)
        assert delivered["data"]["complaint"]["company_id"] == company
        events.drain(seconds=1.5)
        assert len(events.of("complaint_filed", complaint.id)) == 1
        deadline = time.monotonic() + 10
        while world.count("outbox") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert world.count("outbox") == 0
    finally:
        events.close()
