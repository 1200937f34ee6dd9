"""Who may do what, cell by cell: every complaint RPC and every complaint HTTP route, for every kind
of caller, against real processes with real tokens. Each cell acts on a complaint in the state the
action needs, so the only possible reason for a refusal is the caller."""
import base64
import shutil
from dataclasses import dataclass
from typing import Callable

import grpc
import pytest
import requests
from google.protobuf import json_format

from concilia.chassis.country import DEFAULT_PACKS_DIR
from concilia.chassis.grpc_client import bearer
from concilia.complaint.v1 import complaint_pb2 as pb

from support.complaints import PDF, SEGMENT, World, filing, module_stack

pytestmark = pytest.mark.integration

CALLERS = ("anonymous", "owner", "other_consumer", "agent", "group_agent", "other_agent",
           "manager_in", "manager_out", "monitor_in", "sector_monitor_in", "sector_monitor_out", "admin")
PARTIES = {"owner", "agent", "group_agent"}
# sector_monitor_*: BR-SP monitors limited to the complaint's market segment, or to another one.
READERS = {"owner", "agent", "group_agent", "manager_in", "monitor_in", "sector_monitor_in"}
COMPANY = {"agent", "group_agent"}
MANAGER = {"manager_in"}


@dataclass
class Action:
    state: str  # what the complaint must be before the call
    allowed: set
    grpc_call: Callable  # (stub, complaint, metadata) -> response
    http: Callable  # (complaint) -> (method, path, json body)


ACTIONS = {
    "FileComplaint": Action("none", {"owner", "other_consumer"}, None, None),  # filled in below
    "GetComplaint": Action("waiting_company", READERS,
                           lambda s, c, md: s.GetComplaint(pb.GetComplaintRequest(complaint_id=c.id), metadata=md),
                           lambda c: ("GET", f"/api/v1/complaints/{c.id}", None)),
    "GetHistory": Action("waiting_company", READERS,
                         lambda s, c, md: s.GetHistory(pb.GetHistoryRequest(complaint_id=c.id), metadata=md),
                         lambda c: ("GET", f"/api/v1/complaints/{c.id}/history", None)),
    "GetAttachment": Action("with_attachment", READERS,
                            lambda s, c, md: s.GetAttachment(pb.GetAttachmentRequest(
                                complaint_id=c.id, attachment_id=c.attachments[0].id), metadata=md),
                            lambda c: ("GET", f"/api/v1/complaints/{c.id}/attachments/{c.attachments[0].id}", None)),
    "AnswerComplaint": Action("waiting_company", COMPANY,
                              lambda s, c, md: s.AnswerComplaint(pb.AnswerComplaintRequest(
                                  complaint_id=c.id, text="Refunded"), metadata=md),
                              lambda c: ("POST", f"/api/v1/complaints/{c.id}/answer", {"text": "Refunded"})),
    "RefuseComplaint": Action("waiting_company", COMPANY,
                              lambda s, c, md: s.RefuseComplaint(pb.RefuseComplaintRequest(
                                  complaint_id=c.id, reason_code="duplicate", text="dup"), metadata=md),
                              lambda c: ("POST", f"/api/v1/complaints/{c.id}/refusal",
                                         {"reason_code": "duplicate", "text": "dup"})),
    "ReviewRefusal": Action("under_refusal_review", MANAGER,
                            lambda s, c, md: s.ReviewRefusal(pb.ReviewRefusalRequest(
                                complaint_id=c.id, uphold=False), metadata=md),
                            lambda c: ("POST", f"/api/v1/complaints/{c.id}/refusal-review", {"uphold": False})),
    "EvaluateComplaint": Action("waiting_evaluation", {"owner"},
                                lambda s, c, md: s.EvaluateComplaint(pb.EvaluateComplaintRequest(
                                    complaint_id=c.id, resolution=pb.RESOLUTION_RESOLVED, satisfaction_score=4),
                                    metadata=md),
                                lambda c: ("POST", f"/api/v1/complaints/{c.id}/evaluation",
                                           {"resolution": "resolved", "satisfaction_score": 4})),
    "CancelComplaint": Action("waiting_company", MANAGER,
                              lambda s, c, md: s.CancelComplaint(pb.CancelComplaintRequest(
                                  complaint_id=c.id, reason="abuse"), metadata=md),
                              lambda c: ("POST", f"/api/v1/complaints/{c.id}/cancellation", {"reason": "abuse"})),
    "AddMessage": Action("waiting_company", PARTIES,
                         lambda s, c, md: s.AddMessage(pb.AddMessageRequest(complaint_id=c.id, text="hello"),
                                                       metadata=md),
                         lambda c: ("POST", f"/api/v1/complaints/{c.id}/messages", {"text": "hello"})),
    "AddAttachment": Action("waiting_company", PARTIES,
                            lambda s, c, md: s.AddAttachment(pb.AddAttachmentRequest(
                                complaint_id=c.id, file_name="a.pdf", content_type="application/pdf", content=PDF),
                                metadata=md),
                            lambda c: ("POST", f"/api/v1/complaints/{c.id}/attachments",
                                       {"file_name": "a.pdf", "content_type": "application/pdf",
                                        "content": base64.b64encode(PDF).decode()})),
    "RedactComplaint": Action("waiting_company", MANAGER,
                              lambda s, c, md: s.RedactComplaint(pb.RedactComplaintRequest(
                                  complaint_id=c.id, description="[removed]"), metadata=md),
                              lambda c: ("POST", f"/api/v1/complaints/{c.id}/redaction", {"description": "[removed]"})),
    # Everyone but admins may list; what they see is checked in test_lists_are_scoped.
    "ListComplaints": Action("waiting_company", set(CALLERS) - {"anonymous", "admin"},
                             lambda s, c, md: s.ListComplaints(pb.ListComplaintsRequest(), metadata=md),
                             lambda c: ("GET", "/api/v1/complaints", None)),
    # Who read the owner's complaints: the owner and admins; anyone else naming the owner is refused.
    # The owner's call with no consumer_id (their own) is in test_the_owner_lists_who_read_their_complaint.
    "ListAccesses": Action("waiting_company", {"owner", "admin"},
                           lambda s, c, md: s.ListAccesses(pb.ListAccessesRequest(consumer_id=c.consumer_id),
                                                           metadata=md),
                           lambda c: ("GET", f"/api/v1/complaints/accesses?consumer_id={c.consumer_id}", None)),
}


