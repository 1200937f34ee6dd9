"""The gateway in front of the company registry: REST endpoints, status mapping, OpenAPI, pages."""
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from stdnum.br import cnpj as cnpj_format

from support.actors import Actors
from support.ids import new_cnpj, with_wrong_check_digit

SEGMENT = "bancos-financeiras-e-administradoras-de-cartao"


@pytest.fixture(scope="module")
def stack(start_stack):
    return start_stack(services=["identity", "company_registry"], gateway=True)


@pytest.fixture(scope="module")
def tokens(stack):
    actors = Actors(stack)
    return {role: actors.create(role)[1] for role in ("manager", "consumer")} | {"admin": actors.admin_token}


def http(stack, method, path, body=None, token=None, accept="application/json", raw_body=None):
    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(stack.gateway_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", accept)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    if accept != "application/json":
        return status, raw.decode()
    return status, json.loads(raw) if raw else None


def application(**overrides) -> dict:
    return {"tax_id": new_cnpj(), "legal_name": "Loja Exemplo Comércio Ltda", "trade_name": "Loja Exemplo",
            "segment_code": SEGMENT, "terms_accepted": True, **overrides}


def apply(stack, **overrides) -> dict:
    status, body = http(stack, "POST", "/api/v1/companies", application(**overrides))
    assert status == 201, body
    return body["company"]


def test_apply_approve_suspend_reinstate_over_rest(stack, tokens):
    number = new_cnpj()
    company = apply(stack, tax_id=cnpj_format.format(number), group_name="Grupo REST")
    assert company["status"] == "pending" and company["tax_id"] == number and company["group_name"] == "Grupo REST"
    path = f"/api/v1/companies/{company['id']}"

    status, body = http(stack, "POST", f"{path}/approve", token=tokens["manager"])
    assert (status, body["company"]["status"]) == (200, "active")
    status, body = http(stack, "POST", f"{path}/suspend", {"reason": "Abuso reiterado"}, token=tokens["admin"])
    assert (status, body["company"]["status"], body["company"]["status_reason"]) == (200, "suspended", "Abuso reiterado")
    status, body = http(stack, "POST", f"{path}/reinstate", token=tokens["manager"])
    assert (status, body["company"]["status"]) == (200, "active")
    status, body = http(stack, "GET", path)
    assert status == 200 and body["company"]["status"] == "active" and body["company"]["created_at"].endswith("Z")
    status, body = http(stack, "GET", f"{path}/history", token=tokens["manager"])
    assert status == 200 and [(t["from_status"], t["to_status"]) for t in body["transitions"]] == [
        ("unspecified", "pending"), ("pending", "active"), ("active", "suspended"), ("suspended", "active")]
    assert http(stack, "GET", f"{path}/history", token=tokens["consumer"])[0] == 403


@pytest.mark.parametrize("overrides, field", [
    ({"tax_id": with_wrong_check_digit(new_cnpj())}, "tax_id"),
    ({"trade_name": "t" * 201}, "trade_name"),
    ({"segment_code": "nao-existe"}, "segment_code"),
    ({"terms_accepted": False}, "terms_accepted"),
])
def test_bad_applications_are_400_naming_the_field(stack, overrides, field):
    status, body = http(stack, "POST", "/api/v1/companies", application(**overrides))
    assert status == 400
    assert body["error"]["code"] == "INVALID_ARGUMENT" and body["error"]["field"] == field


def test_malformed_bodies_are_400(stack):
    assert http(stack, "POST", "/api/v1/companies", application(unexpected=1))[0] == 400
    assert http(stack, "POST", "/api/v1/companies", raw_body=b"{not json")[0] == 400
    assert http(stack, "POST", "/api/v1/companies", raw_body=b"[1, 2]")[0] == 400
    company = apply(stack)
    status, body = http(stack, "POST", f"/api/v1/companies/{company['id']}/approve", {"company_id": str(uuid.uuid4())})
    assert status == 400 and body["error"]["field"] == "company_id"


def test_duplicates_and_illegal_transitions_are_409(stack, tokens):
    number = new_cnpj()
    company = apply(stack, tax_id=number)
    status, body = http(stack, "POST", "/api/v1/companies", application(tax_id=cnpj_format.format(number)))
    assert (status, body["error"]["code"], body["error"]["field"]) == (409, "ALREADY_EXISTS", "tax_id")
    status, body = http(stack, "POST", f"/api/v1/companies/{company['id']}/reinstate", token=tokens["manager"])
    assert (status, body["error"]["code"]) == (409, "FAILED_PRECONDITION")
    assert http(stack, "GET", f"/api/v1/companies/{company['id']}")[1]["company"]["status"] == "pending"


def test_missing_bad_and_forbidden_tokens(stack, tokens):
    company = apply(stack)
    approve = f"/api/v1/companies/{company['id']}/approve"
    assert http(stack, "POST", approve)[1]["error"]["code"] == "UNAUTHENTICATED"
    status, body = http(stack, "POST", approve, token="not.a.jwt")
    assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED")
    status, body = http(stack, "POST", approve, token=tokens["consumer"])
    assert (status, body["error"]["code"]) == (403, "PERMISSION_DENIED")
    assert http(stack, "GET", "/api/v1/company-suggestions", token=tokens["consumer"])[0] == 403
    assert http(stack, "GET", "/api/v1/company-suggestions")[0] == 401
    assert http(stack, "GET", f"/api/v1/companies/{uuid.uuid4()}")[0] == 404
    assert http(stack, "GET", f"/api/v1/companies/{company['id']}")[1]["company"]["status"] == "pending"


def test_list_filters_and_pages(stack, tokens):
    tag = uuid.uuid4().hex[:8]
    made = [apply(stack, trade_name=f"Rest {tag} {n}") for n in range(3)]
    http(stack, "POST", f"/api/v1/companies/{made[1]['id']}/approve", token=tokens["manager"])
    query = urllib.parse.urlencode({"name_contains": tag, "page_size": 2})
    status, first = http(stack, "GET", f"/api/v1/companies?{query}")
    assert status == 200 and [c["id"] for c in first["companies"]] == [made[0]["id"], made[1]["id"]]
    token = urllib.parse.quote(first["next_page_token"])
    status, second = http(stack, "GET", f"/api/v1/companies?{query}&page_token={token}")
    assert [c["id"] for c in second["companies"]] == [made[2]["id"]] and second["next_page_token"] == ""
    status, active = http(stack, "GET", f"/api/v1/companies?name_contains={tag}&status=active")
    assert [c["id"] for c in active["companies"]] == [made[1]["id"]]
    for query, field in [("page_size=101", "page_size"), ("page_size=ten", "page_size"),
                         ("page_size=99999999999", "page_size"), ("status=closed", "status"),
                         ("page_token=xyz", "page_token")]:
        status, body = http(stack, "GET", f"/api/v1/companies?{query}")
        assert (status, body["error"]["field"]) == (400, field), query


def test_segments_and_taxonomy(stack):
    status, body = http(stack, "GET", "/api/v1/segments")
    assert status == 200 and {"code": SEGMENT, "name": "Bancos, Financeiras e Administradoras de Cartão"} in body["segments"]
    status, body = http(stack, "GET", f"/api/v1/segments/{SEGMENT}/taxonomy")
    assert status == 200 and body["segment"]["code"] == SEGMENT
    area = body["areas"][0]
    assert set(area) == {"code", "name", "children"} and area["children"][0]["children"][0]["children"]
    assert http(stack, "GET", "/api/v1/segments/nope/taxonomy")[0] == 400


def test_suggestions_over_rest(stack, tokens):
    number = new_cnpj()
    for _ in range(2):
        status, body = http(stack, "POST", "/api/v1/company-suggestions", {"name": "Loja Desejada", "tax_id": number},
                            token=tokens["consumer"])
    assert status == 201 and body["suggestion"]["times_suggested"] == 2
    status, body = http(stack, "GET", "/api/v1/company-suggestions?page_size=100", token=tokens["manager"])
    assert status == 200 and {"tax_id": number, "times": 2} in [
        {"tax_id": s["tax_id"], "times": s["times_suggested"]} for s in body["suggestions"]]
    status, body = http(stack, "POST", "/api/v1/company-suggestions", {"name": "Loja", "tax_id": "123"},
                        token=tokens["consumer"])
    assert (status, body["error"]["field"]) == (400, "tax_id")
    assert http(stack, "POST", "/api/v1/company-suggestions", {"name": "Loja", "tax_id": number})[0] == 401


def test_openapi_documents_every_registry_route(stack):
    status, document = http(stack, "GET", "/openapi.json")
    assert status == 200
    for path in ("/api/v1/companies", "/api/v1/companies/{company_id}", "/api/v1/companies/{company_id}/approve",
                 "/api/v1/companies/{company_id}/suspend", "/api/v1/companies/{company_id}/reinstate",
                 "/api/v1/companies/{company_id}/history",
                 "/api/v1/segments", "/api/v1/segments/{segment_code}/taxonomy", "/api/v1/company-suggestions"):
        assert path in document["paths"], path
    assert "Company" in document["components"]["schemas"] and "Error" in document["components"]["schemas"]
    # Every $ref resolves inside the merged document.
    text = json.dumps(document)
    for ref in set(part.split('"')[0] for part in text.split('"$ref": "#/')[1:]):
        node = document
        for key in ref.split("/"):
            node = node[key]


def test_public_pages_list_participating_companies_and_show_a_profile(stack, tokens):
    tag = uuid.uuid4().hex[:8]
    active = apply(stack, trade_name=f"Vitrine {tag} Ativa", group_name=f"Grupo Vitrine {tag}")
    pending = apply(stack, trade_name=f"Vitrine {tag} Pendente")
    http(stack, "POST", f"/api/v1/companies/{active['id']}/approve", token=tokens["manager"])

    status, html = http(stack, "GET", f"/companies?q={tag}", accept="text/html")
    assert status == 200 and f"Vitrine {tag} Ativa" in html and f"Vitrine {tag} Pendente" not in html
    assert f"/companies/{active['id']}/profile" in html and "Empresas participantes" in html

    status, html = http(stack, "GET", f"/companies/{active['id']}/profile", accept="text/html")
    assert status == 200 and f"Vitrine {tag} Ativa" in html and f"Grupo Vitrine {tag}" in html
    assert "Bancos, Financeiras e Administradoras de Cartão" in html and 'data-status="active"' in html
    status, html = http(stack, "GET", f"/companies/{pending['id']}/profile", accept="text/html")
    assert status == 200 and 'data-status="pending"' in html
    assert http(stack, "GET", f"/companies/{uuid.uuid4()}/profile", accept="text/html")[0] == 404
    assert http(stack, "GET", "/companies?page_token=forged", accept="text/html")[0] == 400
