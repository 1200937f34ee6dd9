"""The api server's interceptor on a real in-process grpcio server: each call sees its own token
and trace context although the wrapped handler is built once per method, and domain errors still
map to gRPC statuses. Without exported spans, events written by a call still carry a traceparent."""
import json

import grpc
import pytest
from prometheus_client import REGISTRY

from concilia.chassis.errors import InvalidArgument
from concilia.chassis.grpc_server import ApiServer, _token
from concilia.chassis.telemetry import inject

SERVICE = "concilia.test.v1.Probe"
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"


def probe(request: bytes, _context) -> bytes:
    """Answers with what the handler sees: the caller's token and the trace headers an outbox row
    written now would carry; b"fail" raises a domain error."""
    if request == b"fail":
        raise InvalidArgument("description", "is required")
    return json.dumps({"token": _token.get(), "trace": inject()}).encode()


@pytest.fixture(scope="module")
def server():
    def add(grpc_server):
        grpc_server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {
            "Probe": grpc.unary_unary_rpc_method_handler(probe)}),))
    api = ApiServer([SERVICE], 0, add, host="127.0.0.1", server_spans=False).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{api.port}")
    yield channel
    channel.close()
    api.stop()


@pytest.fixture
def method(server):
    return server.unary_unary(f"/{SERVICE}/Probe")


def call(method, body=b"hi", **metadata) -> dict:
    return json.loads(method(body, metadata=tuple(metadata.items()), timeout=5))


def test_every_call_sees_its_own_token(method):
    seen = [call(method, authorization=f"Bearer token-{n}")["token"] for n in range(5)]
    assert seen == [f"token-{n}" for n in range(5)]
    assert call(method)["token"] == ""  # anonymous: nothing left over from the previous call


def test_events_carry_the_callers_trace_or_a_new_one(method):
    parent = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"
    assert call(method, traceparent=parent)["trace"]["traceparent"] == parent
    first, second = (call(method)["trace"]["traceparent"] for _ in range(2))
    assert first.startswith("00-") and first.endswith("-01") and len(first) == 55
    assert first.split("-")[1] != second.split("-")[1] != CALLER_TRACE  # a new trace per call


def test_domain_errors_map_to_statuses_and_are_counted(method):
    def handled(code):
        return REGISTRY.get_sample_value("grpc_server_handled_total", {
            "grpc_service": SERVICE, "grpc_method": "Probe", "grpc_code": code}) or 0
    before_ok, before_invalid = handled("OK"), handled("INVALID_ARGUMENT")
    with pytest.raises(grpc.RpcError) as raised:
        method(b"fail", timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(raised.value.trailing_metadata())["concilia-field"] == "description"
    assert call(method, authorization="Bearer after-failure")["token"] == "after-failure"
    assert (handled("OK") - before_ok, handled("INVALID_ARGUMENT") - before_invalid) == (1, 1)


def test_unknown_methods_are_unimplemented(server):
    for n in range(3):
        with pytest.raises(grpc.RpcError) as raised:
            server.unary_unary(f"/{SERVICE}/Nothing{n}")(b"", timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