# The hearing exists only where the pack enables it (not on this BR stack): who may schedule a
# hearing and record its outcome is tested cell by cell on AR stacks in test_complaint_hearing.py
# (domain) and test_hearing_gateway.py (REST).
ELSEWHERE = {"ScheduleHearing", "RecordHearingOutcome"}


def test_the_matrix_covers_every_rpc():
    assert set(ACTIONS) | ELSEWHERE == set(pb.DESCRIPTOR.services_by_name["ComplaintService"].methods_by_name)


@pytest.fixture(scope="module")
def stack(start_stack, tmp_path_factory):
    packs = tmp_path_factory.mktemp("packs")
    shutil.copytree(DEFAULT_PACKS_DIR / "br", packs / "br")
    pack = packs / "br" / "pack.yaml"
    pack.write_text(pack.read_text().replace("filings_per_day: 20", "filings_per_day: 10000"))
    with module_stack(start_stack, ["identity", "company_registry", "complaint"], True,
                      {"CONCILIA_COUNTRY_PACKS_DIR": str(packs)}) as (stack, _amqp_uri):
        yield stack


class Setup:
    def __init__(self, stack):
        self.world = world = World(stack)
        self.company = world.company("Banco Alfa", group_name="Grupo Alfa")
        sister = world.company("Banco Alfa Digital", group_name="Grupo Alfa")
        other = world.company("Banco Gama")
        _, owner = world.consumer()
        _, other_consumer = world.consumer()
        self.tokens = {
            "anonymous": "", "owner": owner, "other_consumer": other_consumer,
            "agent": world.agent(self.company), "group_agent": world.agent(sister), "other_agent": world.agent(other),
            "manager_in": world.staff("manager", "BR-SP"), "manager_out": world.staff("manager", "BR-RJ"),
            "monitor_in": world.staff("monitor", "BR-SP"),
            "sector_monitor_in": world.actors.create("monitor", jurisdiction="BR-SP", segments=[SEGMENT])[1],
            "sector_monitor_out": world.actors.create("monitor", jurisdiction="BR-SP",
                                                      segments=["transporte-aereo"])[1],
            "admin": world.actors.admin_token,
        }

    def complaint(self, state: str) -> pb.Complaint:
        w, t = self.world, self.tokens
        if state == "with_attachment":
            return w.file(t["owner"], self.company, attachments=[pb.NewAttachment(
                file_name="bill.pdf", content_type="application/pdf", content=PDF)])
        complaint = w.file(t["owner"], self.company)
        agent = bearer(t["agent"])
        if state == "under_refusal_review":
            w.complaints.RefuseComplaint(pb.RefuseComplaintRequest(complaint_id=complaint.id, reason_code="duplicate",
                                                                   text="dup"), metadata=agent, timeout=10)
        elif state == "waiting_evaluation":
            w.complaints.AnswerComplaint(pb.AnswerComplaintRequest(complaint_id=complaint.id, text="done"),
                                         metadata=agent, timeout=10)
        return complaint


@pytest.fixture(scope="module")
def setup(stack):
    return Setup(stack)


def expected_grpc(action: Action, caller: str) -> grpc.StatusCode:
    if caller == "anonymous":
        return grpc.StatusCode.UNAUTHENTICATED
    return grpc.StatusCode.OK if caller in action.allowed else grpc.StatusCode.PERMISSION_DENIED


