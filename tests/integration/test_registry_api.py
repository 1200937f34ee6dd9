"""Company registry as real processes (api + worker) beside identity, on PostgreSQL and RabbitMQ."""
import json
import re
import time
import urllib.request
import uuid

import grpc
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from kombu import Connection, Exchange, Queue, binding
from stdnum.br import cnpj as cnpj_format

from concilia.chassis.auth import Principal, TokenSigner
from concilia.chassis.grpc_client import bearer
from concilia.company_registry.v1 import company_registry_pb2 as pb
from concilia.company_registry.v1 import company_registry_pb2_grpc
from support.actors import Actors
from support.ids import new_cnpj, with_wrong_check_digit

SERVICE = "concilia.company_registry.v1.CompanyRegistryService"
SEGMENT = "bancos-financeiras-e-administradoras-de-cartao"


@pytest.fixture(scope="module")
def stack(start_stack):
    return start_stack(services=["identity", "company_registry"], gateway=False)


@pytest.fixture(scope="module")
def registry(stack):
    return company_registry_pb2_grpc.CompanyRegistryServiceStub(grpc.insecure_channel(stack.addr("company_registry")))


@pytest.fixture(scope="module")
def actors(stack):
    return Actors(stack)


@pytest.fixture(scope="module")
def tokens(actors):
    return {role: actors.create(role)[1] for role in ("manager", "consumer", "monitor")} | {"admin": actors.admin_token}


@pytest.fixture(scope="module")
def events(stack):
    """A queue of our own bound to the registry's exchange before anything is published."""
    connection = Connection(stack.amqp_uri)
    exchange = Exchange("company_registry.events", type="topic", durable=True)
    queue = Queue(f"test-registry-{uuid.uuid4().hex[:8]}", auto_delete=True,
                  bindings=[binding(exchange, routing_key=key) for key in ("company_adhered", "company_suspended")])
    simple = connection.SimpleQueue(queue)
    yield simple
    simple.close()
    connection.release()


@pytest.fixture(scope="module")
def database(stack):
    engine = sa.create_engine(stack.database_urls["company_registry"].replace("postgresql://", "postgresql+psycopg://"))
    yield engine
    engine.dispose()


def counts(database) -> dict:
    # Not the outbox: the worker's relay empties it at any moment. Every event is written with a
    # history row in the same transaction, so an unchanged history means no event was written.
    with database.connect() as connection:
        return {name: connection.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar()
                for name in ("companies", "economic_groups", "company_history", "company_suggestions")}


def published(database) -> int:
    """Outbox rows still waiting (the worker deletes what RabbitMQ confirmed)."""
    with database.connect() as connection:
        return connection.execute(sa.text("SELECT count(*) FROM outbox")).scalar()


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def field_of(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata() or ()).get("concilia-field", "")


def application(**overrides) -> pb.ApplyForAdhesionRequest:
    fields = dict(tax_id=new_cnpj(), legal_name="Banco Exemplo S.A.", trade_name="Banco Exemplo",
                  segment_code=SEGMENT, terms_accepted=True)
    fields.update(overrides)
    return pb.ApplyForAdhesionRequest(**fields)


def apply(registry, **overrides) -> pb.Company:
    return registry.ApplyForAdhesion(application(**overrides), timeout=10).company


def receive(events, company_id: str, event_type: str, timeout: float = 15.0) -> dict:
    """The next event of `event_type` about `company_id` (others are acknowledged and skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = events.get(block=True, timeout=max(0.1, deadline - time.monotonic()))
        except events.Empty:
            break
        message.ack()
        body = message.payload if isinstance(message.payload, dict) else json.loads(message.payload)
        if body["type"] == event_type and body["data"].get("company_id") == company_id:
            return {"body": body, "headers": message.headers, "routing_key": message.delivery_info["routing_key"]}
    raise AssertionError(f"no {event_type} for {company_id} within {timeout}s")


def jwks_calls(stack) -> float:
    """Identity's count of GetJwks RPCs served, read from its Prometheus endpoint."""
    url = f"http://127.0.0.1:{stack.ports['identity_metrics']}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    pattern = re.compile(r'^grpc_server_handled_total\{([^}]*)\} ([0-9.e+]+)$', re.MULTILINE)
    return sum(float(value) for labels, value in pattern.findall(text) if 'grpc_method="GetJwks"' in labels)


