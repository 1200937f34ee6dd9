"""The chart really wires the system.

Renders the chart, takes every container's command, args, environment, ports, volumes and probes from
the rendered migration Jobs, Deployments and `helm test` Pod, and runs them here as local processes:
- Kubernetes Service names in the environment (`<release>-identity-api:50051`, `http://<release>-gateway:8080`)
  are rewritten to 127.0.0.1 and a free local port, following Service port -> targetPort -> the
  selected Deployment's containerPort, so a wrong selector, port name or number breaks the wiring;
- every port the pod would listen on gets its own local port, and env values equal to a
  containerPort are rewritten with it (GRPC_PORT, PORT, METRICS_PORT: a wrong variable name leaves
  the process on its default port and its probe fails);
- secretKeyRef values and Secret volumes come from a test Secret store (real PostgreSQL databases and
  a RabbitMQ vhost from tests/conftest.py, a fresh Ed25519 key); emptyDir/PVC volumes become folders;
- `python` and `gunicorn` are the project's virtualenv; PYTHONPATH is the image's (lib:.).
Then the migration Jobs run to completion (as the pre-install hook), every Deployment starts, the
probes the chart declares must pass, the `helm test` Pod's own check must exit 0, and one complaint
goes through its whole life via the gateway's HTTP API, with its events reaching the workers.
A service the chart deploys that cannot start fails this test; nothing is skipped.
"""
import csv
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from .conftest import CHART, REPO

pytestmark = pytest.mark.integration