def snapshot(setup, complaint) -> tuple:
    """What a refused call must leave untouched: the complaint and its history."""
    if complaint is None:
        return (setup.world.count("complaints"),)
    staff = bearer(setup.tokens["manager_in"])
    current = setup.world.complaints.GetComplaint(pb.GetComplaintRequest(complaint_id=complaint.id), metadata=staff,
                                                  timeout=10).complaint
    history = setup.world.complaints.GetHistory(pb.GetHistoryRequest(complaint_id=complaint.id), metadata=staff,
                                                timeout=10).entries
    return current.SerializeToString(deterministic=True), len(history)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("rpc", sorted(ACTIONS))
def test_grpc_matrix(setup, rpc, caller):
    action = ACTIONS[rpc]
    complaint = setup.complaint(action.state) if action.state != "none" else None
    before = snapshot(setup, complaint)
    metadata = bearer(setup.tokens[caller])
    try:
        if rpc == "FileComplaint":
            setup.world.complaints.FileComplaint(filing(setup.company), metadata=metadata, timeout=10)
        else:
            action.grpc_call(setup.world.complaints, complaint, metadata)
        code = grpc.StatusCode.OK
    except grpc.RpcError as error:
        code = error.code()
    assert code == expected_grpc(action, caller)
    if code != grpc.StatusCode.OK:
        assert snapshot(setup, complaint) == before


HTTP_STATUS = {grpc.StatusCode.OK: None, grpc.StatusCode.UNAUTHENTICATED: 401,
               grpc.StatusCode.PERMISSION_DENIED: 403}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("rpc", sorted(ACTIONS))
def test_http_matrix(stack, setup, rpc, caller):
    action = ACTIONS[rpc]
    if rpc == "FileComplaint":
        method, path, body = "POST", "/api/v1/complaints", json_format.MessageToDict(
            filing(setup.company), preserving_proto_field_name=True)
    else:
        method, path, body = action.http(setup.complaint(action.state))
    headers = {"Authorization": f"Bearer {setup.tokens[caller]}"} if setup.tokens[caller] else {}
    response = requests.request(method, stack.gateway_url + path, json=body, headers=headers, timeout=10)
    expected = HTTP_STATUS[expected_grpc(action, caller)]
    if expected is None:
        assert 200 <= response.status_code < 300, response.text
    else:
        assert response.status_code == expected, response.text
        assert response.json()["error"]["code"] in ("UNAUTHENTICATED", "PERMISSION_DENIED")


def test_lists_are_scoped_to_what_each_caller_may_see(setup):
    complaint = setup.complaint("waiting_company")
    for caller in set(CALLERS) - {"anonymous", "admin"}:
        page_token, seen = "", set()
        while True:
            response = setup.world.complaints.ListComplaints(pb.ListComplaintsRequest(
                page_size=100, page_token=page_token), metadata=bearer(setup.tokens[caller]), timeout=10)
            seen.update(c.id for c in response.complaints)
            page_token = response.next_page_token
            if not page_token:
                break
        assert (complaint.id in seen) == (caller in READERS), caller


def test_the_owner_lists_who_read_their_complaint(stack, setup):
    complaint = setup.complaint("waiting_company")
    agent = setup.world.complaints.GetComplaint(pb.GetComplaintRequest(complaint_id=complaint.id),
                                                metadata=bearer(setup.tokens["agent"]), timeout=10).complaint
    assert agent.id == complaint.id
    owner = bearer(setup.tokens["owner"])
    listed = setup.world.complaints.ListAccesses(pb.ListAccessesRequest(page_size=1), metadata=owner, timeout=10)
    newest = listed.accesses[0]
    assert (newest.action, newest.complaint_id, newest.actor_role) == ("complaint.read", complaint.id, "company_agent")
    assert newest.actor_id and newest.at.seconds > 0 and listed.next_page_token
    response = requests.get(stack.gateway_url + "/api/v1/complaints/accesses", params={"page_size": 1},
                            headers={"Authorization": f"Bearer {setup.tokens['owner']}"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["accesses"][0]["complaint_id"] == complaint.id


def test_the_csv_export_is_scoped_like_the_list(stack, setup):
    """GET /api/v1/complaints/export.csv pages through ListComplaints with the caller's token: the
    same refusals, and each caller finds the complaint exactly when they may read it."""
    complaint = setup.complaint("waiting_company")
    for caller in CALLERS:
        token = setup.tokens[caller]
        response = requests.get(stack.gateway_url + "/api/v1/complaints/export.csv", timeout=30,
                                headers={"Authorization": f"Bearer {token}"} if token else {})
        if caller in ("anonymous", "admin"):
            assert response.status_code == (401 if caller == "anonymous" else 403), caller
            assert response.json()["error"]["code"] in ("UNAUTHENTICATED", "PERMISSION_DENIED")
            continue
        assert response.status_code == 200, (caller, response.text)
        ids = {line.split(",", 1)[0] for line in response.text.splitlines()[1:]}
        assert (complaint.id in ids) == (caller in READERS), caller
