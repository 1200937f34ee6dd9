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
from google.protobuf.message import Message
from kombu import Connection, Exchange
from opentelemetry import trace
from prometheus_client import Counter, Gauge
from sqlalchemy.orm import Session

from . import telemetry
from .proto_json import dict_to_message, message_to_dict
from .db import UtcDateTime, Writes

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


NOTIFY_CHANNEL = "concilia_outbox"
# The trigger that wakes the relay when outbox rows are committed (PostgreSQL delivers a NOTIFY at
# commit, once per channel and payload per transaction). A change here needs a new migration in
# every service with an outbox: migrations import these statements, they are not re-run.
OUTBOX_NOTIFY_DDL_V1 = (
    "CREATE OR REPLACE FUNCTION concilia_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN PERFORM pg_notify('{NOTIFY_CHANNEL}', ''); RETURN NULL; END $$",
    "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT "
    "EXECUTE FUNCTION concilia_outbox_notify()",
)
OUTBOX_NOTIFY_DROP_V1 = ("DROP TRIGGER IF EXISTS outbox_notify ON outbox",
                         "DROP FUNCTION IF EXISTS concilia_outbox_notify()")
# V2: notify only when no relay is awake. An awake relay (one that published within the last second
# and polls every few milliseconds) holds this advisory lock shared, so the trigger cannot take it
# and skips the NOTIFY. Skipping matters under load: PostgreSQL serialises the commits of notifying
# transactions cluster-wide (a lock held through the WAL flush), which cut concurrent commits from
# ~1,100/s to ~230/s on the benchmark machine. docs/adr/0013-outbox-relay.md.
RELAY_AWAKE_LOCK = 0x636F6E63696C6961  # "concilia"
OUTBOX_NOTIFY_DDL_V2 = (
    "CREATE OR REPLACE FUNCTION concilia_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF pg_try_advisory_xact_lock({RELAY_AWAKE_LOCK}) THEN PERFORM pg_notify('{NOTIFY_CHANNEL}', ''); END IF; "
    "RETURN NULL; END $$",
)


def run_on_postgresql(op, statements) -> None:
    """For the outbox wake-up migrations: SQLite (embedded use) has no NOTIFY, its relay polls."""
    if op.get_bind().dialect.name == "postgresql":
        for statement in statements:
            op.execute(statement)


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
        "data": message_to_dict(message),
    }


