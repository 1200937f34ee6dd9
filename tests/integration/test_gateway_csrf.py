"""CSRF protection of the pages against the real gateway (gunicorn) and services: a page POST without
this session's form token is refused with a 403 page and changes nothing; the same POST with the
token works; the JSON API needs no form token and does not accept the session cookie."""

import pytest
import requests

from concilia.chassis.grpc_client import bearer
from concilia.complaint.v1 import complaint_pb2 as pb
from support.actors import PASSWORD
from support.complaints import World, module_stack
from support.pages import form_token, signed_in

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(start_stack):
    with module_stack(start_stack, ["identity", "company_registry", "complaint"], True) as (stack, _amqp_uri):
        yield stack


@pytest.fixture(scope="module")
def world(stack):
    return World(stack)


def messages(world, token: str, complaint_id: str) -> list[str]:
    complaint = world.complaints.GetComplaint(pb.GetComplaintRequest(complaint_id=complaint_id),
                                              metadata=bearer(token), timeout=10).complaint
    return [m.text for m in complaint.messages]


def test_a_page_post_without_the_form_token_is_refused_and_changes_nothing(stack, world):
    company = world.company("Loja Csrf")
    account, token = world.actors.create("consumer")
    complaint = world.file(token, company)
    browser = signed_in(stack, account.email)
    page_url = f"{stack.gateway_url}/complaints/{complaint.id}"
    good = form_token(browser.get(page_url, timeout=10))
    other_session = form_token(signed_in(stack, account.email).get(page_url, timeout=10))
    action = f"{page_url}/messages"
    history = world.count("history")

    for sent in (None, "", "not-the-token", other_session):
        data = {"text": "Forged message"} | ({} if sent is None else {"csrf_token": sent})
        response = browser.post(action, data=data, allow_redirects=False, timeout=10)
        assert response.status_code == 403
        assert 'data-code="CSRF_TOKEN_INVALID"' in response.text
        assert "Este formulário expirou ou não foi enviado por este site" in response.text
    assert messages(world, token, complaint.id) == [] and world.count("history") == history

    # Sign-out is a form too: refused without the token, the session stays signed in.
    assert browser.post(stack.gateway_url + "/logout", allow_redirects=False, timeout=10).status_code == 403
    assert browser.get(stack.gateway_url + "/complaints", allow_redirects=False, timeout=10).status_code == 200

    # The real form, with the token it was rendered with, goes through.
    response = browser.post(action, data={"text": "Real message", "csrf_token": good}, allow_redirects=False,
                            timeout=10)
    assert response.status_code == 303
    assert messages(world, token, complaint.id) == ["Real message"]


def test_a_forged_sign_in_is_refused(stack, world):
    account, _ = world.actors.create("consumer")
    browser = requests.Session()  # never saw our login page: no token, as from another site
    response = browser.post(stack.gateway_url + "/login", data={"email": account.email, "password": PASSWORD},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 403
    after = browser.get(stack.gateway_url + "/complaints", allow_redirects=False, timeout=10)
    assert after.status_code == 302 and "/login" in after.headers["Location"]  # not signed in


def test_the_json_api_needs_no_form_token_and_ignores_the_session_cookie(stack, world):
    company = world.company("Loja Api Csrf")
    account, token = world.actors.create("consumer")
    complaint = world.file(token, company)
    action = f"{stack.gateway_url}/api/v1/complaints/{complaint.id}/messages"

    cookie_only = signed_in(stack, account.email)
    response = cookie_only.post(action, json={"text": "Via the cookie"}, timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert messages(world, token, complaint.id) == []

    response = requests.post(action, json={"text": "Via the API"}, headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
    assert response.status_code == 201
    assert messages(world, token, complaint.id) == ["Via the API"]
