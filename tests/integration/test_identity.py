"""Identity as a real process on PostgreSQL: accounts, validation, login, tokens, lockout, events."""
import json
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from kombu import Connection, Exchange, Queue

from concilia.chassis.grpc_client import bearer
from concilia.identity.v1 import identity_pb2 as pb
from concilia.identity.v1 import identity_pb2_grpc
from support.actors import PASSWORD, Actors, unique_email
from support.ids import new_cpf, with_wrong_check_digit


@pytest.fixture(scope="module")
def stack(start_stack):
    return start_stack(services=["identity"], gateway=False,
                       extra_env={"LOGIN_LOCKOUT_THRESHOLD": "3", "LOGIN_LOCKOUT_BASE_SECONDS": "2"})


@pytest.fixture(scope="module")
def identity(stack):
    return identity_pb2_grpc.IdentityServiceStub(grpc.insecure_channel(stack.addr("identity")))


@pytest.fixture(scope="module")
def actors(stack):
    return Actors(stack)


def account_count(stack) -> int:
    import sqlalchemy as sa
    engine = sa.create_engine(stack.database_urls["identity"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM accounts")).scalar()
    engine.dispose()
    return count


def consumer_request(**overrides):
    fields = dict(role=pb.ROLE_CONSUMER, name="Maria Souza", email=unique_email("maria"), password=PASSWORD,
                  national_id=new_cpf())
    fields.update(overrides)
    return pb.CreateAccountRequest(**fields)


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value


def field_of(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata() or ()).get("concilia-field", "")


def test_health_and_reflection_answer(stack):
    channel = grpc.insecure_channel(stack.addr("identity"))
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service="concilia.identity.v1.IdentityService"), timeout=5)
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert "concilia.identity.v1.IdentityService" in names


def test_a_consumer_registers_with_a_valid_cpf_and_signs_in(identity):
    cpf = new_cpf()
    formatted = f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"
    email = unique_email("Ana.")
    account = identity.CreateAccount(consumer_request(email=email.upper(), national_id=formatted), timeout=10).account
    assert account.role == pb.ROLE_CONSUMER and account.national_id == cpf and account.email == email.lower()
    login = identity.Login(pb.LoginRequest(email=email, password=PASSWORD), timeout=10)
    assert login.account.id == account.id and login.tokens.token_type == "Bearer"
    me = identity.GetAccount(pb.GetAccountRequest(), metadata=bearer(login.tokens.access_token), timeout=5).account
    assert me.id == account.id


