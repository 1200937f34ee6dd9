"""The rules of the code base that keep it simple: service boundaries and process kinds."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if p.is_dir() and (p / "__init__.py").exists())
BACKEND = [s for s in SERVICES if s != "gateway"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another_service(service):
    offenders = []
    for path in (REPO / "services" / service).rglob("*.py"):
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1] != service:
                offenders.append(f"{path.relative_to(REPO)} imports {module}")
    assert not offenders


@pytest.mark.parametrize("service", BACKEND)
def test_every_service_folder_has_the_same_shape(service):
    folder = REPO / "services" / service
    expected = ["__init__.py", "settings.py", "models.py", "domain.py", "api.py", "worker.py",
                "migrations/env.py", "migrations/script.py.mako"]
    assert [name for name in expected if not (folder / name).exists()] == []
    assert list((folder / "migrations" / "versions").glob("*.py")), "no migration"


@pytest.mark.parametrize("service", BACKEND)
def test_api_processes_never_load_eventlet_or_nameko(service):
    code = (f"import sys, services.{service}.api; "
            "bad = [m for m in ('eventlet', 'nameko') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", BACKEND)
def test_worker_processes_never_load_grpc(service):
    code = ("import eventlet; eventlet.monkey_patch(); import sys, importlib; "
            f"importlib.import_module('services.{service}.worker'); "
            "import concilia.chassis.run_worker; "
            "bad = [m for m in sys.modules if m == 'grpc' or m.startswith('grpc.')]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", BACKEND)
def test_workers_use_the_chassis_event_handler_that_requeues_on_failure(service):
    # nameko's own decorator acks a message whose handler failed: the event would be lost.
    modules = imported_modules(REPO / "services" / service / "worker.py")
    assert "nameko.events" not in modules


WORKER_ENTRYPOINTS = """
import eventlet; eventlet.monkey_patch()
import importlib, sys
from nameko.events import EventHandler
from nameko.timer import Timer
from concilia.chassis.batch_events import BatchEventHandler
from concilia.chassis.run_worker import find_service_class
service_class = find_service_class(importlib.import_module(sys.argv[1]))
bad = []
for name in dir(service_class):
    for entrypoint in getattr(getattr(service_class, name), "nameko_entrypoints", ()):
        if isinstance(entrypoint, EventHandler) and entrypoint.requeue_on_error:
            continue  # concilia.chassis.worker.event_handler
        if type(entrypoint) not in (BatchEventHandler, Timer):
            bad.append(f"{name}: {type(entrypoint).__name__}")
print(bad)
sys.exit(1 if bad else 0)
"""


@pytest.mark.parametrize("service", BACKEND)
def test_worker_entrypoints_never_ack_an_event_whose_handler_failed(service):
    # Only the chassis consumers (event_handler with requeue, batch_event_handler) and timers.
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", WORKER_ENTRYPOINTS, f"services.{service}.worker"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", BACKEND)
def test_workers_that_consume_events_prune_processed_events(service):
    # processed_events gains a row per consumed event: without the timer it grows forever.
    tree = ast.parse((REPO / "services" / service / "worker.py").read_text(encoding="utf-8"))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    if not names & {"event_handler", "batch_event_handler"}:
        return
    pruners = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "prune_processed_events"
               and any("timer" in ast.unparse(d) for d in f.decorator_list)
               and "retention.prune_processed_events(" in ast.unparse(f)]
    assert pruners, f"services/{service}/worker.py consumes events but has no prune_processed_events timer"
