"""Replay real open-data complaints through a fresh stack and time it.

    .venv/bin/python bench/bench_replay.py [FILE ...] [--threads 32]

Starts the whole stack (every api and worker, no gateway) on fresh PostgreSQL databases and a
RabbitMQ vhost of its own with a controlled clock, runs `concilia replay` over the files (default:
all nine Consumidor.gov.br files of 2014-15, 45,772 complaints), checks the service-computed
indicators against `concilia opendata indicators`, and prints seconds, complaints/s and the
comparison. Needs PostgreSQL (postgres superuser on 127.0.0.1) and rabbitmqctl.

The target (all of 2014-15 in 5 minutes) is absolute, so the figure depends on the machine: the
first line printed is a CPU reference taken before the stack starts (seconds for a 10-million-step
Python loop, best of three), to compare runs on different machines.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))
from concilia.chassis.clock import FileClock  # noqa: E402
from concilia.devstack import FLOOR_PASSWORD_HASH, SERVICES, Stack  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "consumidor-gov-br-2014"
ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")


def concilia(*args, env=None) -> dict:
    result = subprocess.run([sys.executable, "-m", "concilia.cli.main", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f"concilia {args[0]} failed (exit {result.returncode})")
    return json.loads(result.stdout)


def cpu_reference() -> float:
    """Seconds for a fixed pure-Python loop, best of three (lower is a faster CPU)."""
    import time
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", default=sorted(str(p) for p in DATA.glob("*.csv.gz")))
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    print(f"CPU reference: a 10M-step Python loop takes {cpu_reference():.2f} s", flush=True)
    tag = uuid.uuid4().hex[:6]
    databases = {name: f"concilia_bench_{tag}_{name}" for name in SERVICES}
    vhost = f"concilia-bench-{tag}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        for database in databases.values():
            connection.execute(f'CREATE DATABASE "{database}"')
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True)
    data_dir = Path(tempfile.mkdtemp(prefix="concilia-bench-replay-"))
    clock = data_dir / "clock"
    FileClock(clock).set(datetime(2014, 5, 1, tzinfo=timezone.utc))
    urls = {name: ADMIN_URL.rsplit("/", 1)[0] + f"/{db}" for name, db in databases.items()}
    stack = Stack(data_dir=data_dir, database_urls=urls, amqp_uri=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
                  gateway=False, random_ports=True,
                  extra_env={"CONCILIA_CLOCK_FILE": str(clock), "BOOTSTRAP_ADMIN_EMAIL": "admin@bench.invalid",
                             "BOOTSTRAP_ADMIN_PASSWORD": "bench-password-1", "LOG_LEVEL": "WARNING",
                             # Days pass in fractions of a second: lapsed deadlines are applied as
                             # promptly as the replay needs them (a deployment keeps 1 s).
                             "DEADLINE_SWEEP_INTERVAL_SECONDS": "0.2",
                             # ~235 agents and consumers log in once each: hashing is not the subject.
                             **FLOOR_PASSWORD_HASH})
    try:
        stack.start(timeout=120, progress=lambda m: print(f"  {m}", file=sys.stderr))
        env = {**os.environ, "CONCILIA_CLOCK_FILE": str(clock), "BOOTSTRAP_ADMIN_EMAIL": "admin@bench.invalid",
               "BOOTSTRAP_ADMIN_PASSWORD": "bench-password-1"}
        for service in ("identity", "company_registry", "complaint", "metrics"):
            env[f"{service.upper()}_ADDR"] = stack.addr(service)
        expected = concilia("opendata", "indicators", *args.files, "--json")
        got = concilia("replay", *args.files, "--json", "--threads", str(args.threads), "--settle-timeout", "900",
                       env=env)
    finally:
        stack.stop()
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            for database in databases.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost])
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"{'':24} {'replayed':>12} {'open data':>12}")
    for key in ("complaints", "solution_index", "strict_solution_index", "answered_share", "avg_answer_days",
                "satisfaction"):
        print(f"{key:24} {got[key]:12.4f} {expected[key]:12.4f}")
    print(f"seconds {got['seconds']}, complaints/s {got['complaints_per_second']}, events lost {got['events_lost']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
