"""The notification api and its gateway routes and pages, with real identity and company registry:
tokens, the inbox, preferences, webhook registration, dead-lettering and replay by the company."""
import http.cookiejar
import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from kombu import Connection

from concilia.chassis.db import Database
from concilia.chassis.outbox import envelope, exchange_for
from concilia.events.v1 import events_pb2 as ev
from services.notification import domain
from services.notification import models as m
from support.ids import new_cnpj, new_cpf

pytestmark = pytest.mark.integration
PASSWORD = "a-long-password-1"


class Receiver(BaseHTTPRequestHandler):
    status = {}  # path -> HTTP status to answer (default 200)
    calls = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.calls.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(self.status.get(self.path, 200))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def own_vhost(amqp_uri):
    """A vhost of this module's own: notification workers of other stacks in the session would
    otherwise compete for the events published here."""
    vhost = f"concilia-notification-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True,
                   capture_output=True, timeout=60)
    yield amqp_uri.rsplit("/", 1)[0] + "/" + vhost
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def stack(start_stack, own_vhost):
    stack = start_stack(services=["identity", "company_registry", "notification"], gateway=True, extra_env={
        "AMQP_URI": own_vhost, "WEBHOOKS_ALLOW_INSECURE_LOOPBACK": "true", "NOTIFICATION_SEND_INTERVAL_SECONDS": "0.1",
        "WEBHOOK_RETRY_BASE_SECONDS": "0.2", "WEBHOOK_MAX_ATTEMPTS": "2"})
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def db(stack):
    return Database(stack.database_urls["notification"], pool_size=2)


def api(stack, method, path, body=None, token=""):
    """(status, JSON body) of a gateway call."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.gateway_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def eventually(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s (last value {result!r})")
        time.sleep(0.1)


def login(stack, email, password=PASSWORD):
    status, body = api(stack, "POST", "/api/v1/auth/login", {"email": email, "password": password})
    assert status == 200, body
    return body["tokens"]["access_token"], body["account"]["id"]


def new_consumer(stack, db, locale="en"):
    email = f"c{uuid.uuid4().hex[:10]}@people.test"
    status, body = api(stack, "POST", "/api/v1/accounts", {"role": "consumer", "name": "Consumidora Teste",
                                                           "email": email, "password": PASSWORD,
                                                           "national_id": new_cpf(), "locale": locale})
    assert status == 201, body
    token, account_id = login(stack, email)
    wait_contact(db, account_id)
    return token, account_id, email


def wait_contact(db, account_id):
    def known():
        with db.transaction() as s:
            return s.scalar(sa.select(m.contacts.c.role).where(m.contacts.c.account_id == account_id))
    eventually(known)


def publish(uri, body):
    with Connection(uri) as connection:
        connection.Producer().publish(
            json.dumps(body), exchange=exchange_for(body["source"]), routing_key=body["type"],
            content_type="application/json", content_encoding="utf-8", delivery_mode=2,
            declare=[exchange_for(body["source"])], retry=True)


def answered(consumer_id, company_id):
    data = ev.ComplaintAnswered(complaint=ev.ComplaintRef(complaint_id=str(uuid.uuid4()), consumer_id=consumer_id,
                                                          company_id=company_id))
    return envelope("complaint_answered", "complaint", data, "BR")


@pytest.fixture(scope="module")
def company_agent(stack, db):
    """(token, company_id) of an agent of a freshly approved company, and the admin's token."""
    admin, _ = login(stack, "admin@concilia.test", "admin-password-1")
    status, segments = api(stack, "GET", "/api/v1/segments")
    assert status == 200, segments
    status, applied = api(stack, "POST", "/api/v1/companies", {
        "tax_id": new_cnpj(), "legal_name": "Loja Exemplo Ltda", "trade_name": "Loja Exemplo",
        "segment_code": segments["segments"][0]["code"], "terms_accepted": True})
    assert status == 201, applied
    company_id = applied["company"]["id"]
    status, body = api(stack, "POST", f"/api/v1/companies/{company_id}/approve", {}, admin)
    assert status == 200, body
    email = f"a{uuid.uuid4().hex[:10]}@company.test"
    status, body = api(stack, "POST", "/api/v1/accounts", {"role": "company_agent", "name": "Agente",
                                                           "email": email, "password": PASSWORD,
                                                           "company_id": company_id, "locale": "pt-BR"}, admin)
    assert status == 201, body
    token, account_id = login(stack, email)
    wait_contact(db, account_id)
    return token, company_id, admin


# --- inbox ------------------------------------------------------------------------------------