# --- the process ------------------------------------------------------------------------------
def test_health_and_reflection_answer(stack):
    channel = grpc.insecure_channel(stack.addr("company_registry"))
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    responses = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    assert SERVICE in {s.name for r in responses for s in r.list_services_response.service}


# --- adhesion lifecycle and its events --------------------------------------------------------
def test_adhesion_lifecycle_reaches_rabbitmq(registry, tokens, events, database):
    number = new_cnpj()
    company = apply(registry, tax_id=cnpj_format.format(number), group_name="Grupo Exemplo Integração")
    assert (company.status, company.tax_id) == (pb.COMPANY_STATUS_PENDING, number)

    approved = registry.ApproveAdhesion(pb.ApproveAdhesionRequest(company_id=company.id),
                                        metadata=bearer(tokens["manager"]), timeout=10).company
    assert approved.status == pb.COMPANY_STATUS_ACTIVE
    adhered = receive(events, company.id, "company_adhered")
    assert adhered["routing_key"] == "company_adhered"
    assert adhered["body"]["source"] == "company_registry" and adhered["body"]["country"] == "BR"
    assert adhered["body"]["data"] == {"company_id": company.id, "tax_id": number, "trade_name": "Banco Exemplo",
                                       "segment_code": SEGMENT, "group_id": company.group_id}
    assert "nameko.traceparent" in adhered["headers"]  # the trace continues through the broker

    suspended = registry.SuspendCompany(pb.SuspendCompanyRequest(company_id=company.id, reason="Prazos descumpridos"),
                                        metadata=bearer(tokens["admin"]), timeout=10).company
    assert (suspended.status, suspended.status_reason) == (pb.COMPANY_STATUS_SUSPENDED, "Prazos descumpridos")
    assert receive(events, company.id, "company_suspended")["body"]["data"]["reason"] == "Prazos descumpridos"

    reinstated = registry.ReinstateCompany(pb.ReinstateCompanyRequest(company_id=company.id),
                                           metadata=bearer(tokens["manager"]), timeout=10).company
    assert reinstated.status == pb.COMPANY_STATUS_ACTIVE
    receive(events, company.id, "company_adhered")

    history = registry.ListCompanyHistory(pb.ListCompanyHistoryRequest(company_id=company.id),
                                          metadata=bearer(tokens["monitor"]), timeout=10).transitions
    P, A, S, U = (pb.COMPANY_STATUS_PENDING, pb.COMPANY_STATUS_ACTIVE, pb.COMPANY_STATUS_SUSPENDED,
                  pb.COMPANY_STATUS_UNSPECIFIED)
    assert [(t.from_status, t.to_status, t.actor_role) for t in history] == [
        (U, P, "public"), (P, A, "manager"), (A, S, "admin"), (S, A, "manager")]
    assert history[2].reason == "Prazos descumpridos" and history[1].actor_id and not history[0].actor_id
    deadline = time.monotonic() + 10
    while published(database) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert published(database) == 0  # relayed and confirmed, nothing left behind


