"""What every api process shares: its settings and its main()."""
import logging
import sys
from dataclasses import dataclass
from typing import Callable

from . import config
from .config import env

log = logging.getLogger(__name__)

# 8, not more: the process is bound by its GIL, and each thread may hold a database connection
# whose backend competes for the same CPU (docs/adr/0025-api-thread-pool.md).
RPC_THREADS = 8


@dataclass(frozen=True)
class ApiSettings:
    database_url: str = env("DATABASE_URL", help="SQLAlchemy URL of this service's database")
    grpc_port: int = env("GRPC_PORT", 50051)
    metrics_port: int = env("METRICS_PORT", 0, help="Prometheus /metrics port; 0 = off")
    max_workers: int = env("GRPC_MAX_WORKERS", RPC_THREADS, help="RPC threads; each may use a database connection")
    country: str = env("CONCILIA_COUNTRY", "BR")
    identity_addr: str = env("IDENTITY_ADDR", "127.0.0.1:50051", help="for the token keys (JWKS)")
    token_issuer: str = env("TOKEN_ISSUER", "concilia")
    tls_cert_file: str = env("GRPC_TLS_CERT_FILE", "")
    tls_key_file: str = env("GRPC_TLS_KEY_FILE", "")
    migrate_on_start: bool = env("MIGRATE_ON_START", False, help="apply migrations before serving")


def run_api(service: str, settings_class: type, build: Callable) -> int:
    """Common main() of api processes.

    `build(settings)` returns (service_names, add_servicers, verifier). Configuration errors end
    the process with exit code 2 and one clear line, before anything listens.
    """
    from .grpc_server import ApiServer, TlsFiles
    from .logs import setup_logging
    from .telemetry import setup_tracing, shutdown_tracing, start_metrics_server

    setup_logging(f"{service}-api")
    try:
        settings = config.load(settings_class)
    except config.ConfigError as error:
        print(f"{service}-api: {error}", file=sys.stderr)
        return 2
    setup_tracing(f"{service}-api")
    if settings.migrate_on_start:
        from .db import migrate
        migrate(f"services.{service}", settings.database_url)
    service_names, add_servicers, verifier = build(settings)
    tls = TlsFiles(settings.tls_cert_file, settings.tls_key_file) if settings.tls_cert_file else None
    server = ApiServer(service_names, settings.grpc_port, add_servicers, verifier=verifier,
                       max_workers=settings.max_workers, tls=tls)
    start_metrics_server(settings.metrics_port)
    server.start()
    server.wait()
    shutdown_tracing()
    return 0


def identity_verifier(settings: ApiSettings):
    """A TokenVerifier fed by the identity service's JWKS (fetched lazily, cached)."""
    from .auth import TokenVerifier
    from .grpc_client import jwks_fetcher, make_channel
    return TokenVerifier(jwks_fetcher(make_channel(settings.identity_addr)), issuer=settings.token_issuer)