def test_each_user_sees_and_marks_only_their_own_notifications(stack, db, own_vhost):
    mine, me, _ = new_consumer(stack, db, "en")
    theirs, them, _ = new_consumer(stack, db, "pt-BR")
    publish(own_vhost, answered(me, str(uuid.uuid4())))
    publish(own_vhost, answered(them, str(uuid.uuid4())))
    _, inbox = eventually(lambda: (r := api(stack, "GET", "/api/v1/notifications", token=mine))[1]["notifications"] and r)
    (item,) = inbox["notifications"]
    assert item["kind"] == "complaint_answered" and item["title"].startswith("The company answered")
    assert inbox["unread_count"] == 1 and item["read"] is False
    _, other_inbox = eventually(lambda: (r := api(stack, "GET", "/api/v1/notifications", token=theirs))[1]["notifications"] and r)
    assert other_inbox["notifications"][0]["title"].startswith("A empresa respondeu")

    assert api(stack, "POST", "/api/v1/notifications/read", {"notification_ids": [item["id"]]}, theirs) == (200, {"updated": 0})
    assert api(stack, "POST", "/api/v1/notifications/read", {"notification_ids": [item["id"]]}, mine) == (200, {"updated": 1})
    _, after = api(stack, "GET", "/api/v1/notifications?unread_only=true", token=mine)
    assert after["notifications"] == [] and after["unread_count"] == 0
    _, still = api(stack, "GET", "/api/v1/notifications?unread_only=true", token=theirs)
    assert still["unread_count"] == 1


def test_inbox_errors(stack, db):
    token, _, _ = new_consumer(stack, db)
    assert api(stack, "GET", "/api/v1/notifications")[0] == 401
    status, body = api(stack, "GET", "/api/v1/notifications?page_size=abc", token=token)
    assert status == 400 and body["error"]["field"] == "page_size"
    status, body = api(stack, "GET", "/api/v1/notifications?page_token=nonsense", token=token)
    assert status == 400 and body["error"]["field"] == "page_token"
    status, body = api(stack, "POST", "/api/v1/notifications/read", {"notification_ids": ["x"]}, token)
    assert status == 400 and body["error"]["field"] == "notification_ids"


def test_preferences_are_validated_and_kept(stack, db):
    token, _, _ = new_consumer(stack, db)
    assert api(stack, "GET", "/api/v1/notification-preferences", token=token) == (
        200, {"email_enabled": True, "locale": "", "muted_kinds": []})
    for body, field in (({"email_enabled": False, "locale": "es-AR"}, "locale"),
                        ({"muted_kinds": ["complaint_filed", "nope"]}, "muted_kinds")):
        status, error = api(stack, "PUT", "/api/v1/notification-preferences", body, token)
        assert status == 400 and error["error"]["field"] == field
    assert api(stack, "PUT", "/api/v1/notification-preferences", {"colour": "red"}, token)[0] == 400
    assert api(stack, "GET", "/api/v1/notification-preferences", token=token)[1]["email_enabled"] is True
    wanted = {"email_enabled": False, "locale": "en", "muted_kinds": ["deadline_reminder"]}
    assert api(stack, "PUT", "/api/v1/notification-preferences", wanted, token) == (200, wanted)
    assert api(stack, "GET", "/api/v1/notification-preferences", token=token) == (200, wanted)


# --- webhooks ---------------------------------------------------------------------------------

def test_webhook_registration_is_for_company_agents_with_safe_urls(stack, db, company_agent, receiver):
    agent, company_id, admin = company_agent
    consumer, _, _ = new_consumer(stack, db)
    hook = {"url": receiver + "/registration", "event_types": ["complaint_filed"]}
    assert api(stack, "POST", "/api/v1/webhooks", hook, consumer)[0] == 403
    assert api(stack, "POST", "/api/v1/webhooks", hook, admin)[0] == 403
    assert api(stack, "POST", "/api/v1/webhooks", hook)[0] == 401
    for bad, field in (({**hook, "url": "http://hooks.example.com/x"}, "url"),
                       ({**hook, "event_types": []}, "event_types"),
                       ({**hook, "event_types": ["account_created"]}, "event_types")):
        status, body = api(stack, "POST", "/api/v1/webhooks", bad, agent)
        assert status == 400 and body["error"]["field"] == field
    status, created = api(stack, "POST", "/api/v1/webhooks", hook, agent)
    assert status == 201 and len(created["secret"]) == 64
    assert created["webhook"]["company_id"] == company_id and created["webhook"]["active"] is True
    assert api(stack, "POST", "/api/v1/webhooks", hook, agent)[0] == 409
    _, listed = api(stack, "GET", "/api/v1/webhooks", token=agent)
    assert [w["url"] for w in listed["webhooks"]] == [hook["url"]]
    assert "secret" not in json.dumps(listed)
    status, deactivated = api(stack, "POST", f"/api/v1/webhooks/{created['webhook']['id']}/deactivate", {}, agent)
    assert status == 200 and deactivated["active"] is False


