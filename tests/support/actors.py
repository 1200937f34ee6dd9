"""Accounts and tokens for integration tests, created through the real identity api."""
import itertools
import random

import grpc

from concilia.chassis.grpc_client import bearer
from concilia.identity.v1 import identity_pb2, identity_pb2_grpc

from .ids import new_cpf

PASSWORD = "test-password-1"
_serial = itertools.count(random.randrange(1_000_000))


def unique_email(prefix: str) -> str:
    return f"{prefix}{next(_serial)}@example.test"


class Actors:
    """Creates accounts of every role on a running stack and logs them in."""

    def __init__(self, stack):
        self.stack = stack
        self.identity = identity_pb2_grpc.IdentityServiceStub(grpc.insecure_channel(stack.addr("identity")))
        self.admin_token = self.login("admin@concilia.test", "admin-password-1")

    def login(self, email: str, password: str = PASSWORD) -> str:
        return self.identity.Login(identity_pb2.LoginRequest(email=email, password=password), timeout=10).tokens.access_token

    def create(self, role: str, token: str | None = None, **fields) -> tuple[identity_pb2.Account, str]:
        """(account, access token). Consumers register themselves; others are made by the admin."""
        fields.setdefault("name", f"Test {role}")
        fields.setdefault("email", unique_email(role))
        fields.setdefault("password", PASSWORD)
        if role == "consumer":
            fields.setdefault("national_id", new_cpf())
        if role in ("manager", "monitor"):
            fields.setdefault("jurisdiction", "BR")
        creator = None if role == "consumer" else (token or self.admin_token)
        account = self.identity.CreateAccount(identity_pb2.CreateAccountRequest(
            role=identity_pb2.Role.Value(f"ROLE_{role.upper()}"), **fields), metadata=bearer(creator or ""),
            timeout=10).account
        return account, self.login(fields["email"], fields["password"])
