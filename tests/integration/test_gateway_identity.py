"""The gateway in front of identity: REST mapping of statuses, tokens, health, OpenAPI."""
import json
import urllib.error
import urllib.request

import pytest

from support.actors import PASSWORD, unique_email
from support.ids import new_cpf


@pytest.fixture(scope="module")
def stack(start_stack):
    return start_stack(services=["identity"], gateway=True)


def http(stack, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.gateway_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def register(stack, **overrides):
    body = {"role": "consumer", "name": "João", "email": unique_email("joao"), "password": PASSWORD,
            "national_id": new_cpf()}
    body.update(overrides)
    return body, http(stack, "POST", "/api/v1/accounts", body)


def test_register_login_and_read_my_account(stack):
    body, (status, account) = register(stack)
    assert status == 201 and account["role"] == "consumer" and account["email"] == body["email"]
    status, login = http(stack, "POST", "/api/v1/auth/login", {"email": body["email"], "password": PASSWORD})
    assert status == 200 and login["account"]["id"] == account["id"]
    status, me = http(stack, "GET", "/api/v1/accounts/me", token=login["tokens"]["access_token"])
    assert status == 200 and me["id"] == account["id"]


@pytest.mark.parametrize("overrides, status, code, field", [
    ({"national_id": "123"}, 400, "INVALID_ARGUMENT", "national_id"),
    ({"role": "emperor"}, 400, "INVALID_ARGUMENT", "role"),
    ({"role": "admin"}, 401, "UNAUTHENTICATED", None),
    ({"unexpected": 1}, 400, "INVALID_ARGUMENT", None),
])
def test_errors_map_to_http_with_a_json_body(stack, overrides, status, code, field):
    _, (got_status, body) = register(stack, **overrides)
    assert got_status == status
    assert body["error"]["code"] == code
    if field:
        assert body["error"]["field"] == field
    assert "Traceback" not in json.dumps(body)


def test_duplicate_is_409_and_bad_token_is_401(stack):
    body, (status, _) = register(stack)
    assert status == 201
    _, (status, error) = register(stack, email=body["email"])
    assert status == 409 and error["error"]["code"] == "ALREADY_EXISTS"
    status, error = http(stack, "GET", "/api/v1/accounts/me", token="forged.token.value")
    assert status == 401
    status, _ = http(stack, "GET", "/api/v1/accounts/me")
    assert status == 401


def test_not_json_is_a_clear_400(stack):
    request = urllib.request.Request(stack.gateway_url + "/api/v1/auth/login", data=b"<xml/>", method="POST",
                                     headers={"Content-Type": "application/xml", "Accept": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 400
    assert json.loads(error.value.read())["error"]["code"] == "INVALID_ARGUMENT"


def test_healthz_reports_each_service(stack):
    # Only identity runs in this stack, so the gateway is not ready and says which services are missing.
    status, body = http(stack, "GET", "/healthz")
    assert status == 503
    assert body["services"]["identity"] == "serving"
    assert body["services"]["complaint"] == "not_serving"
    assert http(stack, "GET", "/livez")[0] == 200


def test_openapi_document_lists_the_identity_paths(stack):
    status, document = http(stack, "GET", "/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    assert {"/api/v1/accounts", "/api/v1/auth/login", "/healthz"} <= set(document["paths"])


def test_jwks_is_served_publicly(stack):
    status, jwks = http(stack, "GET", "/.well-known/jwks.json")
    assert status == 200 and jwks["keys"][0]["kty"] == "OKP"


def test_gateway_metrics_use_route_templates_not_ids(stack):
    http(stack, "GET", "/api/v1/accounts/some-account-id-123")
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['gateway_metrics']}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'route="/api/v1/accounts/<account_id>"' in text
    assert "some-account-id-123" not in text
