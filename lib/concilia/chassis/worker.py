"""Worker-process helpers (nameko 2, eventlet). Never imported by api or gateway processes.

- `Telemetry`: a DependencyProvider that gives every event handler RED metrics and a span that
  continues the trace carried in the message headers (W3C traceparent, put there by the outbox).
- `parse_event`: typed event data from the JSON envelope a handler receives.
- `event_handler`: nameko's, but a handler that fails (a database restart, a bug) puts its message
  back on the queue instead of acking it: nameko's default would drop the event.
"""
import logging
import time

import functools

from nameko.events import EventHandler
from nameko.events import event_handler as _nameko_event_handler
from nameko.extensions import DependencyProvider
from opentelemetry import context as otel_context
from opentelemetry import trace
from prometheus_client import Counter, Histogram

from . import telemetry
from .outbox import parse_data

HANDLED = Counter("concilia_event_handled_total", "Events handled by workers",
                  ["service", "source", "event_type", "outcome"])
HANDLING_SECONDS = Histogram("concilia_event_handling_seconds", "Event handling time in workers",
                             ["service", "event_type"],
                             buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
EVENT_LAG_SECONDS = Histogram("concilia_event_lag_seconds", "From the event's occurrence to its handling",
                              ["service", "event_type"],
                              buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("concilia.worker")

# Every consumer is idempotent (consume_once), so a redelivery after a failure is always safe.
event_handler = functools.partial(_nameko_event_handler, requeue_on_error=True)


class Telemetry(DependencyProvider):
    """Instruments event handlers; timers (sweeps, relays) are left out to keep traces readable."""

    def setup(self):
        self._active = {}

    def worker_setup(self, worker_ctx):
        entrypoint = worker_ctx.entrypoint
        if not isinstance(entrypoint, EventHandler):
            return
        parent = telemetry.extract(worker_ctx.data)
        span = _tracer.start_span(
            f"{entrypoint.source_service}.{entrypoint.event_type} process", context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "rabbitmq", "messaging.operation": "process",
                        "messaging.destination.name": f"{entrypoint.source_service}.events",
                        "messaging.rabbitmq.destination.routing_key": entrypoint.event_type,
                        "concilia.handler": f"{worker_ctx.service_name}.{entrypoint.method_name}"})
        token = otel_context.attach(trace.set_span_in_context(span))
        self._active[worker_ctx] = (span, token, time.perf_counter())

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        active = self._active.pop(worker_ctx, None)
        if active is None:
            return
        span, token, started = active
        entrypoint = worker_ctx.entrypoint
        outcome = "error" if exc_info else "ok"
        HANDLED.labels(worker_ctx.service_name, entrypoint.source_service, entrypoint.event_type, outcome).inc()
        HANDLING_SECONDS.labels(worker_ctx.service_name, entrypoint.event_type).observe(time.perf_counter() - started)
        if exc_info:
            span.record_exception(exc_info[1])
            span.set_status(trace.Status(trace.StatusCode.ERROR))
        span.end()
        otel_context.detach(token)


def observe_lag(service: str, event_type: str, occurred_at_iso: str, now: float | None = None) -> None:
    from datetime import datetime
    occurred = datetime.fromisoformat(occurred_at_iso.replace("Z", "+00:00")).timestamp()
    EVENT_LAG_SECONDS.labels(service, event_type).observe(max(0.0, (now or time.time()) - occurred))


def parse_event(body: dict, message_class):
    """(envelope dict, typed message) from a handler's payload."""
    return body, parse_data(body, message_class)


class DatabaseProvider(DependencyProvider):
    """The service's database (DATABASE_URL), one engine per worker process."""

    def setup(self):
        import os
        from .db import Database
        self.database = Database(os.environ["DATABASE_URL"], pool_size=5)

    def get_dependency(self, worker_ctx):
        return self.database


class OutboxRelayProvider(DependencyProvider):
    """Publishes this service's outbox from a green thread of its own, started with the worker:
    declare it on the service class and nothing else is needed.

        relay = OutboxRelayProvider(models.outbox, source="identity")

    On PostgreSQL the relay sleeps until the outbox trigger's NOTIFY (committed rows) and polls every
    OUTBOX_RELAY_INTERVAL_SECONDS (default 1 s) only as a safety net; without notifications (SQLite)
    polling is all it has (default 0.1 s). After publishing it stays awake for a second, polling
    every 10 ms, and commits skip their NOTIFY meanwhile. docs/adr/0013-outbox-relay.md."""

    def __init__(self, table, source: str):
        self.table = table
        self.source = source

    def setup(self):
        import os
        from eventlet.semaphore import Semaphore
        from .db import make_engine
        from .outbox import OutboxRelay, OutboxWakeup
        engine = make_engine(os.environ["DATABASE_URL"], pool_size=2)
        self.relay = OutboxRelay(engine, self.table, self.container.config["AMQP_URI"], self.source,
                                 batch_size=int(os.environ.get("OUTBOX_BATCH_SIZE", "200")),
                                 unroutable_retention_seconds=float(os.environ.get("OUTBOX_UNROUTABLE_RETENTION_SECONDS", "3600")))
        self.wakeup = OutboxWakeup(engine)
        self.interval = relay_interval_seconds(notified=engine.dialect.name == "postgresql")
        self.lock = Semaphore()
        self._thread = None

    def start(self):
        self._thread = self.container.spawn_managed_thread(self._run, identifier=f"{self.source}.outbox_relay")

    def stop(self):
        with self.lock:  # not in the middle of a batch
            if self._thread is not None:
                self._thread.kill()
                self._thread = None
        self.wakeup.close()
        self.relay.close()

    def _run(self):
        import eventlet
        failures = 0
        busy_until = 0.0
        while True:
            try:
                if self.relay_all():
                    busy_until = time.monotonic() + RELAY_BUSY_WINDOW_SECONDS
                failures = 0
            except Exception as error:  # noqa: BLE001 - broker or database away: retry with backoff
                failures += 1
                log.warning("outbox relay failed (%s); retrying", type(error).__name__)
                eventlet.sleep(min(0.2 * 2 ** failures, 10.0))
                continue
            if time.monotonic() < busy_until:
                # Events keep coming: poll often and tell the trigger not to notify (ADR 0013).
                self.wakeup.hold()
                self.wakeup.wait(RELAY_BUSY_POLL_SECONDS)
            elif self.wakeup.holding:
                # Going to sleep: commits notify again from now on; one more look first, for rows
                # committed by writers that saw the relay awake.
                self.wakeup.release()
            else:
                self.wakeup.wait(self.interval)

    def relay_all(self) -> int:
        """Publishes every pending row (batch after batch); returns how many."""
        total = 0
        with self.lock:
            while True:
                published = self.relay.relay_once()
                total += published
                if published < self.relay.batch_size:
                    return total

    def get_dependency(self, worker_ctx):
        return self.relay_all


# After publishing, the relay polls every RELAY_BUSY_POLL_SECONDS for RELAY_BUSY_WINDOW_SECONDS
# instead of waiting for NOTIFYs, which writers then skip. The window should exceed the time from a
# writer's outbox insert to its commit (milliseconds in our services): a writer slower than that may
# wait for the safety-net poll.
RELAY_BUSY_WINDOW_SECONDS = 1.0
RELAY_BUSY_POLL_SECONDS = 0.01


def relay_interval_seconds(notified: bool) -> float:
    """Seconds between the relay's polls: a safety net when commits wake it (NOTIFY), else its pace."""
    import os
    return float(os.environ.get("OUTBOX_RELAY_INTERVAL_SECONDS") or (1.0 if notified else 0.1))
