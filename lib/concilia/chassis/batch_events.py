"""`@batch_event_handler`: a nameko entrypoint that hands a service method events in batches.

nameko's `@event_handler` runs one worker per message (a green thread, every dependency hook, the
chassis span and metrics) and acks it when the method returns. A consumer that writes events in
groups then has to block each of those workers until its group commits. This entrypoint instead
collects the delivered messages and runs ONE worker per batch (docs/adr/0014-batch-event-entrypoint.md):

    class MetricsWorker:
        name = "metrics"

        @batch_event_handler({"complaint": ("complaint_filed", "complaint_finalised")})
        def ingest(self, events):            # a list of Received, oldest first
            with self.database.transaction() as session:
                ...                          # effects + processed_events, one transaction

Contract (what keeps "nothing lost" true):
- Queues: one durable queue per (source, event type), bound to the topic exchange "<source>.events"
  with the type as routing key and named "evt-<source>-<type>--<service>.on_<type>": exactly the
  queue nameko's @event_handler declares for a method `on_<type>`, which is what these handlers
  were called, so deployed queues and their backlog carry over.
- Batches: at most EVENT_BATCH_MAX events. The first one waits the batch window for others
  (EVENT_BATCH_WINDOW_SECONDS when set, else the handler's `window_seconds`, else 5 ms), then
  for the handler's previous batch to finish; whatever arrived meanwhile joins (group commit).
  Per queue, 2 x EVENT_BATCH_MAX messages may be unacknowledged (the prefetch), so the next
  batch fills while one is being written. Batches of one handler run one at a time.
- Acks: every message of a batch is acked only after the method returned, i.e. after its
  transaction committed (one `multiple` ack when the batch holds the channel's oldest deliveries).
- Failure: a failed batch is never acked. A batch of several events is split in two halves that
  are retried after a pause growing with consecutive failures (0.05 s doubling up to
  EVENT_RETRY_PAUSE_SECONDS), so one bad event ends up alone while the others commit, and a
  database outage is not a retry storm; a failed single event is requeued (RabbitMQ redelivers it).
  Redelivered messages (requeued, or in flight when a worker died) are batched only with each
  other: an event that keeps failing never takes a fresh batch down with it.
- Malformed messages (not JSON, not an envelope with an id) are logged without their content and
  dropped: redelivering them could never succeed.
- Telemetry per event: `concilia_event_handled_total` counted per batch and label set,
  `concilia_event_handling_seconds` observed once per batch and event type, the lag
  (`concilia_event_lag_seconds`) per event, and, when spans are exported, a CONSUMER span per
  event continuing the trace from its "nameko.traceparent" header.
Consumers must stay idempotent (claim the event ids in the batch's transaction): a worker that dies
after its commit and before its ack gets the batch again.
"""
from __future__ import annotations

import dataclasses
import heapq
import json
import logging
import os
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Iterable, Mapping

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from eventlet.event import Event
from eventlet.semaphore import Semaphore
from kombu import Queue
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint
from nameko.messaging import QueueConsumer
from nameko.standalone.events import get_event_exchange
from opentelemetry import trace
from prometheus_client import Histogram

from . import config, telemetry
from .config import env
from .worker import EVENT_LAG_SECONDS, HANDLED, HANDLING_SECONDS

log = logging.getLogger(__name__)

BATCH_EVENTS = Histogram("concilia_event_batch_events", "Events handed to one batch handler call",
                         ["service"], buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))

_tracer = trace.get_tracer("concilia.worker")
_HEADER_PREFIX = "nameko."
_FIRST_PAUSE_SECONDS = 0.05


