"""Transactional outbox and idempotent consumption.

Producer side: `Outbox.add(session, ...)` writes the event row in the same transaction as the state
change. `OutboxRelay.relay_once()` (run by the service's worker) publishes pending rows to RabbitMQ
in nameko's event format with publisher confirms, and deletes only what the broker confirmed and
could route. A crash anywhere re-publishes at worst (never loses); consumers drop duplicates with
`consume_once`, keyed by event id.
"""
import json
import logging
import time
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from google.protobuf import json_format
from google.protobuf.message import Message
from kombu import Connection, Exchange, Producer
from opentelemetry import trace
from prometheus_client import Counter, Gauge
from sqlalchemy.orm import Session

from . import telemetry
from .db import UtcDateTime

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("concilia.outbox")

OUTBOX_PUBLISHED = Counter("concilia_outbox_published_total", "Outbox events published and confirmed",
                           ["source", "event_type"])
OUTBOX_UNROUTABLE = Counter("concilia_outbox_unroutable_total",
                            "Outbox events the broker could not route (kept for a later retry)", ["source"])
OUTBOX_DROPPED = Counter("concilia_outbox_dropped_total",
                         "Outbox events dropped after staying unroutable for the whole retention", ["source"])
OUTBOX_PENDING = Gauge("concilia_outbox_pending", "Outbox rows waiting to be published", ["source"])
OUTBOX_OLDEST_AGE = Gauge("concilia_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row",
                          ["source"])


