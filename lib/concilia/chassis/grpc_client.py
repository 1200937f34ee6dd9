"""gRPC client side for api and gateway processes: channels with tracing, RED metrics, a default
deadline on every call, and optional TLS."""
import os
import time

import grpc
from opentelemetry.instrumentation.grpc import client_interceptor as otel_client_interceptor
from opentelemetry.instrumentation.grpc.grpcext import intercept_channel as otel_intercept_channel
from prometheus_client import Counter, Histogram

from .telemetry import spans_exported

DEFAULT_TIMEOUT_SECONDS = float(os.environ.get("GRPC_CLIENT_TIMEOUT_SECONDS", "5"))
# Longest pause between reconnection attempts to a peer that is down. grpc's default grows to 120 s,
# and calls fail at once (UNAVAILABLE, the gateway's 503) until the next attempt, so a backend back
# from a roll-out or a crash could wait minutes for its callers; an attempt every 2 s costs nothing.
MAX_RECONNECT_BACKOFF_MS = int(os.environ.get("GRPC_CLIENT_MAX_RECONNECT_BACKOFF_MS", "2000"))

CLIENT_HANDLED = Counter("grpc_client_handled_total", "RPCs completed by clients",
                         ["grpc_service", "grpc_method", "grpc_code"])
CLIENT_SECONDS = Histogram("grpc_client_handling_seconds", "RPC time seen by clients",
                           ["grpc_service", "grpc_method"],
                           buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))


class _MeteredUnaryUnary:
    """One unary-unary method: a default deadline on every call (never wait forever on a dead peer)
    and RED metrics. A plain wrapper rather than a grpc client interceptor: grpc's interceptor
    machinery builds a multi-callable and several wrapper objects per call, which cost about a tenth
    of the gateway's and the replay client's CPU per call (docs/adr/0012-write-path.md)."""

    def __init__(self, inner, method: str, default_timeout: float):
        self._inner = inner
        self._timeout = default_timeout
        self._service, _, self._method = method.lstrip("/").rpartition("/")
        self._seconds = CLIENT_SECONDS.labels(self._service, self._method)
        self._handled: dict = {}  # status code -> counter child, made on first use

    def _observe(self, code: grpc.StatusCode, started: float) -> None:
        counter = self._handled.get(code)
        if counter is None:
            counter = self._handled[code] = CLIENT_HANDLED.labels(self._service, self._method, code.name)
        counter.inc()
        self._seconds.observe(time.perf_counter() - started)

    def _call(self, invoke, request, timeout, **options):
        started = time.perf_counter()
        try:
            result = invoke(request, timeout=self._timeout if timeout is None else timeout, **options)
        except grpc.RpcError as error:
            self._observe(error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN, started)
            raise
        self._observe(grpc.StatusCode.OK, started)
        return result

    def __call__(self, request, timeout=None, **options):
        return self._call(self._inner, request, timeout, **options)

    def with_call(self, request, timeout=None, **options):
        return self._call(self._inner.with_call, request, timeout, **options)

    def future(self, request, timeout=None, **options):
        started = time.perf_counter()
        future = self._inner.future(request, timeout=self._timeout if timeout is None else timeout, **options)
        future.add_done_callback(lambda done: self._observe(done.code() or grpc.StatusCode.OK, started))
        return future


class _DeadlineUnaryStream:
    """A unary-stream method with the default deadline (streams are not counted)."""

    def __init__(self, inner, default_timeout: float):
        self._inner = inner
        self._timeout = default_timeout

    def __call__(self, request, timeout=None, **options):
        return self._inner(request, timeout=self._timeout if timeout is None else timeout, **options)


class MeteredChannel(grpc.Channel):
    """A channel whose unary calls get a default deadline and RED metrics (see _MeteredUnaryUnary)."""

    def __init__(self, channel: grpc.Channel, default_timeout: float):
        self._channel = channel
        self._timeout = default_timeout

    def unary_unary(self, method, *args, **kwargs):
        return _MeteredUnaryUnary(self._channel.unary_unary(method, *args, **kwargs), method, self._timeout)

    def unary_stream(self, method, *args, **kwargs):
        return _DeadlineUnaryStream(self._channel.unary_stream(method, *args, **kwargs), self._timeout)

    def stream_unary(self, method, *args, **kwargs):
        return self._channel.stream_unary(method, *args, **kwargs)

    def stream_stream(self, method, *args, **kwargs):
        return self._channel.stream_stream(method, *args, **kwargs)

    def subscribe(self, callback, try_to_connect=False):
        self._channel.subscribe(callback, try_to_connect=try_to_connect)

    def unsubscribe(self, callback):
        self._channel.unsubscribe(callback)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()
        return False


def make_channel(address: str, ca_file: str | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 max_reconnect_backoff_ms: int = MAX_RECONNECT_BACKOFF_MS) -> grpc.Channel:
    """A channel to `address` ("host:port"). TLS when `ca_file` (or GRPC_TLS_CA_FILE) is given.
    Client spans (and the trace context they send) only when spans are exported: without an
    exporter nobody sees them, and services then start their own traces (as the gateway's calls do)."""
    ca_file = ca_file or os.environ.get("GRPC_TLS_CA_FILE") or None
    options = [("grpc.keepalive_time_ms", 30000), ("grpc.max_receive_message_length", 16 * 1024 * 1024),
               ("grpc.max_reconnect_backoff_ms", max_reconnect_backoff_ms),
               ("grpc.initial_reconnect_backoff_ms", min(1000, max_reconnect_backoff_ms))]
    if ca_file:
        with open(ca_file, "rb") as handle:
            channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(handle.read()), options=options)
    else:
        channel = grpc.insecure_channel(address, options=options)
    if spans_exported():
        channel = otel_intercept_channel(channel, otel_client_interceptor())
    return MeteredChannel(channel, timeout)


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
