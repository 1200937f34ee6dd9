"""gunicorn settings for the gateway (every module-level name is read by gunicorn as a setting): threaded workers (never eventlet), Prometheus in
multiprocess mode so /metrics (on METRICS_PORT) sums every worker."""
import os
import tempfile

from concilia.chassis.config import load as load_settings
from services.gateway.settings import GatewaySettings

_settings = load_settings(GatewaySettings)
bind = f"0.0.0.0:{_settings.port}"
worker_class = "gthread"
workers = _settings.workers
threads = _settings.threads
timeout = 30
limit_request_line = 8190  # gunicorn's maximum: long filter values get our JSON 400, not its HTML one
graceful_timeout = 10
accesslog = None  # request metrics and traces instead of access logs (no personal data in URLs)

_own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="concilia-gateway-metrics-")
if not os.environ.get("GATEWAY_SECRET_KEY"):
    # One random key shared by all workers of this start (sessions end with a restart).
    os.environ["GATEWAY_SECRET_KEY"] = os.urandom(32).hex()


def when_ready(_server):
    if _settings.metrics_port:
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        start_http_server(_settings.metrics_port, registry=registry)


def child_exit(_server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(_server):
    if _own_metrics_dir:
        import shutil
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
