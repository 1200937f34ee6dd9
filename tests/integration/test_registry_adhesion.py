"""Mandatory adhesion in the company registry, as real processes (identity, company_registry,
gateway) on PostgreSQL with the real BR pack: managers record company facts, the pack's rules decide
who must adhere, national managers waive rules with a reason, and everything is in the history."""
import json
import urllib.error
import urllib.request

import grpc
import jsonschema
import pytest
import sqlalchemy as sa
from google.protobuf import struct_pb2

from concilia.chassis.grpc_client import bearer
from concilia.company_registry.v1 import company_registry_pb2 as pb
from concilia.company_registry.v1 import company_registry_pb2_grpc
from support.actors import Actors
from support.complaints import rpc_error
from support.ids import new_cnpj, with_wrong_check_digit

pytestmark = pytest.mark.integration
BANKS = "bancos-financeiras-e-administradoras-de-cartao"


@pytest.fixture(scope="module")
def stack(start_stack):
    return start_stack(services=["identity", "company_registry"], gateway=True)


@pytest.fixture(scope="module")
def registry(stack):
    return company_registry_pb2_grpc.CompanyRegistryServiceStub(grpc.insecure_channel(stack.addr("company_registry")))


@pytest.fixture(scope="module")
def tokens(stack):
    actors = Actors(stack)
    tokens = {"admin": actors.admin_token}
    tokens["manager"] = actors.create("manager", jurisdiction="BR")[1]
    tokens["manager_sp"] = actors.create("manager", jurisdiction="BR-SP")[1]
    tokens["monitor"] = actors.create("monitor", jurisdiction="BR")[1]
    tokens["consumer"] = actors.create("consumer")[1]
    return tokens


@pytest.fixture(scope="module")
def engine(stack):
    engine = sa.create_engine(stack.database_urls["company_registry"].replace("postgresql://", "postgresql+psycopg://"))
    yield engine
    engine.dispose()


def counts(engine) -> dict:
    with engine.connect() as connection:
        return {table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("company_facts", "adhesion_waivers", "adhesion_history")}


def struct(**facts) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update(facts)
    return value


def field_of(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata() or ()).get("concilia-field", "")


def apply(registry, trade_name: str, segment: str = BANKS) -> pb.Company:
    return registry.ApplyForAdhesion(pb.ApplyForAdhesionRequest(
        tax_id=new_cnpj(), legal_name=f"{trade_name} S.A.", trade_name=trade_name, segment_code=segment,
        terms_accepted=True), timeout=10).company


def mandatory(registry, token) -> dict:
    found, page_token = {}, ""
    while True:
        page = registry.ListMandatoryAdhesions(pb.ListMandatoryAdhesionsRequest(page_size=2, page_token=page_token),
                                               metadata=bearer(token), timeout=10)
        found.update({o.tax_id: o for o in page.obligations})
        page_token = page.next_page_token
        if not page_token:
            return found


