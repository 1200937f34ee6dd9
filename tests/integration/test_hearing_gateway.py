"""The Argentine conciliation hearing over the public REST API (gateway -> complaint service), on
real processes with the AR pack and the controlled clock; every response is checked against the
served OpenAPI document. Also: a municipal office's manager sees only what is routed to it."""
import csv
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import requests

from concilia.chassis.clock import FileClock
from concilia.chassis.country import load_pack
from support.actors import Actors
from support.ids import new_cuit

pytestmark = pytest.mark.integration
BA = ZoneInfo("America/Argentina/Buenos_Aires")
MEETING = "https://reuniones.example.org/sala-7"


@pytest.fixture(scope="module")
def clock(tmp_path_factory) -> FileClock:
    clock = FileClock(tmp_path_factory.mktemp("clock") / "now")
    clock.set(datetime(2026, 3, 13, 10, 0, tzinfo=BA).astimezone(timezone.utc))  # Friday 13 March
    return clock


@pytest.fixture(scope="module")
def stack(start_stack, clock):
    stack = start_stack(services=["identity", "company_registry", "complaint"], gateway=True,
                        extra_env={"CONCILIA_COUNTRY": "AR", "CONCILIA_CLOCK_FILE": str(clock.path),
                                   "DEADLINE_SWEEP_INTERVAL_SECONDS": "0.2"})
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def openapi(stack):
    return requests.get(stack.gateway_url + "/openapi.json", timeout=10).json()


class Api:
    def __init__(self, stack, openapi, token: str = ""):
        self.base, self.openapi, self.token = stack.gateway_url, openapi, token

    def __call__(self, method: str, path: str, json=None, schema: str = "ComplaintEnvelope") -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = requests.request(method, self.base + path, json=json, headers=headers, timeout=15)
        name = schema if response.status_code < 400 else "Error"
        jsonschema.Draft202012Validator({**self.openapi, "$ref": f"#/components/schemas/{name}"}).validate(
            response.json())
        return response


@pytest.fixture(scope="module")
def people(stack, openapi):
    actors = Actors(stack)
    _, national = actors.create("manager", jurisdiction="AR")
    headers = {"Authorization": f"Bearer {national}"}
    company = requests.post(stack.gateway_url + "/api/v1/companies", timeout=10, json={
        "tax_id": new_cuit(), "legal_name": "Telco Pampa S.A.", "trade_name": "Telco Pampa",
        "segment_code": first_row()["segment_code"], "terms_accepted": True}).json()["company"]
    requests.post(stack.gateway_url + f"/api/v1/companies/{company['id']}/approve", headers=headers, timeout=10)
    consumer = Api(stack, openapi, actors.create("consumer", national_id="30123456")[1])
    agent = Api(stack, openapi, actors.create("company_agent", company_id=company["id"])[1])
    return {"company": company["id"], "consumer": consumer, "agent": agent, "national": Api(stack, openapi, national),
            "province": Api(stack, openapi, actors.create("manager", jurisdiction="AR-B")[1]),
            "cordoba": Api(stack, openapi, actors.create("manager", jurisdiction="AR-X")[1])}


def first_row() -> dict:
    with load_pack("AR").taxonomy_file.open(encoding="utf-8") as handle:
        return next(csv.DictReader(handle))


def file(people, city: str) -> dict:
    row = first_row()
    body = {"company_id": people["company"], "taxonomy": {k: row[k] for k in (
        "segment_code", "area", "subject", "problem_group", "problem")}, "purchase_channel": "Teléfono",
        "contacted_company_first": True, "description": "Me facturan un servicio que di de baja.",
        "desired_outcome": "Reintegro", "region_code": "AR-B", "city": city}
    deadline = time.monotonic() + 20
    while True:  # the company reaches the complaint service's replica through RabbitMQ
        response = people["consumer"]("POST", "/api/v1/complaints", body)
        if response.status_code == 201 or time.monotonic() > deadline:
            assert response.status_code == 201, response.text
            return response.json()["complaint"]
        time.sleep(0.2)


def local(*args) -> str:
    return datetime(*args, tzinfo=BA).isoformat()


