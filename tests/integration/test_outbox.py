"""The outbox against real PostgreSQL and RabbitMQ: nothing lost, nothing half-done."""
import json
import time
import uuid

import pytest
import sqlalchemy as sa
from kombu import Connection, Exchange, Queue

from concilia.chassis.db import Database
from concilia.chassis.outbox import Outbox, OutboxRelay, consume_once, define_outbox_tables, parse_data
from concilia.events.v1 import events_pb2


@pytest.fixture()
def setup(make_database, amqp_uri):
    metadata = sa.MetaData()
    outbox, processed = define_outbox_tables(metadata)
    state = sa.Table("state", metadata, sa.Column("id", sa.String(36), primary_key=True))
    db = Database(make_database("outbox"))
    metadata.create_all(db.engine)
    source = f"outboxtest{uuid.uuid4().hex[:6]}"
    relay = OutboxRelay(db.engine, outbox, amqp_uri, source, batch_size=50, unroutable_retention_seconds=3600)
    yield db, outbox, processed, state, relay, source, amqp_uri
    relay.close()
    db.engine.dispose()


def bind(amqp_uri, source, routing_key="company_suspended"):
    connection = Connection(amqp_uri)
    queue = Queue(f"q-{uuid.uuid4().hex[:8]}", exchange=Exchange(f"{source}.events", type="topic", durable=True),
                  routing_key=routing_key, durable=False, auto_delete=False)
    queue(connection.default_channel).declare()
    return connection, connection.SimpleQueue(queue)


def drain(simple, expected: int, timeout: float = 10.0) -> list:
    received, deadline = [], time.monotonic() + timeout
    while len(received) < expected and time.monotonic() < deadline:
        try:
            message = simple.get(timeout=0.5)
        except simple.Empty:
            continue
        message.ack()
        received.append(message)
    return received


def count(db, table) -> int:
    with db.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_a_rolled_back_change_leaves_no_event(setup):
    db, outbox, _, state, _, source, _ = setup
    writer = Outbox(outbox, source, "BR")
    with pytest.raises(RuntimeError):
        with db.transaction() as session:
            session.execute(state.insert().values(id="a"))
            writer.add(session, "company_suspended", events_pb2.CompanySuspended(company_id="a"))
            raise RuntimeError("the request failed half-way")
    assert count(db, outbox) == 0 and count(db, state) == 0


def test_committed_events_are_published_in_order_then_deleted(setup):
    db, outbox, _, state, relay, source, amqp_uri = setup
    connection, simple = bind(amqp_uri, source)
    writer = Outbox(outbox, source, "BR")
    for number in range(120):
        with db.transaction() as session:
            session.execute(state.insert().values(id=str(number)))
            writer.add(session, "company_suspended", events_pb2.CompanySuspended(company_id=str(number), reason="r"))
    published = 0
    while True:
        batch = relay.relay_once()
        published += batch
        if batch == 0:
            break
    received = drain(simple, 120)
    connection.release()
    assert published == 120 and count(db, outbox) == 0
    ids = [parse_data(m.payload, events_pb2.CompanySuspended).company_id for m in received]
    assert ids == [str(n) for n in range(120)]  # one relay keeps commit order
    assert all(m.properties["delivery_mode"] == 2 for m in received)


def vacuum_stats(db, table) -> tuple:
    with db.engine.connect() as connection:
        return connection.execute(sa.text("SELECT vacuum_count, n_dead_tup FROM pg_stat_user_tables"
                                          " WHERE relname = :name"), {"name": table.name}).one()


def test_the_relay_vacuums_its_table_after_many_deletes(setup):
    db, outbox, _, state, relay, source, amqp_uri = setup
    relay.VACUUM_AFTER_ROWS = 100
    connection, simple = bind(amqp_uri, source)
    writer = Outbox(outbox, source, "BR")

    def publish(count_: int, first: int) -> None:
        for number in range(first, first + count_):
            with db.transaction() as session:
                writer.add(session, "company_suspended", events_pb2.CompanySuspended(company_id=str(number)))
        while relay.relay_once():
            pass
    publish(60, 0)
    assert vacuum_stats(db, outbox)[0] == 0  # 60 deleted rows: not yet
    publish(60, 60)
    vacuums, dead = vacuum_stats(db, outbox)
    assert vacuums == 1 and dead == 0  # past 100: the dead rows the claim would walk are gone
    assert len(drain(simple, 120)) == 120
    connection.release()