def test_facts_decide_who_must_adhere_until_it_adheres_or_a_manager_waives(registry, tokens):
    manager = bearer(tokens["manager"])
    bank = apply(registry, "Banco Obrigado")  # pending: applied, not yet a participant
    small = apply(registry, "Loja Pequena", segment="comercio-eletronico")
    suggested = new_cnpj()
    registry.SuggestCompany(pb.SuggestCompanyRequest(name="Mercado Sugerido", tax_id=suggested),
                            metadata=bearer(tokens["consumer"]), timeout=10)
    unknown = new_cnpj()

    # A bank is an essential service; its revenue also crosses the threshold.
    obligation = registry.RecordCompanyFacts(pb.RecordCompanyFactsRequest(
        company_id=bank.id, facts=struct(segment_code=BANKS, annual_gross_revenue=250_000_000)),
        metadata=manager, timeout=10).obligation
    assert [r.rule_id for r in obligation.reasons] == ["essential-services", "revenue-threshold"]
    assert obligation.obliged and not obligation.adhered and obligation.tax_id == bank.tax_id
    assert obligation.company_status == pb.COMPANY_STATUS_PENDING and obligation.name == "Banco Obrigado"
    small_obligation = registry.RecordCompanyFacts(pb.RecordCompanyFactsRequest(
        company_id=small.id, facts=struct(annual_gross_revenue=2_000_000, marketplace=False)),
        metadata=manager, timeout=10).obligation
    assert list(small_obligation.reasons) == [] and not small_obligation.obliged
    # A suggested company: the registry knows its name from the suggestion.
    marketplace = registry.RecordCompanyFacts(pb.RecordCompanyFactsRequest(
        tax_id=suggested, facts=struct(marketplace=True)), metadata=manager, timeout=10).obligation
    assert marketplace.name == "Mercado Sugerido" and [r.rule_id for r in marketplace.reasons] == ["large-platforms"]
    # A company nobody suggested yet: the manager names it.
    litigant = registry.RecordCompanyFacts(pb.RecordCompanyFactsRequest(
        tax_id=unknown, name="Litigante Ltda", facts=struct(consumer_lawsuits=501, monthly_complaints_average=10)),
        metadata=manager, timeout=10).obligation
    assert [r.rule_id for r in litigant.reasons] == ["consumer-litigation"]

    listed = mandatory(registry, tokens["monitor"])  # staff read it, paged
    assert {bank.tax_id, suggested, unknown} <= set(listed) and small.tax_id not in listed

    # Merging: a later fact is added, null removes one; the evaluation follows.
    updated = registry.RecordCompanyFacts(pb.RecordCompanyFactsRequest(
        tax_id=unknown, facts=struct(consumer_lawsuits=None, digital_platform=True)),
        metadata=manager, timeout=10).obligation
    assert dict(updated.facts) == {"monthly_complaints_average": 10, "digital_platform": True}
    assert [r.rule_id for r in updated.reasons] == ["large-platforms"]

    # Waiving one of two rules keeps the obligation; waiving the last one lifts it.
    once = registry.GrantAdhesionWaiver(pb.GrantAdhesionWaiverRequest(
        company_id=bank.id, rule_id="revenue-threshold", reason="Revenue figure under judicial review"),
        metadata=manager, timeout=10).obligation
    assert once.obliged and [(r.rule_id, r.waived) for r in once.reasons] == [
        ("essential-services", False), ("revenue-threshold", True)]
    waived = registry.GrantAdhesionWaiver(pb.GrantAdhesionWaiverRequest(
        tax_id=suggested, rule_id="large-platforms", reason="Marketplace closed in 2025"),
        metadata=manager, timeout=10).obligation
    assert not waived.obliged and waived.reasons[0].waiver_reason == "Marketplace closed in 2025"
    listed = mandatory(registry, tokens["manager"])
    assert bank.tax_id in listed and suggested not in listed

    # Adhering (approval) takes the bank off the list.
    registry.ApproveAdhesion(pb.ApproveAdhesionRequest(company_id=bank.id), metadata=manager, timeout=10)
    assert bank.tax_id not in mandatory(registry, tokens["manager"])

    # A revoked waiver obliges again; everything is in the history with actor and time.
    again = registry.RevokeAdhesionWaiver(pb.RevokeAdhesionWaiverRequest(
        tax_id=suggested, rule_id="large-platforms", reason="Reopened"), metadata=manager, timeout=10).obligation
    assert again.obliged and suggested in mandatory(registry, tokens["manager"])
    view = registry.GetAdhesionObligation(pb.GetAdhesionObligationRequest(tax_id=suggested),
                                          metadata=bearer(tokens["monitor"]), timeout=10)
    assert [(h.action, h.detail, h.reason, h.actor_role) for h in view.history] == [
        ("facts_recorded", "marketplace", "", "manager"),
        ("waiver_granted", "large-platforms", "Marketplace closed in 2025", "manager"),
        ("waiver_revoked", "large-platforms", "Reopened", "manager")]
    assert all(h.actor_id and h.occurred_at.seconds for h in view.history)


