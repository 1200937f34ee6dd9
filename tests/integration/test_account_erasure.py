"""Access and erasure on request, end to end through the gateway and every service that keeps
personal data (identity, complaint, notification): a consumer downloads what the platform keeps
about them, then erases their account; identity blanks it at once, and the account_erased event
makes the complaint and notification workers drop the texts, attachments and contact data they keep,
while the complaint itself (status, company, dates) stays for the company and the indicators."""
import base64
import time

import pytest
import requests
import sqlalchemy as sa

from concilia.chassis.grpc_client import bearer
from concilia.complaint.v1 import complaint_pb2 as pb
from concilia.identity.v1 import identity_pb2
from support.actors import PASSWORD
from support.browser import AVAILABLE, chromium
from support.complaints import PDF, World, module_stack

pytestmark = pytest.mark.integration

DESCRIPTION = "Charged twice; call me on 11 98765-4321, Maria Souza, Rua das Flores 10."


@pytest.fixture(scope="module")
def world(start_stack):
    with module_stack(start_stack, ["identity", "company_registry", "complaint", "notification"],
                      gateway=True) as (stack, _):
        world = World(stack)
        yield world
        world.close()


def api(world, method: str, path: str, token: str, body=None) -> requests.Response:
    return requests.request(method, world.stack.gateway_url + path, json=body, timeout=30,
                            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})


