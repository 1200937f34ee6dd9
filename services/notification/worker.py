"""The notification worker (nameko): consumes identity, company_registry and complaint events into
the contact directory, in-app notifications, queued e-mails and webhook deliveries, and drains the
e-mail outbox and the webhook deliveries on timers.

python -m concilia.chassis.run_worker services.notification.worker

Events are written in batches: each handler hands its event to the EventBatcher and waits until
the transaction holding it has committed, and only then returns (and nameko acks the message).
A crash before the commit leaves the message unacknowledged, so RabbitMQ redelivers it; a crash
after the commit and before the ack redelivers an event that claim_events then drops.
"""
import logging
import os
from datetime import datetime, timezone

from eventlet.event import Event
from eventlet.queue import LightQueue
from google.protobuf import json_format
from nameko.extensions import DependencyProvider
from nameko.timer import timer
from prometheus_client import Histogram

from concilia.chassis import config
from concilia.chassis.clock import clock_from_env
from concilia.chassis.country import load_pack
from concilia.chassis.db import Database
from concilia.chassis.outbox import parse_data
from concilia.chassis.worker import DatabaseProvider, Telemetry, event_handler, observe_lag
from concilia.events.v1 import events_pb2 as ev

from . import domain
from .delivery import EmailSender, WebhookDeliverer
from .settings import WorkerSettings

log = logging.getLogger(__name__)

CONSUMER = "notification"
# How often the e-mail outbox and the webhook deliveries are drained (read at import: nameko timers
# are declared on the class).
SEND_INTERVAL_SECONDS = float(os.environ.get("NOTIFICATION_SEND_INTERVAL_SECONDS", "1.0"))
MAX_BATCH = int(os.environ.get("NOTIFICATION_MAX_BATCH", "200"))

BATCH_SIZE = Histogram("concilia_notification_batch_events", "Events written per notification transaction",
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))


class Runtime(DependencyProvider):
    """Settings, country pack, platform clock and the two senders, built once per process."""

    def setup(self):
        self.settings = config.load(WorkerSettings)
        self.pack = load_pack(self.settings.country)
        self.clock = clock_from_env()
        self.email = EmailSender(self.settings)
        self.webhooks = WebhookDeliverer(self.settings)

    def get_dependency(self, worker_ctx):
        return self


class EventBatcher(DependencyProvider):
    """Groups the events that arrive while a transaction is being written into the next one.

    `submit(event_type, envelope, data)` blocks the calling handler until its event is committed
    (or raises if it could not be). A failed batch is retried event by event, so one bad event
    fails alone and the others still commit.
    """

    def setup(self):
        self.settings = config.load(WorkerSettings)
        self.pack = load_pack(self.settings.country)
        self.clock = clock_from_env()
        self.database = Database(self.settings.database_url, pool_size=2)
        self.queue = LightQueue()

    def start(self):
        self.container.spawn_managed_thread(self._run)

    def get_dependency(self, worker_ctx):
        return self.submit

    def submit(self, event_type: str, envelope: dict, data) -> None:
        done = Event()
        self.queue.put((event_type, envelope, data, done))
        done.wait()  # re-raises what the writer sent

    def _run(self):
        while True:
            batch = [self.queue.get()]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            self._write(batch)

    def _write(self, batch) -> None:
        try:
            with self.database.transaction() as session:
                self.apply(session, [(t, e, d) for t, e, d, _ in batch])
        except Exception as error:  # noqa: BLE001 - reported to the waiting handlers
            if len(batch) > 1:
                log.warning("a batch of %d events failed (%s); writing them one by one", len(batch),
                            type(error).__name__)
                for item in batch:
                    self._write([item])
                return
            batch[0][3].send_exception(error)
            return
        BATCH_SIZE.observe(len(batch))
        for *_, done in batch:
            done.send(True)

    def apply(self, session, items) -> None:
        """One transaction: claim the batch's new events, then write what each kind causes.
        Accounts and companies first, so a complaint event in the same batch already sees them."""
        new = domain.claim_events(session, CONSUMER, [envelope["id"] for _, envelope, _ in items])
        fresh, seen = [], set()
        for event_type, envelope, data in items:
            if envelope["id"] in new and envelope["id"] not in seen:
                seen.add(envelope["id"])
                fresh.append((event_type, envelope, data))
        now = datetime.now(timezone.utc)
        domain.record_contacts(session, [d for t, _, d in fresh if t == "account_created"], now)
        domain.record_companies(session, [d for t, _, d in fresh if t == "company_adhered"], now)
        complaints = [(e, d) for t, e, d in fresh if t in domain.COMPLAINT_EVENTS]
        if complaints:
            domain.handle_complaint_events(session, self.pack, complaints, now=self.clock.now(),
                                           email_on=self.settings.email_enabled, base_url=self.settings.public_base_url)


def _parse(body: dict, message_class):
    """The typed data of an envelope, or None (logged) for a malformed one: dropping it beats
    redelivering a poison message forever."""
    try:
        if not isinstance(body, dict) or not body.get("id") or not body.get("type"):
            raise ValueError("not an event envelope")
        return parse_data(body, message_class)
    except (ValueError, json_format.ParseError) as error:
        log.error("dropping malformed %s event: %s", message_class.__name__, type(error).__name__)
        return None


def _handler(source: str, event_type: str, message_class):
    # requeue_on_error: a database or broker failure puts the event back instead of losing it.
    @event_handler(source, event_type)
    def handle(self, body):
        data = _parse(body, message_class)
        if data is None:
            return
        if body.get("occurred_at"):
            observe_lag(CONSUMER, event_type, body["occurred_at"])
        self.write(event_type, body, data)

    handle.__name__ = f"on_{event_type}"
    return handle


class NotificationWorker:
    name = "notification"
    # Events are committed in batches; nameko's prefetch equals max_workers, so this bounds them.
    max_workers = 200
    telemetry = Telemetry()
    db = DatabaseProvider()
    runtime = Runtime()
    write = EventBatcher()

    on_account_created = _handler("identity", "account_created", ev.AccountCreated)
    on_company_adhered = _handler("company_registry", "company_adhered", ev.CompanyAdhered)
    on_complaint_filed = _handler("complaint", "complaint_filed", ev.ComplaintFiled)
    on_complaint_answered = _handler("complaint", "complaint_answered", ev.ComplaintAnswered)
    on_complaint_refused = _handler("complaint", "complaint_refused", ev.ComplaintRefused)
    on_complaint_refusal_reviewed = _handler("complaint", "complaint_refusal_reviewed", ev.ComplaintRefusalReviewed)
    on_complaint_unanswered = _handler("complaint", "complaint_unanswered", ev.ComplaintUnanswered)
    on_complaint_message_added = _handler("complaint", "complaint_message_added", ev.ComplaintMessageAdded)
    on_complaint_evaluated = _handler("complaint", "complaint_evaluated", ev.ComplaintEvaluated)
    on_complaint_finalised = _handler("complaint", "complaint_finalised", ev.ComplaintFinalised)
    on_complaint_cancelled = _handler("complaint", "complaint_cancelled", ev.ComplaintCancelled)
    on_deadline_reminder = _handler("complaint", "deadline_reminder", ev.DeadlineReminder)

    @timer(interval=SEND_INTERVAL_SECONDS)
    def send_emails(self):
        if self.runtime.settings.email_enabled:
            self.runtime.email.drain(self.db)

    @timer(interval=SEND_INTERVAL_SECONDS)
    def deliver_webhooks(self):
        self.runtime.webhooks.drain(self.db)