def test_bad_input_is_refused_naming_the_field_and_changes_nothing(registry, tokens, engine):
    manager = bearer(tokens["manager"])
    company = apply(registry, "Banco Errado")
    registry.RecordCompanyFacts(pb.RecordCompanyFactsRequest(company_id=company.id, facts=struct(marketplace=True)),
                                metadata=manager, timeout=10)
    before = counts(engine)
    cases = [
        (pb.RecordCompanyFactsRequest(company_id=company.id, facts=struct(employees=10)), "facts.employees"),
        (pb.RecordCompanyFactsRequest(company_id=company.id, facts=struct(marketplace="yes")), "facts.marketplace"),
        (pb.RecordCompanyFactsRequest(company_id=company.id, facts=struct(annual_gross_revenue=-5)),
         "facts.annual_gross_revenue"),
        (pb.RecordCompanyFactsRequest(company_id=company.id, facts=struct(segment_code="no-such-segment")),
         "facts.segment_code"),
        (pb.RecordCompanyFactsRequest(company_id=company.id), "facts"),
        (pb.RecordCompanyFactsRequest(facts=struct(marketplace=True)), "company_id"),
        (pb.RecordCompanyFactsRequest(company_id=company.id, tax_id=company.tax_id, facts=struct(marketplace=True)),
         "tax_id"),
        (pb.RecordCompanyFactsRequest(tax_id=with_wrong_check_digit(new_cnpj()), name="X",
                                      facts=struct(marketplace=True)), "tax_id"),
        (pb.RecordCompanyFactsRequest(tax_id=new_cnpj(), facts=struct(marketplace=True)), "name"),
        (pb.RecordCompanyFactsRequest(company_id="not-a-uuid", facts=struct(marketplace=True)), "company_id"),
    ]
    for request, field in cases:
        error = rpc_error(lambda: registry.RecordCompanyFacts(request, metadata=manager, timeout=10))
        assert (error.code(), field_of(error)) == (grpc.StatusCode.INVALID_ARGUMENT, field), request
    for request, field in [
        (pb.GrantAdhesionWaiverRequest(company_id=company.id, rule_id="no-such-rule", reason="x"), "rule_id"),
        (pb.GrantAdhesionWaiverRequest(company_id=company.id, rule_id="large-platforms", reason="  "), "reason"),
    ]:
        error = rpc_error(lambda: registry.GrantAdhesionWaiver(request, metadata=manager, timeout=10))
        assert (error.code(), field_of(error)) == (grpc.StatusCode.INVALID_ARGUMENT, field)
    error = rpc_error(lambda: registry.GrantAdhesionWaiver(pb.GrantAdhesionWaiverRequest(
        company_id=company.id, rule_id="revenue-threshold", reason="does not apply"), metadata=manager, timeout=10))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    error = rpc_error(lambda: registry.RevokeAdhesionWaiver(pb.RevokeAdhesionWaiverRequest(
        company_id=company.id, rule_id="large-platforms", reason="never waived"), metadata=manager, timeout=10))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(lambda: registry.GetAdhesionObligation(pb.GetAdhesionObligationRequest(tax_id=new_cnpj()),
                                                             metadata=manager, timeout=10))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert counts(engine) == before

    registry.GrantAdhesionWaiver(pb.GrantAdhesionWaiverRequest(
        company_id=company.id, rule_id="large-platforms", reason="first"), metadata=manager, timeout=10)
    after_waiver = counts(engine)
    error = rpc_error(lambda: registry.GrantAdhesionWaiver(pb.GrantAdhesionWaiverRequest(
        company_id=company.id, rule_id="large-platforms", reason="second"), metadata=manager, timeout=10))
    assert (error.code(), field_of(error)) == (grpc.StatusCode.ALREADY_EXISTS, "rule_id")
    assert counts(engine) == after_waiver


