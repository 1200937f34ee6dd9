"""Demo data for `concilia run`: a manager, two participating companies with an agent each, and a
consumer. Idempotent: what exists already is left alone."""
import grpc

from concilia.chassis.grpc_client import bearer, make_channel
from concilia.identity.v1 import identity_pb2, identity_pb2_grpc

# Valid IDs (real check digits) reserved for the demo.
# (tax id, legal name, trade name, a word of its market segment's name)
DEMO = {
    "BR": {"consumer_id": "52998224725",
           "companies": [("11222333000181", "Telefonia Demo S.A.", "Fala Demo", "Telecomunica"),
                         ("11444777000161", "Banco Demo S.A.", "Banco Demo", "Bancos, Financeiras")]},
    "AR": {"consumer_id": "20123456786",
           "companies": [("30500010912", "Telefonía Demo S.A.", "Habla Demo", "TELEFONÍA"),
                         ("30999032083", "Banco Demo S.A.", "Banco Demo", "FINANCIEROS")]},
}


def _ignore_exists(fn):
    try:
        return fn()
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        return None


def seed_demo(stack, country: str, password: str):
    demo = DEMO.get(country.upper())
    if demo is None:
        yield f"no demo data for {country}"
        return
    identity = identity_pb2_grpc.IdentityServiceStub(make_channel(stack.addr("identity")))
    admin = identity.Login(identity_pb2.LoginRequest(email="admin@concilia.local", password=password)).tokens.access_token
    _ignore_exists(lambda: identity.CreateAccount(identity_pb2.CreateAccountRequest(
        role=identity_pb2.ROLE_MANAGER, name="Demo Manager", email="manager@concilia.local", password=password,
        jurisdiction=country.upper()), metadata=bearer(admin)))
    yield "manager@concilia.local (manager)"
    _ignore_exists(lambda: identity.CreateAccount(identity_pb2.CreateAccountRequest(
        role=identity_pb2.ROLE_CONSUMER, name="Demo Consumer", email="consumer@concilia.local", password=password,
        national_id=demo["consumer_id"])))
    yield "consumer@concilia.local (consumer)"
    if "company_registry" not in stack.services:
        return
    from concilia.company_registry.v1 import company_registry_pb2 as registry_pb2
    from concilia.company_registry.v1 import company_registry_pb2_grpc as registry_grpc
    registry = registry_grpc.CompanyRegistryServiceStub(make_channel(stack.addr("company_registry")))
    manager = identity.Login(identity_pb2.LoginRequest(email="manager@concilia.local", password=password)).tokens.access_token
    segments = registry.ListSegments(registry_pb2.ListSegmentsRequest()).segments
    for number, (tax_id, legal_name, trade_name, segment_word) in enumerate(demo["companies"], start=1):
        segment = next((s for s in segments if segment_word.lower() in s.name.lower()), segments[0])
        listed = registry.ListCompanies(registry_pb2.ListCompaniesRequest(name_contains=trade_name)).companies
        company = next((c for c in listed if c.tax_id == tax_id), None)
        if company is None:
            company = registry.ApplyForAdhesion(registry_pb2.ApplyForAdhesionRequest(
                tax_id=tax_id, legal_name=legal_name, trade_name=trade_name,
                segment_code=segment.code, terms_accepted=True)).company
        if company.status == registry_pb2.COMPANY_STATUS_PENDING:
            registry.ApproveAdhesion(registry_pb2.ApproveAdhesionRequest(company_id=company.id), metadata=bearer(manager))
        email = f"agent{number}@concilia.local"
        _ignore_exists(lambda: identity.CreateAccount(identity_pb2.CreateAccountRequest(
            role=identity_pb2.ROLE_COMPANY_AGENT, name=f"{trade_name} Agent", email=email, password=password,
            company_id=company.id), metadata=bearer(manager)))
        yield f"{email} (agent of {trade_name})"
    yield f"password for every demo account: {password}"
