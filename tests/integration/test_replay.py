"""`concilia replay` over a real month: the stack's own indicators equal the open-data ones."""
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from concilia.chassis.clock import FileClock

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "consumidor-gov-br-2014"
MONTH = DATA / "2014-06.csv.gz"  # 585 real complaints


@pytest.fixture(scope="module")
def stack(start_stack, tmp_path_factory):
    if not MONTH.exists():
        pytest.skip(f"real data not found at {MONTH}")
    clock_file = tmp_path_factory.mktemp("clock") / "clock"
    FileClock(clock_file).set(datetime(2014, 5, 1, tzinfo=timezone.utc))
    stack = start_stack(gateway=False, extra_env={"CONCILIA_CLOCK_FILE": str(clock_file),
                                                  "DEADLINE_SWEEP_INTERVAL_SECONDS": "0.2"})
    stack.clock_file = clock_file
    return stack


def concilia(*args, env=None) -> dict:
    result = subprocess.run([sys.executable, "-m", "concilia.cli.main", *args], capture_output=True, text=True,
                            env=env, cwd=REPO, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_replayed_month_gives_the_published_indicators(stack):
    expected = concilia("opendata", "indicators", str(MONTH), "--json")
    env = {**os.environ, "CONCILIA_CLOCK_FILE": str(stack.clock_file),
           "BOOTSTRAP_ADMIN_EMAIL": "admin@concilia.test", "BOOTSTRAP_ADMIN_PASSWORD": "admin-password-1"}
    for service in ("identity", "company_registry", "complaint", "metrics"):
        env[f"{service.upper()}_ADDR"] = stack.addr(service)
    got = concilia("replay", str(MONTH), "--json", "--threads", "8", "--settle-timeout", "180", env=env)
    assert got["events_lost"] == 0
    assert got["complaints"] == expected["complaints"] == 585
    for key in ("solution_index", "strict_solution_index", "answered_share", "satisfaction"):
        assert got[key] == pytest.approx(expected[key], abs=1e-9), key
    assert got["avg_answer_days"] == pytest.approx(expected["avg_answer_days"], abs=0.05)
    assert set(got["by_company"]) == set(expected["by_company"])
    for name, figures in expected["by_company"].items():
        mine = got["by_company"][name]
        assert mine["complaints"] == figures["complaints"], name
        for key in ("solution_index", "strict_solution_index", "answered_share"):
            assert mine[key] == pytest.approx(figures[key], abs=1e-9), (name, key)
        if figures["avg_answer_days"] is not None:
            assert mine["avg_answer_days"] == pytest.approx(figures["avg_answer_days"], abs=0.05), name