def parse_data(body: dict, message_class: type[Message]) -> Message:
    """The typed event message inside an envelope (unknown fields ignored: newer producers)."""
    return dict_to_message(body.get("data", {}), message_class)


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
    (rows are claimed with FOR UPDATE SKIP LOCKED).

    A batch is published as a whole and its publisher confirms are awaited together (one broker
    round trip per batch, not per event); only rows the broker confirmed and could route are deleted.
    docs/adr/0013-outbox-relay.md."""

    GAUGE_INTERVAL_SECONDS = 5.0
    # Published rows are deleted, and their dead index entries sit exactly where the claim's
    # `ORDER BY seq` starts: each claim walks all of them until VACUUM removes them. Autovacuum wakes
    # once a minute at most, by which time a busy relay has left tens of thousands (measured: a claim
    # took 13-83 ms behind 17k dead rows, at up to 100 claims/s while busy). So the relay vacuums
    # its table itself every VACUUM_AFTER_ROWS deleted rows (PostgreSQL; ADR 0013).
    VACUUM_AFTER_ROWS = 2000

    def __init__(self, engine: sa.Engine, table: sa.Table, amqp_uri: str, source: str, batch_size: int = 200,
                 unroutable_retention_seconds: float = 3600.0, confirm_timeout_seconds: float = 10.0):
        self.engine = engine
        self.unroutable_retention = unroutable_retention_seconds
        self.confirm_timeout = confirm_timeout_seconds
        # event_id -> (monotonic time of the next try, attempts) for events nobody was bound to.
        self._deferred: dict[str, tuple[float, int]] = {}
        self.table = table
        self.amqp_uri = amqp_uri
        self.source = source
        self.batch_size = batch_size
        self.exchange = exchange_for(source)
        self._connection = None
        self._channel = None
        self._next_tag = 1
        self._unconfirmed: set[int] = set()
        self._nacked: set[int] = set()
        self._returned: set[str] = set()
        self._gauges_due = 0.0
        self._deleted_since_vacuum = 0
        self._claim = sa.select(table).order_by(table.c.seq).limit(batch_size)
        if engine.dialect.name == "postgresql":
            self._claim = self._claim.with_for_update(skip_locked=True)
        self._spans = telemetry.spans_exported()

    def _ensure_channel(self):
        if self._channel is None:
            self._connection = Connection(self.amqp_uri, heartbeat=0, connect_timeout=5)
            channel = self._connection.channel()
            self.exchange(channel).declare()
            channel.confirm_select()  # from here on the broker acks (or nacks) every publish, by number
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)
            self._channel, self._next_tag = channel, 1
            self._unconfirmed.clear()
        return self._channel

    def _settle(self, tag: int, multiple: bool) -> set[int]:
        settled = {t for t in self._unconfirmed if t <= tag} if multiple else {tag} & self._unconfirmed
        self._unconfirmed -= settled
        return settled

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked |= self._settle(delivery_tag, multiple)

    def _on_return(self, exception, exchange, routing_key, message) -> None:
        # A mandatory message no queue was bound to; RabbitMQ sends the return before the ack.
        self._returned.add(message.properties.get("message_id", ""))

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            finally:
                self._connection = self._channel = None

    def relay_once(self) -> int:
        """Publishes up to one batch; returns how many rows were published and deleted."""
        claim = self._claim
        now = time.monotonic()
        waiting = [event_id for event_id, (due, _) in self._deferred.items() if due > now][:1000]
        if waiting:
            claim = claim.where(self.table.c.event_id.not_in(waiting))
        done: list[int] = []
        published = 0
        try:
            with self.engine.begin() as connection:
                rows = connection.execute(claim).all()
                if rows:
                    tags = self._publish_batch(rows)
                    for tag, row in zip(tags, rows):
                        if row.event_id in self._returned:
                            self._defer(row, done)
                        elif tag not in self._nacked:
                            self._deferred.pop(row.event_id, None)
                            done.append(row.seq)
                            published += 1
                            OUTBOX_PUBLISHED.labels(self.source, row.event_type).inc()
                    if done:
                        connection.execute(self.table.delete().where(self.table.c.seq.in_(done)))
                if not rows or time.monotonic() >= self._gauges_due:
                    self._update_gauges(connection)
        except Exception:
            self.close()  # a broken connection is rebuilt on the next call
            raise
        self._deleted_since_vacuum += len(done)
        if self._deleted_since_vacuum >= self.VACUUM_AFTER_ROWS and self.engine.dialect.name == "postgresql":
            self.vacuum()
        return published

    def vacuum(self) -> None:
        """VACUUM the outbox table (outside a transaction, as VACUUM must be). SKIP_LOCKED: when
        another relay or autovacuum is at it already, this one has nothing to add."""
        self._deleted_since_vacuum = 0
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM (SKIP_LOCKED) {self.table.name}")

    def _publish_batch(self, rows) -> list[int]:
        """Publishes every row, then waits for all their confirms (and returns). Returns the
        delivery tag of each row; raises when the broker did not confirm them in time."""
        channel = self._ensure_channel()
        self._returned.clear()
        self._nacked.clear()
        tags = []
        for row in rows:
            tags.append(self._next_tag)
            self._unconfirmed.add(self._next_tag)
            self._next_tag += 1
            self._publish(channel, row)
        deadline = time.monotonic() + self.confirm_timeout
        while self._unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the broker confirmed {len(rows) - len(self._unconfirmed)} of {len(rows)} events")
            self._connection.drain_events(timeout=remaining)
        return tags

    def _publish(self, channel, row) -> None:
        """One publish. Headers carry the trace context of the request that wrote the event, so the
        consumer's span joins that trace; when spans are exported, the publish is a PRODUCER span
        of that trace too (without an exporter nobody would see it: not created)."""
        headers = json.loads(row.headers)
        if self._spans:
            parent = telemetry.extract({k.removeprefix("nameko."): v for k, v in headers.items()})
            with _tracer.start_as_current_span(
                    f"{self.source}.events publish", context=parent, kind=trace.SpanKind.PRODUCER,
                    attributes={"messaging.system": "rabbitmq", "messaging.operation": "publish",
                                "messaging.destination.name": f"{self.source}.events",
                                "messaging.rabbitmq.destination.routing_key": row.event_type,
                                "messaging.message.id": row.event_id}):
                headers.update({f"nameko.{k}": v for k, v in telemetry.inject().items()})
        message = channel.prepare_message(
            row.body.encode("utf-8"), content_type="application/json", content_encoding="utf-8", headers=headers,
            properties={"delivery_mode": 2, "message_id": row.event_id})
        channel.basic_publish(message, exchange=self.exchange.name, routing_key=row.event_type, mandatory=True)

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
        """Pending rows and the oldest one's age; at most every few seconds (a count per batch would
        cost more than the batch)."""
        self._gauges_due = time.monotonic() + self.GAUGE_INTERVAL_SECONDS
        count, oldest = connection.execute(
            sa.select(sa.func.count(), sa.func.min(self.table.c.created_at)).select_from(self.table)).one()
        OUTBOX_PENDING.labels(self.source).set(count)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=timezone.utc)
        OUTBOX_OLDEST_AGE.labels(self.source).set(
            (datetime.now(timezone.utc) - oldest).total_seconds() if oldest else 0)


class OutboxWakeup:
    """Waits for the NOTIFY that the outbox trigger sends when rows are committed (PostgreSQL), so
    the relay publishes within milliseconds and polls only as a safety net. While the relay is busy
    it `hold`s the awake lock, which tells the trigger not to notify (see OUTBOX_NOTIFY_DDL_V2).
    Elsewhere (SQLite) or when listening fails, `wait` simply sleeps for the poll interval."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._connection = None
        self.holding = False

    def _listen(self):
        if self._connection is None and self.engine.dialect.name == "postgresql":
            import psycopg
            url = self.engine.url.set(drivername="postgresql")
            self._connection = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            self._connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return self._connection

    def hold(self) -> None:
        """The relay is awake and polling: commits need not notify. A writer holding the lock at this
        instant makes the try fail; harmless, the relay tries again on its next poll."""
        if not self.holding and self._connection is not None:
            try:
                self.holding = self._connection.execute(
                    "SELECT pg_try_advisory_lock_shared(%s)", (RELAY_AWAKE_LOCK,)).fetchone()[0]
            except Exception as error:  # noqa: BLE001 - the lock went with the connection
                self._lost(error)

    def release(self) -> None:
        """The relay goes to sleep: from now on commits notify."""
        if self.holding:
            self.holding = False
            try:
                self._connection.execute("SELECT pg_advisory_unlock_shared(%s)", (RELAY_AWAKE_LOCK,))
            except Exception as error:  # noqa: BLE001 - the lock went with the connection
                self._lost(error)

    def wait(self, timeout: float) -> None:
        """Returns when rows were committed since the last call, or after `timeout` seconds."""
        try:
            connection = self._listen()
        except Exception as error:  # noqa: BLE001 - the relay still polls
            log.warning("outbox wake-up not available (%s); polling", type(error).__name__)
            connection = None
        if connection is None:
            time.sleep(timeout)
            return
        try:
            for _ in connection.notifies(timeout=timeout, stop_after=1):
                break
            for _ in connection.notifies(timeout=0):  # the ones that arrived meanwhile: one relay run serves all
                pass
        except Exception as error:  # noqa: BLE001 - a database restart: listen again next time
            self._lost(error)
            time.sleep(min(timeout, 1.0))

    def _lost(self, error: Exception) -> None:
        log.warning("outbox wake-up lost (%s); listening again", type(error).__name__)
        self.close()

    def close(self) -> None:
        self.holding = False  # a session lock ends with its connection
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None


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


def consume_batch(session: Session, processed: sa.Table, consumer: str, event_ids) -> set[str]:
    """consume_once for a batch, in one statement: records every id as handled by `consumer` in the
    caller's transaction and returns the ids not handled before. As in consume_once, the
    primary-key insert makes a concurrent transaction with the same id wait, then skip it."""
    writes = Writes(session)
    claimed = claim_batch(writes, processed, consumer, event_ids)
    writes.send()
    return set(claimed)


def claim_batch(writes: Writes, processed: sa.Table, consumer: str, event_ids) -> list:
    """consume_batch queued on `writes` (sent with the batch's other statements): after
    `writes.send()` the list returned holds the ids not handled before."""
    ids = sorted(set(event_ids))  # one order for every writer: two batches sharing ids cannot deadlock
    now = datetime.now(timezone.utc)
    return writes.insert(processed, [{"consumer": consumer, "event_id": i, "processed_at": now} for i in ids],
                         "ON CONFLICT (consumer, event_id) DO NOTHING", "event_id")
