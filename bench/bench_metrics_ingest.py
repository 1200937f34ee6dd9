"""Metrics worker ingestion rate against a bare nameko @event_handler, in one run.

    .venv/bin/python bench/bench_metrics_ingest.py [--events N] [--files GLOB]

Both workers run as real processes through concilia.chassis.run_worker, on a RabbitMQ vhost and a
PostgreSQL database of their own. Each drains the same backlog of complaint_finalised envelopes
(built from the real open-data files): the bare handler does nothing, the metrics worker stores
every complaint and its aggregates with group commits. The rate is backlog / time from the first
message taken to the last one done (queue empty for the bare handler; every complaint committed
for the metrics worker). PostgreSQL: BENCH_DATABASE_ADMIN_URL (default
postgresql://postgres@127.0.0.1:5432/postgres); RabbitMQ: BENCH_AMQP_HOST (127.0.0.1:5672, guest).
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

from nameko.events import event_handler

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lib"), str(REPO)]

DEFAULT_GLOB = str(REPO.parent / "shared" / "data" / "consumidor-gov-br-2014" / "*.csv.gz")
ADMIN_URL = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_HOST = os.environ.get("BENCH_AMQP_HOST", "127.0.0.1:5672")
BARE_QUEUE = "evt-complaint-complaint_finalised--bench_bare.on_complaint_finalised"
METRICS_QUEUE = "evt-complaint-complaint_finalised--metrics.on_complaint_finalised"


class BareWorker:
    """The baseline: nameko's own cost of taking, dispatching and acking each event."""
    name = "bench_bare"

    @event_handler("complaint", "complaint_finalised")
    def on_complaint_finalised(self, envelope):
        pass


# --- helpers (the bench process itself; never eventlet-patched) --------------------------------

def envelopes_from(paths: list[str], limit: int) -> list[str]:
    from google.protobuf.timestamp_pb2 import Timestamp

    from concilia.chassis.country import load_pack
    from concilia.chassis.outbox import envelope
    from concilia.events.v1 import events_pb2
    from concilia.opendata import iter_records
    from concilia.opendata import layout as L
    from services.metrics.domain import Segments, opendata_company_id

    pack = load_pack("BR")
    segments = Segments.from_pack(pack)

    def ts(day):
        stamp = Timestamp()
        if day is not None:
            stamp.FromDatetime(dt.datetime.combine(day, dt.time(12), pack.zone).astimezone(dt.timezone.utc))
        return stamp

    bodies = []
    for r in iter_records(paths):
        if len(bodies) >= limit:
            break
        data = events_pb2.ComplaintFinalised(
            complaint=events_pb2.ComplaintRef(
                complaint_id=str(uuid.uuid4()), company_id=opendata_company_id(r.company),
                segment_code=segments.code_for(r.segment), region_code=f"BR-{r.uf}"),
            status="finalised_evaluated" if r.status == L.STATUS_EVALUATED else "finalised_not_evaluated",
            resolution={L.RESOLVED: "resolved", L.NOT_RESOLVED: "not_resolved"}.get(r.evaluation, ""),
            satisfaction_score=r.score or 0, answered=r.answered, answer_time_days=r.answer_days or 0,
            filed_at=ts(r.opened_on), answered_at=ts(r.answered_on), finalised_at=ts(r.finalised_on),
            area=r.area, subject=r.subject, problem_group=r.problem_group, problem=r.problem,
            purchase_channel=r.how_bought, contacted_company_first=r.contacted_company, city=r.city,
            company_name=r.company, segment_name=r.segment, consumer_sex=r.sex,
            consumer_age_bracket=r.age_range)
        bodies.append(json.dumps(envelope("complaint_finalised", "complaint", data, "BR")))
    return bodies


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def queue_depth(amqp_uri: str, queue: str) -> int | None:
    from kombu import Connection, Queue
    try:
        with Connection(amqp_uri) as connection:
            return Queue(queue, channel=connection.channel()).queue_declare(passive=True).message_count
    except Exception:  # noqa: BLE001 - not declared yet
        return None


def start_worker(module: str, env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "concilia.chassis.run_worker", module], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until(predicate, timeout: float, poll: float = 0.01, what: str = "condition") -> float:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(poll)
    return time.perf_counter()


def complaints_in(database_url: str) -> int:
    import psycopg
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT count(*) FROM complaints").fetchone()[0]


