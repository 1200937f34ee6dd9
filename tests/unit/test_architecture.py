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
