"""CSRF protection of the gateway's pages (services/gateway/csrf.py), on the Flask app with no
services behind it: a page POST without this session's form token is refused before the view runs;
the JSON API needs no form token and never reads the session cookie. The same rules against real
services, and that a refused POST changes nothing: tests/integration/test_gateway_csrf.py."""
import re
from pathlib import Path

import pytest

from concilia.chassis.country import pack_from_env

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "gateway" / "templates"
LOGIN = {"email": "x@example.test", "password": "0123456789"}


@pytest.fixture
def client(monkeypatch):
    from services.gateway.app import create_app
    monkeypatch.setenv("CONCILIA_COUNTRY", "BR")
    for name in ("IDENTITY_ADDR", "COMPANY_REGISTRY_ADDR", "COMPLAINT_ADDR", "NOTIFICATION_ADDR", "METRICS_ADDR"):
        monkeypatch.setenv(name, "127.0.0.1:9")  # nothing listens: a call that gets through is UNAVAILABLE
    monkeypatch.setenv("GRPC_CLIENT_TIMEOUT_SECONDS", "2")
    pack_from_env.cache_clear()
    yield create_app().test_client()
    pack_from_env.cache_clear()


def form_token(page: str) -> str:
    return re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', page)[1]


@pytest.mark.parametrize("sent", [None, "", "wrong", "ünïcode"])
def test_a_page_post_without_the_session_token_is_refused(client, sent):
    form_token(client.get("/login").get_data(as_text=True))  # the session has a token
    data = dict(LOGIN) if sent is None else {**LOGIN, "csrf_token": sent}
    response = client.post("/login", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert 'data-code="CSRF_TOKEN_INVALID"' in page
    assert "Este formulário expirou ou não foi enviado por este site" in page


def test_the_token_of_another_session_is_refused(client):
    from services.gateway.app import create_app
    other = create_app().test_client()  # another browser, signed by the same key
    theirs = form_token(other.get("/login").get_data(as_text=True))
    form_token(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={**LOGIN, "csrf_token": theirs}).status_code == 403


def test_a_post_with_no_session_at_all_is_refused(client):
    # A forged cross-site form: the victim's browser has no token of ours to send.
    response = client.post("/logout", data={"csrf_token": "anything"})
    assert response.status_code == 403


def test_the_refusal_is_shown_in_the_page_language(client):
    form_token(client.get("/login?lang=en").get_data(as_text=True))
    page = client.post("/login", data=LOGIN).get_data(as_text=True)
    assert "This form has expired or was not sent from this site" in page


def test_with_the_session_token_the_post_reaches_the_view(client):
    token = form_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={**LOGIN, "csrf_token": token})
    assert response.status_code == 400 and 'data-code="UNAVAILABLE"' in response.get_data(as_text=True)


def test_pages_without_forms_set_no_cookie_and_unknown_routes_stay_404_and_405(client):
    assert "Set-Cookie" not in client.get("/rankings").headers
    assert client.post("/no-such-page").status_code == 404
    assert client.post("/rankings").status_code == 405


def test_the_json_api_needs_no_form_token(client):
    response = client.post("/api/v1/auth/login", json=LOGIN)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "UNAVAILABLE"


def test_the_json_api_ignores_the_session_cookie(client):
    with client.session_transaction() as session:
        session["access_token"] = "a-token-from-the-pages"
    response = client.get("/api/v1/accounts/me")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "UNAUTHENTICATED"


def test_every_post_form_carries_the_token():
    for template in TEMPLATES.rglob("*.html"):
        for form in re.findall(r"<form\b[^>]*>.{0,20}", template.read_text(encoding="utf-8"), re.S | re.I):
            if re.search(r'method="post"', form, re.I):
                assert "{{ csrf_field() }}" in form, f"{template.relative_to(TEMPLATES)}: {form}"
