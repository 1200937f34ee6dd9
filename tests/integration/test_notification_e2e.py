"""End to end: a complaint filed and answered through the complaint service's api reaches the
company's agent and the consumer as inbox entries and e-mails in their languages, and the
company's webhook, with no notification service code on the producing side."""
import json
import subprocess
import threading
import time
import uuid
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from concilia.chassis.db import Database
from concilia.chassis.grpc_client import bearer
from concilia.complaint.v1 import complaint_pb2 as cpb
from concilia.devstack import free_port
from concilia.notification.v1 import notification_pb2 as pb
from concilia.notification.v1 import notification_pb2_grpc
from services.notification import domain
from services.notification import models as m
from support.complaints import World

pytestmark = pytest.mark.integration


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def subjects_to(self, address):
        return [str(make_header(decode_header(msg["Subject"]))) for rcpts, msg in self.messages if address in rcpts]


class Hook(BaseHTTPRequestHandler):
    calls = []

    def do_POST(self):
        self.calls.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def world(start_stack, amqp_uri):
    vhost = f"concilia-notification-{uuid.uuid4().hex[:8]}"  # our own: see test_notification_worker
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True,
                   capture_output=True, timeout=60)
    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    hook_server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook_server.serve_forever, daemon=True).start()
    stack = start_stack(services=["identity", "company_registry", "complaint", "notification"], gateway=False,
                        extra_env={"AMQP_URI": amqp_uri.rsplit("/", 1)[0] + "/" + vhost,
                                   "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
                                   "SMTP_FROM": "no-reply@concilia.test", "NOTIFICATION_SEND_INTERVAL_SECONDS": "0.1",
                                   "WEBHOOKS_ALLOW_INSECURE_LOOPBACK": "true"})
    try:
        yield World(stack), sink, f"http://127.0.0.1:{hook_server.server_address[1]}"
    finally:
        stack.stop()
        smtp.stop()
        hook_server.shutdown()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60)


def eventually(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s (last value {result!r})")
        time.sleep(0.2)


def test_filing_and_answering_notify_the_right_people_in_their_languages(world):
    world, sink, hook_url = world
    notifications = notification_pb2_grpc.NotificationServiceStub(
        grpc.insecure_channel(world.stack.addr("notification")))
    company_id = world.company("Banco Exemplo")
    agent_account, agent = world.actors.create("company_agent", company_id=company_id, locale="pt-BR")
    consumer_account, consumer = world.actors.create("consumer", locale="en")
    registered = notifications.RegisterWebhook(pb.RegisterWebhookRequest(
        url=hook_url + "/concilia", event_types=["complaint_filed", "complaint_answered"]), metadata=bearer(agent),
        timeout=10)
    directory = Database(world.stack.database_urls["notification"], pool_size=1)

    def known():  # account_created and complaint events travel on different queues
        with directory.transaction() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(m.contacts).where(
                m.contacts.c.account_id.in_([agent_account.id, consumer_account.id]))) == 2
    eventually(known)

    complaint = world.file(consumer, company_id)
    # One SMTP session sends both, one after the other: wait for both before comparing.
    eventually(lambda: sink.subjects_to(agent_account.email) and sink.subjects_to(consumer_account.email))
    assert sink.subjects_to(agent_account.email) == [f"Nova reclamação {complaint.id[:8]}"]
    assert sink.subjects_to(consumer_account.email) == [f"Complaint {complaint.id[:8]} filed"]

    world.complaints.AnswerComplaint(cpb.AnswerComplaintRequest(complaint_id=complaint.id, text="We refunded you."),
                                     metadata=bearer(agent), timeout=10)
    eventually(lambda: len(sink.subjects_to(consumer_account.email)) == 2)
    assert sink.subjects_to(consumer_account.email)[1] == f"The company answered complaint {complaint.id[:8]}"

    inbox = notifications.ListInbox(pb.ListInboxRequest(), metadata=bearer(consumer), timeout=10)
    assert [n.kind for n in inbox.notifications] == ["complaint_answered", "complaint_filed"]
    assert all(n.complaint_id == complaint.id for n in inbox.notifications)
    agent_inbox = notifications.ListInbox(pb.ListInboxRequest(), metadata=bearer(agent), timeout=10)
    assert [n.kind for n in agent_inbox.notifications] == ["complaint_filed"]

    eventually(lambda: len(Hook.calls) == 2)
    for headers, body in Hook.calls:
        assert domain.verify_signature(registered.secret, headers["X-Concilia-Signature"], body, int(time.time()))
    assert [json.loads(body)["type"] for _, body in Hook.calls] == ["complaint_filed", "complaint_answered"]
    assert "We refunded you." not in b"".join(body for _, body in Hook.calls).decode()