def test_company_agents_are_linked_to_a_registered_company_and_its_group(registry, actors):
    company = apply(registry, group_name="Grupo Agentes")
    agent, token = actors.create("company_agent", company_id=company.id)
    assert agent.company_id == company.id and agent.group_id == company.group_id != ""
    error = rpc_error(lambda: registry.ApproveAdhesion(pb.ApproveAdhesionRequest(company_id=company.id),
                                                       metadata=bearer(token), timeout=10))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED  # an agent cannot approve its own company


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, field", [
    ({"tax_id": with_wrong_check_digit(new_cnpj())}, "tax_id"),
    ({"legal_name": "x" * 201}, "legal_name"),
    ({"trade_name": "t" * 5000}, "trade_name"),
    ({"segment_code": "nao-existe"}, "segment_code"),
    ({"terms_accepted": False}, "terms_accepted"),
])
def test_bad_applications_are_invalid_argument_and_write_nothing(registry, database, overrides, field):
    before = counts(database)
    error = rpc_error(lambda: registry.ApplyForAdhesion(application(group_name="Grupo Fantasma", **overrides),
                                                        timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and field_of(error) == field
    assert field in error.details()
    assert counts(database) == before


def test_a_duplicate_cnpj_is_already_exists(registry, database):
    number = new_cnpj()
    apply(registry, tax_id=number)
    before = counts(database)
    error = rpc_error(lambda: apply(registry, tax_id=cnpj_format.format(number)))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS and field_of(error) == "tax_id"
    assert counts(database) == before


def forged_token(stack, role: str, expired: bool = False, other_key: bool = False) -> str:
    principal = Principal(account_id=str(uuid.uuid4()), role=role)
    if other_key:
        return TokenSigner(Ed25519PrivateKey.generate(), "concilia", 900).issue(principal)
    signer = TokenSigner.from_file(stack.data_dir / "keys" / "token-signing.pem", "concilia", 900)
    return signer.issue(principal, now=time.time() - 3600 if expired else None)


@pytest.mark.parametrize("kind", ["none", "malformed", "expired", "other_key"])
def test_transitions_need_a_valid_token(stack, registry, database, kind):
    company = apply(registry)
    token = {"none": "", "malformed": "not.a.jwt",
             "expired": forged_token(stack, "manager", expired=True),
             "other_key": forged_token(stack, "manager", other_key=True)}[kind]
    before = counts(database)
    error = rpc_error(lambda: registry.ApproveAdhesion(pb.ApproveAdhesionRequest(company_id=company.id),
                                                       metadata=bearer(token), timeout=10))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert counts(database) == before


def test_an_invalid_token_on_an_application_is_refused_not_ignored(registry, database):
    before = counts(database)
    error = rpc_error(lambda: registry.ApplyForAdhesion(application(), metadata=bearer("not.a.jwt"), timeout=10))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert counts(database) == before


@pytest.mark.parametrize("role", ["consumer", "monitor"])
def test_forbidden_roles_are_permission_denied_and_change_nothing(registry, tokens, database, role):
    company = apply(registry)
    before = counts(database)
    for call in (lambda: registry.ApproveAdhesion(pb.ApproveAdhesionRequest(company_id=company.id),
                                                  metadata=bearer(tokens[role]), timeout=10),
                 lambda: registry.ListSuggestions(pb.ListSuggestionsRequest(), metadata=bearer(tokens[role]),
                                                  timeout=10),
                 lambda: registry.SuspendCompany(pb.SuspendCompanyRequest(company_id=company.id, reason="x"),
                                                 metadata=bearer(tokens[role]), timeout=10)):
        assert rpc_error(call).code() == grpc.StatusCode.PERMISSION_DENIED
    assert counts(database) == before
    assert registry.GetCompany(pb.GetCompanyRequest(company_id=company.id), timeout=5).company.status == \
        pb.COMPANY_STATUS_PENDING


def test_illegal_transitions_are_failed_precondition_and_change_nothing(registry, tokens, database):
    company = apply(registry)
    manager = bearer(tokens["manager"])
    before = counts(database)
    for call in (lambda: registry.SuspendCompany(pb.SuspendCompanyRequest(company_id=company.id, reason="x"),
                                                 metadata=manager, timeout=10),
                 lambda: registry.ReinstateCompany(pb.ReinstateCompanyRequest(company_id=company.id),
                                                   metadata=manager, timeout=10)):
        assert rpc_error(call).code() == grpc.StatusCode.FAILED_PRECONDITION
    assert counts(database) == before
    error = rpc_error(lambda: registry.ApproveAdhesion(pb.ApproveAdhesionRequest(company_id=str(uuid.uuid4())),
                                                       metadata=manager, timeout=10))
    assert error.code() == grpc.StatusCode.NOT_FOUND


# --- public reads -----------------------------------------------------------------------------
def test_list_companies_is_public_and_paginated(registry, tokens):
    tag = uuid.uuid4().hex[:8]
    made = [apply(registry, trade_name=f"Paginada {tag} {n}") for n in range(5)]
    registry.ApproveAdhesion(pb.ApproveAdhesionRequest(company_id=made[0].id),
                             metadata=bearer(tokens["manager"]), timeout=10)
    seen, token = [], ""
    while True:
        page = registry.ListCompanies(pb.ListCompaniesRequest(name_contains=tag, page_size=2, page_token=token),
                                      timeout=5)
        seen += [c.id for c in page.companies]
        token = page.next_page_token
        if not token:
            break
    assert seen == [c.id for c in made]
    active = registry.ListCompanies(pb.ListCompaniesRequest(name_contains=tag, status=pb.COMPANY_STATUS_ACTIVE),
                                    timeout=5)
    assert [c.id for c in active.companies] == [made[0].id]
    for request, field in [(pb.ListCompaniesRequest(page_size=101), "page_size"),
                           (pb.ListCompaniesRequest(page_token="abc"), "page_token"),
                           (pb.ListCompaniesRequest(status=42), "status")]:
        error = rpc_error(lambda: registry.ListCompanies(request, timeout=5))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and field_of(error) == field


def test_segments_and_taxonomy_come_from_the_brazilian_pack(registry):
    segments = registry.ListSegments(pb.ListSegmentsRequest(), timeout=5).segments
    assert len(segments) == 26 and SEGMENT in {s.code for s in segments}
    taxonomy = registry.GetTaxonomy(pb.GetTaxonomyRequest(segment_code="comercio-eletronico"), timeout=5)
    assert taxonomy.segment.name == "Comércio Eletrônico"
    problems = [p for a in taxonomy.areas for s in a.children for g in s.children for p in g.children]
    assert problems and all(p.code and not p.children for p in problems)
    error = rpc_error(lambda: registry.GetTaxonomy(pb.GetTaxonomyRequest(segment_code="nope"), timeout=5))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and field_of(error) == "segment_code"


def test_consumers_suggest_and_managers_rank(registry, tokens, database):
    number = new_cnpj()
    consumer, manager = bearer(tokens["consumer"]), bearer(tokens["manager"])
    for _ in range(3):
        suggestion = registry.SuggestCompany(pb.SuggestCompanyRequest(name="Loja Sugerida", tax_id=number),
                                             metadata=consumer, timeout=5).suggestion
    assert suggestion.times_suggested == 3
    ranking = registry.ListSuggestions(pb.ListSuggestionsRequest(page_size=100), metadata=manager, timeout=5)
    ranked = [(s.tax_id, s.times_suggested) for s in ranking.suggestions]
    assert (number, 3) in ranked and ranked == sorted(ranked, key=lambda r: (-r[1], r[0]))
    before = counts(database)
    assert rpc_error(lambda: registry.SuggestCompany(
        pb.SuggestCompanyRequest(name="Loja", tax_id=new_cnpj()), timeout=5)).code() == grpc.StatusCode.UNAUTHENTICATED
    error = rpc_error(lambda: registry.SuggestCompany(
        pb.SuggestCompanyRequest(name="Loja", tax_id=with_wrong_check_digit(number)), metadata=consumer, timeout=5))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and field_of(error) == "tax_id"
    assert rpc_error(lambda: registry.SuggestCompany(pb.SuggestCompanyRequest(name="Loja", tax_id=new_cnpj()),
                                                     metadata=manager, timeout=5)).code() == \
        grpc.StatusCode.PERMISSION_DENIED
    assert counts(database) == before


def test_no_personal_or_company_data_in_the_registry_logs(stack, registry):
    number = new_cnpj()
    apply(registry, tax_id=number, trade_name="Nome Muito Particular Ltda")
    time.sleep(0.5)
    log = stack.processes["company_registry-api"].log_path.read_text(errors="replace")
    assert "applied for adhesion" in log  # the service does log what it did...
    assert number not in log and "Nome Muito Particular" not in log  # ...but never names or IDs


# --- local token verification (last: it stops identity) --------------------------------------
def test_tokens_are_verified_without_calling_identity_per_request(stack, registry, actors, tokens):
    manager = bearer(tokens["manager"])
    registry.ListSuggestions(pb.ListSuggestionsRequest(), metadata=manager, timeout=5)  # keys are cached by now
    before = jwks_calls(stack)
    assert before >= 1  # the registry did fetch the keys once (the counter is the right one)
    for _ in range(30):
        registry.ListSuggestions(pb.ListSuggestionsRequest(), metadata=manager, timeout=5)
    assert jwks_calls(stack) == before

    stack.processes["identity-api"].stop()
    try:
        company = apply(registry)
        approved = registry.ApproveAdhesion(pb.ApproveAdhesionRequest(company_id=company.id), metadata=manager,
                                            timeout=10).company
        assert approved.status == pb.COMPANY_STATUS_ACTIVE
    finally:
        stack.restart("identity-api")
