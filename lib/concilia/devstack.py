"""Starts Concilia's processes on one machine: every service's api and worker, and the gateway.

Used by `concilia run` (embedded defaults: SQLite files, local RabbitMQ) and by the integration
tests (PostgreSQL databases and a RabbitMQ vhost of their own). Processes are started exactly as
in production (docs/developing.md), each with its stderr in <data>/logs/<name>.log.
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# service -> default gRPC port; the order is the start order (identity first: others fetch its keys).
SERVICES = {
    "identity": 50051,
    "company_registry": 50052,
    "complaint": 50053,
    "notification": 50054,
    "metrics": 50055,
}
GATEWAY_PORT = 8080
# argon2id at OWASP's floor (19 MiB, 2 passes, 1 lane; the identity settings refuse less) instead of
# RFC 9106's 64 MiB profile, for stacks whose subject is not password hashing (tests, replays): a
# cost a deployment may choose too, about five times cheaper per login here.
FLOOR_PASSWORD_HASH = {"PASSWORD_HASH_MEMORY_KIB": "19456", "PASSWORD_HASH_TIME_COST": "2",
                       "PASSWORD_HASH_PARALLELISM": "1"}


def available_services() -> list[str]:
    """Services whose code exists in this checkout."""
    return [name for name in SERVICES if (REPO / "services" / name / "api.py").exists()]


def has_worker(service: str) -> bool:
    return (REPO / "services" / service / "worker.py").exists()


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nobody listens on, below the kernel's ephemeral range (32768+): a port the kernel
    picked for us could be handed to someone's outgoing connection before our server binds it."""
    while True:
        port = random.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict
    log_path: Path
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        # A session of its own, so a process group of its own too: a terminal's Ctrl-C reaches
        # only the devstack, which stops the children in order, and the scheduler gives each
        # component a CPU share of its own, as the chart's containers have (autogroup treats every
        # session as one; docs/adr/0024-local-stack-sessions.md).
        self.popen = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                      cwd=REPO, start_new_session=True)
        log.close()

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.running:
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.running:
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@dataclass
class Stack:
    """A set of running processes. `database_urls` maps service -> URL; ports are chosen here."""
    data_dir: Path
    database_urls: dict
    amqp_uri: str
    services: list[str] = field(default_factory=available_services)
    gateway: bool = True
    ports: dict = field(default_factory=dict)
    extra_env: dict = field(default_factory=dict)
    random_ports: bool = False
    processes: dict = field(default_factory=dict)

    def __post_init__(self):
        self.data_dir = Path(self.data_dir)
        for offset, name in enumerate(SERVICES):
            if name not in self.ports:
                self.ports[name] = free_port() if self.random_ports else SERVICES[name]
            self.ports.setdefault(f"{name}_metrics", free_port() if self.random_ports else 9151 + offset)
            self.ports.setdefault(f"{name}_worker_metrics", free_port() if self.random_ports else 9251 + offset)
        self.ports.setdefault("gateway", free_port() if self.random_ports else GATEWAY_PORT)
        self.ports.setdefault("gateway_metrics", free_port() if self.random_ports else 9150)

    # --- addresses -------------------------------------------------------------------------
    def addr(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def base_env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRPC_", "METRICS_", "DATABASE_"))}
        env.update({
            "PYTHONUNBUFFERED": "1",
            "CONCILIA_COUNTRY": env.get("CONCILIA_COUNTRY", "BR"),
            "AMQP_URI": self.amqp_uri,
            "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
            "TOKEN_SIGNING_KEY_FILE": str(self.data_dir / "keys" / "token-signing.pem"),
            "ATTACHMENTS_DIR": str(self.data_dir / "attachments"),
        })
        for name in SERVICES:
            env[f"{name.upper()}_ADDR"] = self.addr(name)
        env.update(self.extra_env)
        return env

    def service_env(self, service: str, kind: str) -> dict:
        env = self.base_env()
        env["DATABASE_URL"] = self.database_urls[service]
        env["GRPC_PORT"] = str(self.ports[service])
        env["METRICS_PORT"] = str(self.ports[f"{service}_metrics" if kind == "api" else f"{service}_worker_metrics"])
        env["OTEL_SERVICE_NAME"] = f"{service}-{kind}"
        return env

    # --- lifecycle -------------------------------------------------------------------------
    def migrate(self, service: str) -> None:
        result = subprocess.run([sys.executable, "-m", "concilia.chassis.migrate", f"services.{service}"],
                                env=self.service_env(service, "migrate"), cwd=REPO, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"migrations of {service} failed:\n{result.stderr[-3000:]}")

    def _add(self, name: str, argv: list[str], env: dict) -> Process:
        process = Process(name, argv, env, self.data_dir / "logs" / f"{name}.log")
        self.processes[name] = process
        return process

    def define(self) -> None:
        python = sys.executable
        for service in self.services:
            self._add(f"{service}-api", [python, "-m", f"services.{service}.api"], self.service_env(service, "api"))
            if has_worker(service):
                self._add(f"{service}-worker", [python, "-m", "concilia.chassis.run_worker", f"services.{service}.worker"],
                          self.service_env(service, "worker"))
        if self.gateway:
            env = self.base_env()
            env.update({"PORT": str(self.ports["gateway"]), "METRICS_PORT": str(self.ports["gateway_metrics"]),
                        "OTEL_SERVICE_NAME": "gateway"})
            gunicorn = str(Path(python).with_name("gunicorn"))
            self._add("gateway", [gunicorn, "-c", "python:services.gateway.gunicorn_conf",
                                  "services.gateway.app:create_app()"], env)

    def start(self, timeout: float = 90.0, progress=None) -> "Stack":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for service in self.services:
            (progress or (lambda _m: None))(f"migrating {service}")
            self.migrate(service)
        self.define()
        for process in self.processes.values():
            (progress or (lambda _m: None))(f"starting {process.name}")
            process.start()
        try:
            self.wait_healthy(timeout, progress)
        except BaseException:
            self.stop()  # a stack that did not come up must not leave processes behind
            raise
        return self

    def wait_healthy(self, timeout: float = 90.0, progress=None) -> None:
        deadline = time.monotonic() + timeout
        pending = [p for p in self.processes.values()]
        while pending:
            for process in list(pending):
                if not process.running:
                    raise RuntimeError(f"{process.name} exited with code {process.popen.returncode}:\n{process.log_tail()}")
                if self.is_healthy(process.name):
                    pending.remove(process)
                    (progress or (lambda _m: None))(f"{process.name} ready")
            if pending and time.monotonic() > deadline:
                names = ", ".join(p.name for p in pending)
                tails = "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in pending)
                raise RuntimeError(f"not healthy after {timeout:.0f}s: {names}\n{tails}")
            if pending:
                time.sleep(0.2)

    def is_healthy(self, name: str) -> bool:
        if name == "gateway":
            return http_ok(f"{self.gateway_url}/livez")
        service, kind = name.rsplit("-", 1)
        if kind == "api":
            return grpc_serving(self.addr(service))
        return http_ok(f"http://127.0.0.1:{self.ports[f'{service}_worker_metrics']}/metrics")

    def stop(self) -> None:
        # Gateway first, then workers, then apis: nothing calls a process that is already gone.
        order = sorted(self.processes.values(), key=lambda p: (p.name != "gateway", p.name.endswith("-api")))
        for process in order:
            process.signal(signal.SIGTERM)
        for process in order:
            process.stop()

    def restart(self, name: str, timeout: float = 60.0) -> None:
        process = self.processes[name]
        process.stop()
        process.start()
        deadline = time.monotonic() + timeout
        while not self.is_healthy(name):
            if not process.running or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not come back:\n{process.log_tail()}")
            time.sleep(0.2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False


def grpc_serving(address: str, service: str = "", timeout: float = 1.0) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    try:
        with grpc.insecure_channel(address) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                                 timeout=timeout)
            return response.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def sqlite_urls(data_dir: Path, services=None) -> dict:
    return {name: f"sqlite:///{Path(data_dir).resolve()}/{name}.db" for name in (services or SERVICES)}


def ensure_local_broker(progress=print) -> None:
    """Starts (and if needed installs) RabbitMQ through the repo's script."""
    script = REPO / "scripts" / "ensure-services.sh"
    if shutil.which("bash") and script.exists():
        subprocess.run(["bash", str(script), "rabbitmq"], check=True)
