"""OpenTelemetry tracing set-up, W3C context in carriers, and the Prometheus /metrics endpoint.

Spans are exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (HTTP rather than gRPC
so that worker processes never import grpc); otherwise they are created but not exported.
"""
import os
from typing import Mapping, MutableMapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured = False


def spans_exported() -> bool:
    """Whether this process exports spans (an OTLP endpoint is configured). Without an exporter,
    hot paths may skip creating spans nobody would see."""
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def setup_tracing(service: str) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    resource = Resource.create({
        "service.name": os.environ.get("OTEL_SERVICE_NAME", service),
        "service.namespace": "concilia",
        "deployment.environment": os.environ.get("CONCILIA_ENVIRONMENT", "local"),
    })
    provider = TracerProvider(resource=resource)
    if spans_exported():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=500))
    trace.set_tracer_provider(provider)


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


def inject(carrier: MutableMapping[str, str] | None = None) -> dict:
    """The current trace context as W3C headers (traceparent, tracestate)."""
    carrier = {} if carrier is None else carrier
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(carrier)


def start_metrics_server(port: int, addr: str = "0.0.0.0") -> None:
    """Serves the default Prometheus registry on its own port; 0 disables it."""
    if port:
        from prometheus_client import start_http_server
        start_http_server(port, addr=addr)