RELEASE, NAMESPACE = "wire", "concilia"
VENV_BIN = Path(sys.executable).parent
SEGMENT = "bancos-financeiras-e-administradoras-de-cartao"
ADMIN = {"email": "admin@concilia.test", "password": "admin-password-1"}
WIRING_VALUES = {
    "processDefaults": {"replicas": 1},
    "identity": {"bootstrapAdmin": {"existingSecret": "wire-bootstrap-admin"}},
    "logFormat": "text",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def signing_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


class Cluster:
    """Just enough of Kubernetes to run rendered pods as local processes."""

    def __init__(self, manifests: list[dict], secrets_: dict, workdir: Path):
        self.manifests, self.secrets, self.workdir = manifests, secrets_, workdir
        self.services = {d["metadata"]["name"]: d for d in manifests if d["kind"] == "Service"}
        self.config_maps = {d["metadata"]["name"]: d for d in manifests if d["kind"] == "ConfigMap"}
        self.deployments = [d for d in manifests if d["kind"] == "Deployment"]
        self.ports: dict[str, dict] = {}  # workload name -> {port name and number -> local port}
        for workload in self.deployments:
            local = {}
            for container in workload["spec"]["template"]["spec"]["containers"]:
                for port in container.get("ports", []):
                    local[port["name"]] = local[port["containerPort"]] = free_port()
            self.ports[workload["metadata"]["name"]] = local
        self.processes: dict[str, tuple[subprocess.Popen, Path]] = {}

    # --- addresses ----------------------------------------------------------------------------
    def resolve(self, host: str, port: int) -> int:
        """Service host:port -> the local port of the container port the Service targets."""
        service = self.services[host]
        (service_port,) = [p for p in service["spec"]["ports"] if p["port"] == port]
        selector = service["spec"]["selector"]
        (target,) = [d for d in self.deployments
                     if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        return self.ports[target["metadata"]["name"]][service_port["targetPort"]]

    def rewrite_addresses(self, value: str) -> str:
        names = "|".join(re.escape(n) for n in sorted(self.services, key=len, reverse=True))
        return re.sub(rf"\b({names}):(\d+)\b",
                      lambda m: f"127.0.0.1:{self.resolve(m.group(1), int(m.group(2)))}", value)

    # --- pods -----------------------------------------------------------------------------------
    def secret_value(self, name: str, key: str) -> str:
        assert name in self.secrets and key in self.secrets[name], f"the chart reads Secret {name}/{key}, unknown here"
        return self.secrets[name][key]

    def volumes(self, pod_name: str, spec: dict) -> dict[str, Path]:
        folders = {}
        for volume in spec.get("volumes", []):
            folder = self.workdir / pod_name / volume["name"]
            folder.mkdir(parents=True, exist_ok=True)
            if "secret" in volume:
                source = volume["secret"]
                items = source.get("items") or [{"key": k, "path": k} for k in self.secrets[source["secretName"]]]
                for item in items:
                    (folder / item["path"]).write_text(self.secret_value(source["secretName"], item["key"]))
            elif "configMap" in volume:
                data = self.config_maps[volume["configMap"]["name"]]["data"]
                for key, text in data.items():
                    (folder / key).write_text(text)
            else:
                assert {"emptyDir", "persistentVolumeClaim"} & set(volume), volume
            folders[volume["name"]] = folder
        return folders

    def command(self, pod_name: str, workload_name: str | None, spec: dict, container: dict) -> tuple[list, dict]:
        mounts = {}
        folders = self.volumes(pod_name, spec)
        for mount in container.get("volumeMounts", []):
            mounts[mount["mountPath"]] = folders[mount["name"]]
        local_ports = self.ports.get(workload_name, {})
        container_ports = {str(p["containerPort"]) for p in container.get("ports", [])}
        env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "PYTHONPATH": f"{REPO / 'lib'}:{REPO}",
               "PYTHONUNBUFFERED": "1", "HOME": str(self.workdir)}
        for item in container.get("env", []):
            if "valueFrom" in item:
                ref = item["valueFrom"]["secretKeyRef"]
                value = self.secret_value(ref["name"], ref["key"])
            else:
                value = item["value"]
            if value in container_ports:
                value = str(local_ports[int(value)])
            value = self.rewrite_addresses(value)
            for path, folder in mounts.items():
                if value == path or value.startswith(path + "/"):
                    value = str(folder) + value[len(path):]
            env[item["name"]] = value
        argv = list(container.get("command", [])) + list(container.get("args", []))
        assert argv, f"{pod_name}: no command (the image's default would run)"
        executable = shutil.which(argv[0], path=env["PATH"])
        assert executable and Path(executable).parent == VENV_BIN, f"{pod_name}: {argv[0]} is not in the image's venv"
        return [executable, *argv[1:]], env

    def start(self, workload: dict) -> None:
        name = workload["metadata"]["name"]
        spec = workload["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        argv, env = self.command(name, name, spec, container)
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as handle:
            process = subprocess.Popen(argv, env=env, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes[name] = (process, log)

    def run_to_completion(self, pod_name: str, spec: dict, timeout: float = 180) -> subprocess.CompletedProcess:
        (container,) = spec["containers"]
        argv, env = self.command(pod_name, None, spec, container)
        return subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)

    def log_tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.processes[name][1].read_text(errors="replace").splitlines()[-lines:])

    # --- probes ---------------------------------------------------------------------------------
    def probe(self, workload_name: str, probe: dict) -> bool:
        local = self.ports[workload_name]
        if "grpc" in probe:
            import grpc
            from grpc_health.v1 import health_pb2, health_pb2_grpc
            port = local[probe["grpc"]["port"]]
            try:
                with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                    status = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service=probe["grpc"].get("service", "")), timeout=1).status
                return status == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                return False
        if "tcpSocket" in probe:
            try:
                with socket.create_connection(("127.0.0.1", local[probe["tcpSocket"]["port"]]), timeout=1):
                    return True
            except OSError:
                return False
        if "httpGet" in probe:
            url = f"http://127.0.0.1:{local[probe['httpGet']['port']]}{probe['httpGet']['path']}"
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    return 200 <= response.status < 400
            except (urllib.error.URLError, OSError):
                return False
        raise AssertionError(f"{workload_name}: probe kind not supported here: {probe}")

    def wait_ready(self, timeout: float = 90) -> None:
        pending = {d["metadata"]["name"]: d for d in self.deployments}
        deadline = time.monotonic() + timeout
        while pending:
            for name, workload in list(pending.items()):
                process, _ = self.processes[name]
                if process.poll() is not None:
                    pytest.fail(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}", pytrace=False)
                container = workload["spec"]["template"]["spec"]["containers"][0]
                probes = [container[p] for p in ("startupProbe", "readinessProbe", "livenessProbe") if p in container]
                assert probes, f"{name} declares no probe"
                if all(self.probe(name, p) for p in probes):
                    del pending[name]
            if pending and time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}\n{self.log_tail(n)}" for n in pending)
                pytest.fail(f"probes never passed for {sorted(pending)}:\n{tails}", pytrace=False)
            time.sleep(0.3)

    def stop(self) -> None:
        for process, _ in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, (process, _) in self.processes.items():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


