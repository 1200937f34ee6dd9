"""Fixtures for the chart tests: the tools (installed once into .tools/ by scripts/install-helm.sh)
and `render`, which runs `helm template` and returns the parsed documents."""
import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "concilia"
TOOLS = REPO / ".tools"
PROFILES = sorted((CHART / "ci").glob("*-values.yaml"))


def _install(tool: str) -> None:
    result = subprocess.run(["bash", str(REPO / "scripts" / "install-helm.sh"), tool],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"could not install {tool} with scripts/install-helm.sh {tool} "
                    f"(exit {result.returncode}):\n{result.stderr[-3000:]}", pytrace=False)


@pytest.fixture(scope="session")
def helm() -> str:
    _install("helm")
    return str(TOOLS / "bin" / "helm")


@pytest.fixture(scope="session")
def promtool() -> str:
    _install("promtool")
    return str(TOOLS / "bin" / "promtool")


@pytest.fixture(scope="session")
def checkov() -> str:
    _install("checkov")
    return str(TOOLS / "checkov-venv" / "bin" / "checkov")


def run(argv, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{TOOLS / 'bin'}:{os.environ.get('PATH', '')}"}
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, timeout=300, **kwargs)


@pytest.fixture(scope="session")
def render(helm):
    """render(release, *values_files, namespace="concilia", sets=()) -> list of manifests (cached)."""
    cache = {}

    def _render(release: str, *values_files, namespace: str = "concilia", sets=()) -> list[dict]:
        key = (release, tuple(map(str, values_files)), namespace, tuple(sets))
        if key not in cache:
            argv = [helm, "template", release, CHART, "--namespace", namespace]
            for values in values_files:
                argv += ["-f", values]
            for assignment in sets:
                argv += ["--set", assignment]
            result = run(argv)
            assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
            cache[key] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return cache[key]
    return _render


def pod_specs(manifests):
    """(manifest, pod spec) for every workload that runs pods."""
    for doc in manifests:
        kind = doc["kind"]
        if kind in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
            yield doc, doc["spec"]["template"]["spec"]
        elif kind == "Pod":
            yield doc, doc["spec"]
