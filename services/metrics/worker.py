"""Metrics worker: turns complaint and company events into indicators and live SLA state.

Events are committed in groups (one transaction per batch, every event still recorded in
processed_events in that transaction) and each message is acknowledged only after its batch has
committed: nameko acks when the handler returns, and every handler returns only once the batch
holding its event is committed (see GroupCommit and docs/adr/0009-metrics-group-commit.md).
"""
import logging
import time

import eventlet
from eventlet.event import Event
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider

from concilia.chassis import config
from concilia.chassis.country import load_pack
from concilia.chassis.worker import DatabaseProvider, Telemetry, event_handler, observe_lag

from .domain import Ingestor
from .settings import WorkerSettings

log = logging.getLogger(__name__)

SOURCE_COMPLAINT = "complaint"
SOURCE_COMPANY_REGISTRY = "company_registry"


class _Batch:
    def __init__(self):
        self.envelopes = []
        self.full = Event()
        self.committed = Event()


class GroupCommit(DependencyProvider):
    """`submit(envelope)` blocks the calling handler until the batch holding the envelope is
    committed, and raises if that commit failed (the handler then fails and nameko requeues the
    message: nothing is acknowledged that is not in the database).

    The first event of a batch waits up to `window` seconds (or until `batch_max` events joined)
    and for the previous batch's commit, then commits its batch while the next one fills up."""

    def setup(self):
        settings = config.load(WorkerSettings)
        self.window = settings.batch_window_seconds
        self.batch_max = settings.batch_max
        self.ingestor = Ingestor(load_pack(settings.country))
        self.current = None
        self.commit_lock = Semaphore()

    def get_dependency(self, worker_ctx):
        return self.submit

    def submit(self, envelope: dict) -> None:
        batch = self.current
        if batch is None:
            batch = self.current = _Batch()
            batch.envelopes.append(envelope)
            batch.full.wait(self.window)
            # The batch stays open while an earlier batch commits: events arriving meanwhile
            # join it instead of queueing up as many small transactions (group commit).
            with self.commit_lock:
                if self.current is batch:
                    self.current = None
                self._commit(batch)
        else:
            batch.envelopes.append(envelope)
            if len(batch.envelopes) >= self.batch_max:
                if self.current is batch:
                    self.current = None
                if not batch.full.ready():
                    batch.full.send(True)
        batch.committed.wait()  # re-raises the commit's exception in every waiting handler

    def _commit(self, batch: _Batch) -> None:
        database = self.container.metrics_database
        started = time.perf_counter()
        try:
            with database.transaction() as session:
                self.ingestor.ingest(session, batch.envelopes)
        except Exception as error:  # noqa: BLE001 - handed to every handler of the batch
            log.warning("batch of %d events not committed (%s); they will be redelivered",
                        len(batch.envelopes), type(error).__name__)
            eventlet.sleep(1.0)  # a database outage should not turn into a redelivery storm
            batch.committed.send_exception(error)
            return
        log.debug("committed %d events in %.1f ms", len(batch.envelopes),
                  (time.perf_counter() - started) * 1000)
        batch.committed.send(None)


class MetricsDatabase(DatabaseProvider):
    """The metrics database, also reachable by GroupCommit through the container."""

    def setup(self):
        super().setup()
        self.container.metrics_database = self.database


class MetricsWorker:
    name = "metrics"
    # Batches can only be as large as the messages in flight, which nameko ties to max_workers
    # (its prefetch count): larger than the chassis default so groups fill up.
    max_workers = 300
    telemetry = Telemetry()
    database = MetricsDatabase()
    ingest = GroupCommit()

    def _handle(self, envelope: dict) -> None:
        self.ingest(envelope)
        observe_lag(self.name, envelope.get("type", ""), envelope.get("occurred_at", ""))

    @event_handler(SOURCE_COMPLAINT, "complaint_finalised")
    def on_complaint_finalised(self, envelope):
        self._handle(envelope)

    @event_handler(SOURCE_COMPLAINT, "complaint_filed")
    def on_complaint_filed(self, envelope):
        self._handle(envelope)

    @event_handler(SOURCE_COMPLAINT, "complaint_answered")
    def on_complaint_answered(self, envelope):
        self._handle(envelope)

    @event_handler(SOURCE_COMPLAINT, "complaint_unanswered")
    def on_complaint_unanswered(self, envelope):
        self._handle(envelope)

    @event_handler(SOURCE_COMPLAINT, "complaint_refusal_reviewed")
    def on_complaint_refusal_reviewed(self, envelope):
        self._handle(envelope)

    @event_handler(SOURCE_COMPLAINT, "complaint_cancelled")
    def on_complaint_cancelled(self, envelope):
        self._handle(envelope)

    @event_handler(SOURCE_COMPANY_REGISTRY, "company_adhered")
    def on_company_adhered(self, envelope):
        self._handle(envelope)