def rows(world, service: str, sql: str, **params) -> list:
    engine = sa.create_engine(world.stack.database_urls[service].replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            return [dict(r) for r in connection.execute(sa.text(sql), params).mappings()]
    finally:
        engine.dispose()


def eventually(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_a_consumer_exports_then_erases_their_data(world):
    company = world.company("Banco Erasure")
    agent = world.agent(company)
    consumer_id, token = world.consumer()
    other_id, other_token = world.consumer()
    email = rows(world, "identity", "SELECT email FROM accounts WHERE id = :id", id=consumer_id)[0]["email"]
    complaint = world.file(token, company, description=DESCRIPTION, desired_outcome="Refund to Maria Souza",
                           attachments=[pb.NewAttachment(file_name="bill.pdf", content_type="application/pdf",
                                                         content=PDF)])
    others = world.file(other_token, company, description="Someone else's complaint, kept as it is.")
    world.complaints.AddMessage(pb.AddMessageRequest(complaint_id=complaint.id, text="My CPF is in the bill."),
                                metadata=bearer(token), timeout=10)
    world.complaints.AddMessage(pb.AddMessageRequest(complaint_id=complaint.id, text="We are looking into it."),
                                metadata=bearer(agent), timeout=10)
    world.complaints.GetComplaint(pb.GetComplaintRequest(complaint_id=complaint.id), metadata=bearer(agent),
                                  timeout=10)  # a read by someone else: audited (ADR 0020)
    # The consumer's inbox has the filing's notification once the worker got the event.
    assert eventually(lambda: api(world, "GET", "/api/v1/notifications", token).json()["notifications"])

    # --- access: one JSON document with the account, the complaints (with history) and the inbox
    exported = api(world, "GET", "/api/v1/accounts/me/export", token)
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    data = exported.json()
    assert data["account"]["id"] == consumer_id and data["account"]["email"] == email
    assert [c["id"] for c in data["complaints"]] == [complaint.id]  # not the other consumer's
    mine = data["complaints"][0]
    assert mine["description"] == DESCRIPTION and len(mine["attachments"]) == 1
    assert {m["text"] for m in mine["messages"]} == {"My CPF is in the bill.", "We are looking into it."}
    assert [e["action"] for e in mine["history"]][0] == "filed"
    assert data["notifications"] and all(n["id"] for n in data["notifications"])
    assert "notification_preferences" in data
    assert [(a["actor_role"], a["action"], a["complaint_id"]) for a in data["accesses"]] == \
        [("company_agent", "complaint.read", complaint.id)]

    # --- erasure: a wrong password changes nothing; the right one erases at once in identity
    wrong = api(world, "POST", "/api/v1/accounts/me/erasure", token, {"password": "not-my-password"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "UNAUTHENTICATED"
    assert rows(world, "identity", "SELECT erased_at FROM accounts WHERE id = :id", id=consumer_id)[0]["erased_at"] is None
    erased = api(world, "POST", "/api/v1/accounts/me/erasure", token, {"password": PASSWORD})
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased_at"] and erased.json()["name"] == "" and erased.json()["email"] != email
    login = requests.post(world.stack.gateway_url + "/api/v1/auth/login", json={"email": email, "password": PASSWORD},
                          timeout=30)
    assert login.status_code == 401

    # --- the complaint worker drops the consumer's texts and attachments; the complaint stays
    def erased_in_complaint():
        seen = world.complaints.GetComplaint(pb.GetComplaintRequest(complaint_id=complaint.id),
                                             metadata=bearer(agent), timeout=10).complaint
        return seen if seen.description == "" else None
    seen = eventually(erased_in_complaint)
    assert seen, "the complaint worker never erased the consumer's texts"
    assert seen.status == complaint.status and seen.company_id == company and seen.desired_outcome == ""
    assert not seen.attachments
    assert {(m.author_role, m.text) for m in seen.messages} == {("consumer", ""),
                                                                ("company_agent", "We are looking into it.")}
    history = world.complaints.GetHistory(pb.GetHistoryRequest(complaint_id=complaint.id), metadata=bearer(agent),
                                          timeout=10).entries
    assert history[-1].action == "personal_data_erased"
    kept = world.complaints.GetComplaint(pb.GetComplaintRequest(complaint_id=others.id), metadata=bearer(agent),
                                         timeout=10).complaint
    assert kept.description == "Someone else's complaint, kept as it is."

    # --- the notification worker keeps a blank tombstone and nothing else of the account
    def tombstone():
        found = rows(world, "notification", "SELECT name, email, erased_at FROM contacts WHERE account_id = :id",
                     id=consumer_id)
        return found if found and found[0]["erased_at"] is not None else None
    contact = eventually(tombstone)
    assert contact and (contact[0]["name"], contact[0]["email"]) == ("", "")
    assert rows(world, "notification", "SELECT name FROM contacts WHERE account_id = :id", id=other_id)[0]["name"]

    # The access token lives on until it expires: what it can still read is the blank record.
    after = api(world, "GET", "/api/v1/accounts/me/export", token).json()
    assert after["account"]["name"] == "" and after["notifications"] == []
    assert after["complaints"][0]["description"] == "" and not after["complaints"][0]["attachments"]
    text = str(after)
    for personal in (email, DESCRIPTION, "Refund to Maria Souza", "My CPF is in the bill.",
                     base64.b64encode(PDF).decode()[:40]):
        assert personal not in text


def test_export_and_erasure_need_a_token_and_an_admin_for_other_accounts(world):
    consumer_id, token = world.consumer()
    assert requests.get(world.stack.gateway_url + "/api/v1/accounts/me/export", timeout=30).status_code == 401
    other_id, other_token = world.consumer()
    # A manager's read of the account is on the owner's trail, which no one else may list.
    world.actors.identity.GetAccount(identity_pb2.GetAccountRequest(account_id=consumer_id),
                                     metadata=bearer(world.manager), timeout=10)
    trail = api(world, "GET", "/api/v1/accounts/me/accesses", token)
    assert trail.status_code == 200
    assert [(a["actor_role"], a["action"], a["subject_id"]) for a in trail.json()["accesses"]] == \
        [("manager", "account.read", consumer_id)]
    assert api(world, "GET", f"/api/v1/accounts/{consumer_id}/accesses", other_token).status_code == 403
    assert len(api(world, "GET", f"/api/v1/accounts/{consumer_id}/accesses", world.actors.admin_token)
               .json()["accesses"]) == 1
    denied = api(world, "POST", f"/api/v1/accounts/{other_id}/erasure", token)
    assert denied.status_code == 403
    misplaced = api(world, "POST", "/api/v1/accounts/me/erasure", token, {"password": PASSWORD, "account_id": other_id})
    assert misplaced.status_code == 400
    assert rows(world, "identity", "SELECT erased_at FROM accounts WHERE id IN (:a, :b) AND erased_at IS NOT NULL",
                a=consumer_id, b=other_id) == []
    admin = world.actors.admin_token
    done = api(world, "POST", f"/api/v1/accounts/{other_id}/erasure", admin)
    assert done.status_code == 200 and done.json()["erased_at"]


@pytest.mark.skipif(not AVAILABLE, reason="needs Debian's chromium and chromium-driver")
def test_the_account_page_downloads_the_data_and_erases_the_account(world, tmp_path):
    company = world.company("Loja Página")
    account, _ = world.actors.create("consumer", name="Página Teste")
    token = world.actors.login(account.email)
    filed = world.file(token, company, description="Bought a fridge that never came.")
    world.complaints.GetHistory(pb.GetHistoryRequest(complaint_id=filed.id), metadata=bearer(world.manager),
                                timeout=10)
    base = world.stack.gateway_url
    with chromium(tmp_path) as browser:
        browser.sign_in(base, account.email)
        browser.open(base + "/account")
        assert account.email in browser.text("#account")
        assert browser.attribute("#accesses tbody tr", "data-action") == "history.read"  # the manager's read
        # The download link serves the same document as the API, with the page's session.
        href = browser.attribute("#download-data", "href")
        cookies = {c["name"]: c["value"] for c in browser._call("GET", "/cookie")}
        data = requests.get(base + href, cookies=cookies, timeout=30)
        assert data.status_code == 200 and "attachment" in data.headers["Content-Disposition"]
        assert data.json()["complaints"][0]["description"] == "Bought a fridge that never came."
        # A wrong password shows the error and erases nothing.
        browser.type("#erase-account input[name=password]", "not-my-password")
        browser.click("#erase-account input[name=confirm]")
        browser.click("#erase-account button[type=submit]")
        assert browser.attribute("[role=alert]", "data-code") == "UNAUTHENTICATED"
        assert rows(world, "identity", "SELECT erased_at FROM accounts WHERE id = :id",
                    id=account.id)[0]["erased_at"] is None
        browser.type("#erase-account input[name=password]", PASSWORD)
        browser.click("#erase-account input[name=confirm]")
        browser.click("#erase-account button[type=submit]")
        browser.find("form[action$='/login'], a[href$='/login']")  # signed out, back home
        assert rows(world, "identity", "SELECT erased_at FROM accounts WHERE id = :id",
                    id=account.id)[0]["erased_at"] is not None
        browser.open(base + "/login")
        browser.type("#email", account.email)
        browser.type("#password", PASSWORD)
        browser.click("form button[type=submit]")
        assert browser.attribute("[role=alert]", "data-code") == "UNAUTHENTICATED"
