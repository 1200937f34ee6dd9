"""Event lag: from an api call that commits an event to its effect being visible in the metrics database.

    .venv/bin/python bench/bench_event_lag.py [--part steady|replay|both] [--rate 200] [--seconds 30]
        [--months 2014-07] [--replay-threads 16] [--probe-interval 0.1] [--poll-ms 5] [--json out.json]
        [--samples steady.csv]

Two measurements, each on a stack of its own (every api and worker, no gateway) started by
concilia.devstack on fresh PostgreSQL databases and a RabbitMQ vhost of its own:

  steady   FileComplaint over gRPC paced at --rate calls/s for --seconds after --warmup seconds
           (open loop: asynchronous calls issued on schedule, going round --consumers accounts; the
           pack's daily filing limit raised in a copied pack). Each filing commits one complaint_filed event; its
           effect is the complaint's row in the metrics database's open_complaints (filed = true),
           the live state behind the concilia_complaints_open SLA gauge.
  replay   `concilia replay` of the --months files (../shared/data/consumidor-gov-br-2014) with a
           controlled clock, and meanwhile one probe every --probe-interval seconds: ApplyForAdhesion
           + ApproveAdhesion in company_registry, whose company_adhered event the metrics worker
           turns into a row of its companies table. A company without complaints changes none of
           the indicators the replay checks. Probes run from the replay's first clock step (its
           setup is over) until it exits, and are reported for the drive (days replayed) and the
           settle phase (the clock jumps past every window; the sweeps finalise silent complaints).

Lag of an event = first poll whose result holds the effect - the moment the committing call
returned to this client. A poller thread on its own connection asks for all still-pending ids
every --poll-ms. The commit lies between the call's send and return, and the effect became
visible between the previous poll's start and this one's: the true commit-to-visible lag lies in
(lag - poll gap, lag + call time]. The lag from return (the headline) is printed with the lag
from send (the upper bound), the call times and the poll gaps (the resolution).
Needs PostgreSQL at TEST_DATABASE_ADMIN_URL (postgres superuser) and RabbitMQ (rabbitmqctl).
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lib"), str(REPO), str(REPO / "tests")]

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
DATA = REPO.parent / "shared" / "data" / "consumidor-gov-br-2014"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@concilia.test", "admin-password-1"  # what tests/support's Actors log in with
DRIVE_OVER = "waiting for the metrics service to count every complaint"  # concilia replay's progress line


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


# --- measuring ------------------------------------------------------------------------------------
class LagTracker:
    """Keys (complaint or company ids) waiting to become visible, and the poller thread that finds
    them with `query` (one parameter: the list of pending keys; returns the visible ones)."""

    def __init__(self, database_url: str, query: str, poll_interval: float):
        self.database_url, self.query, self.poll_interval = database_url, query, poll_interval
        self.pending: dict[str, tuple[float, float]] = {}  # key -> (call sent, call returned)
        self.samples: list[dict] = []  # sent, returned, seen, gap (since the previous poll began)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.polls = 0
        self.poller_cpu = 0.0
        self.thread = threading.Thread(target=self._run, name="lag-poller", daemon=True)

    def start(self) -> "LagTracker":
        self.thread.start()
        return self

    def expect(self, key: str, sent: float, returned: float) -> None:
        with self.lock:
            self.pending[key] = (sent, returned)

    def waiting(self) -> int:
        with self.lock:
            return len(self.pending)

    def _run(self) -> None:
        import psycopg
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            previous = None
            while not self.stopping.is_set():
                with self.lock:
                    keys = list(self.pending)
                if not keys:
                    previous = None  # nothing was pending: the next gap would not bound any lag
                    time.sleep(self.poll_interval)
                    continue
                began = time.perf_counter()  # the query's snapshot is taken just after this
                found = [row[0] for row in connection.execute(self.query, (keys,))]
                self.polls += 1
                gap = began - previous if previous is not None else float("nan")
                previous = began
                with self.lock:
                    for key in found:
                        sent, returned = self.pending.pop(key)
                        self.samples.append({"key": key, "sent": sent, "returned": returned, "seen": began,
                                             "gap": gap})
                pause = self.poll_interval - (time.perf_counter() - began)
                if pause > 0:
                    time.sleep(pause)
            self.poller_cpu = time.thread_time()

    def drain(self, timeout: float) -> int:
        """Waits until nothing is pending (or timeout); returns how many are still missing."""
        deadline = time.monotonic() + timeout
        while self.waiting() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.waiting()

    def returned_between(self, start: float, end: float) -> int:
        with self.lock:
            return (sum(1 for s in self.samples if start <= s["returned"] < end)
                    + sum(1 for _sent, returned in self.pending.values() if start <= returned < end))

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)

    def summary(self, start: float, end: float) -> dict:
        """Figures for the events whose committing call was sent in [start, end); events never
        seen count as infinitely late, so they weigh on the percentiles."""
        with self.lock:
            chosen = [s for s in self.samples if start <= s["sent"] < end]
            missing = sum(1 for sent, _returned in self.pending.values() if start <= sent < end)
        return {"events": len(chosen) + missing, "not_seen": missing,
                "lag_ms": percentiles([(s["seen"] - s["returned"]) * 1000 for s in chosen], missing),
                "lag_from_send_ms": percentiles([(s["seen"] - s["sent"]) * 1000 for s in chosen], missing),
                "call_ms": percentiles([(s["returned"] - s["sent"]) * 1000 for s in chosen], 0),
                "poll_gap_ms": percentiles([s["gap"] * 1000 for s in chosen if s["gap"] == s["gap"]], 0)}


class BrokerTap:
    """A queue of its own on an exchange, consumed by a thread: when each event reached the broker
    (and came out of it), to split the lag into the relay's part and the consumer's part."""

    def __init__(self, amqp_uri: str, exchange: str, routing_key: str, key_of):
        self.amqp_uri, self.exchange, self.routing_key, self.key_of = amqp_uri, exchange, routing_key, key_of
        self.arrived: dict[str, float] = {}
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="broker-tap", daemon=True)

    def start(self) -> "BrokerTap":
        self.thread.start()
        if not self.ready.wait(10):
            raise SystemExit("the broker tap could not bind its queue")
        return self

    def _run(self) -> None:
        from kombu import Connection, Exchange, Queue
        with Connection(self.amqp_uri) as connection:
            exchange = Exchange(self.exchange, type="topic", durable=True, auto_delete=False)
            queue = Queue("", exchange, routing_key=self.routing_key, exclusive=True, auto_delete=True)

            def arrived(body, message) -> None:
                self.arrived.setdefault(self.key_of(body), time.perf_counter())

            with connection.Consumer(queue, callbacks=[arrived], no_ack=True, accept=["json"]):
                self.ready.set()
                while not self.stopping.is_set():
                    try:
                        connection.drain_events(timeout=0.2)
                    except TimeoutError:
                        pass

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)

    def lag_ms(self, samples: list[dict], key: str) -> list[float]:
        return [(self.arrived[s[key]] - s["returned"]) * 1000 for s in samples if s[key] in self.arrived]


def percentiles(values: list[float], infinite: int = 0) -> dict:
    values = sorted(values) + [float("inf")] * infinite
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}

    def pct(p: float) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))], 2)
    return {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": round(values[-1], 2)}


def show(name: str, figures: dict) -> None:
    def fmt(p: dict) -> str:
        return " / ".join("-" if p[k] is None else f"{p[k]:.1f}" for k in ("p50", "p95", "p99", "max"))
    print(f"{name}: {figures['events']} events at {figures.get('events_per_second', 0):.1f}/s"
          f"{', NOT SEEN: %d' % figures['not_seen'] if figures['not_seen'] else ''}\n"
          f"    lag from return p50/p95/p99/max {fmt(figures['lag_ms'])} ms\n"
          f"    lag from send   p50/p95/p99/max {fmt(figures['lag_from_send_ms'])} ms (upper bound)\n"
          f"    committing call p50/p95/p99/max {fmt(figures['call_ms'])} ms; "
          f"gap between polls p50/p99/max {figures['poll_gap_ms']['p50']}/{figures['poll_gap_ms']['p99']}/"
          f"{figures['poll_gap_ms']['max']} ms (resolution)"
          + (f"\n    return to broker p50/p95/p99/max {fmt(figures['to_broker_ms'])} ms (the relay's part)"
             if "to_broker_ms" in figures else ""), flush=True)


# --- stacks ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def bench_stack(part: str, data_dir: Path, extra_env: dict):
    """A stack of every service on fresh databases and a vhost of its own; removed afterwards."""
    import psycopg

    from concilia.devstack import Stack, available_services

    tag = uuid.uuid4().hex[:8]
    databases = {name: f"concilia_bench_{tag}_{name}" for name in available_services()}
    vhost = f"concilia-bench-{tag}"
    stack = None
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            for database in databases.values():
                connection.execute(f'CREATE DATABASE "{database}"')
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True)
        urls = {name: ADMIN_URL.rsplit("/", 1)[0] + f"/{db}" for name, db in databases.items()}
        stack = Stack(data_dir=data_dir / "stack", database_urls=urls,
                      amqp_uri=f"amqp://guest:guest@127.0.0.1:5672/{vhost}", gateway=False, random_ports=True,
                      extra_env={"BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL, "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                 "LOG_LEVEL": "WARNING", **extra_env})
        log(f"[{part}] starting the stack")
        stack.start(timeout=180, progress=lambda m: log(f"  {m}"))
        yield stack
    finally:
        if stack:
            stack.stop()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            for database in databases.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def count_rows(url: str, table: str) -> int:
    import psycopg
    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# --- part 1: steady filings -----------------------------------------------------------------------
def steady(args, work: Path) -> dict:
    from concilia.chassis.country import DEFAULT_PACKS_DIR
    from concilia.chassis.grpc_client import bearer
    from support.complaints import World, filing

    packs = work / "packs"
    shutil.copytree(DEFAULT_PACKS_DIR / "br", packs / "br")
    pack = packs / "br" / "pack.yaml"
    text = pack.read_text()
    if "filings_per_day: 20" not in text:
        raise SystemExit("countries/br/pack.yaml no longer says `filings_per_day: 20`; update this benchmark")
    pack.write_text(text.replace("filings_per_day: 20", "filings_per_day: 100000000"))
    with bench_stack("steady", work, {"CONCILIA_COUNTRY_PACKS_DIR": str(packs)}) as stack:
        world = World(stack)
        company = world.company("Banco Lag")
        tokens = [world.consumer()[1] for _ in range(args.consumers)]
        request = filing(company)
        stub = world.complaints
        tracker = LagTracker(stack.database_urls["metrics"],
                             "SELECT complaint_id FROM open_complaints WHERE complaint_id = ANY(%s) AND filed",
                             args.poll_ms / 1000).start()
        # The relay's part of the lag: when each complaint_filed event reached the broker.
        tap = BrokerTap(stack.amqp_uri, "complaint.events", "complaint_filed",
                        lambda body: body["data"]["complaint"]["complaint_id"]).start()
        errors, calls, outstanding = [0], [0], [0]
        lock = threading.Lock()
        log(f"[steady] {args.rate:.0f} filings/s for {args.warmup:.0f} s of warm-up + {args.seconds:.0f} s, "
            f"{len(tokens)} consumers; {load_average()}")

        def done(future, sent: float) -> None:
            returned = time.perf_counter()
            try:
                complaint_id = future.result().complaint.id
            except Exception:  # noqa: BLE001 - counted, the run goes on
                with lock:
                    errors[0] += 1
                    outstanding[0] -= 1
                return
            tracker.expect(complaint_id, sent, returned)
            with lock:
                calls[0] += 1
                outstanding[0] -= 1

        # Open loop: calls are issued on schedule without waiting for earlier ones (a closed loop of
        # blocking threads would slow down with the api and hide the lag it causes).
        interval = 1 / args.rate
        begun = time.perf_counter()
        measured_from, stop_at = begun + args.warmup, begun + args.warmup + args.seconds
        issued, late_max, outstanding_max, report_at = 0, 0.0, 0, begun + 5
        while True:
            due = begun + issued * interval
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            sent = time.perf_counter()
            if sent >= stop_at:
                break
            late_max = max(late_max, sent - due) if sent >= measured_from else late_max
            future = stub.FileComplaint.future(request, metadata=bearer(tokens[issued % len(tokens)]), timeout=30)
            with lock:
                outstanding[0] += 1
                outstanding_max = max(outstanding_max, outstanding[0])
            future.add_done_callback(lambda f, sent=sent: done(f, sent))
            issued += 1
            if sent >= report_at:
                report_at += 5
                log(f"  {sent - begun:5.0f} s: {calls[0]} filed, {errors[0]} errors, {outstanding[0]} calls "
                    f"outstanding, {tracker.waiting()} not visible yet")
        while outstanding[0] and time.perf_counter() < stop_at + 30:
            time.sleep(0.05)
        missing = tracker.drain(args.drain_timeout)
        tracker.stop()
        tap.stop()
        figures = tracker.summary(measured_from, stop_at)
        with tracker.lock:
            chosen = [s for s in tracker.samples if measured_from <= s["sent"] < stop_at]
        figures["to_broker_ms"] = percentiles(tap.lag_ms(chosen, "key"))
        if args.samples:  # per event, for finding when the slow ones happened
            with tracker.lock:
                rows = sorted((s["sent"] - measured_from, s["returned"] - s["sent"], s["seen"] - s["returned"],
                               tap.arrived.get(s["key"], float("nan")) - s["returned"])
                              for s in tracker.samples if measured_from <= s["sent"] < stop_at)
            Path(args.samples).write_text("sent_s,call_ms,lag_ms,to_broker_ms\n" + "".join(
                f"{sent:.4f},{call * 1000:.2f},{lag * 1000:.2f},{broker * 1000:.2f}\n"
                for sent, call, lag, broker in rows))
        # Offered: calls sent in the window; completed: calls that returned in it. Below the offered
        # rate, the api did not keep up and calls queued (see lag from send).
        completed = tracker.returned_between(measured_from, stop_at) / args.seconds
        figures.update(events_per_second=figures["events"] / args.seconds, completed_per_second=round(completed, 1),
                       sustained=completed >= 0.95 * args.rate, target_rate=args.rate,
                       errors=errors[0], calls_outstanding_max=outstanding_max,
                       issue_late_max_ms=round(late_max * 1000, 1), polls=tracker.polls,
                       poller_cpu_seconds=round(tracker.poller_cpu, 2),
                       missing_after_drain=missing, load_average_after=load_average(),
                       signal="metrics open_complaints row with filed = true (complaint_filed)")
    return figures


# --- part 2: probes under the replay -------------------------------------------------------------
def replay(args, work: Path) -> dict:
    import grpc

    from concilia.chassis.clock import FileClock
    from concilia.chassis.grpc_client import bearer
    from concilia.company_registry.v1 import company_registry_pb2 as rpb
    from support.complaints import SEGMENT, World
    from support.ids import new_cnpj

    files = [str(DATA / f"{month}.csv.gz") for month in args.months.split(",")]
    absent = [f for f in files if not Path(f).exists()]
    if absent:
        raise SystemExit(f"no open-data file {', '.join(absent)} (months are YYYY-MM of {DATA})")
    work.mkdir(parents=True, exist_ok=True)
    clock = work / "clock"
    FileClock(clock).set(datetime(2014, 5, 1, tzinfo=timezone.utc))
    initial = clock.read_text()
    with bench_stack("replay", work, {"CONCILIA_CLOCK_FILE": str(clock)}) as stack:
        world = World(stack)
        tracker = LagTracker(stack.database_urls["metrics"],
                             "SELECT company_id FROM companies WHERE company_id = ANY(%s)",
                             args.poll_ms / 1000).start()
        # The relay's part of the lag: when each probe's company_adhered reached the broker.
        tap = BrokerTap(stack.amqp_uri, "company_registry.events", "company_adhered",
                        lambda body: body["data"]["company_id"]).start()
        env = {**os.environ, "CONCILIA_CLOCK_FILE": str(clock), "BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
               "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD}
        for service in ("identity", "company_registry", "complaint", "metrics"):
            env[f"{service.upper()}_ADDR"] = stack.addr(service)
        log(f"[replay] concilia replay {' '.join(Path(f).name for f in files)} --threads {args.replay_threads}; "
            f"{load_average()}")
        process = subprocess.Popen([sys.executable, "-m", "concilia.cli.main", "replay", *files, "--json",
                                    "--threads", str(args.replay_threads), "--settle-timeout", "900"],
                                   env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        marks = {}
        output = []
        counts, counts_lock = Counter(), threading.Lock()  # probes, errors
        probes = ThreadPoolExecutor(8, thread_name_prefix="probe")

        def read_stderr() -> None:
            for line in process.stderr:
                if DRIVE_OVER in line:
                    marks["drive_over"] = time.perf_counter()
                log(f"  replay: {line.rstrip()}")
        readers = [threading.Thread(target=read_stderr, daemon=True),
                   threading.Thread(target=lambda: output.append(process.stdout.read()), daemon=True)]
        for reader in readers:
            reader.start()
        try:
            # The replay's first clock step ends its setup (companies, agents, consumers).
            while clock.read_text() == initial and process.poll() is None:
                time.sleep(0.02)
            marks["drive"] = time.perf_counter()
            counted_at_start = count_rows(stack.database_urls["metrics"], "processed_events")
            log(f"[replay] the replay is driving; probing every {args.probe_interval * 1000:.0f} ms")

            def probe() -> None:
                try:
                    company = world.registry.ApplyForAdhesion(rpb.ApplyForAdhesionRequest(
                        tax_id=new_cnpj(), legal_name="Probe Lag S.A.", trade_name="Probe Lag",
                        segment_code=SEGMENT, terms_accepted=True), timeout=30).company
                    sent = time.perf_counter()
                    world.registry.ApproveAdhesion(rpb.ApproveAdhesionRequest(company_id=company.id),
                                                   metadata=bearer(world.manager), timeout=30)
                    tracker.expect(company.id, sent, time.perf_counter())
                    outcome = "probes"
                except grpc.RpcError:  # e.g. a tax id someone already registered: counted, go on
                    outcome = "errors"
                with counts_lock:
                    counts[outcome] += 1

            # Probes are issued on schedule from a pool, so a slow probe does not delay the next.
            next_probe, last_report = time.perf_counter(), time.perf_counter()
            while process.poll() is None:
                pause = next_probe - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                next_probe += args.probe_interval
                if "drive_over" in marks and "drive_counted" not in marks:
                    marks["drive_counted"] = count_rows(stack.database_urls["metrics"], "processed_events")
                probes.submit(probe)
                if time.perf_counter() - last_report > 10:
                    last_report = time.perf_counter()
                    log(f"  {counts['probes']} probes, {counts['errors']} errors, {tracker.waiting()} not visible yet")
            ended = time.perf_counter()
            for reader in readers:
                reader.join(30)
        finally:
            probes.shutdown(wait=True)
            if process.poll() is None:
                process.terminate()
                process.wait(30)
        missing = tracker.drain(args.drain_timeout)
        tracker.stop()
        tap.stop()
        result = json.loads(output[0]) if output and output[0].strip() else {}
        drive_over = marks.get("drive_over", ended)
        windows = {"drive": (marks["drive"], drive_over), "settle": (drive_over, ended), "all": (marks["drive"], ended)}
        if args.samples:
            with tracker.lock:
                rows = sorted((s["sent"] - marks["drive"], s["returned"] - s["sent"], s["seen"] - s["returned"],
                               tap.arrived.get(s["key"], float("nan")) - s["returned"]) for s in tracker.samples)
            Path(args.samples).write_text("sent_s,call_ms,lag_ms,to_broker_ms\n" + "".join(
                f"{sent:.4f},{call * 1000:.2f},{lag * 1000:.2f},{broker * 1000:.2f}\n"
                for sent, call, lag, broker in rows))
        figures = {}
        for name, (start, end) in windows.items():
            figures[name] = tracker.summary(start, end)
            with tracker.lock:
                chosen = [s for s in tracker.samples if start <= s["sent"] < end]
            figures[name]["to_broker_ms"] = percentiles(tap.lag_ms(chosen, "key"))
            figures[name]["events_per_second"] = figures[name]["events"] / (end - start) if end > start else 0
            figures[name]["seconds"] = round(end - start, 1)
        complaints = count_rows(stack.database_urls["complaint"], "complaints")
        figures.update(
            files=[Path(f).name for f in files], replay_exit_code=process.returncode, probe_errors=counts["errors"],
            replay_complaints_per_second=result.get("complaints_per_second"), replay_seconds=result.get("seconds"),
            events_lost=result.get("events_lost"), complaints=complaints,
            drive_complaints_per_second=round(complaints / (drive_over - marks["drive"]), 1),
            metrics_events_per_second_in_drive=round(
                (marks.get("drive_counted", counted_at_start) - counted_at_start) / (drive_over - marks["drive"]), 1),
            polls=tracker.polls, poller_cpu_seconds=round(tracker.poller_cpu, 2), missing_after_drain=missing,
            load_average_after=load_average(),
            signal="metrics companies row of the approved company (company_adhered)")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["steady", "replay", "both"], default="both")
    parser.add_argument("--rate", type=float, default=200.0, help="steady: filings per second (default 200)")
    parser.add_argument("--seconds", type=float, default=30.0, help="steady: measured seconds (default 30)")
    parser.add_argument("--warmup", type=float, default=3.0, help="steady: seconds filed before measuring (default 3)")
    parser.add_argument("--consumers", type=int, default=16,
                        help="steady: consumer accounts the filings go round (default 16)")
    parser.add_argument("--months", default="2014-07",
                        help="replay: comma-separated YYYY-MM files of the 2014-15 open data (default 2014-07: "
                             "5,015 complaints; 2014-06 has 585)")
    parser.add_argument("--replay-threads", type=int, default=16, help="replay: its --threads (default 16)")
    parser.add_argument("--probe-interval", type=float, default=0.1,
                        help="replay: seconds between probes (default 0.1)")
    parser.add_argument("--poll-ms", type=float, default=5.0,
                        help="poller: milliseconds between polls of the metrics database (default 5)")
    parser.add_argument("--drain-timeout", type=float, default=60.0,
                        help="seconds to wait for the last events to become visible (default 60)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--samples", help="also write each event's (steady) or probe's (replay) send time, call "
                                          "time, lag and relay part (CSV; with --part both, the replay's)")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.consumers < 1 or args.poll_ms <= 0 or args.probe_interval <= 0:
        parser.error("--rate, --seconds, --poll-ms and --probe-interval must be positive, --consumers at least 1")

    # `kill` (SIGTERM) must still remove the stack, databases and vhost: finally blocks run on SystemExit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = {"date": datetime.now().astimezone().isoformat(timespec="seconds"), "cpus": os.cpu_count(),
               "load_average_before": load_average(), "poll_ms": args.poll_ms}
    work = Path(tempfile.mkdtemp(prefix="concilia-bench-lag-"))
    try:
        if args.part in ("steady", "both"):
            results["steady"] = steady(args, work / "steady")
            show(f"steady FileComplaint at {args.rate:.0f}/s", results["steady"])
            st = results["steady"]
            print(f"    offered {st['events_per_second']:.1f} filings/s, completed {st['completed_per_second']}/s "
                  f"in the window{'' if st['sustained'] else ': THE API DID NOT KEEP UP (calls queued)'}; "
                  f"errors {st['errors']}, calls outstanding at most {st['calls_outstanding_max']}, issued up to "
                  f"{st['issue_late_max_ms']} ms late; poller: {st['polls']} polls, {st['poller_cpu_seconds']} s CPU",
                  flush=True)
        if args.part in ("replay", "both"):
            results["replay"] = replay(args, work / "replay")
            r = results["replay"]
            for name in ("drive", "settle", "all"):
                show(f"replay probes ({name}, {r[name]['seconds']} s)", r[name])
            print(f"replay: {r['complaints']} complaints, {r['drive_complaints_per_second']} complaints/s while "
                  f"driving (metrics ingested {r['metrics_events_per_second_in_drive']} events/s), "
                  f"{r['replay_complaints_per_second']} complaints/s overall incl. setup and settle "
                  f"({r['replay_seconds']} s), events lost {r['events_lost']}, exit {r['replay_exit_code']}",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.json:  # also what was measured before a failure
            Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"load: before {results['load_average_before']}, after {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
