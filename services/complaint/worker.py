"""The complaint worker (nameko): relays the outbox, enforces deadlines with a timer sweep, applies the
country pack's retention periods, keeps the replica of participating companies from company_registry
events and erases what an erased account wrote.

    python -m concilia.chassis.run_worker services.complaint.worker
"""
import logging
import os
from datetime import datetime

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from concilia.chassis import config, retention
from concilia.chassis.clock import clock_from_env
from concilia.chassis.country import pack_from_env
from concilia.chassis.outbox import consume_once
from concilia.chassis.worker import (DatabaseProvider, OutboxRelayProvider, Telemetry, event_handler, observe_lag,
                                     parse_event)
from concilia.events.v1 import events_pb2 as ev

from . import models
from .domain import Complaints
from .settings import WorkerSettings
from .storage import LocalFolderStore

log = logging.getLogger(__name__)
SWEEP_INTERVAL_SECONDS = float(os.environ.get("DEADLINE_SWEEP_INTERVAL_SECONDS", "1.0"))


class RulesProvider(DependencyProvider):
    """The complaint rules (domain.Complaints) over this worker's database, pack, clock and the api's
    attachment store (erasure removes content from it)."""

    def setup(self):
        from concilia.chassis.db import Database
        settings = config.load(WorkerSettings)
        self.rules = Complaints(Database(settings.database_url, pool_size=3), pack_from_env(), clock_from_env(),
                                LocalFolderStore(settings.attachments_dir))

    def get_dependency(self, worker_ctx):
        return self.rules


def _occurred_at(envelope: dict) -> datetime:
    return datetime.fromisoformat(envelope["occurred_at"].replace("Z", "+00:00"))


class ComplaintWorker:
    name = "complaint"
    telemetry = Telemetry()
    db = DatabaseProvider()
    relay = OutboxRelayProvider(models.outbox, source="complaint")
    rules = RulesProvider()

    @timer(interval=SWEEP_INTERVAL_SECONDS)
    def sweep_deadlines(self):
        counts = self.rules.sweep()
        if any(counts.values()):
            log.info("deadline sweep: %s", counts)

    @timer(interval=retention.PRUNE_INTERVAL_SECONDS)
    def prune_processed_events(self):
        retention.prune_processed_events(self.db, models.processed_events)

    @timer(interval=retention.SWEEP_INTERVAL_SECONDS)
    def apply_retention(self):
        counts = self.rules.apply_retention()
        if any(counts.values()):
            log.info("retention: %s", counts)

    @event_handler("company_registry", "company_adhered")
    def on_company_adhered(self, body):
        envelope, data = parse_event(body, ev.CompanyAdhered)
        with self.db.transaction() as session:
            if consume_once(session, models.processed_events, "complaint.company_adhered", envelope["id"]):
                self.rules.company_adhered(session, data, _occurred_at(envelope))
        observe_lag(self.name, "company_adhered", envelope["occurred_at"])

    @event_handler("company_registry", "company_suspended")
    def on_company_suspended(self, body):
        envelope, data = parse_event(body, ev.CompanySuspended)
        with self.db.transaction() as session:
            if consume_once(session, models.processed_events, "complaint.company_suspended", envelope["id"]):
                self.rules.company_suspended(session, data, _occurred_at(envelope))
        observe_lag(self.name, "company_suspended", envelope["occurred_at"])

    @event_handler("identity", "account_erased")
    def on_account_erased(self, body):
        envelope, data = parse_event(body, ev.AccountErased)
        keys = ()
        with self.db.transaction() as session:
            if consume_once(session, models.processed_events, "complaint.account_erased", envelope["id"]):
                keys = self.rules.account_erased(session, data, _occurred_at(envelope))
        self.rules.remove_content(keys)  # only now: the rows that referenced it are gone for good
        observe_lag(self.name, "account_erased", envelope["occurred_at"])
