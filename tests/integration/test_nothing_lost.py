"""Nothing lost: a real month is replayed while every worker is SIGKILLed and restarted, RabbitMQ
is restarted and PostgreSQL is restarted. Afterwards every complaint, event, notification and
indicator is exactly what the files say, with no duplicated side effect."""
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from concilia.chassis.clock import FileClock
from concilia.opendata import read_records

REPO = Path(__file__).resolve().parents[2]
MONTH = REPO.parent / "shared" / "data" / "consumidor-gov-br-2014" / "2014-06.csv.gz"  # 585 complaints


def concilia(*args, env=None) -> dict:
    result = subprocess.run([sys.executable, "-m", "concilia.cli.main", *args], capture_output=True, text=True,
                            env=env, cwd=REPO, timeout=1200)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def scalar(url: str, query: str, **params):
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(query), params).scalar()
    finally:
        engine.dispose()


def restart_rabbitmq() -> None:
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, capture_output=True, timeout=120)
    time.sleep(2)
    subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, capture_output=True, timeout=120)


def restart_postgresql() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True,
                   capture_output=True, timeout=120)


class Chaos(threading.Thread):
    """Disturbs the stack while the replay runs: each worker killed with SIGKILL and restarted,
    then RabbitMQ restarted, then PostgreSQL restarted."""

    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack = stack
        self.done: list[tuple[float, str]] = []  # (monotonic time, what)
        self.error: BaseException | None = None

    def run(self):
        try:
            time.sleep(6)  # let the replay's set-up finish and filing begin
            for name in [n for n in self.stack.processes if n.endswith("-worker")]:
                self.stack.processes[name].signal(9)
                self.stack.processes[name].popen.wait(10)
                time.sleep(0.5)
                self.stack.restart(name)
                self.done.append((time.monotonic(), f"SIGKILL {name}"))
            restart_rabbitmq()
            self.done.append((time.monotonic(), "restart RabbitMQ"))
            time.sleep(2)
            restart_postgresql()
            self.done.append((time.monotonic(), "restart PostgreSQL"))
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error


@pytest.fixture(scope="module")
def stack(start_stack, tmp_path_factory):
    if not MONTH.exists():
        pytest.skip(f"real data not found at {MONTH}")
    if not Path("/etc/postgresql").exists() or subprocess.run(["which", "rabbitmqctl"], capture_output=True).returncode:
        pytest.skip("needs the local PostgreSQL cluster and RabbitMQ to restart them")
    clock_file = tmp_path_factory.mktemp("clock") / "clock"
    FileClock(clock_file).set(datetime(2014, 5, 1, tzinfo=timezone.utc))
    stack = start_stack(gateway=False, extra_env={"CONCILIA_CLOCK_FILE": str(clock_file)})
    stack.clock_file = clock_file
    return stack


def test_a_disturbed_replay_loses_and_duplicates_nothing(stack):
    records, _ = read_records([MONTH])
    expected = concilia("opendata", "indicators", str(MONTH), "--json")
    env = {**os.environ, "CONCILIA_CLOCK_FILE": str(stack.clock_file),
           "BOOTSTRAP_ADMIN_EMAIL": "admin@concilia.test", "BOOTSTRAP_ADMIN_PASSWORD": "admin-password-1"}
    for service in ("identity", "company_registry", "complaint", "metrics"):
        env[f"{service.upper()}_ADDR"] = stack.addr(service)
    chaos = Chaos(stack)
    chaos.start()
    # A paced replay (the month's ~45 days at one a second): it must still be running when the last
    # disturbance hits, about 30 s in; unpaced, the month is replayed faster than that.
    try:
        got = concilia("replay", str(MONTH), "--json", "--threads", "4", "--days-per-second", "1",
                       "--settle-timeout", "300", env=env)
        finished = time.monotonic()
    finally:
        chaos.join(300)  # even when the replay failed: later tests must not meet a broker or database mid-restart
    assert chaos.error is None, repr(chaos.error)
    assert [what for _, what in chaos.done][-2:] == ["restart RabbitMQ", "restart PostgreSQL"], chaos.done
    assert all(at < finished for at, _ in chaos.done), f"a disturbance came after the replay: {chaos.done}"

    # Indicators: every finalised complaint counted once, with the published figures.
    assert got["events_lost"] == 0
    assert got["complaints"] == expected["complaints"] == len(records)
    for key in ("solution_index", "strict_solution_index", "answered_share", "satisfaction"):
        assert got[key] == pytest.approx(expected[key], abs=1e-9), key
    metrics_rows = scalar(stack.database_urls["metrics"], "SELECT count(*) FROM complaints")
    assert metrics_rows >= len(records)

    # Complaints: all of them, all finalised, each filed once.
    complaints_db = stack.database_urls["complaint"]
    evaluated = sum(1 for r in records if r.status == "Finalizada avaliada")
    assert scalar(complaints_db, "SELECT count(*) FROM complaints") == len(records)
    assert scalar(complaints_db, "SELECT count(*) FROM complaints WHERE status = 'finalised_evaluated'") == evaluated
    assert scalar(complaints_db, "SELECT count(*) FROM complaints WHERE status = 'finalised_not_evaluated'") == \
        len(records) - evaluated

    # Events: every outbox drained.
    for service in ("identity", "company_registry", "complaint"):
        deadline = time.monotonic() + 60
        while scalar(stack.database_urls[service], "SELECT count(*) FROM outbox") and time.monotonic() < deadline:
            time.sleep(1)
        assert scalar(stack.database_urls[service], "SELECT count(*) FROM outbox") == 0, service

    # Notifications: exactly one per (event, recipient): one receipt per filing to the consumer and
    # one to the company's single agent, the same on finalisation.
    notifications = stack.database_urls["notification"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and scalar(
            notifications, "SELECT count(*) FROM notifications WHERE kind = 'complaint_finalised'") < 2 * len(records):
        time.sleep(1)
    for kind in ("complaint_filed", "complaint_finalised"):
        assert scalar(notifications, "SELECT count(*) FROM notifications WHERE kind = :kind", kind=kind) == \
            2 * len(records), kind
    answered = sum(1 for r in records if r.answered)
    assert scalar(notifications, "SELECT count(*) FROM notifications WHERE kind = 'complaint_answered'") == answered
