"""The api process: a plain grpcio server with health, reflection, error mapping, RED metrics,
tracing, the caller's identity, and graceful shutdown. Never used in a nameko (eventlet) process.
"""
import contextvars
import logging
import random
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.grpc import server_interceptor as otel_server_interceptor
from prometheus_client import Counter, Histogram

from .auth import Principal, TokenVerifier
from .errors import DomainError, Unauthenticated
from .service import RPC_THREADS
from .telemetry import spans_exported

log = logging.getLogger(__name__)

SERVER_HANDLED = Counter("grpc_server_handled_total", "RPCs completed on the server",
                         ["grpc_service", "grpc_method", "grpc_code"])
SERVER_SECONDS = Histogram("grpc_server_handling_seconds", "RPC handling time on the server",
                           ["grpc_service", "grpc_method"],
                           buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))

_token: contextvars.ContextVar[str] = contextvars.ContextVar("concilia_token", default="")
_verifier: TokenVerifier | None = None


def current_principal() -> Principal:
    """The authenticated caller of the current RPC, or UNAUTHENTICATED."""
    if _verifier is None:
        raise Unauthenticated("this server does not accept tokens")
    return _verifier.verify(_token.get())


def optional_principal() -> Principal | None:
    """The caller when a token came with the request; None for anonymous calls."""
    return current_principal() if _token.get() else None


def metadata_safe(text: str, limit: int = 120) -> str:
    """A field name as a valid gRPC metadata value (printable ASCII): a field named after user
    input (e.g. a JSON key) must not turn a clean INVALID_ARGUMENT into a transport error."""
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if " " <= c <= "~" else "?" for c in escaped)[:limit]


def _status_code(name: str) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, name, grpc.StatusCode.INTERNAL)