def test_only_managers_keep_facts_and_only_national_managers_waive(registry, tokens, engine):
    company = apply(registry, "Banco Protegido")
    registry.RecordCompanyFacts(pb.RecordCompanyFactsRequest(company_id=company.id, facts=struct(marketplace=True)),
                                metadata=bearer(tokens["manager_sp"]), timeout=10)  # any manager records facts
    before = counts(engine)
    facts = pb.RecordCompanyFactsRequest(company_id=company.id, facts=struct(marketplace=False))
    waiver = pb.GrantAdhesionWaiverRequest(company_id=company.id, rule_id="large-platforms", reason="r")
    for role in ("consumer", "monitor", "admin"):
        error = rpc_error(lambda: registry.RecordCompanyFacts(facts, metadata=bearer(tokens[role]), timeout=10))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, role
    for role in ("consumer", "monitor", "admin", "manager_sp"):
        error = rpc_error(lambda: registry.GrantAdhesionWaiver(waiver, metadata=bearer(tokens[role]), timeout=10))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, role
    error = rpc_error(lambda: registry.ListMandatoryAdhesions(pb.ListMandatoryAdhesionsRequest(),
                                                              metadata=bearer(tokens["consumer"]), timeout=10))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    for call in (lambda: registry.RecordCompanyFacts(facts, timeout=10),
                 lambda: registry.ListMandatoryAdhesions(pb.ListMandatoryAdhesionsRequest(), timeout=10)):
        assert rpc_error(call).code() == grpc.StatusCode.UNAUTHENTICATED
    assert counts(engine) == before


# --- REST ----------------------------------------------------------------------------------------

def http(stack, method, path, body=None, token=None):
    request = urllib.request.Request(stack.gateway_url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_mandatory_adhesion_over_rest_follows_the_openapi_document(stack, tokens):
    document = http(stack, "GET", "/openapi.json")[1]

    def valid(body, schema):
        jsonschema.Draft202012Validator({**document, "$ref": f"#/components/schemas/{schema}"}).validate(body)
        return body

    manager, tax_id = tokens["manager"], new_cnpj()
    base = f"/api/v1/adhesion-obligations/{tax_id}"
    status, body = http(stack, "POST", base + "/facts", {"name": "Plataforma REST", "facts": {
        "digital_platform": True, "annual_gross_revenue": 150000000}}, manager)
    assert status == 200, body
    obligation = valid(body, "AdhesionObligationEnvelope")["obligation"]
    assert [r["rule_id"] for r in obligation["reasons"]] == ["large-platforms", "revenue-threshold"]
    assert obligation["company_status"] == "unspecified" and obligation["obliged"] is True

    status, body = http(stack, "POST", base + "/waivers", {"rule_id": "revenue-threshold", "reason": "Audited"},
                        manager)
    assert status == 201 and valid(body, "AdhesionObligationEnvelope")["obligation"]["reasons"][1]["waived"]
    status, body = http(stack, "GET", "/api/v1/mandatory-adhesions?page_size=100", token=manager)
    assert status == 200 and tax_id in [o["tax_id"] for o in body["obligations"]]
    status, body = http(stack, "POST", base + "/waivers/revenue-threshold/revocation", {"reason": "Audit failed"},
                        manager)
    assert status == 200 and not body["obligation"]["reasons"][1]["waived"]
    status, body = http(stack, "GET", base, token=tokens["monitor"])
    assert status == 200 and [h["action"] for h in body["history"]] == [
        "facts_recorded", "waiver_granted", "waiver_revoked"]
    for entry in body["history"]:
        valid(entry, "AdhesionHistoryEntry")

    errors = [
        ("POST", base + "/facts", {"facts": {"employees": 3}}, manager, 400, "facts.employees"),
        ("POST", base + "/facts", {"tax_id": tax_id, "facts": {"marketplace": True}}, manager, 400, "tax_id"),
        ("POST", base + "/waivers", {"rule_id": "nope", "reason": "x"}, manager, 400, "rule_id"),
        ("POST", base + "/waivers", {"rule_id": "large-platforms", "reason": "x"}, tokens["manager_sp"], 403, None),
        ("POST", base + "/waivers", {"rule_id": "essential-services", "reason": "x"}, manager, 409, None),
        ("POST", base + "/facts", {"facts": {"marketplace": True}}, None, 401, None),
        ("GET", "/api/v1/mandatory-adhesions", None, tokens["consumer"], 403, None),
    ]
    for method, path, payload, token, expected, field in errors:
        status, body = http(stack, method, path, payload, token)
        assert status == expected, (path, payload, body)
        valid(body, "Error")
        if field:
            assert body["error"]["field"] == field
