"""Runs one service's nameko worker: python -m concilia.chassis.run_worker services.identity.worker

Environment: AMQP_URI, METRICS_PORT (0 = off), WORKER_MAX_WORKERS (default: the service class's
`max_workers`, else 10), and the service's own settings.
Monkey-patches with eventlet before anything else is imported, which is why this is the only way
worker processes start.
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402 - must precede every other import

import os  # noqa: E402

# psycopg's default wait calls poll() in C, which eventlet cannot green: one query would block every
# green thread. select.select is patched, so psycopg waits cooperatively. Set before psycopg loads.
os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")

import argparse  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from kombu import Connection  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from .logs import setup_logging  # noqa: E402
from .telemetry import setup_tracing, shutdown_tracing, start_metrics_server  # noqa: E402

log = logging.getLogger("concilia.worker")


def find_service_class(module):
    classes = [obj for obj in vars(module).values()
               if isinstance(obj, type) and obj.__module__ == module.__name__ and isinstance(getattr(obj, "name", None), str)]
    if len(classes) != 1:
        raise SystemExit(f"{module.__name__} must define exactly one nameko service class (found {len(classes)})")
    return classes[0]


def wait_for_broker(uri: str, timeout: float = 120.0) -> None:
    """Start-up tolerance: a broker that arrives late is waited for, with backoff."""
    deadline, delay = time.monotonic() + timeout, 0.5
    while True:
        try:
            with Connection(uri, connect_timeout=5) as connection:
                connection.ensure_connection(max_retries=1)
            return
        except Exception:  # noqa: BLE001 - any connection failure means "not yet"
            if time.monotonic() > deadline:
                raise
            log.warning("broker not reachable yet; retrying")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module", help="worker module, e.g. services.identity.worker")
    args = parser.parse_args(argv)
    module = importlib.import_module(args.module)
    service_class = find_service_class(module)
    setup_logging(f"{service_class.name}-worker")
    setup_tracing(f"{service_class.name}-worker")
    amqp_uri = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    wait_for_broker(amqp_uri)
    # Concurrent handlers, which nameko also uses as the AMQP prefetch count: a service class may
    # set its own default (`max_workers = 300`), WORKER_MAX_WORKERS overrides both.
    max_workers = int(os.environ.get("WORKER_MAX_WORKERS") or getattr(service_class, "max_workers", 10))
    config = {"AMQP_URI": amqp_uri, "max_workers": max_workers, "serializer": "json"}
    runner = ServiceRunner(config)
    runner.add_service(service_class)

    def stop(signum, _frame):
        log.info("signal %s: stopping worker", signum)
        eventlet.spawn(runner.stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.start()
    # The metrics port doubles as the readiness signal: it opens only once every consumer queue
    # is declared, so events published after a worker is "ready" always have somewhere to go.
    start_metrics_server(int(os.environ.get("METRICS_PORT", "0")))
    log.info("worker %s started", service_class.name)
    runner.wait()
    shutdown_tracing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
