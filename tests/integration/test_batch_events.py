"""The chassis batch entrypoint (concilia.chassis.batch_events) in a real worker process on
RabbitMQ and PostgreSQL: what it hands the handler, what it acks, what it redelivers.

The worker is tests/support/batch_probe.py; "nothing acked" is checked after stopping it, when
every message it had not acked is back in its queue."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from kombu import Connection, Producer, Queue
from nameko.standalone.events import get_event_exchange

from concilia.devstack import free_port
from support.batch_probe import SCHEMA, SOURCE, TYPES

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HAPPENED, CHANGED = TYPES
# The queue nameko's @event_handler declares for a method on_<type> of service batch_probe.
QUEUES = {t: f"evt-{SOURCE}-{t}--batch_probe.on_{t}" for t in TYPES}


def envelope(event_type: str = HAPPENED, event_id: str | None = None, **data) -> dict:
    return {"id": event_id or str(uuid.uuid4()), "type": event_type, "source": SOURCE, "country": "BR",
            "occurred_at": datetime.now(timezone.utc).isoformat(), "data": data}


class Probe:
    def __init__(self, database_url: str, amqp_uri: str, log_path: Path):
        self.database_url, self.amqp_uri, self.log_path = database_url, amqp_uri, log_path
        self.process = None
        self.metrics_port = 0

    def sql(self, query: str, *params):
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if cursor.description else None

    def declare_queues(self) -> None:
        """As nameko's EventHandler declares them: a worker declaring anything else would fail
        (PRECONDITION_FAILED) or consume another queue and leave these full."""
        exchange = get_event_exchange(SOURCE, {})
        with Connection(self.amqp_uri) as connection:
            for event_type, name in QUEUES.items():
                Queue(name, exchange=exchange, routing_key=event_type, durable=True, auto_delete=False,
                      exclusive=False, channel=connection.channel()).declare()

    def publish(self, *bodies, event_type: str = HAPPENED, content_type: str = "application/json") -> None:
        with Connection(self.amqp_uri, transport_options={"confirm_publish": True}) as connection:
            producer = Producer(connection.channel(), exchange=get_event_exchange(SOURCE, {}))
            for body in bodies:
                raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
                producer.publish(raw, routing_key=event_type, content_type=content_type, content_encoding="utf-8",
                                 delivery_mode=2)

    def depth(self, event_type: str = HAPPENED) -> int:
        with Connection(self.amqp_uri) as connection:
            return Queue(QUEUES[event_type], channel=connection.channel()).queue_declare(passive=True).message_count

    def start(self, **env) -> None:
        self.metrics_port = free_port()
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "lib"), str(REPO), str(REPO / "tests")]),
                       "AMQP_URI": self.amqp_uri, "DATABASE_URL": self.database_url,
                       "METRICS_PORT": str(self.metrics_port), "LOG_LEVEL": "INFO", "LOG_FORMAT": "text",
                       "EVENT_RETRY_PAUSE_SECONDS": "0.1", **env}
        self.process = subprocess.Popen([sys.executable, "-m", "concilia.chassis.run_worker", "support.batch_probe"],
                                        env=environment, cwd=REPO, stdout=open(self.log_path, "ab"),
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:  # the metrics port opens once the consumer is running
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                socket.create_connection(("127.0.0.1", self.metrics_port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "worker did not start"
                time.sleep(0.2)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            return response.read().decode()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)

    def effects(self) -> dict[str, str]:
        return dict(self.sql("SELECT event_id, event_type FROM effects"))

    def attempts(self) -> list[tuple[list, list]]:
        return [(ids, redelivered) for ids, redelivered in
                self.sql("SELECT event_ids, redelivered FROM attempts ORDER BY attempt_id")]


def wait_for(condition, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return result


@pytest.fixture()
def probe(make_database, make_vhost, tmp_path):
    database_url = make_database("batch_probe")
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(SCHEMA)
    probe = Probe(database_url, make_vhost(), tmp_path / "worker.log")
    probe.declare_queues()
    yield probe
    if probe.process and probe.process.poll() is None:
        probe.process.kill()
        probe.process.wait()


def test_a_backlog_of_both_types_is_handled_as_one_batch_and_acked_after_its_commit(probe):
    happened = [envelope(HAPPENED) for _ in range(30)]
    changed = [envelope(CHANGED) for _ in range(20)]
    probe.publish(*happened)
    probe.publish(*changed, event_type=CHANGED)
    probe.start(EVENT_BATCH_WINDOW_SECONDS="1.0", EVENT_BATCH_MAX="100")

    wait_for(lambda: len(probe.effects()) == 50, "the 50 events")
    assert probe.sql("SELECT size FROM batches") == [(50,)]  # one call, one transaction
    assert probe.effects() == {**{e["id"]: f"{SOURCE}.{HAPPENED}" for e in happened},
                               **{e["id"]: f"{SOURCE}.{CHANGED}" for e in changed}}
    text = probe.metrics()
    assert (f'concilia_event_handled_total{{event_type="{HAPPENED}",outcome="ok",service="batch_probe",'
            f'source="{SOURCE}"}} 30.0') in text
    assert f'concilia_event_lag_seconds_count{{event_type="{CHANGED}",service="batch_probe"}} 20.0' in text
    probe.stop()
    assert (probe.depth(HAPPENED), probe.depth(CHANGED)) == (0, 0)


def test_a_failing_batch_is_never_acked_and_is_redelivered_until_it_commits(probe):
    events = [envelope() for _ in range(6)]
    for event in events:
        probe.sql("INSERT INTO poison VALUES (%s)", event["id"])
    probe.publish(*events)
    probe.start(EVENT_BATCH_WINDOW_SECONDS="0.5")

    ids = {e["id"] for e in events}

    def all_redelivered():
        seen = {i for batch, redelivered in probe.attempts() for i, again in zip(batch, redelivered) if again}
        return seen == ids
    wait_for(all_redelivered, "every event to come back from the broker")
    attempts = probe.attempts()
    assert sorted(attempts[0][0]) == sorted(ids)  # one batch first, then halves, then requeued alone
    assert any(len(batch) == 3 for batch, _ in attempts) and any(len(batch) == 1 for batch, _ in attempts)
    assert all(len(set(redelivered)) == 1 for _, redelivered in attempts)  # never mixed
    assert probe.effects() == {} and probe.sql("SELECT count(*) FROM batches") == [(0,)]
    probe.stop()
    wait_for(lambda: probe.depth() == 6, "all six back in the queue", timeout=30)  # nothing was acked

    probe.sql("DELETE FROM poison")
    probe.start()
    wait_for(lambda: len(probe.effects()) == 6, "the six events after the fix")
    probe.stop()
    assert set(probe.effects()) == ids and probe.depth() == 0


def test_one_poison_event_fails_alone_and_the_rest_of_its_batch_commits(probe):
    events = [envelope() for _ in range(20)]
    poison = events[7]["id"]
    probe.sql("INSERT INTO poison VALUES (%s)", poison)
    probe.publish(*events)
    probe.start(EVENT_BATCH_WINDOW_SECONDS="0.5")

    wait_for(lambda: len(probe.effects()) == 19, "the 19 good events")
    wait_for(lambda: ([poison], [True]) in probe.attempts(), "the poison event redelivered alone")
    assert poison not in probe.effects()
    later = [envelope() for _ in range(10)]  # while the poison event keeps coming back
    probe.publish(*later)
    wait_for(lambda: len(probe.effects()) == 29, "the events published later")
    # Redelivered messages are batched only with each other: the poison never joins fresh events.
    assert all(len(set(redelivered)) == 1 for _, redelivered in probe.attempts())
    probe.stop()
    wait_for(lambda: probe.depth() == 1, "the poison event back in its queue", timeout=30)
    assert len(probe.effects()) == 29 and probe.sql("SELECT count(*) FROM processed_events") == [(29,)]


def test_duplicates_have_one_effect_and_malformed_messages_are_dropped_without_their_content(probe):
    twice = envelope()
    probe.publish(twice, twice, twice)
    probe.publish(b"not json secret@example.com", [1, 2], {"type": HAPPENED, "data": {"email": "secret@example.com"}},
                  envelope(), event_type=HAPPENED)
    probe.publish(envelope(), content_type="text/plain")
    probe.start(EVENT_BATCH_WINDOW_SECONDS="0.3")

    wait_for(lambda: len(probe.effects()) == 2, "the well-formed events")
    probe.publish(twice)  # once more, after its commit
    wait_for(lambda: sum(ids.count(twice["id"]) for ids, _ in probe.attempts()) == 4, "the late duplicate")
    probe.stop()
    assert len(probe.effects()) == 2 and probe.depth() == 0  # dropped messages are not requeued
    log = probe.log_path.read_text()
    assert log.count("dropping") >= 4, log
    assert "secret@example.com" not in log