def test_an_event_nobody_listens_to_is_kept_not_dropped(setup):
    db, outbox, _, _, relay, source, amqp_uri = setup
    writer = Outbox(outbox, source, "BR")
    with db.transaction() as session:
        writer.add(session, "company_adhered", events_pb2.CompanyAdhered(company_id="x"))
    assert relay.relay_once() == 0
    assert count(db, outbox) == 1  # the broker would have dropped it; the outbox keeps it
    connection, simple = bind(amqp_uri, source, "company_adhered")
    relay._deferred.clear()  # the consumer arrived: retry now instead of after the backoff
    assert relay.relay_once() == 1
    assert len(drain(simple, 1)) == 1
    connection.release()
    assert count(db, outbox) == 0


def test_the_relay_survives_a_broken_connection(setup):
    db, outbox, _, _, relay, source, amqp_uri = setup
    connection, simple = bind(amqp_uri, source)
    writer = Outbox(outbox, source, "BR")
    with db.transaction() as session:
        writer.add(session, "company_suspended", events_pb2.CompanySuspended(company_id="1"))
    assert relay.relay_once() == 1
    import socket
    relay._connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)  # the broker link dies
    with db.transaction() as session:
        writer.add(session, "company_suspended", events_pb2.CompanySuspended(company_id="2"))
    with pytest.raises(Exception):
        relay.relay_once()
    assert count(db, outbox) == 1  # not confirmed, so not deleted
    assert relay.relay_once() == 1  # a new connection publishes it
    assert count(db, outbox) == 0
    assert len(drain(simple, 2)) == 2
    connection.release()


def test_consume_once_makes_redelivery_harmless(setup):
    db, _, processed, state, _, _, _ = setup
    event_id = str(uuid.uuid4())
    for attempt in range(3):
        with db.transaction() as session:
            if consume_once(session, processed, "metrics.on_finalised", event_id):
                session.execute(state.insert().values(id=f"effect-{attempt}"))
    assert count(db, state) == 1
    with db.transaction() as session:  # another consumer of the same event is independent
        assert consume_once(session, processed, "notification.on_finalised", event_id)


def test_envelope_carries_trace_context_and_typed_data(setup):
    db, outbox, _, _, _, source, _ = setup
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        with db.transaction() as session:
            Outbox(outbox, source, "BR").add(session, "company_suspended",
                                             events_pb2.CompanySuspended(company_id="c", reason="fraud"))
        trace_id = format(span.get_span_context().trace_id, "032x")
    with db.engine.connect() as connection:
        row = connection.execute(sa.select(outbox)).one()
    headers, body = json.loads(row.headers), json.loads(row.body)
    assert headers["nameko.traceparent"].split("-")[1] == trace_id
    assert body["type"] == "company_suspended" and body["source"] == source and body["country"] == "BR"
    assert parse_data(body, events_pb2.CompanySuspended).reason == "fraud"


def test_a_batch_mixing_routable_and_unroutable_events_keeps_only_the_unroutable(setup):
    db, outbox, _, _, relay, source, amqp_uri = setup
    connection, simple = bind(amqp_uri, source, "company_suspended")  # nobody listens to company_adhered
    writer = Outbox(outbox, source, "BR")
    with db.transaction() as session:
        for number in range(10):
            kind = "company_suspended" if number % 2 else "company_adhered"
            message = (events_pb2.CompanySuspended if number % 2 else events_pb2.CompanyAdhered)(company_id=str(number))
            writer.add(session, kind, message)
    assert relay.relay_once() == 5  # one batch, its confirms awaited together
    received = drain(simple, 5)
    connection.release()
    assert sorted(parse_data(m.payload, events_pb2.CompanySuspended).company_id for m in received) == ["1", "3", "5", "7", "9"]
    with db.engine.connect() as c:
        assert sorted(c.execute(sa.select(outbox.c.event_type)).scalars()) == ["company_adhered"] * 5


