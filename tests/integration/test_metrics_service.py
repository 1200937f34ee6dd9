"""The metrics service as real processes: complaint_finalised envelopes built from a real open-data
month are published to RabbitMQ, the worker ingests them (also across a SIGKILL), and the gRPC
API, the gateway and /metrics give the figures computed straight from the file."""
import datetime as dt
import json
import signal
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from kombu import Connection, Exchange, Producer, Queue

from concilia.chassis.country import load_pack
from concilia.chassis.outbox import envelope
from concilia.events.v1 import events_pb2
from concilia.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from concilia.opendata import Reader, aggregate, read_records
from concilia.opendata import layout as L
from services.metrics.domain import Segments, opendata_company_id

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "consumidor-gov-br-2014"
MONTH_FILE = DATA / "2014-07.csv.gz"
PACK = load_pack("BR")
SEGMENTS = Segments.from_pack(PACK)
QUEUE = "evt-complaint-complaint_finalised--metrics.on_complaint_finalised"


def _ts(day):
    ts = Timestamp()
    if day is not None:  # local noon: the local date is the day itself
        ts.FromDatetime(dt.datetime.combine(day, dt.time(12), PACK.zone).astimezone(dt.timezone.utc))
    return ts


def finalised_envelope(record, complaint_id: str) -> dict:
    data = events_pb2.ComplaintFinalised(
        complaint=events_pb2.ComplaintRef(
            complaint_id=complaint_id, consumer_id=str(uuid.uuid4()),
            company_id=opendata_company_id(record.company), segment_code=SEGMENTS.code_for(record.segment),
            region_code=f"BR-{record.uf}"),
        status="finalised_evaluated" if record.status == L.STATUS_EVALUATED else "finalised_not_evaluated",
        resolution={L.RESOLVED: "resolved", L.NOT_RESOLVED: "not_resolved"}.get(record.evaluation, ""),
        satisfaction_score=record.score or 0, answered=record.answered,
        answer_time_days=record.answer_days or 0, filed_at=_ts(record.opened_on),
        answered_at=_ts(record.answered_on), finalised_at=_ts(record.finalised_on), area=record.area,
        subject=record.subject, problem_group=record.problem_group, problem=record.problem,
        purchase_channel=record.how_bought, contacted_company_first=record.contacted_company,
        city=record.city, company_name=record.company, segment_name=record.segment,
        consumer_sex=record.sex, consumer_age_bracket=record.age_range)
    return envelope("complaint_finalised", "complaint", data, "BR")


def publish(amqp_uri: str, envelopes: list[dict]) -> None:
    exchange = Exchange("complaint.events", type="topic", durable=True)
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        producer = Producer(connection.channel(), exchange=exchange)
        for body in envelopes:
            producer.publish(json.dumps(body), routing_key=body["type"], content_type="application/json",
                             content_encoding="utf-8", delivery_mode=2)


