"""Metrics worker: turns complaint and company events into indicators and live SLA state.

python -m concilia.chassis.run_worker services.metrics.worker

Events arrive in batches (concilia.chassis.batch_events): one transaction per batch records every
event id in processed_events and writes the new events' effects; the chassis acks the batch's
messages only after that commit (docs/adr/0009-metrics-group-commit.md,
docs/adr/0014-batch-event-entrypoint.md).
"""
from nameko.extensions import DependencyProvider
from nameko.timer import timer

from concilia.chassis import config, retention
from concilia.chassis.batch_events import batch_event_handler
from concilia.chassis.country import load_pack
from concilia.chassis.worker import DatabaseProvider

from . import models
from .domain import Ingestor
from .settings import WorkerSettings

SUBSCRIPTIONS = {
    "complaint": ("complaint_finalised", "complaint_filed", "complaint_answered", "complaint_unanswered",
                  "complaint_refused", "complaint_refusal_reviewed", "complaint_cancelled"),
    "company_registry": ("company_adhered",),
}


class IngestorProvider(DependencyProvider):
    """The country pack's Ingestor, built once per process."""

    def setup(self):
        self.ingestor = Ingestor(load_pack(config.load(WorkerSettings).country))

    def get_dependency(self, worker_ctx):
        return self.ingestor


class MetricsWorker:
    name = "metrics"
    database = DatabaseProvider()
    ingestor = IngestorProvider()

    @batch_event_handler(SUBSCRIPTIONS)
    def ingest(self, events):
        # Malformed data is logged and recorded as processed by the Ingestor; anything raised here
        # (a database failure) leaves the whole batch unacknowledged.
        with self.database.transaction() as session:
            self.ingestor.ingest(session, [event.envelope for event in events])

    @timer(interval=retention.PRUNE_INTERVAL_SECONDS)
    def prune_processed_events(self):
        retention.prune_processed_events(self.database, models.processed_events)