@pytest.mark.parametrize("overrides, field", [
    ({"national_id": "WRONG"}, "national_id"),
    ({"name": "x" * 121}, "name"),
    ({"name": "   "}, "name"),
    ({"email": "not-an-email"}, "email"),
    ({"password": "short"}, "password"),
    ({"locale": "fr-FR"}, "locale"),
    ({"company_id": "some-company"}, "company_id"),
    ({"role": pb.ROLE_UNSPECIFIED}, "role"),
])
def test_bad_input_names_the_field_and_writes_nothing(stack, identity, overrides, field):
    before = account_count(stack)
    error = rpc_error(lambda: identity.CreateAccount(consumer_request(**overrides), timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(error) == field
    assert account_count(stack) == before


def test_a_wrong_cpf_check_digit_is_rejected(identity):
    error = rpc_error(lambda: identity.CreateAccount(consumer_request(national_id=with_wrong_check_digit(new_cpf())),
                                                     timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "CPF" in error.details()


def test_duplicates_answer_already_exists(identity):
    first = consumer_request()
    identity.CreateAccount(first, timeout=10)
    same_email = rpc_error(lambda: identity.CreateAccount(consumer_request(email=first.email), timeout=10))
    same_id = rpc_error(lambda: identity.CreateAccount(consumer_request(national_id=first.national_id), timeout=10))
    assert same_email.code() == same_id.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (field_of(same_email), field_of(same_id)) == ("email", "national_id")


def test_staff_accounts_need_the_right_creator(identity, actors):
    manager_request = pb.CreateAccountRequest(role=pb.ROLE_MANAGER, name="Procon", email=unique_email("m"),
                                              password=PASSWORD, jurisdiction="BR-SP")
    anonymous = rpc_error(lambda: identity.CreateAccount(manager_request, timeout=10))
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
    _, consumer_token = actors.create("consumer")
    forbidden = rpc_error(lambda: identity.CreateAccount(manager_request, metadata=bearer(consumer_token), timeout=10))
    assert forbidden.code() == grpc.StatusCode.PERMISSION_DENIED
    created = identity.CreateAccount(manager_request, metadata=bearer(actors.admin_token), timeout=10).account
    assert created.role == pb.ROLE_MANAGER and created.jurisdiction == "BR-SP"
    bad_jurisdiction = rpc_error(lambda: identity.CreateAccount(pb.CreateAccountRequest(
        role=pb.ROLE_MONITOR, name="Reg", email=unique_email("r"), password=PASSWORD, jurisdiction="AR-C"),
        metadata=bearer(actors.admin_token), timeout=10))
    assert bad_jurisdiction.code() == grpc.StatusCode.INVALID_ARGUMENT and field_of(bad_jurisdiction) == "jurisdiction"
    no_such_office = rpc_error(lambda: identity.CreateAccount(pb.CreateAccountRequest(
        role=pb.ROLE_MANAGER, name="Office", email=unique_email("o"), password=PASSWORD,
        jurisdiction="BR-SP/omic-la-plata"), metadata=bearer(actors.admin_token), timeout=10))
    assert no_such_office.code() == grpc.StatusCode.INVALID_ARGUMENT and field_of(no_such_office) == "jurisdiction"


def test_a_sector_monitor_is_limited_to_taxonomy_segments_carried_in_its_token(stack, identity, actors):
    import jwt
    segments = ["transporte-aereo", "bancos-financeiras-e-administradoras-de-cartao"]
    admin = bearer(actors.admin_token)
    email = unique_email("anac")
    created = identity.CreateAccount(pb.CreateAccountRequest(
        role=pb.ROLE_MONITOR, name="ANAC", email=email, password=PASSWORD, jurisdiction="BR",
        segments=segments + ["transporte-aereo"]), metadata=admin, timeout=10).account
    assert list(created.segments) == segments  # in order, once each
    login = identity.Login(pb.LoginRequest(email=email, password=PASSWORD), timeout=10)
    assert list(login.account.segments) == segments
    assert jwt.decode(login.tokens.access_token, options={"verify_signature": False})["segments"] == segments
    read = identity.GetAccount(pb.GetAccountRequest(account_id=created.id), metadata=admin, timeout=10).account
    assert list(read.segments) == segments
    before = account_count(stack)
    for role, fields in ((pb.ROLE_MONITOR, dict(jurisdiction="BR", segments=["aviation"])),
                         (pb.ROLE_MONITOR, dict(jurisdiction="BR", segments=[""])),
                         (pb.ROLE_MANAGER, dict(jurisdiction="BR", segments=["transporte-aereo"]))):
        error = rpc_error(lambda: identity.CreateAccount(pb.CreateAccountRequest(
            role=role, name="Reg", email=unique_email("r"), password=PASSWORD, **fields), metadata=admin, timeout=10))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and field_of(error) == "segments", fields
    assert account_count(stack) == before


def test_a_manager_cannot_create_staff_outside_their_jurisdiction(identity, actors):
    _, sp_manager = actors.create("manager", jurisdiction="BR-SP")
    error = rpc_error(lambda: identity.CreateAccount(pb.CreateAccountRequest(
        role=pb.ROLE_MONITOR, name="Reg", email=unique_email("r"), password=PASSWORD, jurisdiction="BR-RJ"),
        metadata=bearer(sp_manager), timeout=10))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_agent_accounts_need_an_existing_company(identity, actors):
    # The registry is not running in this stack: the check fails closed, never creating the account.
    error = rpc_error(lambda: identity.CreateAccount(pb.CreateAccountRequest(
        role=pb.ROLE_COMPANY_AGENT, name="Agent", email=unique_email("a"), password=PASSWORD,
        company_id="00000000-0000-0000-0000-000000000000"), metadata=bearer(actors.admin_token), timeout=20))
    assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.NOT_FOUND)


def test_tokens_are_rejected_when_malformed_or_forged(identity, actors):
    for token in ("not-a-jwt", actors.admin_token[:-4] + "AAAA"):
        error = rpc_error(lambda: identity.GetAccount(pb.GetAccountRequest(), metadata=bearer(token), timeout=5))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    error = rpc_error(lambda: identity.GetAccount(pb.GetAccountRequest(), timeout=5))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_consumers_read_only_their_own_account_and_staff_do_not_see_ids(identity, actors):
    first, first_token = actors.create("consumer")
    second, _ = actors.create("consumer")
    error = rpc_error(lambda: identity.GetAccount(pb.GetAccountRequest(account_id=second.id),
                                                  metadata=bearer(first_token), timeout=5))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    _, manager_token = actors.create("manager")
    seen = identity.GetAccount(pb.GetAccountRequest(account_id=first.id), metadata=bearer(manager_token), timeout=5)
    assert seen.account.email == first.email and seen.account.national_id == ""


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_family(identity, actors):
    account, _ = actors.create("consumer")
    first = identity.Login(pb.LoginRequest(email=account.email, password=PASSWORD), timeout=10).tokens
    second = identity.RefreshToken(pb.RefreshTokenRequest(refresh_token=first.refresh_token), timeout=5).tokens
    assert second.refresh_token != first.refresh_token
    reused = rpc_error(lambda: identity.RefreshToken(pb.RefreshTokenRequest(refresh_token=first.refresh_token), timeout=5))
    assert reused.code() == grpc.StatusCode.UNAUTHENTICATED
    # The theft signal revoked the whole family, including the newest token.
    after = rpc_error(lambda: identity.RefreshToken(pb.RefreshTokenRequest(refresh_token=second.refresh_token), timeout=5))
    assert after.code() == grpc.StatusCode.UNAUTHENTICATED


def test_logout_revokes_the_refresh_token(identity, actors):
    account, _ = actors.create("consumer")
    tokens = identity.Login(pb.LoginRequest(email=account.email, password=PASSWORD), timeout=10).tokens
    identity.RevokeToken(pb.RevokeTokenRequest(refresh_token=tokens.refresh_token), timeout=5)
    error = rpc_error(lambda: identity.RefreshToken(pb.RefreshTokenRequest(refresh_token=tokens.refresh_token), timeout=5))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_repeated_failed_logins_lock_the_account_with_backoff(identity, actors):
    account, _ = actors.create("consumer")
    wrong = pb.LoginRequest(email=account.email, password="wrong-password-9")
    for _ in range(3):
        assert rpc_error(lambda: identity.Login(wrong, timeout=10)).code() == grpc.StatusCode.UNAUTHENTICATED
    locked = rpc_error(lambda: identity.Login(pb.LoginRequest(email=account.email, password=PASSWORD), timeout=10))
    assert locked.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # even the right password waits
    time.sleep(2.5)
    assert identity.Login(pb.LoginRequest(email=account.email, password=PASSWORD), timeout=10).account.id == account.id


def test_unknown_email_and_wrong_password_look_the_same(identity, actors):
    account, _ = actors.create("consumer")
    unknown = rpc_error(lambda: identity.Login(pb.LoginRequest(email=unique_email("nobody"), password=PASSWORD), timeout=10))
    wrong = rpc_error(lambda: identity.Login(pb.LoginRequest(email=account.email, password="x" * 12), timeout=10))
    assert (unknown.code(), unknown.details()) == (wrong.code(), wrong.details())


def test_jwks_publishes_the_signing_key(identity, actors):
    import jwt
    jwks = json.loads(identity.GetJwks(pb.GetJwksRequest(), timeout=5).jwks_json)
    kid = jwt.get_unverified_header(actors.admin_token)["kid"]
    assert kid in {key["kid"] for key in jwks["keys"]}
    assert all("d" not in key for key in jwks["keys"])  # never the private part


def test_account_created_event_reaches_the_broker_without_personal_data_in_headers(stack, identity):
    exchange = Exchange("identity.events", type="topic", durable=True)
    with Connection(stack.amqp_uri) as connection:
        queue = Queue(f"test-account-created-{time.time_ns()}", exchange=exchange, routing_key="account_created",
                      auto_delete=False, durable=False)
        queue(connection.default_channel).declare()
        request = consumer_request()
        account = identity.CreateAccount(request, timeout=10).account
        deadline, found = time.monotonic() + 15, None
        simple = connection.SimpleQueue(queue)
        while time.monotonic() < deadline and found is None:
            try:
                message = simple.get(timeout=1)
            except simple.Empty:
                continue
            message.ack()
            if message.payload["data"]["account_id"] == account.id:
                found = message
        simple.close()
    assert found is not None, "account_created never reached RabbitMQ"
    assert found.payload["type"] == "account_created" and found.payload["source"] == "identity"
    assert found.headers.get("nameko.traceparent", "").startswith("00-")
    assert request.national_id not in json.dumps(found.payload)  # the CPF stays in identity


# --- erasure on request -------------------------------------------------------------------------
def identity_row(stack, account_id: str) -> dict:
    import sqlalchemy as sa
    engine = sa.create_engine(stack.database_urls["identity"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT * FROM accounts WHERE id = :id"), {"id": account_id}).mappings().one()
    engine.dispose()
    return dict(row)


def erased_events(stack, account_id: str, calls) -> list:
    """The account_erased events for this account that reach a queue bound before `calls` run:
    waits for the first, then a little longer for any duplicate."""
    exchange = Exchange("identity.events", type="topic", durable=True)
    found = []
    with Connection(stack.amqp_uri) as connection:
        queue = Queue(f"test-account-erased-{time.time_ns()}", exchange=exchange, routing_key="account_erased",
                      auto_delete=False, durable=False)
        queue(connection.default_channel).declare()
        results = calls()
        simple = connection.SimpleQueue(queue)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                message = simple.get(timeout=0.5)
            except simple.Empty:
                continue
            message.ack()
            if message.payload["data"]["account_id"] == account_id:
                found.append(message.payload)
                deadline = min(deadline, time.monotonic() + 2)
        simple.close()
        queue(connection.default_channel).delete()
    return results, found


def test_a_consumer_erases_their_account_with_their_password(stack, identity, actors):
    request = consumer_request()
    account = identity.CreateAccount(request, timeout=10).account
    tokens = identity.Login(pb.LoginRequest(email=account.email, password=PASSWORD), timeout=10).tokens
    erased, found = erased_events(stack, account.id, lambda: identity.EraseAccount(
        pb.EraseAccountRequest(password=PASSWORD), metadata=bearer(tokens.access_token), timeout=10).account)
    assert erased.id == account.id and erased.HasField("erased_at")
    assert (erased.name, erased.national_id) == ("", "") and account.email not in erased.email
    assert [event["data"] for event in found] == [{"account_id": account.id, "role": "consumer"}]
    row = identity_row(stack, account.id)
    assert (row["name"], row["national_id"]) == ("", None) and row["email"].endswith("@erased.invalid")
    assert request.name not in json.dumps(row, default=str) and request.national_id not in json.dumps(row, default=str)
    # It cannot sign in again, and its refresh token is dead.
    login = rpc_error(lambda: identity.Login(pb.LoginRequest(email=account.email, password=PASSWORD), timeout=10))
    assert login.code() == grpc.StatusCode.UNAUTHENTICATED
    refresh = rpc_error(lambda: identity.RefreshToken(pb.RefreshTokenRequest(refresh_token=tokens.refresh_token),
                                                      timeout=5))
    assert refresh.code() == grpc.StatusCode.UNAUTHENTICATED
    # The e-mail and the national ID are free again: the same person may register anew.
    again = identity.CreateAccount(consumer_request(email=request.email, national_id=request.national_id), timeout=10)
    assert again.account.id != account.id


def test_erasure_needs_the_password_and_a_wrong_one_changes_nothing_but_counts(identity, actors, stack):
    account, token = actors.create("consumer")
    for password in ("", "wrong-password-9"):
        error = rpc_error(lambda: identity.EraseAccount(pb.EraseAccountRequest(password=password),
                                                        metadata=bearer(token), timeout=10))
        assert error.code() == (grpc.StatusCode.INVALID_ARGUMENT if not password else grpc.StatusCode.UNAUTHENTICATED)
    row = identity_row(stack, account.id)
    assert row["erased_at"] is None and row["email"] == account.email
    assert row["failed_logins"] == 1  # the wrong password counts towards the lockout, as a failed login does
    for _ in range(2):
        rpc_error(lambda: identity.EraseAccount(pb.EraseAccountRequest(password="wrong-password-9"),
                                                metadata=bearer(token), timeout=10))
    locked = rpc_error(lambda: identity.EraseAccount(pb.EraseAccountRequest(password=PASSWORD),
                                                     metadata=bearer(token), timeout=10))
    assert locked.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert identity_row(stack, account.id)["erased_at"] is None


def test_who_may_erase_which_account(identity, actors, stack):
    consumer, consumer_token = actors.create("consumer")
    other, _ = actors.create("consumer")
    _, manager_token = actors.create("manager")
    for token in (consumer_token, manager_token):
        error = rpc_error(lambda: identity.EraseAccount(pb.EraseAccountRequest(account_id=other.id, password=PASSWORD),
                                                        metadata=bearer(token), timeout=10))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert identity_row(stack, other.id)["erased_at"] is None
    anonymous = rpc_error(lambda: identity.EraseAccount(pb.EraseAccountRequest(account_id=other.id), timeout=10))
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
    # An admin erases on a request made elsewhere (no password); twice is once.
    admin = bearer(actors.admin_token)
    (first, second), found = erased_events(stack, other.id, lambda: [
        identity.EraseAccount(pb.EraseAccountRequest(account_id=other.id), metadata=admin, timeout=10).account
        for _ in range(2)])
    assert first.erased_at == second.erased_at and first.email == second.email and first.HasField("erased_at")
    assert len(found) == 1
    admin_self = rpc_error(lambda: identity.EraseAccount(pb.EraseAccountRequest(password="admin-password-1"),
                                                         metadata=admin, timeout=10))
    assert admin_self.code() == grpc.StatusCode.FAILED_PRECONDITION
    missing = rpc_error(lambda: identity.EraseAccount(pb.EraseAccountRequest(account_id="no-such-account"),
                                                      metadata=admin, timeout=10))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert identity_row(stack, consumer.id)["erased_at"] is None


def test_placeholder_addresses_cannot_be_registered(identity):
    error = rpc_error(lambda: identity.CreateAccount(consumer_request(email="erased-x@erased.invalid"), timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and field_of(error) == "email"


# --- access audit -------------------------------------------------------------------------------
def test_staff_reads_of_an_account_are_listed_to_its_owner(identity, actors):
    owner, owner_token = actors.create("consumer")
    other, other_token = actors.create("consumer")
    manager, manager_token = actors.create("manager")
    identity.GetAccount(pb.GetAccountRequest(), metadata=bearer(owner_token), timeout=5)  # own: not recorded
    for _ in range(3):
        identity.GetAccount(pb.GetAccountRequest(account_id=owner.id), metadata=bearer(manager_token), timeout=5)
    identity.GetAccount(pb.GetAccountRequest(account_id=other.id), metadata=bearer(manager_token), timeout=5)
    first = identity.ListAccesses(pb.ListAccessesRequest(page_size=2), metadata=bearer(owner_token), timeout=5)
    assert [(a.actor_id, a.actor_role, a.action, a.subject_id) for a in first.accesses] == \
        [(manager.id, "manager", "account.read", owner.id)] * 2 and first.next_page_token
    second = identity.ListAccesses(pb.ListAccessesRequest(page_size=2, page_token=first.next_page_token),
                                   metadata=bearer(owner_token), timeout=5)
    assert len(second.accesses) == 1 and not second.next_page_token
    assert first.accesses[0].at.ToDatetime() >= first.accesses[1].at.ToDatetime() >= second.accesses[0].at.ToDatetime()
    # Someone else's trail: the owner and admins only.
    denied = rpc_error(lambda: identity.ListAccesses(pb.ListAccessesRequest(account_id=owner.id),
                                                     metadata=bearer(other_token), timeout=5))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    by_admin = identity.ListAccesses(pb.ListAccessesRequest(account_id=other.id),
                                     metadata=bearer(actors.admin_token), timeout=5)
    assert [a.subject_id for a in by_admin.accesses] == [other.id]
    bad = rpc_error(lambda: identity.ListAccesses(pb.ListAccessesRequest(page_token="x1"),
                                                  metadata=bearer(owner_token), timeout=5))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT and field_of(bad) == "page_token"
