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