def drain(name: str, module: str, queue: str, env: dict, log_dir: Path, amqp_uri: str, backlog: int,
          done) -> float:
    """Starts the worker on a full queue; seconds from its first message taken to `done()`."""
    assert queue_depth(amqp_uri, queue) == backlog, f"{queue} does not hold the backlog"
    process = start_worker(module, env, log_dir / f"{name}.log")
    try:
        started = wait_until(lambda: (queue_depth(amqp_uri, queue) or backlog) < backlog, 120,
                             what=f"{name} to start consuming")
        finished = wait_until(done, 600, what=f"{name} to drain")
    finally:
        stop(process)
    return finished - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000, help="backlog size (at most the files' rows)")
    parser.add_argument("--files", default=DEFAULT_GLOB)
    parser.add_argument("--import-repeat", type=int, default=3, help="import runs (best is kept)")
    parser.add_argument("--bare-max-workers", default="10,200",
                        help="WORKER_MAX_WORKERS values for the bare handler (default: %(default)s)")
    args = parser.parse_args(argv)

    import psycopg
    from kombu import Connection, Exchange, Producer

    from concilia.chassis.db import migrate

    bodies = envelopes_from(sorted(glob.glob(args.files)), args.events)
    backlog = len(bodies)
    run = uuid.uuid4().hex[:8]
    vhost, database = f"bench-metrics-{run}", f"bench_metrics_{run}"
    amqp_uri = f"amqp://guest:guest@{AMQP_HOST}/{vhost}"
    database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    log_dir = Path(f"/tmp/bench-metrics-{run}")
    log_dir.mkdir(parents=True)
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    results = {}
    try:
        migrate("services.metrics", database_url)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "lib"), str(REPO), str(REPO / "bench")]),
               "AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "METRICS_PORT": "0", "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING")}
        # Let each worker declare its queue, then stop it, so the backlog lands in both queues.
        for module, queue in (("bench_metrics_ingest", BARE_QUEUE), ("services.metrics.worker", METRICS_QUEUE)):
            process = start_worker(module, env, log_dir / "declare.log")
            wait_until(lambda: queue_depth(amqp_uri, queue) is not None, 60, 0.1, f"{queue} declared")
            stop(process)

        started = time.perf_counter()
        with Connection(amqp_uri) as connection:
            producer = Producer(connection.channel(), exchange=Exchange("complaint.events", type="topic", durable=True))
            for body in bodies:
                producer.publish(body, routing_key="complaint_finalised", content_type="application/json",
                                 content_encoding="utf-8", delivery_mode=2)
        wait_until(lambda: queue_depth(amqp_uri, METRICS_QUEUE) == backlog
                   and queue_depth(amqp_uri, BARE_QUEUE) == backlog, 120, 0.1, "backlog published")
        results["publish"] = backlog / (time.perf_counter() - started)

        # The bare handler drains its queue once per setting: refill it between runs.
        for index, workers in enumerate(args.bare_max_workers.split(",")):
            if index:
                refill_bare_queue(amqp_uri, bodies)
                wait_until(lambda: queue_depth(amqp_uri, BARE_QUEUE) == backlog, 60, 0.1, "bare queue refilled")
            seconds = drain(f"bare-{workers}", "bench_metrics_ingest", BARE_QUEUE,
                            {**env, "WORKER_MAX_WORKERS": workers}, log_dir, amqp_uri, backlog,
                            lambda: queue_depth(amqp_uri, BARE_QUEUE) == 0)
            results[f"bare nameko handler (max_workers={workers})"] = backlog / seconds

        seconds = drain("metrics", "services.metrics.worker", METRICS_QUEUE, env, log_dir, amqp_uri, backlog,
                        lambda: complaints_in(database_url) == backlog)
        results["metrics worker"] = backlog / seconds
        assert complaints_in(database_url) == backlog

        # The bare handler once more after the metrics worker: the machine's load drifts.
        workers = args.bare_max_workers.split(",")[-1]
        refill_bare_queue(amqp_uri, bodies)
        wait_until(lambda: queue_depth(amqp_uri, BARE_QUEUE) == backlog, 60, 0.1, "bare queue refilled")
        seconds = drain(f"bare-{workers}-after", "bench_metrics_ingest", BARE_QUEUE,
                        {**env, "WORKER_MAX_WORKERS": workers}, log_dir, amqp_uri, backlog,
                        lambda: queue_depth(amqp_uri, BARE_QUEUE) == 0)
        results[f"bare nameko handler (max_workers={workers}), again"] = backlog / seconds
    finally:
        rabbitmqctl("delete_vhost", vhost)
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    import_rows, import_rate = measure_import(sorted(glob.glob(args.files)), args.import_repeat)
    best_bare = max(v for k, v in results.items() if k.startswith("bare"))
    load = os.getloadavg()[0]
    print(f"# metrics ingestion, {backlog} complaint_finalised events from real open-data rows; "
          f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {load:.1f} at the end")
    for name, rate in results.items():
        print(f"{name:45s} {rate:10,.0f} events/s")
    print(f"{'metrics / best bare':45s} {results['metrics worker'] / best_bare:10.0%}")
    print(f"{'import_opendata (' + str(import_rows) + ' rows, best of ' + str(args.import_repeat) + ')':45s} "
          f"{import_rate:10,.0f} rows/s")
    return 0


def measure_import(paths: list[str], repeat: int) -> tuple[int, float]:
    """services.metrics.import_opendata on all files into a fresh database, best of `repeat`:
    (rows, rows/s), timed from reading the first file to the last commit."""
    import psycopg

    from concilia.chassis.country import load_pack
    from concilia.chassis.db import Database, migrate
    from services.metrics.import_opendata import Importer

    best = 0.0
    rows = 0
    for attempt in range(repeat):
        name = f"bench_metrics_import_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        try:
            migrate("services.metrics", url)
            database = Database(url, pool_size=1)
            importer = Importer(database, load_pack("BR"))
            started = time.perf_counter()
            rows = sum(importer.import_file(path)[1] for path in paths)
            best = max(best, rows / (time.perf_counter() - started))
            database.engine.dispose()
        finally:
            with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return rows, best


def refill_bare_queue(amqp_uri: str, bodies: list[str]) -> None:
    """Refills only the bare queue: empties it, then publishes straight to it through the
    default exchange."""
    from kombu import Connection, Producer, Queue
    with Connection(amqp_uri) as connection:
        Queue(BARE_QUEUE, channel=connection.channel()).purge()
        producer = Producer(connection.channel())
        for body in bodies:
            producer.publish(body, routing_key=BARE_QUEUE, content_type="application/json",
                             content_encoding="utf-8", delivery_mode=2)


if __name__ == "__main__":
    sys.exit(main())