@dataclass(frozen=True)
class BatchSettings:
    batch_max: int = env("EVENT_BATCH_MAX", 200, help="events handed to one batch handler call at most")
    window_seconds: float = env("EVENT_BATCH_WINDOW_SECONDS", 0.005,
                                help="how long the first event of a batch waits for others")
    retry_pause_seconds: float = env("EVENT_RETRY_PAUSE_SECONDS", 2.0,
                                     help="longest pause before a failed batch is retried")

    @classmethod
    def resolve(cls, handler_window: float | None = None, environ: Mapping[str, str] | None = None) -> "BatchSettings":
        """The settings of one handler: the environment's, with the handler's own window unless
        EVENT_BATCH_WINDOW_SECONDS is set (the operator's word wins)."""
        environ = os.environ if environ is None else environ
        settings = config.load(cls, environ)
        if handler_window is not None and not environ.get("EVENT_BATCH_WINDOW_SECONDS"):
            settings = dataclasses.replace(settings, window_seconds=handler_window)
        return settings.check()

    def check(self) -> "BatchSettings":
        if self.batch_max < 1 or self.window_seconds < 0 or self.retry_pause_seconds < 0:
            raise config.ConfigError("EVENT_BATCH_MAX must be >= 1, EVENT_BATCH_WINDOW_SECONDS and "
                                     "EVENT_RETRY_PAUSE_SECONDS >= 0")
        return self


class Received:
    """One delivered event: `envelope` is the JSON envelope (a dict with at least an `id`)."""
    __slots__ = ("source", "type", "envelope", "redelivered", "message")

    def __init__(self, source: str, event_type: str, envelope: dict, redelivered: bool, message):
        self.source, self.type, self.envelope = source, event_type, envelope
        self.redelivered, self.message = redelivered, message

    @property
    def trace_headers(self) -> dict:
        """The W3C trace context the outbox put in the message headers (without nameko's prefix)."""
        headers = self.message.headers or {}
        return {k[len(_HEADER_PREFIX):]: v for k, v in headers.items() if k.startswith(_HEADER_PREFIX)}


class _Ledger:
    """The deliveries of one channel not yet acked or requeued, oldest first: a batch holding all
    the oldest ones is acked with one `multiple` ack."""

    def __init__(self, channel):
        self.channel = channel
        self.open: list[int] = []  # heap of delivery tags
        self.closed: set[int] = set()
        self.multiple = True

    def add(self, tag: int) -> None:
        heapq.heappush(self.open, tag)

    def close(self, tags: list[int]) -> bool:
        """Marks `tags` settled; True when no delivery older than the newest of them is still open."""
        self.closed.update(tags)
        heap, closed = self.open, self.closed
        while heap and heap[0] in closed:
            closed.discard(heapq.heappop(heap))
        return self.multiple and (not heap or heap[0] > max(tags))


class BatchQueueConsumer(QueueConsumer):
    """nameko's QueueConsumer (connection, reconnection, graceful stop), on a connection of its own
    (nameko shares one consumer per extension class), with per-queue prefetch set by the batch
    entrypoint, messages decoded and handed over without a green thread each, and acks per batch."""

    def __init__(self):
        super().__init__()
        self._ledger = _Ledger(None)

    def get_consumers(self, consumer_cls, channel):
        # Called after every (re)connection: deliveries of an older channel can no longer be acked.
        self._ledger = _Ledger(channel)
        for provider in self._providers:
            consumer = consumer_cls(queues=provider.queues, on_message=partial(self._received, provider),
                                    accept=self.accept)
            consumer.qos(prefetch_count=provider.prefetch)
            self._consumers[provider] = consumer
        return self._consumers.values()

    def _received(self, provider, message):
        if message.channel is self._ledger.channel:
            self._ledger.add(message.delivery_tag)
        try:
            # Plain JSON (what the outbox publishes) is parsed by the C decoder: kombu's decode
            # adds a Python object hook per JSON object. Anything else goes through kombu.
            if message.content_type == "application/json" and "compression" not in (message.headers or {}):
                body = json.loads(message.body)
            else:
                body = message.decode()
        except Exception as error:  # noqa: BLE001 - not decodable, or a content type not accepted
            self.on_decode_error(message, error)
            return
        provider.deliver(body, message)

    def unregister_provider(self, provider):
        # A cancelled consumer's late deliveries never reach the ledger: no more `multiple` acks.
        self._ledger.multiple = False
        super().unregister_provider(provider)

    def on_decode_error(self, message, exc):
        # kombu's default logs the raw body (personal data); this logs where it came from only.
        info = message.delivery_info or {}
        log.error("dropping a message that cannot be decoded, from exchange %r, routing key %r (%s)",
                  str(info.get("exchange", ""))[:80], str(info.get("routing_key", ""))[:80], type(exc).__name__)
        self.settle([message], ack=True)

    def settle(self, messages: list, ack: bool) -> None:
        """Acks (or requeues) messages of the current channel; those of a closed channel are back
        in their queue already."""
        ledger = self._ledger
        live = [m for m in messages if m.channel is ledger.channel and m.channel is not None and m.channel.connection]
        if not live:
            return
        try:
            if not ack:
                ledger.close([m.delivery_tag for m in live])
                for message in live:
                    message.requeue()
            elif ledger.close([m.delivery_tag for m in live]):
                max(live, key=lambda m: m.delivery_tag).ack(multiple=True)
            else:
                for message in live:
                    message.ack()
        except AmqpConnectionError:  # the broker requeues whatever was not acked
            pass


