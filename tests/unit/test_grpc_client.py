"""concilia.chassis.grpc_client.make_channel against a real in-process grpcio server: every unary call
gets the default deadline unless it brings its own, errors keep their status code, and each call is
counted once in the client RED metrics with its outcome; a peer back after an outage is called
again within the reconnection bound."""
import time
from concurrent import futures

import grpc
import pytest
from prometheus_client import REGISTRY

from concilia.chassis.grpc_client import make_channel

SERVICE = "concilia.test.v1.Probe"


def _handlers():
    def remaining(request: bytes, context) -> bytes:
        return f"{context.time_remaining():.3f}".encode()  # the deadline the server saw

    def fail(request: bytes, context) -> bytes:
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, request.decode())

    def count(request: bytes, context):
        for number in range(int(request)):
            yield str(number).encode()
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Remaining": grpc.unary_unary_rpc_method_handler(remaining),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Count": grpc.unary_stream_rpc_method_handler(count)})


def serve(port: int = 0) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers((_handlers(),))
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, port


@pytest.fixture(scope="module")
def address():
    server, port = serve()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def handled(method: str, code: str) -> float:
    return REGISTRY.get_sample_value("grpc_client_handled_total",
                                     {"grpc_service": SERVICE, "grpc_method": method, "grpc_code": code}) or 0.0


def seconds_count(method: str) -> float:
    return REGISTRY.get_sample_value("grpc_client_handling_seconds_count",
                                     {"grpc_service": SERVICE, "grpc_method": method}) or 0.0


def test_calls_get_the_default_deadline_unless_they_bring_their_own(address):
    with make_channel(address, timeout=7.0) as channel:
        remaining = channel.unary_unary(f"/{SERVICE}/Remaining")
        assert 6.0 < float(remaining(b"")) <= 7.1  # grpc rounds a deadline up a little
        assert 1.0 < float(remaining(b"", timeout=2.0)) <= 2.1
        response, call = remaining.with_call(b"")
        assert 6.0 < float(response) <= 7.1 and call.code() == grpc.StatusCode.OK
        assert 6.0 < float(remaining.future(b"").result()) <= 7.1  # grpc rounds a deadline up a little


def test_each_call_is_counted_once_with_its_outcome(address):
    before_ok, before_failed = handled("Remaining", "OK"), handled("Fail", "FAILED_PRECONDITION")
    before_seconds = seconds_count("Remaining") + seconds_count("Fail")
    with make_channel(address) as channel:
        remaining, fail = channel.unary_unary(f"/{SERVICE}/Remaining"), channel.unary_unary(f"/{SERVICE}/Fail")
        remaining(b"")
        remaining.with_call(b"")
        remaining.future(b"").result()
        with pytest.raises(grpc.RpcError) as raised:
            fail(b"not yet")
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert raised.value.details() == "not yet"
        with pytest.raises(grpc.RpcError):
            fail.with_call(b"again")
        future = fail.future(b"later")
        assert future.exception().code() == grpc.StatusCode.FAILED_PRECONDITION
    assert handled("Remaining", "OK") - before_ok == 3
    assert handled("Fail", "FAILED_PRECONDITION") - before_failed == 3
    assert seconds_count("Remaining") + seconds_count("Fail") - before_seconds == 6


def test_an_unreachable_peer_fails_within_the_default_deadline():
    with make_channel("127.0.0.1:9", timeout=0.5) as channel:  # discard port: nothing listens
        with pytest.raises(grpc.RpcError) as raised:
            channel.unary_unary(f"/{SERVICE}/Remaining")(b"", wait_for_ready=True)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_streams_get_the_default_deadline_too(address):
    with make_channel(address, timeout=5.0) as channel:
        assert list(channel.unary_stream(f"/{SERVICE}/Count")(b"3")) == [b"0", b"1", b"2"]
    with make_channel("127.0.0.1:9", timeout=0.5) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            list(channel.unary_stream(f"/{SERVICE}/Count")(b"3", wait_for_ready=True))
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_a_peer_back_from_an_outage_is_called_again_within_the_reconnection_bound():
    # grpc's own backoff would have grown to 4-6 s after 10 s of failures (1 s x 1.6 per attempt),
    # and calls fail at once until the next attempt: without the bound, the first call to succeed
    # would most likely come seconds after the peer is back.
    server, port = serve()
    with make_channel(f"127.0.0.1:{port}", timeout=0.2, max_reconnect_backoff_ms=300) as channel:
        call = channel.unary_unary(f"/{SERVICE}/Remaining")
        call(b"")
        server.stop(None).wait()
        down_until = time.monotonic() + 10
        while time.monotonic() < down_until:
            with pytest.raises(grpc.RpcError):
                call(b"")
            time.sleep(0.05)
        server, _ = serve(port)
        back = time.monotonic()
        try:
            while True:
                try:
                    call(b"")
                    break
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE
                    assert time.monotonic() - back < 1.0, "not reconnected within 1 s of the peer's return"
                    time.sleep(0.02)
        finally:
            server.stop(None)
