"""FileComplaint throughput and latency, against two baselines measured the same way in the same run.

    .venv/bin/python bench/bench_file_complaint.py [--seconds 8] [--threads 8] [--rounds 3] [--server-threads N] [--json out.json]

Measured (8 client threads, closed loop, then an open-loop run at half the measured maximum):
  echo      a bare grpcio server (sync, thread pool) whose handler returns its request
  insert    a bare grpcio server whose handler does one PostgreSQL INSERT + COMMIT
  grpc      FileComplaint on the real complaint api process (token check, validation, company
            replica, idempotency and rate-limit queries, complaint + history + outbox rows, commit)
  gateway   POST /api/v1/complaints through the real gateway (gunicorn) to the same api

Every server runs in its own process, as in production; the stack (identity, company_registry,
complaint, gateway) is started by concilia.devstack on fresh PostgreSQL databases and a RabbitMQ
vhost of its own. Needs PostgreSQL at TEST_DATABASE_ADMIN_URL and RabbitMQ (rabbitmqctl).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent import futures
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lib"), str(REPO), str(REPO / "tests")]

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
ECHO = "/bench.Bench/Echo"


# --- baseline servers (run as subprocesses: `--serve echo|insert`) --------------------------------
def serve(kind: str, port: int, database_url: str, server_threads: int) -> None:
    import grpc
    import psycopg

    local = threading.local()

    def echo(request: bytes, _context) -> bytes:
        return request

    def insert(request: bytes, _context) -> bytes:
        if not hasattr(local, "connection"):
            local.connection = psycopg.connect(database_url)
        with local.connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench (id, body, created_at) VALUES (%s, %s, now())",
                           (str(uuid.uuid4()), request.decode("utf-8", "replace")))
        local.connection.commit()
        return request

    handler = grpc.method_handlers_generic_handler("bench.Bench", {
        "Echo": grpc.unary_unary_rpc_method_handler(echo if kind == "echo" else insert)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=server_threads))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


# --- load generation ------------------------------------------------------------------------------
def run_load(call, threads: int, seconds: float, rate: float | None = None) -> dict:
    """Closed loop (rate None: as fast as possible) or paced at `rate` calls/s in total."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker(index: int):
        mine, failed = [], 0
        interval = threads / rate if rate else 0.0
        next_start = time.perf_counter() + (interval * index / threads if rate else 0)
        while True:
            if rate:
                pause = next_start - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                next_start += interval
            started = time.perf_counter()
            if started >= stop_at:
                break
            try:
                call()
            except Exception:  # noqa: BLE001 - counted, the run goes on
                failed += 1
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    begun = time.perf_counter()
    with futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    elapsed = time.perf_counter() - begun
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")
    return {"calls": len(latencies), "errors": errors[0], "per_second": len(latencies) / elapsed,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0}