def test_the_hearing_over_rest_from_an_unresolved_answer_to_no_agreement(stack, openapi, people, clock):
    complaint = file(people, "Quilmes")
    cid = complaint["id"]
    assert (complaint["authority_id"], complaint["authority_jurisdiction"]) == ("pba", "AR-B")
    people["agent"]("POST", f"/api/v1/complaints/{cid}/answer", {"text": "Ya le dimos de baja."})
    clock.set(datetime(2026, 3, 17, 12, 0, tzinfo=BA).astimezone(timezone.utc))
    pending = people["consumer"]("POST", f"/api/v1/complaints/{cid}/evaluation",
                                 {"resolution": "not_resolved", "satisfaction_score": 1}).json()["complaint"]
    assert pending["status"] == "hearing_pending"
    assert pending["hearing_window_ends"] == "2026-04-11T03:00:00Z"  # end of Friday 10 April

    path = f"/api/v1/complaints/{cid}/hearing"
    refused = [
        (people["province"], {"scheduled_at": local(2026, 4, 13, 10), "meeting_url": MEETING}, 400, "scheduled_at"),
        (people["province"], {"scheduled_at": local(2026, 3, 24, 10), "meeting_url": MEETING}, 400, "scheduled_at"),
        (people["province"], {"scheduled_at": local(2026, 3, 25, 10), "meeting_url": "ftp://x"}, 400, "meeting_url"),
        (people["province"], {"scheduled_at": "tomorrow", "meeting_url": MEETING}, 400, None),
        (people["cordoba"], {"scheduled_at": local(2026, 3, 25, 10), "meeting_url": MEETING}, 403, None),
        (people["consumer"], {"scheduled_at": local(2026, 3, 25, 10), "meeting_url": MEETING}, 403, None),
        (people["agent"], {"scheduled_at": local(2026, 3, 25, 10), "meeting_url": MEETING}, 403, None),
        (Api(stack, openapi), {"scheduled_at": local(2026, 3, 25, 10), "meeting_url": MEETING}, 401, None),
    ]
    for api, body, status, field in refused:
        response = api("POST", path, body)
        assert response.status_code == status, (body, response.text)
        if field:
            assert response.json()["error"]["field"] == field
    response = people["province"]("POST", f"/api/v1/complaints/{cid}/hearing-outcome", {"outcome": "agreement"})
    assert response.status_code == 409  # nothing scheduled yet
    assert people["national"]("GET", f"/api/v1/complaints/{cid}").json()["complaint"]["status"] == "hearing_pending"

    scheduled = people["province"]("POST", path, {"scheduled_at": local(2026, 3, 25, 10), "meeting_url": MEETING,
                                                  "note": "Audiencia virtual"}).json()["complaint"]
    assert (scheduled["status"], scheduled["hearing_at"], scheduled["hearing_url"]) == (
        "hearing_scheduled", "2026-03-25T13:00:00Z", MEETING)
    outcome = f"/api/v1/complaints/{cid}/hearing-outcome"
    assert people["province"]("POST", outcome, {"outcome": "no_agreement"}).status_code == 409  # not held yet
    clock.set(datetime(2026, 3, 25, 11, 0, tzinfo=BA).astimezone(timezone.utc))
    assert people["province"]("POST", outcome, {"outcome": "settled"}).status_code == 400
    done = people["province"]("POST", outcome, {"outcome": "no_agreement"}).json()["complaint"]
    assert (done["status"], done["resolution"], done["hearing_outcome"]) == (
        "finalised_evaluated", "not_resolved", "no_agreement")
    history = people["consumer"]("GET", f"/api/v1/complaints/{cid}/history", schema="History").json()["entries"]
    assert [e["action"] for e in history][-3:] == ["evaluated", "hearing_scheduled", "hearing_held"]


def test_a_municipal_office_manager_sees_and_acts_only_on_what_is_routed_to_it(stack, openapi, people):
    # Identity issues the municipal claim to the office's manager (an admin creates managers).
    _, office_token = Actors(stack).create("manager", jurisdiction="AR-B/omic-la-plata")
    office = Api(stack, openapi, office_token)
    mine = file(people, "La Plata")
    other = file(people, "Quilmes")
    assert mine["authority_id"] == "omic-la-plata" and other["authority_id"] == "pba"
    listed = office("GET", "/api/v1/complaints?page_size=100", schema="ComplaintPage").json()["complaints"]
    assert [c["id"] for c in listed] == [mine["id"]]
    assert office("GET", f"/api/v1/complaints/{other['id']}").status_code == 403
    assert office("POST", f"/api/v1/complaints/{other['id']}/cancellation", {"reason": "x"}).status_code == 403
    province = people["province"]("GET", "/api/v1/complaints?page_size=100", schema="ComplaintPage").json()
    assert {mine["id"], other["id"]} <= {c["id"] for c in province["complaints"]}  # the province supervises
    cancelled = office("POST", f"/api/v1/complaints/{mine['id']}/cancellation", {"reason": "Duplicada"}).json()
    assert cancelled["complaint"]["status"] == "cancelled"
