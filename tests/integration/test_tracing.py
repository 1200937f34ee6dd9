"""One trace per complaint: gateway -> complaint api (gRPC) -> outbox relay -> AMQP -> notification
and metrics workers, collected by an OTLP/HTTP receiver running inside the test."""
import gzip
import http.server
import json
import threading
import time
import urllib.request

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from concilia.devstack import free_port
from support.complaints import World, filing
from google.protobuf import json_format


class Receiver(http.server.ThreadingHTTPServer):
    """Accepts OTLP/HTTP protobuf exports and keeps every span with its service name."""

    def __init__(self, port):
        self.spans: list[dict] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

    def find(self, **match) -> list[dict]:
        with self.lock:
            return [s for s in self.spans if all(s.get(k) == v for k, v in match.items())]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            service = next((a.value.string_value for a in resource_spans.resource.attributes
                            if a.key == "service.name"), "")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    spans.append({"service": service, "name": span.name, "trace_id": span.trace_id.hex(),
                                  "span_id": span.span_id.hex(), "parent": span.parent_span_id.hex(),
                                  "links": [link.span_id.hex() for link in span.links],
                                  "attributes": {a.key: json_format.MessageToDict(a.value) for a in span.attributes}})
        with self.server.lock:
            self.server.spans.extend(spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def traced(start_stack):
    receiver = Receiver(free_port())
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    stack = start_stack(gateway=True, extra_env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.server_address[1]}"})
    yield stack, receiver
    receiver.shutdown()


def test_one_complaint_is_one_connected_trace(traced):
    stack, receiver = traced
    world = World(stack)
    company_id = world.company("Banco Traço")
    _, consumer = world.consumer()
    body = json_format.MessageToDict(filing(company_id), preserving_proto_field_name=True)
    request = urllib.request.Request(f"{stack.gateway_url}/api/v1/complaints", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json",
                                                             "Authorization": f"Bearer {consumer}"})
    with urllib.request.urlopen(request, timeout=15) as response:
        assert response.status == 201

    def trace_of_the_filing():
        roots = [s for s in receiver.find(service="gateway") if s["name"].startswith("POST")
                 and "complaints" in s["name"]]
        return roots[-1]["trace_id"] if roots else None

    wanted = {"gateway", "complaint-api", "complaint-worker", "notification-worker", "metrics-worker"}
    deadline, spans = time.monotonic() + 30, []
    while time.monotonic() < deadline:
        trace_id = trace_of_the_filing()
        spans = receiver.find(trace_id=trace_id) if trace_id else []
        consumers = {s["service"] for s in spans if s["name"] == "complaint.complaint_filed process"}
        if wanted <= {s["service"] for s in spans} and {"notification-worker", "metrics-worker"} <= consumers:
            break
        time.sleep(0.5)
    services = {s["service"] for s in spans}
    assert wanted <= services, f"services in the trace: {sorted(services)}"

    by_id = {s["span_id"]: s for s in spans}

    def ancestors(span):
        chain = []
        while span and (span["parent"] or span["links"]):
            span = by_id.get(span["parent"]) or next((by_id[l] for l in span["links"] if l in by_id), None)
            if span:
                chain.append(span)
        return chain

    gateway_root = next(s for s in spans if s["service"] == "gateway" and s["parent"] == "")
    for consumer in ("notification-worker", "metrics-worker"):
        handler = next(s for s in spans if s["service"] == consumer and s["name"] == "complaint.complaint_filed process")
        chain = ancestors(handler)
        names = [(s["service"], s["name"]) for s in chain]
        assert ("complaint-worker", "complaint.events publish") in names, names
        assert any(service == "complaint-api" for service, _ in names), names  # the gRPC server span
        assert chain[-1]["span_id"] == gateway_root["span_id"], names
    # No personal data in span attributes: the consumer's national ID and e-mail never appear.
    assert "@" not in json.dumps([s["attributes"] for s in spans])
