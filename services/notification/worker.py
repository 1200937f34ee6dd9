"""The notification worker (nameko): consumes identity, company_registry and complaint events into
the contact directory, in-app notifications, queued e-mails and webhook deliveries, drains the
e-mail outbox and the webhook deliveries on timers, and drops them after the country pack's retention.

python -m concilia.chassis.run_worker services.notification.worker

Events arrive in batches (concilia.chassis.batch_events) and each batch is written in one
transaction; the chassis acks its messages only after that commit. A crash before the commit leaves
them unacknowledged, so RabbitMQ redelivers them; a crash after the commit and before the ack
redelivers events that claim_events then drops.
"""
import logging
import os
from datetime import datetime, timedelta, timezone

from google.protobuf import json_format
from nameko.extensions import DependencyProvider
from nameko.timer import timer

from concilia.chassis import config, retention
from concilia.chassis.batch_events import batch_event_handler
from concilia.chassis.clock import clock_from_env
from concilia.chassis.country import load_pack
from concilia.chassis.outbox import parse_data
from concilia.chassis.worker import DatabaseProvider
from concilia.events.v1 import events_pb2 as ev

from . import domain, models
from .delivery import EmailSender, WebhookDeliverer
from .settings import WorkerSettings

log = logging.getLogger(__name__)

CONSUMER = "notification"
# How often the e-mail outbox and the webhook deliveries are drained (read at import: nameko timers
# are declared on the class).
SEND_INTERVAL_SECONDS = float(os.environ.get("NOTIFICATION_SEND_INTERVAL_SECONDS", "1.0"))
# Events wait up to 50 ms for others before a batch is written (the chassis default is 5 ms, for the
# metrics' event lag): e-mails leave once a second anyway, and at a steady 200 events/s batches of ~10
# instead of ~2 halve this worker's CPU (docs/benchmarks.md, ADR 0014).
BATCH_WINDOW_SECONDS = 0.05

# The events consumed, by source, with the message class of their data.
MESSAGE_CLASSES = {
    "identity": {"account_created": ev.AccountCreated, "account_erased": ev.AccountErased},
    "company_registry": {"company_adhered": ev.CompanyAdhered},
    "complaint": {
        "complaint_filed": ev.ComplaintFiled, "complaint_answered": ev.ComplaintAnswered,
        "complaint_refused": ev.ComplaintRefused, "complaint_refusal_reviewed": ev.ComplaintRefusalReviewed,
        "complaint_unanswered": ev.ComplaintUnanswered, "complaint_message_added": ev.ComplaintMessageAdded,
        "complaint_evaluated": ev.ComplaintEvaluated, "complaint_finalised": ev.ComplaintFinalised,
        "complaint_cancelled": ev.ComplaintCancelled, "deadline_reminder": ev.DeadlineReminder,
    },
}


class Runtime(DependencyProvider):
    """Settings, country pack, platform clock and the two senders, built once per process."""

    def setup(self):
        self.settings = config.load(WorkerSettings).check()
        self.pack = load_pack(self.settings.country)
        self.clock = clock_from_env()
        self.email = EmailSender(self.settings)
        self.webhooks = WebhookDeliverer(self.settings)

    def get_dependency(self, worker_ctx):
        return self


def apply_events(session, runtime: Runtime, items) -> None:
    """One transaction: claim the batch's new events, then write what each kind causes.
    items: (event type, envelope, typed data). Accounts and companies first, so a complaint event
    in the same batch already sees them; erasures after the batch's new accounts, so an account
    created and erased in one batch ends erased."""
    new = domain.claim_events(session, CONSUMER, [envelope["id"] for _, envelope, _ in items])
    fresh, seen = [], set()
    for event_type, envelope, data in items:
        if envelope["id"] in new and envelope["id"] not in seen:
            seen.add(envelope["id"])
            fresh.append((event_type, envelope, data))
    now = datetime.now(timezone.utc)
    settings = runtime.settings
    accounts = [d for t, _, d in fresh if t == "account_created"]
    domain.record_contacts(session, accounts, now)
    domain.erase_accounts(session, [d for t, _, d in fresh if t == "account_erased"], now)
    domain.record_companies(session, [d for t, _, d in fresh if t == "company_adhered"], now)
    if accounts:  # events that came before these contacts and found nobody on their side
        domain.deliver_late(session, runtime.pack, accounts, now=runtime.clock.now(),
                            email_on=settings.email_enabled, base_url=settings.public_base_url)
    complaints = [(e, d) for t, e, d in fresh if t in domain.COMPLAINT_EVENTS]
    if complaints:
        domain.handle_complaint_events(session, runtime.pack, complaints, now=runtime.clock.now(),
                                       email_on=settings.email_enabled, base_url=settings.public_base_url)


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


class NotificationWorker:
    name = "notification"
    db = DatabaseProvider()
    runtime = Runtime()

    @batch_event_handler({source: tuple(types) for source, types in MESSAGE_CLASSES.items()},
                         window_seconds=BATCH_WINDOW_SECONDS)
    def write_events(self, events):
        # Malformed data is dropped (logged); anything raised here (a database failure, a bug)
        # leaves the whole batch unacknowledged and the chassis retries it.
        items = []
        for event in events:
            data = _parse(event.envelope, MESSAGE_CLASSES[event.source][event.type])
            if data is not None:
                items.append((event.type, event.envelope, data))
        if items:
            with self.db.transaction() as session:
                apply_events(session, self.runtime, items)

    @timer(interval=SEND_INTERVAL_SECONDS)
    def send_emails(self):
        if self.runtime.settings.email_enabled:
            self.runtime.email.drain(self.db)

    @timer(interval=SEND_INTERVAL_SECONDS)
    def deliver_webhooks(self):
        self.runtime.webhooks.drain(self.db)

    @timer(interval=retention.SWEEP_INTERVAL_SECONDS)
    def apply_retention(self):
        counts = domain.apply_retention(self.db, self.runtime.pack.retention.notification_days,
                                        self.runtime.clock.now(), datetime.now(timezone.utc))
        if any(counts.values()):
            log.info("retention: %s", counts)

    @timer(interval=retention.PRUNE_INTERVAL_SECONDS)
    def prune_processed_events(self):
        retention.prune_processed_events(self.db, models.processed_events)
        cutoff = datetime.now(timezone.utc) - timedelta(hours=self.runtime.settings.unaddressed_retention_hours)
        with self.db.transaction() as session:
            domain.prune_unaddressed(session, cutoff)
