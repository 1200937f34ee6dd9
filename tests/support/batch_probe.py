"""A worker for tests/integration/test_batch_events.py: one @batch_event_handler that records what
it is handed. Every call is logged in `attempts` on a connection of its own (so failed calls show
too); in one transaction it claims the event ids (processed_events, as real consumers do), writes
one `effects` row per new event and one `batches` row, and fails when an event id is in `poison`.

python -m concilia.chassis.run_worker support.batch_probe   (PYTHONPATH=tests)
"""
import json

import sqlalchemy as sa

from concilia.chassis.batch_events import batch_event_handler
from concilia.chassis.worker import DatabaseProvider

SOURCE = "probe"
TYPES = ("thing_happened", "thing_changed")

SCHEMA = """
CREATE TABLE processed_events (event_id text PRIMARY KEY);
CREATE TABLE effects (event_id text PRIMARY KEY, event_type text NOT NULL, batch_id int NOT NULL);
CREATE TABLE batches (batch_id serial PRIMARY KEY, size int NOT NULL);
CREATE TABLE attempts (attempt_id serial PRIMARY KEY, event_ids json NOT NULL, redelivered json NOT NULL);
CREATE TABLE poison (event_id text PRIMARY KEY);
"""


class PoisonEvent(RuntimeError):
    pass


class BatchProbe:
    name = "batch_probe"
    database = DatabaseProvider()

    @batch_event_handler({SOURCE: TYPES})
    def record(self, events):
        ids = [event.envelope["id"] for event in events]
        with self.database.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO attempts (event_ids, redelivered) VALUES (:ids, :redelivered)"),
                               {"ids": json.dumps(ids), "redelivered": json.dumps([e.redelivered for e in events])})
        with self.database.transaction() as session:
            new = set(session.execute(
                sa.text("INSERT INTO processed_events SELECT json_array_elements_text(CAST(:ids AS json)) "
                        "ON CONFLICT DO NOTHING RETURNING event_id"), {"ids": json.dumps(ids)}).scalars())
            batch_id = session.execute(sa.text("INSERT INTO batches (size) VALUES (:n) RETURNING batch_id"),
                                       {"n": len(events)}).scalar()
            for event in events:
                if event.envelope["id"] in new:
                    new.discard(event.envelope["id"])
                    session.execute(sa.text("INSERT INTO effects VALUES (:id, :type, :batch)"),
                                    {"id": event.envelope["id"], "type": f"{event.source}.{event.type}", "batch": batch_id})
            if session.execute(sa.text("SELECT count(*) FROM poison WHERE event_id IN "
                                       "(SELECT json_array_elements_text(CAST(:ids AS json)))"),
                               {"ids": json.dumps(ids)}).scalar():
                raise PoisonEvent("a poison event is in this batch")