class Http:
    def __init__(self, base: str):
        self.base = base

    def __call__(self, method: str, path: str, body=None, token: str = "") -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, {"raw": text.decode(errors="replace")}


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def taxonomy_path() -> dict:
    with (REPO / "countries" / "br" / "taxonomy.csv").open(encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if r["segment_code"] == SEGMENT)
    return {k: row[k] for k in ("segment_code", "area", "subject", "problem_group", "problem")}


@pytest.fixture(scope="module")
def cluster(render, make_database, amqp_uri, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("wiring")
    values = workdir / "wiring-values.yaml"
    values.write_text(yaml.safe_dump(WIRING_VALUES))
    manifests = render(RELEASE, CHART / "values-br.yaml", values, namespace=NAMESPACE)
    store = {
        "concilia-br-database": {},
        "concilia-br-rabbitmq": {"amqp-uri": amqp_uri},
        "concilia-br-identity-signing-key": {"token-signing.pem": signing_key_pem()},
        "concilia-br-gateway": {"secret-key": secrets.token_hex(32)},
        "wire-bootstrap-admin": {"email": ADMIN["email"], "password": ADMIN["password"]},
        "concilia-br-bootstrap-admin": {"email": ADMIN["email"], "password": ADMIN["password"]},
    }
    for job in (d for d in manifests if d["kind"] == "Job"):
        package = job["spec"]["template"]["spec"]["containers"][0]["command"][-1].split(".")[-1]
        store["concilia-br-database"][f"{package.replace('_', '-')}-database-url"] = make_database(package)
    world = Cluster(manifests, store, workdir)
    try:
        yield world
    finally:
        world.stop()


@pytest.fixture(scope="module")
def running(cluster):
    jobs = [d for d in cluster.manifests if d["kind"] == "Job"]
    assert len(jobs) == 5, [j["metadata"]["name"] for j in jobs]
    assert all("pre-install" in j["metadata"]["annotations"]["helm.sh/hook"] for j in jobs)
    for job in jobs:  # hooks first, as Helm does
        result = cluster.run_to_completion(job["metadata"]["name"], job["spec"]["template"]["spec"])
        assert result.returncode == 0, f"{job['metadata']['name']} failed:\n{result.stderr[-3000:]}"
    for workload in cluster.deployments:
        cluster.start(workload)
    cluster.wait_ready()
    return cluster


def test_every_deployment_starts_and_passes_its_probes(running):
    assert {d["metadata"]["name"] for d in running.deployments} == {
        f"wire-{s}-{k}" for s in ("identity", "company-registry", "complaint", "notification", "metrics")
        for k in ("api", "worker")} | {"wire-gateway"}
    for name, (process, _) in running.processes.items():
        assert process.poll() is None, f"{name} died:\n{running.log_tail(name)}"


def test_the_helm_test_pod_passes(running):
    (pod,) = [d for d in running.manifests if d["kind"] == "Pod"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    result = running.run_to_completion(pod["metadata"]["name"], pod["spec"], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok  ") == 5 + 2


def test_a_complaint_lives_its_whole_life_through_the_gateway(running):
    from support.ids import new_cnpj, new_cpf
    api = Http(f"http://127.0.0.1:{running.ports['wire-gateway']['http']}")
    # Just rolled out: a gateway channel may still be in reconnect backoff from before identity
    # listened, and answers 503 "try again"; a client does, for a little while.
    deadline = time.monotonic() + 30
    while True:
        status, body = api("POST", "/api/v1/auth/login", ADMIN)
        if status != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 200, body
    admin = body["tokens"]["access_token"]

    status, body = api("POST", "/api/v1/companies", {
        "tax_id": new_cnpj(), "legal_name": "Loja Helm S.A.", "trade_name": "Loja Helm",
        "segment_code": SEGMENT, "terms_accepted": True})
    assert status == 201, body
    company = body["company"]["id"]
    status, body = api("POST", f"/api/v1/companies/{company}/approve", {}, token=admin)
    assert status == 200, body

    password = "wiring-password-1"
    status, body = api("POST", "/api/v1/accounts", {"role": "company_agent", "name": "Agent", "company_id": company,
                                                    "email": "agent@wire.test", "password": password}, token=admin)
    assert status == 201, body
    status, body = api("POST", "/api/v1/accounts", {"role": "consumer", "name": "Consumer", "national_id": new_cpf(),
                                                    "email": "consumer@wire.test", "password": password})
    assert status == 201, body
    agent = api("POST", "/api/v1/auth/login", {"email": "agent@wire.test", "password": password})[1]["tokens"]["access_token"]
    consumer = api("POST", "/api/v1/auth/login", {"email": "consumer@wire.test", "password": password})[1]["tokens"]["access_token"]

    # The approval reaches the complaint service as an event (registry outbox -> RabbitMQ ->
    # complaint worker): until then filing is refused with 409.
    filing = {"company_id": company, "taxonomy": taxonomy_path(), "purchase_channel": "Internet",
              "contacted_company_first": True, "description": "Charged twice for the same bill.",
              "desired_outcome": "Refund", "region_code": "BR-SP", "city": "São Paulo"}
    deadline = time.monotonic() + 60
    while True:
        status, body = api("POST", "/api/v1/complaints", filing, token=consumer)
        if status != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 201, body
    complaint = body["complaint"]["id"]
    assert body["complaint"]["status"] == "waiting_company"

    status, body = api("POST", f"/api/v1/complaints/{complaint}/answer", {"text": "Refunded."}, token=agent)
    assert status == 200 and body["complaint"]["status"] == "waiting_evaluation", body
    status, body = api("POST", f"/api/v1/complaints/{complaint}/evaluation",
                       {"resolution": "resolved", "satisfaction_score": 5}, token=consumer)
    assert status == 200 and body["complaint"]["status"] == "finalised_evaluated", body

    # The finalisation reaches the metrics service (complaint outbox -> metrics worker), whose api
    # exposes it on the metrics port the chart declares; the notification worker handled events too.
    metrics_port = running.ports["wire-metrics-api"]["metrics"]
    notification_port = running.ports["wire-notification-worker"]["metrics"]
    deadline = time.monotonic() + 60
    finalised = handled = 0.0
    while time.monotonic() < deadline:
        finalised = sum(float(v) for v in re.findall(
            r'^concilia_complaints_finalised_total\{[^}]*outcome="resolved"[^}]*\} (\S+)$', scrape(metrics_port), re.M))
        handled = sum(float(v) for v in re.findall(
            r'^concilia_event_handled_total\{[^}]*outcome="ok"[^}]*\} (\S+)$', scrape(notification_port), re.M))
        if finalised >= 1 and handled >= 1:
            break
        time.sleep(0.5)
    assert finalised >= 1, "the finalised complaint never reached the metrics service"
    assert handled >= 1, "the notification worker handled no event"
    status, page = Http(api.base)("GET", "/healthz")
    assert status == 200