class BatchEventHandler(Entrypoint):
    queue_consumer = BatchQueueConsumer()

    def __init__(self, subscriptions: Mapping[str, Iterable[str]], window_seconds: float | None = None, **kwargs):
        """subscriptions: {source service: event types}. window_seconds: this handler's batch window
        when EVENT_BATCH_WINDOW_SECONDS is not set; a handler whose effects nobody waits for in
        milliseconds (notifications) takes a longer one and writes fewer, larger batches."""
        self.subscriptions = {source: tuple(types) for source, types in subscriptions.items()}
        if not self.subscriptions or not all(self.subscriptions.values()):
            raise ValueError("batch_event_handler needs at least one (source, event type)")
        if window_seconds is not None and window_seconds < 0:
            raise ValueError("window_seconds must be >= 0")
        self.window_seconds = window_seconds
        super().__init__(**kwargs)

    def setup(self):
        self.settings = BatchSettings.resolve(self.window_seconds)
        self.batch_max = self.settings.batch_max
        self.prefetch = 2 * self.batch_max  # one batch being written, the next one filling
        service = self.container.service_name
        self.queues, self._routes = [], {}
        for source, types in self.subscriptions.items():
            exchange = get_event_exchange(source, self.container.config)
            for event_type in types:
                name = f"evt-{source}-{event_type}--{service}.on_{event_type}"
                self.queues.append(Queue(name, exchange=exchange, routing_key=event_type, durable=True,
                                         auto_delete=False, exclusive=False))
                self._routes[(exchange.name, event_type)] = (source, event_type)
                self._routes[("", name)] = (source, event_type)  # published straight to the queue
        self._fresh, self._redelivered, self._retry = deque(), deque(), deque()
        self._last_was_redelivered = False
        self._work = Event()
        self._slot = Semaphore(1)
        self._stopping = False
        self._failures = 0
        self._traced = telemetry.spans_exported()
        self._lag = {}
        self.queue_consumer.register_provider(self)

    def start(self):
        self._flusher = self.container.spawn_managed_thread(self._run, identifier=f"{self.method_name} batches")

    def stop(self):
        # Finish (and ack) the batch in hand, then cancel the consumer; messages not yet in a batch
        # stay unacknowledged and return to their queue when the connection closes.
        self._stopping = True
        self._wake()
        self._slot.acquire()
        self.queue_consumer.unregister_provider(self)
        self._slot.release()

    # --- consumer thread ------------------------------------------------------------------------

    def deliver(self, body, message) -> None:
        info = message.delivery_info
        route = self._routes.get((info.get("exchange", ""), info.get("routing_key", "")))
        source, event_type = route or ("?", str(info.get("routing_key", ""))[:80])
        event_id = body.get("id") if isinstance(body, dict) else None
        if route is None or not isinstance(event_id, str) or not event_id:
            # Could never succeed: dropped, and said so without the content (personal data).
            log.error("dropping malformed %s.%s event: %s", source, event_type,
                      "unexpected routing" if route is None else "not an event envelope with an id")
            HANDLED.labels(self.container.service_name, source, event_type, "dropped").inc()
            self.queue_consumer.settle([message], ack=True)
            return
        redelivered = bool(info.get("redelivered"))
        (self._redelivered if redelivered else self._fresh).append(
            Received(source, event_type, body, redelivered, message))
        self._wake()

    # --- batches --------------------------------------------------------------------------------

    def _wake(self) -> None:
        if not self._work.ready():
            self._work.send(None)

    def _run(self) -> None:
        while not self._stopping:
            if not (self._retry or self._fresh or self._redelivered):
                self._work = Event()
                self._work.wait()
                continue
            if not self._retry and len(self._fresh) < self.batch_max and self.settings.window_seconds:
                eventlet.sleep(self.settings.window_seconds)  # let the batch fill
            self._slot.acquire()  # the previous batch is done: whatever arrived meanwhile joins
            batch = [] if self._stopping else self._take()
            if not batch:
                self._slot.release()
                continue
            self._spawn(batch)

    def _take(self) -> list[Received]:
        if self._retry:
            return self._retry.popleft()
        use_redelivered = bool(self._redelivered) and (not self._fresh or not self._last_was_redelivered)
        self._last_was_redelivered = use_redelivered
        queue = self._redelivered if use_redelivered else self._fresh
        return [queue.popleft() for _ in range(min(len(queue), self.batch_max))]

    def _spawn(self, batch: list[Received]) -> None:
        spans = self._start_spans(batch) if self._traced else ()
        try:
            self.container.spawn_worker(self, (batch,), {}, context_data={},
                                        handle_result=partial(self._settle, batch, spans, time.perf_counter()))
        except ContainerBeingKilled:
            self._slot.release()
            self.queue_consumer.settle([event.message for event in batch], ack=False)

    def _settle(self, batch, spans, started, worker_ctx, result=None, exc_info=None):
        """Runs in the batch's worker once the method returned or raised."""
        try:
            self._observe(batch, spans, time.perf_counter() - started, exc_info)
            if exc_info is None:
                self._failures = 0
                self.queue_consumer.settle([event.message for event in batch], ack=True)
                return result, exc_info
            self._failures += 1
            pause = min(self.settings.retry_pause_seconds, _FIRST_PAUSE_SECONDS * 2 ** (self._failures - 1))
            split = len(batch) > 1 and not self._stopping
            log.warning("%s.%s: a batch of %d events failed (%s); %s after %.2f s", worker_ctx.service_name,
                        self.method_name, len(batch), exc_info[0].__name__,
                        "retrying it in two halves" if split else "requeueing it", pause)
            eventlet.sleep(pause)  # holds the slot: no other batch starts meanwhile
            if split:
                half = len(batch) // 2
                self._retry.appendleft(batch[half:])
                self._retry.appendleft(batch[:half])
                self._wake()
            else:
                self.queue_consumer.settle([event.message for event in batch], ack=False)
            return result, exc_info
        finally:
            self._slot.release()

    # --- telemetry ------------------------------------------------------------------------------

    def _start_spans(self, batch: list[Received]) -> list:
        spans = []
        handler = f"{self.container.service_name}.{self.method_name}"
        for event in batch:
            spans.append(_tracer.start_span(
                f"{event.source}.{event.type} process", context=telemetry.extract(event.trace_headers),
                kind=trace.SpanKind.CONSUMER,
                attributes={"messaging.system": "rabbitmq", "messaging.operation": "process",
                            "messaging.destination.name": f"{event.source}.events",
                            "messaging.rabbitmq.destination.routing_key": event.type,
                            "messaging.batch.message_count": len(batch), "concilia.handler": handler}))
        return spans

    def _observe(self, batch, spans, seconds: float, exc_info) -> None:
        service = self.container.service_name
        outcome = "error" if exc_info else "ok"
        BATCH_EVENTS.labels(service).observe(len(batch))
        counts = Counter((event.source, event.type) for event in batch)
        for (source, event_type), n in counts.items():
            HANDLED.labels(service, source, event_type, outcome).inc(n)
        for event_type in {event_type for _, event_type in counts}:
            HANDLING_SECONDS.labels(service, event_type).observe(seconds)
        for span in spans:
            if exc_info:
                span.record_exception(exc_info[1])
                span.set_status(trace.Status(trace.StatusCode.ERROR))
            span.end()
        if exc_info is None:
            now = time.time()
            for event in batch:
                occurred = event.envelope.get("occurred_at")
                if not occurred:
                    continue
                try:
                    lag = now - datetime.fromisoformat(occurred).timestamp()
                except (TypeError, ValueError):
                    continue
                histogram = self._lag.get(event.type)
                if histogram is None:
                    histogram = self._lag[event.type] = EVENT_LAG_SECONDS.labels(service, event.type)
                histogram.observe(max(0.0, lag))


batch_event_handler = BatchEventHandler.decorator
