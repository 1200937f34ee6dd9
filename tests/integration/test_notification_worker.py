"""The notification worker as a real process: real RabbitMQ, PostgreSQL, an aiosmtpd SMTP server and
an HTTP receiver on loopback. Events are published with kombu exactly as the outbox relay does."""
import json
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from kombu import Connection

from concilia.chassis.country import load_pack
from concilia.chassis.db import Database
from concilia.chassis.outbox import envelope, exchange_for
from concilia.devstack import free_port
from concilia.events.v1 import events_pb2 as ev
from services.notification import domain
from services.notification import models as m

pytestmark = pytest.mark.integration
BR = load_pack("BR")
MAX_ATTEMPTS = 3
RETRY_BASE = 0.4


# --- real servers the worker talks to --------------------------------------------------------

class SmtpSink:
    """aiosmtpd handler keeping every received message."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope_):
        with self.lock:
            self.messages.append((list(envelope_.rcpt_tos), message_from_bytes(envelope_.content)))
        return "250 OK"

    def to(self, address):
        with self.lock:
            return [msg for rcpts, msg in self.messages if address in rcpts]


class Receiver(BaseHTTPRequestHandler):
    """/ok/...: 200. /flaky/<n>/...: 500 for the first n calls. /down/...: always 503."""
    calls: list = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.lock:
            earlier = sum(1 for c in self.calls if c["path"] == self.path)
            self.calls.append({"path": self.path, "headers": dict(self.headers), "body": body, "at": time.monotonic()})
        parts = self.path.strip("/").split("/")
        if parts[0] == "ok" or (parts[0] == "flaky" and earlier >= int(parts[1])):
            status = 200
        else:
            status = 503 if parts[0] == "down" else 500
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

    @classmethod
    def calls_to(cls, path):
        with cls.lock:
            return [c for c in cls.calls if c["path"] == path]


@pytest.fixture(scope="module")
def smtp():
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, sink
    controller.stop()


@pytest.fixture(scope="module")
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def own_vhost(amqp_uri):
    """A vhost for this module only: other stacks of the session run notification workers too, and
    they would compete for the events published here (same queue names)."""
    vhost = f"concilia-notification-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True,
                   capture_output=True, timeout=60)
    yield amqp_uri.rsplit("/", 1)[0] + "/" + vhost
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def stack(start_stack, smtp, own_vhost):
    controller, _ = smtp
    stack = start_stack(services=["notification"], gateway=False, extra_env={
        "AMQP_URI": own_vhost, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(controller.port),
        "SMTP_FROM": "Concilia <no-reply@concilia.test>", "NOTIFICATION_SEND_INTERVAL_SECONDS": "0.1",
        "EMAIL_RETRY_BASE_SECONDS": "0.3", "WEBHOOK_RETRY_BASE_SECONDS": str(RETRY_BASE),
        "WEBHOOK_MAX_ATTEMPTS": str(MAX_ATTEMPTS), "WEBHOOK_TIMEOUT_SECONDS": "2",
        "PUBLIC_BASE_URL": "https://concilia.example", "WEBHOOKS_ALLOW_INSECURE_LOOPBACK": "true"})
    wait_for_queues(own_vhost)
    yield stack
    stack.stop()


def wait_for_queues(uri, timeout=30.0):
    """The worker declares its queues just after its metrics port opens; wait for all of them."""
    names = ["evt-identity-account_created--notification.on_account_created",
             "evt-identity-account_erased--notification.on_account_erased",
             "evt-company_registry-company_adhered--notification.on_company_adhered",
             *(f"evt-complaint-{t}--notification.on_{t}" for t in domain.COMPLAINT_EVENTS)]
    deadline = time.monotonic() + timeout
    with Connection(uri) as connection:
        for name in names:
            while True:
                try:
                    connection.channel().queue_declare(queue=name, passive=True)
                    break
                except Exception:  # noqa: BLE001 - not declared yet
                    connection.close()
                    connection.connect()
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)


@pytest.fixture(scope="module")
def db(stack):
    return Database(stack.database_urls["notification"], pool_size=2)


def publish(uri, *bodies: dict):
    """Publishes envelopes as the outbox relay does (exchange "<source>.events", key = type)."""
    with Connection(uri) as connection:
        producer = connection.Producer()
        for body in bodies:
            producer.publish(json.dumps(body), exchange=exchange_for(body["source"]), routing_key=body["type"],
                             content_type="application/json", content_encoding="utf-8", delivery_mode=2,
                             declare=[exchange_for(body["source"])], retry=True)


def eventually(check, timeout=20.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s (last value {result!r})")
        time.sleep(interval)


# --- helpers to build the world ---------------------------------------------------------------

def new_id():
    return str(uuid.uuid4())


def account(uri, role, locale, company_id="", account_id=None):
    account_id = account_id or new_id()
    email = f"{account_id[:12]}@people.test"
    publish(uri, envelope("account_created", "identity", ev.AccountCreated(
        account_id=account_id, role=role, name="Maria Teste", email=email, locale=locale, company_id=company_id), "BR"))
    return account_id, email


def wait_contacts(db, *account_ids):
    def known():
        with db.transaction() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(m.contacts)
                            .where(m.contacts.c.account_id.in_(account_ids))) == len(account_ids)
    eventually(known)


def add_webhook(db, company_id, url, types=("complaint_filed",)):
    """Seeds a registered webhook (registration through the api is covered by test_notification_api)."""
    hook_id, secret = new_id(), uuid.uuid4().hex
    with db.transaction() as s:
        s.execute(m.webhooks.insert().values(id=hook_id, company_id=company_id, url=url, secret=secret,
                                             event_types=json.dumps(list(types)), active=True, created_by=new_id(),
                                             created_at=datetime.now(timezone.utc)))
    return hook_id, secret


def filed(consumer_id, company_id):
    data = ev.ComplaintFiled(complaint=ev.ComplaintRef(complaint_id=new_id(), consumer_id=consumer_id,
                                                       company_id=company_id, region_code="BR-SP"))
    data.filed_at.FromDatetime(datetime(2024, 3, 4, 15, tzinfo=timezone.utc))
    data.answer_deadline.FromDatetime(BR.add_days(datetime(2024, 3, 4, 15, tzinfo=timezone.utc), 10))
    return envelope("complaint_filed", "complaint", data, "BR")


def deliveries(db, hook_id):
    with db.transaction() as s:
        return s.execute(sa.select(m.webhook_deliveries).where(m.webhook_deliveries.c.webhook_id == hook_id)).all()


# --- tests ------------------------------------------------------------------------------------

def test_a_redelivered_event_gives_one_notification_one_email_and_one_webhook_call(stack, db, smtp, receiver, own_vhost):
    _, sink = smtp
    company = new_id()
    consumer, consumer_email = account(own_vhost, "consumer", "en")
    agent, agent_email = account(own_vhost, "company_agent", "pt-BR", company_id=company)
    publish(own_vhost, envelope("company_adhered", "company_registry",
                                ev.CompanyAdhered(company_id=company, trade_name="Loja Exemplo"), "BR"))
    path = f"/ok/{company}"
    hook_id, secret = add_webhook(db, company, receiver + path)
    wait_contacts(db, consumer, agent)

    def company_known():
        with db.transaction() as s:
            return s.scalar(sa.select(m.companies.c.trade_name).where(m.companies.c.company_id == company))
    eventually(company_known)

    body = filed(consumer, company)
    publish(own_vhost, body)
    publish(own_vhost, body)  # AMQP redelivery, or a relay that crashed before deleting its row

    eventually(lambda: sink.to(consumer_email) and sink.to(agent_email) and Receiver.calls_to(path))
    time.sleep(1.5)  # time for a duplicate to show up, if the worker were going to produce one
    with db.transaction() as s:
        rows = s.execute(sa.select(m.notifications).where(m.notifications.c.event_id == body["id"])).all()
    assert sorted(r.account_id for r in rows) == sorted([consumer, agent])
    (to_consumer,), (to_agent,) = sink.to(consumer_email), sink.to(agent_email)
    assert str(make_header(decode_header(to_consumer["Subject"]))).startswith("Complaint ")
    assert str(make_header(decode_header(to_agent["Subject"]))).startswith("Nova reclamação")
    consumer_row = next(r for r in rows if r.account_id == consumer)
    assert to_consumer["Message-ID"] == f"<{consumer_row.id}@concilia.test>"
    text = to_consumer.get_payload(decode=True).decode()
    assert "Loja Exemplo" in text and "March 14, 2024" in text
    assert f"https://concilia.example/complaints/{body['data']['complaint']['complaint_id']}" in text

    (call,) = Receiver.calls_to(path)
    assert domain.verify_signature(secret, call["headers"]["X-Concilia-Signature"], call["body"], int(time.time()))
    assert json.loads(call["body"]) == body
    assert call["headers"]["X-Concilia-Event-Id"] == body["id"]
    (delivery,) = deliveries(db, hook_id)
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == ("delivered", 1, 200)
    # Personal data never reaches the logs.
    logs = (stack.data_dir / "logs" / "notification-worker.log").read_text()
    assert consumer_email not in logs and agent_email not in logs and "Maria Teste" not in logs


def test_a_failing_endpoint_is_retried_with_growing_delays_then_succeeds(stack, db, receiver, own_vhost):
    company = new_id()
    path = f"/flaky/2/{company}"
    hook_id, secret = add_webhook(db, company, receiver + path)
    publish(own_vhost, filed(new_id(), company))
    eventually(lambda: (rows := deliveries(db, hook_id)) and rows[0].status == "delivered", timeout=30)
    calls = Receiver.calls_to(path)
    assert len(calls) == 3
    gaps = [b["at"] - a["at"] for a, b in zip(calls, calls[1:])]
    assert gaps[0] >= RETRY_BASE * 0.9 and gaps[1] >= 2 * RETRY_BASE * 0.9  # exponential backoff
    assert [c["headers"]["X-Concilia-Attempt"] for c in calls] == ["1", "2", "3"]
    for call in calls:  # every attempt signed afresh, all with the same delivery id
        assert domain.verify_signature(secret, call["headers"]["X-Concilia-Signature"], call["body"], int(time.time()))
    assert len({c["headers"]["X-Concilia-Delivery-Id"] for c in calls}) == 1
    (delivery,) = deliveries(db, hook_id)
    assert (delivery.attempts, delivery.last_http_status) == (3, 200)


def test_an_endpoint_that_keeps_failing_is_dead_lettered_after_the_maximum_attempts(stack, db, receiver, own_vhost):
    company = new_id()
    path = f"/down/{company}"
    hook_id, _ = add_webhook(db, company, receiver + path)
    publish(own_vhost, filed(new_id(), company))
    eventually(lambda: (rows := deliveries(db, hook_id)) and rows[0].status == "dead_lettered", timeout=30)
    time.sleep(2 * RETRY_BASE * 2)  # no attempt after the last one
    assert len(Receiver.calls_to(path)) == MAX_ATTEMPTS
    (delivery,) = deliveries(db, hook_id)
    assert (delivery.attempts, delivery.last_http_status, delivery.last_error) == (MAX_ATTEMPTS, 503, "http 503")


def test_internal_network_addresses_are_never_called(stack, db, own_vhost):
    company = new_id()
    hook_id, _ = add_webhook(db, company, "http://10.255.255.1:8080/metadata")  # as if DNS had changed
    publish(own_vhost, filed(new_id(), company))
    eventually(lambda: (rows := deliveries(db, hook_id)) and rows[0].status == "dead_lettered", timeout=30)
    (delivery,) = deliveries(db, hook_id)
    assert (delivery.last_error, delivery.last_http_status) == ("blocked address", 0)


def test_only_subscribed_event_types_are_delivered(stack, db, receiver, own_vhost):
    company = new_id()
    path = f"/ok/answered-only/{company}"
    hook_id, _ = add_webhook(db, company, receiver + path, types=("complaint_answered",))
    publish(own_vhost, filed(new_id(), company))
    answered = ev.ComplaintAnswered(complaint=ev.ComplaintRef(complaint_id=new_id(), consumer_id=new_id(),
                                                              company_id=company))
    body = envelope("complaint_answered", "complaint", answered, "BR")
    publish(own_vhost, body)
    eventually(lambda: Receiver.calls_to(path))
    time.sleep(0.5)
    assert [json.loads(c["body"])["type"] for c in Receiver.calls_to(path)] == ["complaint_answered"]


def test_contacts_whose_account_event_comes_after_the_complaint_still_hear_of_it(stack, db, smtp, own_vhost):
    # identity's events travel on their own queue: when identity's worker is down or behind, a
    # complaint against a new company (or by a new consumer) reaches this worker first.
    _, sink = smtp
    company, consumer = new_id(), new_id()
    body = filed(consumer, company)
    publish(own_vhost, body)

    def inbox(account_id):
        with db.transaction() as s:
            return s.scalars(sa.select(m.notifications.c.event_id).where(m.notifications.c.account_id == account_id)).all()
    eventually(lambda: inbox(consumer) == [body["id"]])  # the consumer's entry; no address for an e-mail yet
    agent, agent_email = account(own_vhost, "company_agent", "en", company_id=company)
    _, consumer_email = account(own_vhost, "consumer", "en", account_id=consumer)

    eventually(lambda: sink.to(agent_email) and sink.to(consumer_email))
    assert inbox(agent) == [body["id"]] and inbox(consumer) == [body["id"]]
    (to_agent,) = sink.to(agent_email)
    assert str(make_header(decode_header(to_agent["Subject"]))).startswith("New complaint")
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(m.unaddressed_events)
                        .where(m.unaddressed_events.c.event_id == body["id"])) == 0


def test_an_erased_consumer_is_a_tombstone_that_a_late_account_created_cannot_fill(stack, db, smtp, own_vhost):
    _, sink = smtp
    consumer, email = account(own_vhost, "consumer", "en")
    wait_contacts(db, consumer)
    publish(own_vhost, filed(consumer, new_id()))
    eventually(lambda: sink.to(email))
    publish(own_vhost, envelope("account_erased", "identity", ev.AccountErased(account_id=consumer, role="consumer"),
                                "BR"))

    def contact():
        with db.transaction() as s:
            return s.execute(sa.select(m.contacts).where(m.contacts.c.account_id == consumer)).one()

    def held():
        with db.transaction() as s:
            return (s.scalar(sa.select(sa.func.count()).select_from(m.notifications)
                             .where(m.notifications.c.account_id == consumer)),
                    s.scalar(sa.select(sa.func.count()).select_from(m.email_outbox)
                             .where(m.email_outbox.c.to_address == email)))
    eventually(lambda: contact().erased_at is not None)
    assert (contact().name, contact().email) == ("", "") and held() == (0, 0)

    # A redelivered account_created and a complaint event afterwards, on their own queues.
    late = envelope("account_created", "identity", ev.AccountCreated(
        account_id=consumer, role="consumer", name="Maria Teste", email=email, locale="en"), "BR")
    later = filed(consumer, new_id())
    publish(own_vhost, late, later)

    def handled():
        with db.transaction() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(m.processed_events)
                            .where(m.processed_events.c.event_id.in_([late["id"], later["id"]]))) == 2
    eventually(handled)
    time.sleep(0.5)  # an e-mail would have gone out by now
    assert (contact().name, contact().email) == ("", "") and held() == (0, 0)
    assert len(sink.to(email)) == 1  # the one sent before the erasure
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(m.unaddressed_events)
                        .where(m.unaddressed_events.c.consumer_id == consumer,
                               m.unaddressed_events.c.waiting_for == "consumer")) == 0


def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing_but_recognisably(stack, db, smtp, receiver, own_vhost):
    _, sink = smtp
    company = new_id()
    agent, agent_email = account(own_vhost, "company_agent", "en", company_id=company)
    path = f"/ok/crash/{company}"
    add_webhook(db, company, receiver + path)
    wait_contacts(db, agent)
    events = [filed(new_id(), company) for _ in range(400)]
    started = time.monotonic()
    publish(own_vhost, *events[:100])

    def handled():
        with db.transaction() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(m.notifications)
                            .where(m.notifications.c.event_id.in_([e["id"] for e in events])))
    eventually(lambda: handled() >= 20, timeout=30)
    # The worker drains a few hundred events in well under a second: the kill comes right after the
    # rest is published, while the worker is taking it in.
    publish(own_vhost, *events[100:])
    worker = stack.processes["notification-worker"]
    worker.signal(9)  # SIGKILL: no chance to ack, commit or close anything
    worker.popen.wait(10)
    handled_at_kill = handled()
    print("handled at kill:", handled_at_kill, "of", 2 * len(events), "after", time.monotonic() - started)
    assert handled_at_kill < 2 * len(events)  # the kill really happened mid-stream
    stack.restart("notification-worker")

    # Every event: one inbox entry per recipient (agent + consumer), one delivery row, one e-mail row.
    restarted = time.monotonic()
    eventually(lambda: handled() == 2 * len(events), timeout=60)
    print("rest handled in", time.monotonic() - restarted)
    eventually(lambda: len({c["headers"]["X-Concilia-Delivery-Id"] for c in Receiver.calls_to(path)}) == len(events),
               timeout=60)
    # Distinct messages: a send in flight at the kill is repeated, and counting it would stop early.
    eventually(lambda: len({msg["Message-ID"] for msg in sink.to(agent_email)}) >= len(events), timeout=60)
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(m.webhook_deliveries).join(m.webhooks)
                        .where(m.webhooks.c.company_id == company)) == len(events)
    # At most the message in flight at the kill is sent twice, and then with the same identifiers.
    message_ids = [msg["Message-ID"] for msg in sink.to(agent_email)]
    assert len(set(message_ids)) == len(events) and len(message_ids) - len(set(message_ids)) <= 1
    calls = Receiver.calls_to(path)
    assert len(calls) - len(events) <= 1


def test_an_email_queued_while_smtp_is_down_is_sent_once_it_is_back(stack, db, own_vhost):
    # The worker is pointed at an SMTP port where nothing listens yet (an outage); the e-mail must
    # wait in the outbox and go out once a server appears there. Last test of the module: the
    # worker keeps this setting afterwards.
    sink = SmtpSink()
    port = free_port()
    stack.processes["notification-worker"].stop()
    stack.processes["notification-worker"].env.update({"SMTP_PORT": str(port)})
    stack.restart("notification-worker")
    wait_for_queues(own_vhost)
    consumer, email = account(own_vhost, "consumer", "pt-BR")
    wait_contacts(db, consumer)
    body = filed(consumer, new_id())
    publish(own_vhost, body)

    def attempted():
        with db.transaction() as s:
            return s.scalar(sa.select(m.email_outbox.c.attempts).where(
                m.email_outbox.c.notification_id == domain.notification_id(body["id"], consumer)))
    eventually(lambda: (attempted() or 0) >= 1)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        eventually(lambda: sink.to(email), timeout=30)
        time.sleep(1)
        (message,) = sink.to(email)
        assert str(make_header(decode_header(message["Subject"]))).startswith("Reclamação ")
        with db.transaction() as s:
            row = s.execute(sa.select(m.email_outbox).where(
                m.email_outbox.c.notification_id == domain.notification_id(body["id"], consumer))).one()
        assert row.status == "sent" and row.attempts >= 2
    finally:
        controller.stop()
