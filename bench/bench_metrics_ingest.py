"""Metrics worker ingestion rate against a bare nameko @event_handler, in one run.

    .venv/bin/python bench/bench_metrics_ingest.py [--events N] [--rounds R] [--traced] [--files GLOB]
    .venv/bin/python bench/bench_metrics_ingest.py --rounds 0 --import-repeat 5    # the import only

Both workers run as real processes through concilia.chassis.run_worker, on a RabbitMQ vhost and a
PostgreSQL database of their own. Each drains the same backlog of complaint_finalised envelopes
(built from the real open-data files): the bare handler does nothing, the metrics worker stores
every complaint and its aggregates (batches through concilia.chassis.batch_events). The rate is
backlog / time from the first message taken to the last one done (queue empty for the bare
handler; every complaint committed for the metrics worker). Rounds alternate which worker goes
first, with fresh event and complaint ids each round, because the shared machine's load drifts;
each drain also reports the worker process's CPU time per event while draining, which other
processes' load disturbs less than the wall-clock rate. --traced exports the metrics worker's
spans (OTLP/HTTP) to a receiver in this process that discards them. Then it times
services.metrics.import_opendata on the files (--import-repeat runs, each into a fresh database,
with the importer's and its PostgreSQL backend's CPU time per row); --rounds 0 runs only that,
without RabbitMQ. PostgreSQL:
BENCH_DATABASE_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres); RabbitMQ:
BENCH_AMQP_HOST (127.0.0.1:5672, guest).
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import platform
import statistics
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(name: str, module: str, queue: str, env: dict, log_dir: Path, amqp_uri: str, backlog: int,
          done) -> tuple[float, float]:
    """Starts the worker on a full queue: (seconds from its first message taken to `done()`,
    the worker's CPU seconds over the same interval)."""
    assert queue_depth(amqp_uri, queue) == backlog, f"{queue} does not hold the backlog"
    process = start_worker(module, env, log_dir / f"{name}.log")
    try:
        started = wait_until(lambda: (queue_depth(amqp_uri, queue) or backlog) < backlog, 120,
                             what=f"{name} to start consuming")
        cpu_started = cpu_seconds(process.pid)
        finished = wait_until(done, 600, what=f"{name} to drain")
        cpu = cpu_seconds(process.pid) - cpu_started
    finally:
        stop(process)
    return finished - started, cpu


def renew(bodies: list[str]) -> list[str]:
    """The same events with new event and complaint ids (a round must not be deduplicated)."""
    fresh = []
    for body in bodies:
        event = json.loads(body)
        event["id"] = str(uuid.uuid4())
        event["data"]["complaint"]["complaint_id"] = str(uuid.uuid4())
        fresh.append(json.dumps(event))
    return fresh


def publish(amqp_uri: str, bodies: list[str]) -> None:
    """To the complaint.events exchange: one copy in each worker's queue."""
    from kombu import Connection, Exchange, Producer
    with Connection(amqp_uri) as connection:
        producer = Producer(connection.channel(), exchange=Exchange("complaint.events", type="topic", durable=True))
        for body in bodies:
            producer.publish(body, routing_key="complaint_finalised", content_type="application/json",
                             content_encoding="utf-8", delivery_mode=2)


def span_sink() -> str:
    """An OTLP/HTTP endpoint on loopback that accepts and discards spans; returns its URL."""
    import http.server
    import threading

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000, help="backlog size (at most the files' rows)")
    parser.add_argument("--files", default=DEFAULT_GLOB)
    parser.add_argument("--rounds", type=int, default=3,
                        help="bare/metrics rounds, alternating which goes first (0: the import only)")
    parser.add_argument("--traced", action="store_true", help="the metrics worker exports its spans")
    parser.add_argument("--import-repeat", type=int, default=3, help="import runs (best is kept; 0 = none)")
    parser.add_argument("--bare-max-workers", default="200",
                        help="WORKER_MAX_WORKERS values for the bare handler, each drained every round "
                             "(default: %(default)s)")
    args = parser.parse_args(argv)
    if args.rounds == 0:  # no broker, no envelopes
        if args.import_repeat:
            report_import(sorted(glob.glob(args.files)), args.import_repeat)
        return 0

    import psycopg

    from concilia.chassis.db import migrate

    bodies = envelopes_from(sorted(glob.glob(args.files)), args.events)
    backlog = len(bodies)
    settings = args.bare_max_workers.split(",")
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
    load_at_start = os.getloadavg()[0]
    rounds = []  # per round: {name: (events/s, CPU us/event, load average after)}
    try:
        migrate("services.metrics", database_url)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "lib"), str(REPO), str(REPO / "bench")]),
               "AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "METRICS_PORT": "0", "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING")}
        metrics_env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": span_sink()} if args.traced else env
        # Let each worker declare its queue, then stop it, so the backlog lands in both queues.
        for module, queue in (("bench_metrics_ingest", BARE_QUEUE), ("services.metrics.worker", METRICS_QUEUE)):
            process = start_worker(module, env, log_dir / "declare.log")
            wait_until(lambda: queue_depth(amqp_uri, queue) is not None, 60, 0.1, f"{queue} declared")
            stop(process)

        def bare_runs(results, round_bodies):
            for index, workers in enumerate(settings):
                if index:
                    refill_bare_queue(amqp_uri, round_bodies)
                    wait_until(lambda: queue_depth(amqp_uri, BARE_QUEUE) == backlog, 60, 0.1, "bare queue refilled")
                seconds, cpu = drain(f"bare-{workers}", "bench_metrics_ingest", BARE_QUEUE,
                                     {**env, "WORKER_MAX_WORKERS": workers}, log_dir, amqp_uri, backlog,
                                     lambda: queue_depth(amqp_uri, BARE_QUEUE) == 0)
                results[f"bare nameko handler (max_workers={workers})"] = (
                    backlog / seconds, cpu / backlog * 1e6, os.getloadavg()[0])

        def metrics_run(results):
            before = complaints_in(database_url)
            seconds, cpu = drain("metrics", "services.metrics.worker", METRICS_QUEUE, metrics_env, log_dir, amqp_uri,
                                 backlog, lambda: complaints_in(database_url) == before + backlog)
            results["metrics worker" + (" (traced)" if args.traced else "")] = (
                backlog / seconds, cpu / backlog * 1e6, os.getloadavg()[0])

        for number in range(args.rounds):
            round_bodies = bodies if number == 0 else renew(bodies)
            publish(amqp_uri, round_bodies)
            wait_until(lambda: queue_depth(amqp_uri, METRICS_QUEUE) == backlog
                       and queue_depth(amqp_uri, BARE_QUEUE) == backlog, 120, 0.1, "backlog published")
            results = {}
            if number % 2 == 0:
                bare_runs(results, round_bodies)
                metrics_run(results)
            else:
                metrics_run(results)
                bare_runs(results, round_bodies)
            rounds.append(results)
        assert complaints_in(database_url) == backlog * args.rounds
    finally:
        rabbitmqctl("delete_vhost", vhost)
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    print(f"# metrics ingestion, {backlog} complaint_finalised events from real open-data rows, {args.rounds} "
          f"rounds; {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print(f"{'round':6s}{'worker':40s}{'events/s':>10s}{'CPU us/event':>14s}{'load':>6s}")
    rate_ratios, cpu_ratios = [], []
    for number, results in enumerate(rounds, 1):
        for name, (rate, cpu, load) in results.items():
            print(f"{number:<6d}{name:40s}{rate:10,.0f}{cpu:14,.0f}{load:6.1f}")
        metrics = next(v for k, v in results.items() if k.startswith("metrics"))
        bare = [v for k, v in results.items() if k.startswith("bare")]
        rate_ratios.append(metrics[0] / max(v[0] for v in bare))
        cpu_ratios.append(min(v[1] for v in bare) / metrics[1])
        print(f"{number:<6d}{'metrics / best bare, rate':40s}{rate_ratios[-1]:10.0%}")
        print(f"{number:<6d}{'bare / metrics, CPU per event':40s}{cpu_ratios[-1]:10.0%}")
    print(f"{'all':6s}{'metrics / best bare, rate: median':40s}{statistics.median(rate_ratios):10.0%}"
          f"  (min {min(rate_ratios):.0%}, max {max(rate_ratios):.0%})")
    print(f"{'all':6s}{'bare / metrics, CPU per event: median':40s}{statistics.median(cpu_ratios):10.0%}"
          f"  (min {min(cpu_ratios):.0%}, max {max(cpu_ratios):.0%})")
    if args.import_repeat:
        report_import(sorted(glob.glob(args.files)), args.import_repeat)
    return 0


def report_import(paths: list[str], repeat: int) -> None:
    load_at_start = os.getloadavg()[0]
    runs = measure_import(paths, repeat)
    rows = runs[0][0]
    print(f"# import_opendata, {rows} rows of {len(paths)} files, {repeat} runs; load average "
          f"{load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print(f"{'run':6s}{'rows/s':>10s}{'importer CPU us/row':>21s}{'PostgreSQL CPU us/row':>23s}")
    for number, (_rows, rate, cpu, server_cpu) in enumerate(runs, 1):
        print(f"{number:<6d}{rate:10,.0f}{cpu:21.1f}{server_cpu:23.1f}")
    rates, cpus, server_cpus = ([run[i] for run in runs] for i in (1, 2, 3))
    print(f"{'import_opendata (' + str(rows) + ' rows, best of ' + str(repeat) + ')':46s} "
          f"{max(rates):10,.0f} rows/s (median {statistics.median(rates):,.0f}); CPU us/row, median: "
          f"importer {statistics.median(cpus):.1f}, PostgreSQL {statistics.median(server_cpus):.1f}")


def measure_import(paths: list[str], repeat: int) -> list[tuple[int, float, float, float]]:
    """services.metrics.import_opendata on all files into a fresh database, `repeat` times: per
    run (rows, rows/s, the importer's CPU µs/row, its PostgreSQL backend's CPU µs/row), timed
    from reading the first file to the last commit. The importer runs in this process; CPU is
    user + system time, which other processes' load disturbs less than the rate."""
    import psycopg
    import sqlalchemy as sa

    from concilia.chassis.country import load_pack
    from concilia.chassis.db import Database, migrate
    from services.metrics.import_opendata import Importer

    runs = []
    for attempt in range(repeat):
        name = f"bench_metrics_import_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        try:
            migrate("services.metrics", url)
            database = Database(url, pool_size=1)
            importer = Importer(database, load_pack("BR"))

            def backend_pid() -> int:  # pool_size=1: the one connection every transaction uses
                with database.engine.connect() as connection:
                    return connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            pid = backend_pid()
            server_started = cpu_seconds(pid)
            started, cpu_started = time.perf_counter(), time.process_time()
            rows = sum(importer.import_file(path)[1] for path in paths)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            server_cpu = cpu_seconds(pid) - server_started
            assert backend_pid() == pid, "the import used another connection"
            runs.append((rows, rows / seconds, cpu / rows * 1e6, server_cpu / rows * 1e6))
            database.engine.dispose()
        finally:
            with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return runs


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