def define_outbox_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """Adds `outbox` and `processed_events` tables to a service's metadata."""
    outbox = sa.Table(
        "outbox", metadata,
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    processed = sa.Table(
        "processed_events", metadata,
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("processed_at", UtcDateTime(), nullable=False),
    )
    return outbox, processed


def exchange_for(source: str) -> Exchange:
    # Must match what nameko's event handlers declare (nameko.standalone.events.get_event_exchange).
    return Exchange(f"{source}.events", type="topic", durable=True, auto_delete=False, delivery_mode=2)


def envelope(event_type: str, source: str, message: Message, country: str,
             occurred_at: datetime | None = None, event_id: str | None = None) -> dict:
    """The JSON mapping of concilia.events.v1.EventEnvelope (field names as in the proto)."""
    occurred_at = occurred_at or datetime.now(timezone.utc)
    return {
        "id": event_id or str(uuid.uuid4()),
        "type": event_type,
        "source": source,
        "occurred_at": occurred_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
        "country": country,
        "data": json_format.MessageToDict(message, preserving_proto_field_name=True),
    }


def parse_data(body: dict, message_class: type[Message]) -> Message:
    """The typed event message inside an envelope (unknown fields ignored: newer producers)."""
    return json_format.ParseDict(body.get("data", {}), message_class(), ignore_unknown_fields=True)


class Outbox:
    def __init__(self, table: sa.Table, source: str, country: str):
        self.table = table
        self.source = source
        self.country = country
        # Built once: SQLAlchemy then only binds values (no statement building per event).
        self.insert = table.insert()

    def add(self, session: Session, event_type: str, message: Message, occurred_at: datetime | None = None) -> str:
        """Writes the event in the session's transaction, next to the state change it reports."""
        row = self.row(event_type, message, occurred_at)
        session.connection().execute(self.insert, row)
        return row["event_id"]

    def row(self, event_type: str, message: Message, occurred_at: datetime | None = None) -> dict:
        """The values of the event's outbox row, for a caller that writes the row in the same
        statement as its state change (one round trip; see docs/adr/0012-write-path.md)."""
        body = envelope(event_type, self.source, message, self.country, occurred_at)
        # The trace context at write time travels with the event, so the consumer's span joins the
        # trace of the request that caused it (nameko unpacks "nameko."-prefixed headers into its
        # worker context data).
        headers = {f"nameko.{k}": v for k, v in telemetry.inject().items()}
        return dict(event_id=body["id"], event_type=event_type, body=json.dumps(body, ensure_ascii=False),
                    headers=json.dumps(headers), created_at=datetime.now(timezone.utc))


class OutboxRelay:
    """Moves outbox rows to RabbitMQ. Safe to run in several processes at once on PostgreSQL
    (rows are claimed with FOR UPDATE SKIP LOCKED)."""

    def __init__(self, engine: sa.Engine, table: sa.Table, amqp_uri: str, source: str, batch_size: int = 200,
                 unroutable_retention_seconds: float = 3600.0):
        self.engine = engine
        self.unroutable_retention = unroutable_retention_seconds
        # event_id -> (monotonic time of the next try, attempts) for events nobody was bound to.
        self._deferred: dict[str, tuple[float, int]] = {}
        self.table = table
        self.amqp_uri = amqp_uri
        self.source = source
        self.batch_size = batch_size
        self.exchange = exchange_for(source)
        self._connection = None
        self._producer = None
        self._returned: set[str] = set()

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self._connection = Connection(self.amqp_uri, transport_options={"confirm_publish": True},
                                          heartbeat=0, connect_timeout=5)
            channel = self._connection.channel()
            self.exchange(channel).declare()
            self._producer = Producer(channel, exchange=self.exchange, on_return=self._on_return)
        return self._producer

    def _on_return(self, exception, exchange, routing_key, message):
        self._returned.add(message.properties.get("message_id", ""))

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            finally:
                self._connection = self._producer = None

    def relay_once(self) -> int:
        """Publishes up to one batch; returns how many rows were published and deleted."""
        claim = sa.select(self.table).order_by(self.table.c.seq).limit(self.batch_size)
        now = time.monotonic()
        waiting = [event_id for event_id, (due, _) in self._deferred.items() if due > now][:1000]
        if waiting:
            claim = claim.where(self.table.c.event_id.not_in(waiting))
        if self.engine.dialect.name == "postgresql":
            claim = claim.with_for_update(skip_locked=True)
        done: list[int] = []
        published = 0
        try:
            with self.engine.begin() as connection:
                rows = connection.execute(claim).all()
                if not rows:
                    self._update_gauges(connection)
                    return 0
                producer = self._ensure_producer()
                for row in rows:
                    self._returned.clear()
                    self._publish(producer, row)
                    if row.event_id in self._returned:
                        self._defer(row, done)
                        continue
                    self._deferred.pop(row.event_id, None)
                    done.append(row.seq)
                    published += 1
                    OUTBOX_PUBLISHED.labels(self.source, row.event_type).inc()
                if done:
                    connection.execute(self.table.delete().where(self.table.c.seq.in_(done)))
                self._update_gauges(connection)
        except Exception:
            self.close()  # a broken connection is rebuilt on the next call
            raise
        return published

    def _publish(self, producer: Producer, row) -> None:
        """One publish, as a PRODUCER span in the trace of the request that wrote the event; the
        consumer's span becomes its child through the headers."""
        headers = json.loads(row.headers)
        parent = telemetry.extract({k.removeprefix("nameko."): v for k, v in headers.items()})
        with _tracer.start_as_current_span(
                f"{self.source}.events publish", context=parent, kind=trace.SpanKind.PRODUCER,
                attributes={"messaging.system": "rabbitmq", "messaging.operation": "publish",
                            "messaging.destination.name": f"{self.source}.events",
                            "messaging.rabbitmq.destination.routing_key": row.event_type,
                            "messaging.message.id": row.event_id}):
            headers.update({f"nameko.{k}": v for k, v in telemetry.inject().items()})
            producer.publish(
                row.body, routing_key=row.event_type, content_type="application/json",
                content_encoding="utf-8", delivery_mode=2, mandatory=True, message_id=row.event_id,
                headers=headers, retry=False)

    def _defer(self, row, done: list[int]) -> None:
        """No queue is bound to this event (its consumer never started yet, or none exists): keep
        the row and retry with backoff, so a consumer deployed a little later still gets it; drop
        it only after the retention, loudly."""
        OUTBOX_UNROUTABLE.labels(self.source).inc()
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
        if (datetime.now(timezone.utc) - created).total_seconds() > self.unroutable_retention:
            log.error("event %s (%s) unroutable for the whole retention; dropped", row.event_id, row.event_type)
            OUTBOX_DROPPED.labels(self.source).inc()
            self._deferred.pop(row.event_id, None)
            done.append(row.seq)
            return
        attempts = self._deferred.get(row.event_id, (0.0, 0))[1] + 1
        self._deferred[row.event_id] = (time.monotonic() + min(0.5 * 2 ** attempts, 60.0), attempts)
        if attempts == 1:
            log.warning("event %s (%s) not routable yet; kept in the outbox", row.event_id, row.event_type)

    def _update_gauges(self, connection) -> None:
        count, oldest = connection.execute(
            sa.select(sa.func.count(), sa.func.min(self.table.c.created_at)).select_from(self.table)).one()
        OUTBOX_PENDING.labels(self.source).set(count)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=timezone.utc)
        OUTBOX_OLDEST_AGE.labels(self.source).set(
            (datetime.now(timezone.utc) - oldest).total_seconds() if oldest else 0)


def consume_once(session: Session, processed: sa.Table, consumer: str, event_id: str) -> bool:
    """Records that `consumer` handled `event_id` in the caller's transaction.

    Returns False when it was already handled (a redelivery): the caller then does nothing.
    The insert takes the primary-key lock, so two concurrent deliveries cannot both pass.
    """
    try:
        with session.begin_nested():
            session.execute(processed.insert().values(consumer=consumer, event_id=event_id,
                                                      processed_at=datetime.now(timezone.utc)))
        return True
    except sa.exc.IntegrityError:
        return False