def cpu_seconds(pids) -> float:
    """User + system CPU time of these processes (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(name: str, call, threads: int, seconds: float, server_pids=()) -> dict:
    """Closed loop, then paced at half the maximum. The servers' CPU per call (ms) is reported too:
    on a shared 2-core machine it moves far less with the load than the rates do."""
    for _ in range(200):  # warm-up: connections, caches, JIT-less but pool-full
        call()
    cpu_before = cpu_seconds(server_pids)
    full = run_load(call, threads, seconds)
    full["server_cpu_ms_per_call"] = (cpu_seconds(server_pids) - cpu_before) * 1000 / max(1, full["calls"])
    half = run_load(call, threads, seconds, rate=full["per_second"] / 2)
    print(f"{name:8s} max {full['per_second']:8.0f}/s p50 {full['p50_ms']:6.2f} ms p99 {full['p99_ms']:6.2f} ms"
          f" | at half load ({half['per_second']:.0f}/s) p50 {half['p50_ms']:6.2f} ms p99 {half['p99_ms']:6.2f} ms"
          f" | errors {full['errors'] + half['errors']} | server CPU {full['server_cpu_ms_per_call']:.2f} ms/call",
          flush=True)
    return {"max": full, "half": half}


# --- the run ------------------------------------------------------------------------------------
def create_database(name: str) -> str:
    import psycopg
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    import psycopg
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bind_event_sink(amqp_uri: str) -> None:
    """A queue bound to every complaint event, standing in for the notification and metrics
    workers that are not started here: without it the relay's events would be unroutable and
    retried (docs/adr/0013-outbox-relay.md), which no deployment does. It keeps the newest 10,000."""
    from kombu import Connection, Exchange, Queue
    with Connection(amqp_uri) as connection:
        Queue("bench-complaint-events", Exchange("complaint.events", type="topic", durable=True), routing_key="#",
              durable=False, queue_arguments={"x-max-length": 10000, "x-overflow": "drop-head"})(
            connection.default_channel).declare()


def start_baseline(kind: str, database_url: str, server_threads: int) -> tuple[subprocess.Popen, str]:
    from concilia.devstack import free_port
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port),
                                "--database-url", database_url, "--server-threads", str(server_threads)],
                               stdout=subprocess.PIPE, text=True,
                               start_new_session=True)  # like the stack's servers (docs/adr/0024)
    assert process.stdout.readline().strip() == "ready"
    return process, f"127.0.0.1:{port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure the four servers this many times, interleaved (a shared machine's load "
                             "drifts); ratios are given per round and as the median")
    parser.add_argument("--server-threads", type=int, default=None,
                        help="RPC threads of every server measured: the baselines and the complaint api "
                             "(GRPC_MAX_WORKERS); default: the api's own default, so all are alike")
    parser.add_argument("--serve", choices=["echo", "insert"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.server_threads is None:
        from concilia.chassis.service import RPC_THREADS
        args.server_threads = RPC_THREADS
    if args.serve:
        serve(args.serve, args.port, args.database_url, args.server_threads)
        return 0

    import http.client

    import grpc
    import psycopg
    from google.protobuf import json_format

    from concilia.chassis.country import DEFAULT_PACKS_DIR
    from concilia.chassis.grpc_client import bearer
    from concilia.devstack import Stack
    from support.complaints import World, filing

    run = uuid.uuid4().hex[:8]
    databases = {name: f"concilia_bench_{run}_{name}" for name in ("baseline", "identity", "company_registry",
                                                                      "complaint")}
    vhost = f"concilia-bench-{run}"
    work = Path(tempfile.mkdtemp(prefix="concilia-bench-"))
    processes, channels, stack = [], [], None
    rounds = []
    try:
        urls = {name: create_database(db) for name, db in databases.items()}
        with psycopg.connect(urls["baseline"], autocommit=True) as connection:
            connection.execute("CREATE TABLE bench (id uuid PRIMARY KEY, body text NOT NULL, "
                               "created_at timestamptz NOT NULL)")
        payload = b"x" * 300  # about the size of a FileComplaint request
        calls, pids = {}, {}
        for kind in ("echo", "insert"):
            process, address = start_baseline(kind, urls["baseline"], args.server_threads)
            processes.append(process)
            pids[kind] = [process.pid]
            channels.append(grpc.insecure_channel(address))
            calls[kind] = (lambda method: lambda: method(payload, timeout=5))(channels[-1].unary_unary(ECHO))

        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True)
        packs = work / "packs"
        shutil.copytree(DEFAULT_PACKS_DIR / "br", packs / "br")
        pack = packs / "br" / "pack.yaml"
        pack.write_text(pack.read_text().replace("filings_per_day: 20", "filings_per_day: 100000000"))
        stack = Stack(data_dir=work / "stack", amqp_uri=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
                      database_urls={k: v for k, v in urls.items() if k != "baseline"},
                      services=["identity", "company_registry", "complaint"], gateway=True, random_ports=True,
                      extra_env={"BOOTSTRAP_ADMIN_EMAIL": "admin@concilia.test",
                                 "BOOTSTRAP_ADMIN_PASSWORD": "admin-password-1", "LOG_LEVEL": "WARNING",
                                 "GRPC_MAX_WORKERS": str(args.server_threads),
                                 "CONCILIA_COUNTRY_PACKS_DIR": str(packs), "GATEWAY_WORKERS": "4"})
        stack.start(timeout=120)
        bind_event_sink(stack.amqp_uri)
        world = World(stack)
        company = world.company("Banco Bench")
        # One consumer per client thread: many consumers file at once, as in production (a single
        # account's filings are serialised by its rate-limit counter row, on purpose).
        tokens = [world.consumer()[1] for _ in range(args.threads)]
        own = threading.local()
        assigned = iter(range(10**9))

        def my_token() -> str:
            if not hasattr(own, "token"):
                own.token = tokens[next(assigned) % len(tokens)]
            return own.token
        request = filing(company)
        stub = world.complaints
        api_pid = stack.processes["complaint-api"].popen.pid
        pids["grpc"] = [api_pid]
        calls["grpc"] = lambda: stub.FileComplaint(request, metadata=bearer(my_token()), timeout=5)

        # A plain keep-alive HTTP/1.1 connection per client thread: the client's own CPU (on the
        # same machine) stays small next to the gateway's, as the gRPC client's does.
        body = json.dumps(json_format.MessageToDict(request, preserving_proto_field_name=True)).encode()
        host, port = stack.gateway_url.removeprefix("http://").split(":")

        def post():
            headers = {"Authorization": f"Bearer {my_token()}", "Content-Type": "application/json"}
            for attempt in (1, 2):
                if getattr(own, "http", None) is None:
                    own.http = http.client.HTTPConnection(host, int(port), timeout=5)
                try:
                    own.http.request("POST", "/api/v1/complaints", body=body, headers=headers)
                    response = own.http.getresponse()
                    response.read()
                    break
                except (http.client.RemoteDisconnected, ConnectionError):
                    own.http.close()  # the server closed an idle keep-alive connection: open another
                    own.http = None
                    if attempt == 2:
                        raise
            if response.status != 201:
                raise RuntimeError(response.status)
        calls["gateway"] = post
        gunicorn = stack.processes["gateway"].popen.pid
        pids["gateway"] = [api_pid, gunicorn] + [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(gunicorn)], capture_output=True, text=True).stdout.split()]

        print(f"every server measured serves from {args.server_threads} RPC threads", flush=True)
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {number}", flush=True)
            rounds.append({name: measure(name, call, args.threads, args.seconds, pids[name])
                           for name, call in calls.items()})
            print_ratios(rounds[-1])
    finally:
        if stack:
            stack.stop()
        for channel in channels:
            channel.close()
        for process in processes:
            process.terminate()
            process.wait(10)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)
        for name in databases.values():
            drop_database(name)
        shutil.rmtree(work, ignore_errors=True)

    if len(rounds) > 1:
        print("median of the rounds:", end=" ")
        print_ratios({name: {"max": {"per_second": statistics.median(r[name]["max"]["per_second"] for r in rounds)},
                             "half": {"p99_ms": statistics.median(r[name]["half"]["p99_ms"] for r in rounds)}}
                      for name in rounds[0]})
    if args.json:
        Path(args.json).write_text(json.dumps({"server_threads": args.server_threads, "rounds": rounds, "ratios": [ratios(r) for r in rounds],
                                               "threads": args.threads, "seconds": args.seconds}, indent=2))
    return 0


def ratios(results: dict) -> dict:
    grpc_rate, insert_rate = results["grpc"]["max"]["per_second"], results["insert"]["max"]["per_second"]
    return {"grpc_vs_insert": grpc_rate / insert_rate,
            "gateway_vs_grpc": results["gateway"]["max"]["per_second"] / grpc_rate}


def print_ratios(results: dict) -> None:
    found = ratios(results)
    print(f"ratios: gRPC / one-insert baseline = {found['grpc_vs_insert']:.0%} (target >= 80%); "
          f"gateway / gRPC = {found['gateway_vs_grpc']:.0%} (target >= 50%); "
          f"p99 at half load: gRPC {results['grpc']['half']['p99_ms']:.1f} ms, "
          f"gateway {results['gateway']['half']['p99_ms']:.1f} ms (target <= 50 ms)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