def test_a_dead_lettered_delivery_is_replayed_by_its_company_only(stack, db, company_agent, receiver, own_vhost):
    agent, company_id, admin = company_agent
    path = f"/replay/{company_id}"
    Receiver.status[path] = 500
    status, created = api(stack, "POST", "/api/v1/webhooks",
                          {"url": receiver + path, "event_types": ["complaint_answered"]}, agent)
    assert status == 201
    hook_id, secret = created["webhook"]["id"], created["secret"]
    body = answered(str(uuid.uuid4()), company_id)
    publish(own_vhost, body)
    publish(own_vhost, body)  # a redelivery: still exactly one delivery row

    def dead():
        _, page = api(stack, "GET", f"/api/v1/webhooks/{hook_id}/deliveries?status=dead_lettered", token=agent)
        return page["deliveries"]
    (delivery,) = eventually(dead)
    assert (delivery["attempts"], delivery["last_http_status"], delivery["event_id"]) == (2, 500, body["id"])
    assert len([c for c in Receiver.calls if c["path"] == path]) == 2

    # Another company's agent neither sees nor replays it.
    _, other = api(stack, "POST", "/api/v1/accounts", {
        "role": "consumer", "name": "x", "email": f"o{uuid.uuid4().hex[:8]}@people.test", "password": PASSWORD,
        "national_id": new_cpf()})
    consumer_token, _ = login(stack, other["email"])
    assert api(stack, "POST", f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", {}, consumer_token)[0] == 403
    status, error = api(stack, "POST", "/api/v1/webhooks/deliveries/not-an-id/replay", {}, agent)
    assert status == 400 and error["error"]["field"] == "delivery_id"

    Receiver.status[path] = 204  # the company fixed its endpoint
    status, replayed = api(stack, "POST", f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", {}, agent)
    assert status == 200 and replayed["status"] == "pending" and replayed["replay_count"] == 1

    def delivered():
        _, page = api(stack, "GET", f"/api/v1/webhooks/{hook_id}/deliveries", token=agent)
        return page["deliveries"][0]["status"] == "delivered" and page["deliveries"]
    (final,) = eventually(delivered)
    assert final["last_http_status"] == 204
    last_call = [c for c in Receiver.calls if c["path"] == path][-1]
    assert domain.verify_signature(secret, last_call["headers"]["X-Concilia-Signature"], last_call["body"],
                                   int(time.time()))
    assert json.loads(last_call["body"]) == body
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(m.webhook_deliveries)
                        .where(m.webhook_deliveries.c.event_id == body["id"])) == 1


# --- pages ------------------------------------------------------------------------------------

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browser_for(stack, email, password=PASSWORD):
    """A cookie-keeping client signed in through the login form."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect)
    with browser.open(stack.gateway_url + "/login", timeout=10) as page:  # the form's CSRF token
        csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', page.read().decode())[1]
    form = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": csrf_token}).encode()
    with pytest.raises(urllib.error.HTTPError) as signed_in:
        browser.open(stack.gateway_url + "/login", data=form, timeout=10)
    assert signed_in.value.code == 302
    return browser


def test_the_notifications_page_needs_a_login_and_lists_the_inbox(stack, db, own_vhost):
    _, account_id, email = new_consumer(stack, db, "en")
    publish(own_vhost, answered(account_id, str(uuid.uuid4())))
    anonymous = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        anonymous.open(stack.gateway_url + "/notifications", timeout=10)
    assert redirect.value.code == 302 and "/login" in redirect.value.headers["Location"]
    browser = browser_for(stack, email)

    def page():
        # The page in the language the user picks (?lang=); without it, the pack's (pt-BR).
        with browser.open(stack.gateway_url + "/notifications?lang=en", timeout=10) as response:
            html = response.read().decode()
        return "The company answered" in html and html
    html = eventually(page)
    assert 'data-unread="1"' in html and "E-mail preferences" in html


def test_the_webhooks_page_is_for_company_agents(stack, db, company_agent, receiver):
    agent, _, _ = company_agent
    url = receiver + "/page-listed"
    assert api(stack, "POST", "/api/v1/webhooks", {"url": url, "event_types": ["complaint_filed"]}, agent)[0] == 201
    _, account = api(stack, "GET", "/api/v1/accounts/me", token=agent)
    with browser_for(stack, account["email"]).open(stack.gateway_url + "/notifications/webhooks", timeout=10) as page:
        assert url in page.read().decode()
    _, _, consumer_email = new_consumer(stack, db)
    with pytest.raises(urllib.error.HTTPError) as denied:
        browser_for(stack, consumer_email).open(stack.gateway_url + "/notifications/webhooks", timeout=10)
    assert denied.value.code == 403
