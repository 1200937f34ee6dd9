"""The deployment's argon2id cost: configurable, never below the floor, and old hashes upgraded at login."""
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, extract_parameters

from concilia.chassis import config
from concilia.chassis.auth import TokenSigner
from concilia.chassis.clock import SystemClock
from concilia.chassis.country import load_pack
from concilia.chassis.db import Database, migrate
from concilia.chassis.errors import Unauthenticated
from concilia.chassis.outbox import Outbox
from services.identity.domain import Identity, NewAccount
from services.identity.models import accounts, outbox
from services.identity.settings import Settings
from support.ids import new_cpf

REQUIRED = {"DATABASE_URL": "postgresql://x/y", "TOKEN_SIGNING_KEY_FILE": "/tmp/none.pem"}
CHEAP = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def identity(url: str, tmp_path, hasher: PasswordHasher) -> Identity:
    pack = load_pack("BR")
    signer = TokenSigner.from_file(tmp_path / "key.pem", "concilia-test", 900, create=True)
    return Identity(Database(url), pack, signer, Outbox(outbox, "identity", pack.code), SystemClock(),
                    refresh_ttl_seconds=3600, hasher=hasher)


def stored_hash(url: str, email: str) -> str:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        value = connection.execute(sa.select(accounts.c.password_hash).where(accounts.c.email == email)).scalar_one()
    engine.dispose()
    return value


def test_settings_default_to_rfc_9106_and_refuse_a_cost_below_the_floor():
    settings = config.load(Settings, REQUIRED)
    assert (settings.password_hash_memory_kib, settings.password_hash_time_cost,
            settings.password_hash_parallelism) == (65536, 3, 4)
    assert config.load(Settings, {**REQUIRED, "PASSWORD_HASH_MEMORY_KIB": "19456",
                                  "PASSWORD_HASH_TIME_COST": "2"}).password_hash_memory_kib == 19456
    for name, value in (("PASSWORD_HASH_MEMORY_KIB", "4096"), ("PASSWORD_HASH_TIME_COST", "1"),
                        ("PASSWORD_HASH_PARALLELISM", "0")):
        with pytest.raises(config.ConfigError, match="PASSWORD_HASH"):
            config.load(Settings, {**REQUIRED, name: value})


def test_a_changed_cost_rehashes_at_the_next_successful_login_only(make_database, tmp_path):
    url = make_database("hashing")
    migrate("services.identity", url)
    email = "ana@example.org"
    before = identity(url, tmp_path, PasswordHasher())
    before.create_account(None, NewAccount(role="consumer", name="Ana Lima", email=email,
                                           password="a-long-password-1", national_id=new_cpf()))
    original = stored_hash(url, email)
    assert extract_parameters(original).memory_cost == 65536

    after = identity(url, tmp_path, CHEAP)
    with pytest.raises(Unauthenticated):
        after.login(email, "a-wrong-password")
    assert stored_hash(url, email) == original  # a failed login changes no hash
    after.login(email, "a-long-password-1")
    upgraded = stored_hash(url, email)
    assert (extract_parameters(upgraded).memory_cost, extract_parameters(upgraded).time_cost) == (19456, 2)
    after.login(email, "a-long-password-1")  # the new hash verifies
    assert stored_hash(url, email) == upgraded  # and is not rewritten again
    before.login(email, "a-long-password-1")  # back to the stronger cost: upgraded again
    assert extract_parameters(stored_hash(url, email)).memory_cost == 65536
