"""The complaint REST API through the real gateway (gunicorn) and services: the lifecycle, bad input,
pagination and filters, and every response checked against the served OpenAPI document."""
import base64
import hashlib
import uuid

import jsonschema
import pytest
import requests
from google.protobuf import json_format

from support.complaints import PDF, World, filing, module_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(start_stack):
    with module_stack(start_stack, ["identity", "company_registry", "complaint"], True) as (stack, _amqp_uri):
        yield stack


@pytest.fixture(scope="module")
def world(stack):
    return World(stack)


@pytest.fixture(scope="module")
def openapi(stack):
    return requests.get(stack.gateway_url + "/openapi.json", timeout=10).json()


class Api:
    def __init__(self, stack, openapi, token: str):
        self.base, self.openapi, self.token = stack.gateway_url, openapi, token

    def __call__(self, method: str, path: str, schema: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = requests.request(method, self.base + path, headers=headers, timeout=10, **kwargs)
        name = schema if response.status_code < 400 else "Error"
        if name and response.headers.get("Content-Type", "").startswith("application/json"):
            # The served document is the contract: a response that breaks it fails here.
            validator = jsonschema.Draft202012Validator({**self.openapi, "$ref": f"#/components/schemas/{name}"})
            validator.validate(response.json())
        return response


def body(company_id: str, **overrides) -> dict:
    return json_format.MessageToDict(filing(company_id, **overrides), preserving_proto_field_name=True)


def test_the_openapi_document_describes_every_complaint_route(openapi):
    from concilia.chassis import config
    from services.gateway.app import create_app
    from services.gateway.settings import GatewaySettings
    app = create_app(config.load(GatewaySettings, {}))
    served = {(rule.rule.replace("<", "{").replace(">", "}"), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/complaints")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, operations in openapi["paths"].items()
                  if path.startswith("/api/v1/complaints") for method in operations}
    assert served == documented
    for path, operations in openapi["paths"].items():
        if path.startswith("/api/v1/complaints"):
            for operation in operations.values():
                assert operation["security"] == [{"bearer": []}]


def test_lifecycle_over_rest(stack, world, openapi):
    company = world.company("Loja Rest")
    _, consumer_token = world.consumer()
    consumer, agent = Api(stack, openapi, consumer_token), Api(stack, openapi, world.agent(company))
    key = uuid.uuid4().hex
    created = consumer("POST", "/api/v1/complaints", "ComplaintEnvelope", json=body(company),
                       headers={"Idempotency-Key": key})
    assert created.status_code == 201
    complaint = created.json()["complaint"]
    assert complaint["status"] == "waiting_company" and complaint["company_name"] == "Loja Rest"
    replay = consumer("POST", "/api/v1/complaints", "ComplaintEnvelope", json=body(company),
                      headers={"Idempotency-Key": key})
    assert replay.status_code == 201 and replay.json()["complaint"]["id"] == complaint["id"]
    cid = complaint["id"]

    early = consumer("POST", f"/api/v1/complaints/{cid}/evaluation", json={"resolution": "resolved",
                                                                           "satisfaction_score": 5})
    assert early.status_code == 409 and early.json()["error"]["code"] == "FAILED_PRECONDITION"

    upload = agent("POST", f"/api/v1/complaints/{cid}/attachments", "AttachmentEnvelope",
                   files={"file": ("receipt.pdf", PDF, "application/pdf")})
    assert upload.status_code == 201
    attachment = upload.json()["attachment"]
    assert attachment["sha256"] == hashlib.sha256(PDF).hexdigest()
    download = consumer("GET", f"/api/v1/complaints/{cid}/attachments/{attachment['id']}")
    assert download.content == PDF and download.headers["Content-Disposition"].startswith("attachment")
    wrong_type = consumer("POST", f"/api/v1/complaints/{cid}/attachments", files={
        "file": ("x.pdf", b"<html>not a pdf</html>", "application/pdf")})
    assert wrong_type.status_code == 400 and wrong_type.json()["error"]["field"] == "attachments.content"

    message = consumer("POST", f"/api/v1/complaints/{cid}/messages", "MessageEnvelope", json={"text": "Any news?"})
    assert message.status_code == 201
    answered = agent("POST", f"/api/v1/complaints/{cid}/answer", "ComplaintEnvelope", json={"text": "Refunded"})
    assert answered.json()["complaint"]["status"] == "waiting_evaluation"
    late = agent("POST", f"/api/v1/complaints/{cid}/answer", json={"text": "again"})
    assert late.status_code == 409
    bad_score = consumer("POST", f"/api/v1/complaints/{cid}/evaluation",
                         json={"resolution": "resolved", "satisfaction_score": 9})
    assert bad_score.status_code == 400 and bad_score.json()["error"]["field"] == "satisfaction_score"
    done = consumer("POST", f"/api/v1/complaints/{cid}/evaluation", "ComplaintEnvelope",
                    json={"resolution": "not_resolved", "satisfaction_score": 2, "comment": "meh"})
    assert done.json()["complaint"]["status"] == "finalised_evaluated"
    assert done.json()["complaint"]["resolution"] == "not_resolved"
    history = consumer("GET", f"/api/v1/complaints/{cid}/history", "History").json()["entries"]
    assert [e["action"] for e in history] == ["filed", "attachment_added", "message_added", "answered", "evaluated"]


def test_bad_requests_are_4xx_with_the_field_and_change_nothing(stack, world, openapi):
    company = world.company("Loja Erros")
    _, token = world.consumer()
    consumer = Api(stack, openapi, token)
    before = world.count("complaints")
    cases = [
        (body(company, description="x" * 3001), 400, "description"),
        (body(company, region_code="ZZ"), 400, "region_code"),
        ({**body(company), "unknown_field": 1}, 400, None),
        ({**body(company), "attachments": [{"file_name": "a.exe", "content_type": "application/x-msdownload",
                                            "content": base64.b64encode(b"MZ").decode()}]},
         400, "attachments[0].content_type"),
        (body("no-such-company"), 409, None),
    ]
    for payload, status, field in cases:
        response = consumer("POST", "/api/v1/complaints", json=payload)
        assert response.status_code == status, response.text
        if field:
            assert response.json()["error"]["field"] == field
    assert consumer("POST", "/api/v1/complaints", data="not json",
                    headers={"Content-Type": "application/json"}).status_code == 400
    assert Api(stack, openapi, "")("POST", "/api/v1/complaints", json=body(company)).status_code == 401
    assert Api(stack, openapi, "not-a-token")("GET", "/api/v1/complaints").status_code == 401
    assert consumer("GET", "/api/v1/complaints?status=bogus").status_code == 400
    assert consumer("GET", "/api/v1/complaints?page_size=x").status_code == 400
    assert consumer("GET", "/api/v1/complaints?filed_from=yesterday").status_code == 400
    assert consumer("GET", "/api/v1/complaints?page_token=garbage").status_code == 400
    assert world.count("complaints") == before


def test_lists_paginate_with_a_cursor_and_filter(stack, world, openapi):
    company, other = world.company("Loja Lista"), world.company("Loja Outra")
    _, token = world.consumer()
    consumer = Api(stack, openapi, token)
    mine = [consumer("POST", "/api/v1/complaints", json=body(company)).json()["complaint"]["id"] for _ in range(5)]
    elsewhere = consumer("POST", "/api/v1/complaints", json=body(other)).json()["complaint"]
    seen, token_ = [], ""
    while True:
        page = consumer("GET", "/api/v1/complaints", "ComplaintPage",
                        params={"company_id": company, "page_size": 2, "page_token": token_}).json()
        assert len(page["complaints"]) <= 2
        seen += [c["id"] for c in page["complaints"]]
        token_ = page["next_page_token"]
        if not token_:
            break
    assert sorted(seen) == sorted(mine)
    waiting = consumer("GET", "/api/v1/complaints", "ComplaintPage", params={"status": "waiting_company"}).json()
    assert len(waiting["complaints"]) == 6
    assert consumer("GET", "/api/v1/complaints", params={"status": "cancelled"}).json()["complaints"] == []
    period = consumer("GET", "/api/v1/complaints", params={"filed_from": elsewhere["filed_at"]}).json()
    assert [c["id"] for c in period["complaints"]] == [elsewhere["id"]]


def test_staff_export_what_they_may_list_as_csv_without_texts(stack, world, openapi):
    import csv
    import io
    from concilia.complaint.v1 import complaint_pb2 as pb
    from concilia.chassis.grpc_client import bearer
    company = world.company("Loja Exportação")
    consumers = [world.consumer() for _ in range(6)]
    # 102 complaints in São Paulo (more than one page of the complaint service's 100), 2 in Rio.
    filed = {}
    for number in range(102):
        complaint = world.file(consumers[number % 6][1], company, description=f"Texto pessoal {number}, CPF 1")
        filed[complaint.id] = complaint
    rio = [world.file(consumers[0][1], company, region_code="BR-RJ", city="Rio de Janeiro",
                      description="Texto do Rio").id for _ in range(2)]
    monitor = Api(stack, openapi, world.staff("monitor", "BR-SP"))

    response = monitor("GET", "/api/v1/complaints/export.csv", params={"company_id": company})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    assert "Texto" not in response.text and consumers[0][0] not in response.text  # no texts, no consumer ids
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["id"] for r in rows) == sorted(filed)  # every page, only the monitor's jurisdiction
    assert not set(rio) & {r["id"] for r in rows}
    sample = filed[rows[-1]["id"]]
    assert rows[-1] == {**{name: "" for name in rows[-1]}, "id": sample.id, "status": "waiting_company",
                        "filed_at": json_format.MessageToDict(sample)["filedAt"], "company_id": company,
                        "company_name": "Loja Exportação", "segment_code": sample.taxonomy.segment_code,
                        "area": sample.taxonomy.area, "subject": sample.taxonomy.subject,
                        "problem_group": sample.taxonomy.problem_group, "problem": sample.taxonomy.problem,
                        "purchase_channel": "Internet", "contacted_company_first": "true", "region_code": "BR-SP",
                        "city": "São Paulo", "authority_id": "procon-sp",
                        "answer_deadline": json_format.MessageToDict(sample)["answerDeadline"], "answered": "false",
                        "answer_time_days": "0", "under_review_days": "0", "satisfaction_score": "0"}

    # The monitor's reads are in each consumer's access trail.
    trail = world.complaints.ListAccesses(pb.ListAccessesRequest(), metadata=bearer(consumers[1][1]), timeout=10)
    assert {(a.actor_role, a.action) for a in trail.accesses} == {("monitor", "complaint.listed")}

    # A consumer exports only their own; a bad filter and no token are JSON errors, before any CSV.
    own = Api(stack, openapi, consumers[5][1])("GET", "/api/v1/complaints/export.csv", params={"company_id": company})
    assert len(list(csv.DictReader(io.StringIO(own.text)))) == 17  # numbers 5, 11, ..., 101
    bad = monitor("GET", "/api/v1/complaints/export.csv", params={"status": "lost"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "status")
    assert Api(stack, openapi, "")("GET", "/api/v1/complaints/export.csv").status_code == 401


def test_the_staff_list_page_links_the_export_and_serves_it_with_the_session(stack, world):
    import csv
    import io
    from support.pages import signed_in
    company = world.company("Loja Página")
    _, consumer = world.consumer()
    mine = world.file(consumer, company).id
    agent, _ = world.actors.create("company_agent", company_id=company)
    page = signed_in(stack, agent.email)
    listing = page.get(stack.gateway_url + "/complaints", timeout=10)
    assert 'id="export" href="/complaints/export.csv"' in listing.text
    download = page.get(stack.gateway_url + "/complaints/export.csv", timeout=10)
    assert download.status_code == 200 and download.headers["Content-Type"].startswith("text/csv")
    assert [row["id"] for row in csv.DictReader(io.StringIO(download.text))] == [mine]
    # Consumers have their own complaints on the page and the data export: no link.
    consumer_account, _ = world.actors.create("consumer")
    assert 'id="export"' not in signed_in(stack, consumer_account.email).get(stack.gateway_url + "/complaints",
                                                                              timeout=10).text