def _trace_context(metadata) -> otel_context.Context:
    """The caller's trace context from the call's metadata, or a new trace: what a server span
    would give the outbox headers and the log lines, without the cost of a span nobody exports."""
    carrier = {key: value for key, value in metadata or () if key in ("traceparent", "tracestate")}
    if carrier:
        return propagate.extract(carrier)
    new = trace.SpanContext(trace_id=random.getrandbits(128) or 1, span_id=random.getrandbits(64) or 1,
                            is_remote=False, trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
    return trace.set_span_in_context(trace.NonRecordingSpan(new))


def _bearer_token(metadata) -> str:
    for key, value in metadata or ():
        if key == "authorization" and value.lower().startswith("bearer "):
            return value[7:].strip()
    return ""


class ChassisInterceptor(grpc.ServerInterceptor):
    """Wraps every unary/streaming handler: token into context, metrics, domain-error mapping.

    A method's wrapped handler is built on its first call and reused (the caller's token is read
    from each call's own metadata): building closures, handlers and metric children on every call
    cost more than the rest of the interceptor. With `trace_context`, each call runs in the
    caller's trace context (see _trace_context): for servers without OpenTelemetry's interceptor.
    """

    def __init__(self, trace_context: bool = False):
        self.trace_context = trace_context
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def intercept_service(self, continuation, handler_call_details):
        wrapped = self._wrapped.get(handler_call_details.method)
        if wrapped is None:
            handler = continuation(handler_call_details)
            if handler is None:
                return None  # unknown method: not remembered (clients choose these names)
            wrapped = self._wrapped[handler_call_details.method] = self._wrap(handler_call_details.method, handler)
        return wrapped

    def _wrap(self, full_method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        service, _, method = full_method.lstrip("/").rpartition("/")
        trace_context = self.trace_context
        handled_ok = SERVER_HANDLED.labels(service, method, "OK")
        seconds = SERVER_SECONDS.labels(service, method)

        def fail(error: Exception, context) -> None:
            """Turns an exception into an aborted RPC."""
            if isinstance(error, DomainError):
                if error.field:
                    context.set_trailing_metadata((("concilia-field", metadata_safe(error.field)),))
                context.abort(_status_code(error.code), error.message)
            if isinstance(error, grpc.RpcError) and hasattr(error, "code"):
                # A downstream call failed: pass its status on rather than hide it as INTERNAL.
                context.abort(error.code(), error.details() or "downstream error")
            if context.code() not in (None, grpc.StatusCode.OK):
                raise error  # the servicer aborted on purpose
            log.exception("unhandled error in %s", full_method)
            context.abort(grpc.StatusCode.INTERNAL, "internal error")

        def code_of(error: Exception, context) -> str:
            if isinstance(error, DomainError):
                return error.code
            if isinstance(error, grpc.RpcError) and hasattr(error, "code"):
                return error.code().name
            code = context.code()
            return code.name if code not in (None, grpc.StatusCode.OK) else "INTERNAL"

        def failed(started: float, error: Exception, context) -> None:
            SERVER_HANDLED.labels(service, method, code_of(error, context)).inc()
            seconds.observe(time.perf_counter() - started)
            fail(error, context)

        if handler.unary_unary:
            def unary_unary(request, context):
                metadata = context.invocation_metadata()
                started, reset = time.perf_counter(), _token.set(_bearer_token(metadata))
                traced = otel_context.attach(_trace_context(metadata)) if trace_context else None
                try:
                    response = handler.unary_unary(request, context)
                    handled_ok.inc()
                    seconds.observe(time.perf_counter() - started)
                    return response
                except Exception as error:  # noqa: BLE001 - the last barrier before the wire
                    failed(started, error, context)
                finally:
                    _token.reset(reset)
                    if traced is not None:
                        otel_context.detach(traced)
            return grpc.unary_unary_rpc_method_handler(unary_unary, handler.request_deserializer,
                                                       handler.response_serializer)
        if handler.unary_stream:
            def unary_stream(request, context):
                metadata = context.invocation_metadata()
                started, reset = time.perf_counter(), _token.set(_bearer_token(metadata))
                traced = otel_context.attach(_trace_context(metadata)) if trace_context else None
                try:
                    yield from handler.unary_stream(request, context)
                    handled_ok.inc()
                    seconds.observe(time.perf_counter() - started)
                except Exception as error:  # noqa: BLE001
                    failed(started, error, context)
                finally:
                    _token.reset(reset)
                    if traced is not None:
                        otel_context.detach(traced)
            return grpc.unary_stream_rpc_method_handler(unary_stream, handler.request_deserializer,
                                                        handler.response_serializer)
        return handler  # client-streaming methods: none in our contracts


@dataclass
class TlsFiles:
    cert_file: str
    key_file: str


class ApiServer:
    """A started gRPC server; `wait()` blocks until SIGTERM/SIGINT, then shuts down gracefully."""

    def __init__(self, service_names: list[str], port: int, add_servicers: Callable[[grpc.Server], None],
                 verifier: TokenVerifier | None = None, max_workers: int = RPC_THREADS, host: str = "0.0.0.0",
                 tls: TlsFiles | None = None, grace_seconds: float = 5.0, server_spans: bool | None = None):
        global _verifier
        _verifier = verifier
        self.grace_seconds = grace_seconds
        # A server span per call costs about as much as the rest of a small call's Python work;
        # when no span leaves the process, the call only carries the trace context on.
        if spans_exported() if server_spans is None else server_spans:
            interceptors = [otel_server_interceptor(), ChassisInterceptor()]
        else:
            interceptors = [ChassisInterceptor(trace_context=True)]
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
            interceptors=interceptors,
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 16 * 1024 * 1024)])
        add_servicers(self.server)
        self.health = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.service_names = service_names
        reflection.enable_server_reflection(
            [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server)
        address = f"{host}:{port}"
        if tls:
            with open(tls.key_file, "rb") as key, open(tls.cert_file, "rb") as cert:
                credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
            self.port = self.server.add_secure_port(address, credentials)
        else:
            self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {address}")
        self._stopped = threading.Event()

    def start(self) -> "ApiServer":
        self.server.start()
        for name in ["", *self.service_names]:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("gRPC server listening on port %s", self.port)
        return self

    def stop(self) -> None:
        # Tell load balancers first, then let in-flight RPCs finish within the grace period.
        self.health.enter_graceful_shutdown()
        self.server.stop(self.grace_seconds).wait()
        self._stopped.set()

    def wait(self) -> None:
        def on_signal(signum, _frame):
            log.info("signal %s: shutting down", signum)
            threading.Thread(target=self.stop, daemon=True).start()
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self._stopped.wait()


def full_names(*descriptors) -> list[str]:
    """Fully-qualified service names from generated *_pb2 service descriptors."""
    return [d.full_name for d in descriptors]