def _wake_up_trigger(db):
    """The trigger as the migrations leave it: V1 created it, V2 replaced its function."""
    from concilia.chassis.outbox import OUTBOX_NOTIFY_DDL_V1, OUTBOX_NOTIFY_DDL_V2
    with db.engine.begin() as connection:
        for statement in OUTBOX_NOTIFY_DDL_V1 + OUTBOX_NOTIFY_DDL_V2:
            connection.exec_driver_sql(statement)


def _until_the_awake_lock_is_free(db, timeout: float = 10.0) -> None:
    """The server ends a closed connection's session, and its locks, a moment after the client
    closed it: a commit in that moment still finds the lock held (and the relay's poll, not a
    NOTIFY, picks its rows up). Waits, as the trigger would see it, until the lock is free."""
    from concilia.chassis.outbox import RELAY_AWAKE_LOCK
    deadline = time.monotonic() + timeout
    while True:
        with db.engine.connect() as connection:  # rolled back on close: the xact lock goes with it
            if connection.execute(sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RELAY_AWAKE_LOCK}).scalar():
                return
        assert time.monotonic() < deadline, "the closed session still holds the awake lock"
        time.sleep(0.01)


def _add_event(db, outbox, source):
    with db.transaction() as session:
        Outbox(outbox, source, "BR").add(session, "company_suspended", events_pb2.CompanySuspended(company_id="w"))


def test_committed_rows_wake_the_relay_and_an_idle_outbox_does_not(setup):
    from concurrent.futures import ThreadPoolExecutor

    from concilia.chassis.outbox import OutboxWakeup
    db, outbox, _, _, _, source, _ = setup
    _wake_up_trigger(db)
    wakeup = OutboxWakeup(db.engine)
    try:
        wakeup.wait(0.01)  # starts listening
        started = time.monotonic()
        wakeup.wait(0.5)  # nothing committed: sleeps the whole timeout
        assert time.monotonic() - started >= 0.45
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(lambda: (wakeup.wait(60), time.monotonic())[1])
            time.sleep(0.2)
            committed_at = time.monotonic()
            _add_event(db, outbox, source)
            woke_at = waiting.result(timeout=30)
        assert woke_at - committed_at < 30  # woken by the commit, long before its 60 s timeout
    finally:
        wakeup.close()


def test_commits_skip_the_notify_while_the_relay_is_awake(setup):
    """NOTIFY serialises notifying commits cluster-wide, so writers skip it while a relay holds the
    awake lock (it is polling anyway); once the relay releases it, commits wake it again."""
    from concilia.chassis.outbox import OutboxWakeup
    db, outbox, _, _, _, source, _ = setup
    _wake_up_trigger(db)
    wakeup = OutboxWakeup(db.engine)
    try:
        wakeup.wait(0.01)  # starts listening
        wakeup.hold()
        assert wakeup.holding
        _add_event(db, outbox, source)
        started = time.monotonic()
        wakeup.wait(0.5)
        assert time.monotonic() - started >= 0.45  # no notification came
        wakeup.release()
        assert not wakeup.holding
        _add_event(db, outbox, source)
        started = time.monotonic()
        wakeup.wait(30)
        assert time.monotonic() - started < 10  # this commit notified
    finally:
        wakeup.close()
    # a relay that dies holding the lock does not silence the trigger: the lock ends with its session
    other = OutboxWakeup(db.engine)
    holder = OutboxWakeup(db.engine)
    try:
        other.wait(0.01)
        holder.wait(0.01)
        holder.hold()
        assert holder.holding
        holder.close()
        _until_the_awake_lock_is_free(db)
        _add_event(db, outbox, source)
        started = time.monotonic()
        other.wait(30)
        assert time.monotonic() - started < 10
    finally:
        other.close()
        holder.close()