def wait_for_queue(amqp_uri: str, timeout: float = 60) -> None:
    """The worker's health endpoint is up before nameko has bound its queues."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with Connection(amqp_uri) as connection:
                Queue(QUEUE, channel=connection.channel()).queue_declare(passive=True)
                return
        except Exception:  # noqa: BLE001 - not declared yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def queue_depth(amqp_uri: str) -> int:
    with Connection(amqp_uri) as connection:
        return Queue(QUEUE, channel=connection.channel()).queue_declare(passive=True).message_count


def national(stub) -> metrics_pb2.GetIndicatorsResponse:
    return stub.GetIndicators(metrics_pb2.GetIndicatorsRequest(scope=metrics_pb2.SCOPE_NATIONAL), timeout=10)


def wait_for_complaints(stub, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while national(stub).indicators.complaints < count:
        assert time.monotonic() < deadline, f"only {national(stub).indicators.complaints} of {count} ingested"
        time.sleep(0.3)


def assert_same(got: metrics_pb2.Indicators, expected: dict) -> None:
    assert got.complaints == expected["complaints"]
    assert got.resolved == expected["resolved"]
    assert got.not_evaluated == expected["not_evaluated"]
    assert got.answered == expected["answered"]
    assert got.solution_index == expected["solution_index"]
    assert got.strict_solution_index == expected["strict_solution_index"]
    assert got.answered_share == expected["answered_share"]
    if expected["avg_answer_days"] is not None:
        assert abs(got.avg_answer_days - expected["avg_answer_days"]) <= 0.05
    assert got.formula_version == PACK.formula_version


def http_get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_metrics_service_end_to_end(start_stack, tmp_path):
    stack = start_stack(services=["identity", "metrics"], gateway=True)
    amqp_uri = stack.amqp_uri  # the stack's own vhost
    wait_for_queue(amqp_uri)
    records, _ = read_records([MONTH_FILE])
    expected = aggregate(Reader().columns([MONTH_FILE])).indicators(PACK.formula_version)
    envelopes = [finalised_envelope(r, str(uuid.uuid4())) for r in records]
    stub = metrics_pb2_grpc.MetricsServiceStub(grpc.insecure_channel(stack.addr("metrics")))

    # First half, then SIGKILL the worker while it works through the second half; messages it
    # had not committed are redelivered to the restarted worker and counted exactly once.
    half = len(envelopes) // 2
    publish(amqp_uri, envelopes[:half])
    wait_for_complaints(stub, half)
    publish(amqp_uri, envelopes[half:] + envelopes[:200])  # with 200 duplicates
    time.sleep(0.3)
    stack.processes["metrics-worker"].signal(signal.SIGKILL)
    stack.processes["metrics-worker"].popen.wait(10)
    stack.restart("metrics-worker")
    wait_for_complaints(stub, len(records))
    deadline = time.monotonic() + 30
    while queue_depth(amqp_uri) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # anything still in flight would show up now

    response = national(stub)
    assert_same(response.indicators, expected)
    by_name = {response.company_names[cid]: f for cid, f in response.by_company.items()}
    assert set(by_name) == set(expected["by_company"])
    for name, figures in by_name.items():
        assert_same(figures, expected["by_company"][name])

    # Open data: the export reads back as the file's records.
    data = b"".join(c.chunk for c in stub.ExportOpenData(
        metrics_pb2.ExportOpenDataRequest(month="2014-07"), timeout=60))
    exported_path = tmp_path / "2014-07.csv"
    exported_path.write_bytes(data)
    reader = Reader()
    assert sorted(reader.records(exported_path), key=repr) == sorted(records, key=repr)
    assert reader.rejections == []

    # Bad input is INVALID_ARGUMENT naming the field.
    with pytest.raises(grpc.RpcError) as error:
        stub.GetIndicators(metrics_pb2.GetIndicatorsRequest(scope=metrics_pb2.SCOPE_NATIONAL,
                                                            period_from="2014-02-30"), timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "period_from" in error.value.details()

    # Gateway: REST and public pages without login.
    base = stack.gateway_url
    status, body, _ = http_get(f"{base}/api/v1/indicators")
    assert status == 200 and json.loads(body)["indicators"]["complaints"] == str(len(records))
    status, body, headers = http_get(f"{base}/api/v1/open-data/2014-07.csv")
    assert status == 200 and body == data and "windows-1252" in headers["Content-Type"]
    status, body, _ = http_get(f"{base}/api/v1/open-data/2014-7.csv")
    assert status == 400 and json.loads(body)["error"]["field"] == "month"
    company = max(expected["by_company"], key=lambda n: expected["by_company"][n]["complaints"])
    status, body, _ = http_get(f"{base}/companies/{opendata_company_id(company)}")
    assert status == 200 and company.encode() in body and b"<svg" in body
    segment_code = SEGMENTS.code_for(records[0].segment)
    status, body, _ = http_get(f"{base}/api/v1/rankings/{segment_code}?min_complaints=10")
    ranking = json.loads(body)
    assert status == 200 and ranking["entries"]
    assert all(int(e["indicators"]["complaints"]) >= 10 for e in ranking["entries"])
    status, body, _ = http_get(f"{base}/rankings/{segment_code}")
    assert status == 200 and ranking["entries"][0]["company_name"].encode() in body
    status, body, _ = http_get(f"{base}/indicators")
    assert status == 200 and b"<svg" in body

    # SLA metrics from the api process, with bounded labels.
    status, body, _ = http_get(f"http://127.0.0.1:{stack.ports['metrics_metrics']}/metrics")
    text = body.decode()
    resolved = sum(r.evaluation == L.RESOLVED for r in records if SEGMENTS.code_for(r.segment) == segment_code)
    assert f'concilia_complaints_finalised_total{{outcome="resolved",segment="{segment_code}"}} {float(resolved)}' in text
    assert "concilia_solution_index{" in text and "concilia_complaint_answer_time_days_bucket{" in text
    for name in {r.company for r in records}:
        assert f'"{name}"' not in text  # company names never become labels
