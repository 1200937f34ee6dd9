"""Identity gRPC api: python -m services.identity.api"""
import json
import sys

from argon2 import PasswordHasher
from google.protobuf.timestamp_pb2 import Timestamp

from concilia.chassis.auth import TokenSigner, TokenVerifier
from concilia.chassis.clock import clock_from_env
from concilia.chassis.country import load_pack
from concilia.chassis.db import Database
from concilia.chassis.errors import NotFound
from concilia.chassis.grpc_client import make_channel
from concilia.chassis.grpc_server import current_principal, full_names, optional_principal
from concilia.chassis.outbox import Outbox
from concilia.chassis.service import run_api
from concilia.identity.v1 import identity_pb2, identity_pb2_grpc

from .domain import Identity, NewAccount, account_segments
from .models import outbox
from .settings import Settings

ROLE_NAMES = {identity_pb2.Role.Name(v).removeprefix("ROLE_").lower(): v for v in identity_pb2.Role.values() if v}


def account_message(row: dict) -> identity_pb2.Account:
    created = Timestamp()
    created.FromDatetime(row["created_at"])
    account = identity_pb2.Account(
        id=row["id"], role=ROLE_NAMES[row["role"]], name=row["name"], email=row["email"],
        national_id=row["national_id"] or "", company_id=row["company_id"] or "", group_id=row["group_id"] or "",
        jurisdiction=row["jurisdiction"] or "", locale=row["locale"], created_at=created,
        segments=account_segments(row))
    if row.get("erased_at"):
        account.erased_at.FromDatetime(row["erased_at"])
    return account


def token_pair(tokens) -> identity_pb2.TokenPair:
    return identity_pb2.TokenPair(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                                  token_type="Bearer", expires_in_seconds=tokens.expires_in_seconds)


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, identity: Identity):
        self.identity = identity

    def CreateAccount(self, request, context):
        role = {v: k for k, v in ROLE_NAMES.items()}.get(request.role, "")
        row = self.identity.create_account(optional_principal(), NewAccount(
            role=role, name=request.name, email=request.email, password=request.password,
            national_id=request.national_id, company_id=request.company_id, jurisdiction=request.jurisdiction,
            locale=request.locale, segments=tuple(request.segments)))
        return identity_pb2.CreateAccountResponse(account=account_message(row))

    def Login(self, request, context):
        tokens, row = self.identity.login(request.email, request.password)
        return identity_pb2.LoginResponse(tokens=token_pair(tokens), account=account_message(row))

    def RefreshToken(self, request, context):
        return identity_pb2.RefreshTokenResponse(tokens=token_pair(self.identity.refresh(request.refresh_token)))

    def RevokeToken(self, request, context):
        self.identity.revoke(request.refresh_token)
        return identity_pb2.RevokeTokenResponse()

    def GetJwks(self, request, context):
        return identity_pb2.GetJwksResponse(jwks_json=json.dumps(self.identity.signer.jwks()))

    def GetAccount(self, request, context):
        return identity_pb2.GetAccountResponse(
            account=account_message(self.identity.get_account(current_principal(), request.account_id)))

    def ListAccesses(self, request, context):
        rows, next_token = self.identity.list_accesses(current_principal(), request.account_id, request.page_size,
                                                       request.page_token)
        accesses = []
        for row in rows:
            access = identity_pb2.Access(actor_id=row.actor_id, actor_role=row.actor_role, action=row.action,
                                         subject_id=row.subject_id)
            access.at.FromDatetime(row.at)
            accesses.append(access)
        return identity_pb2.ListAccessesResponse(accesses=accesses, next_page_token=next_token)

    def EraseAccount(self, request, context):
        return identity_pb2.EraseAccountResponse(account=account_message(
            self.identity.erase_account(current_principal(), request.account_id, request.password)))


def registry_lookup(address: str):
    """company_id -> group_id, asking the company registry (only when an agent account is created)."""
    from concilia.company_registry.v1 import company_registry_pb2 as registry_pb2
    from concilia.company_registry.v1 import company_registry_pb2_grpc as registry_grpc
    import grpc
    stub = registry_grpc.CompanyRegistryServiceStub(make_channel(address))

    def lookup(company_id: str) -> str:
        try:
            company = stub.GetCompany(registry_pb2.GetCompanyRequest(company_id=company_id), timeout=5).company
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound("no such company", "company_id") from None
            raise
        return company.group_id
    return lookup


def build(settings: Settings):
    pack = load_pack(settings.country)
    signer = TokenSigner.from_file(settings.signing_key_file, settings.token_issuer,
                                   settings.access_token_ttl_seconds, create=settings.create_signing_key)
    identity = Identity(
        Database(settings.database_url, pool_size=settings.max_workers), pack, signer,
        Outbox(outbox, "identity", pack.code), clock_from_env(), settings.refresh_token_ttl_seconds,
        settings.lockout_threshold, settings.lockout_base_seconds, settings.lockout_max_seconds,
        company_lookup=registry_lookup(settings.company_registry_addr),
        hasher=PasswordHasher(time_cost=settings.password_hash_time_cost,
                              memory_cost=settings.password_hash_memory_kib,
                              parallelism=settings.password_hash_parallelism))
    identity.ensure_bootstrap_admin(settings.bootstrap_admin_email, settings.bootstrap_admin_password)
    # Identity verifies its own tokens with its own keys: no network hop.
    verifier = TokenVerifier(signer.jwks, issuer=settings.token_issuer)

    def add(server):
        identity_pb2_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(identity), server)
    return full_names(identity_pb2.DESCRIPTOR.services_by_name["IdentityService"]), add, verifier


def main() -> int:
    return run_api("identity", Settings, build)


if __name__ == "__main__":
    sys.exit(main())
