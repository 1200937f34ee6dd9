"""gRPC client side for api and gateway processes: channels with tracing, RED metrics, a default
deadline on every call, and optional TLS."""
import os
import time

import grpc
from opentelemetry.instrumentation.grpc import client_interceptor as otel_client_interceptor
from opentelemetry.instrumentation.grpc.grpcext import intercept_channel as otel_intercept_channel
from prometheus_client import Counter, Histogram

DEFAULT_TIMEOUT_SECONDS = float(os.environ.get("GRPC_CLIENT_TIMEOUT_SECONDS", "5"))

CLIENT_HANDLED = Counter("grpc_client_handled_total", "RPCs completed by clients",
                         ["grpc_service", "grpc_method", "grpc_code"])
CLIENT_SECONDS = Histogram("grpc_client_handling_seconds", "RPC time seen by clients",
                           ["grpc_service", "grpc_method"],
                           buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, details, timeout):
        self.method = details.method
        self.timeout = timeout
        self.metadata = details.metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class DeadlineAndMetrics(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Every call gets a deadline (never wait forever on a dead peer) and is counted."""

    def __init__(self, default_timeout: float):
        self.default_timeout = default_timeout

    def _details(self, details):
        if details.timeout is None:
            return _CallDetails(details, self.default_timeout)
        return details

    def intercept_unary_unary(self, continuation, client_call_details, request):
        service, _, method = client_call_details.method.lstrip("/").rpartition("/")
        started = time.perf_counter()
        outcome = continuation(self._details(client_call_details), request)
        code = outcome.code() if hasattr(outcome, "code") else grpc.StatusCode.OK
        CLIENT_HANDLED.labels(service, method, (code or grpc.StatusCode.OK).name).inc()
        CLIENT_SECONDS.labels(service, method).observe(time.perf_counter() - started)
        return outcome

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)


def make_channel(address: str, ca_file: str | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> grpc.Channel:
    """A channel to `address` ("host:port"). TLS when `ca_file` (or GRPC_TLS_CA_FILE) is given."""
    ca_file = ca_file or os.environ.get("GRPC_TLS_CA_FILE") or None
    options = [("grpc.keepalive_time_ms", 30000), ("grpc.max_receive_message_length", 16 * 1024 * 1024)]
    if ca_file:
        with open(ca_file, "rb") as handle:
            channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(handle.read()), options=options)
    else:
        channel = grpc.insecure_channel(address, options=options)
    # OpenTelemetry's interceptor has its own wrapping API; ours goes outside it.
    channel = otel_intercept_channel(channel, otel_client_interceptor())
    return grpc.intercept_channel(channel, DeadlineAndMetrics(timeout))


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata forwarding a caller's access token."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def jwks_fetcher(channel: grpc.Channel):
    """A `fetch_jwks` for TokenVerifier that asks the identity service (only on unknown key ids)."""
    import json
    from concilia.identity.v1 import identity_pb2, identity_pb2_grpc
    stub = identity_pb2_grpc.IdentityServiceStub(channel)

    def fetch() -> dict:
        return json.loads(stub.GetJwks(identity_pb2.GetJwksRequest(), timeout=5).jwks_json)
    return fetch
