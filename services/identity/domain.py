"""Identity rules: who may create which account, credentials, tokens and lockout."""
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from concilia.chassis import audit
from concilia.chassis.auth import Principal, TokenSigner
from concilia.chassis.country import CountryPack
from concilia.chassis.db import Database
from concilia.chassis.errors import (AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied,
                                     ResourceExhausted, Unauthenticated, require_text)
from concilia.chassis.outbox import Outbox
from concilia.events.v1 import events_pb2

from .models import access_log, accounts, refresh_tokens

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
# Erased accounts keep a placeholder address there (RFC 2606 .invalid: no mailbox); nobody registers it.
ERASED_DOMAIN = "@erased.invalid"
LOCALES = ("pt-BR", "es-AR", "en")
# Who may create an account of each role (None: anyone, i.e. consumers register themselves).
CREATORS = {
    "consumer": None,
    "company_agent": ("admin", "manager"),
    "manager": ("admin",),
    "monitor": ("admin", "manager"),
    "admin": ("admin",),
}
DEFAULT_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (64 MiB); Settings tune it


@dataclass(frozen=True)
class NewAccount:
    role: str
    name: str
    email: str
    password: str
    national_id: str = ""
    company_id: str = ""
    jurisdiction: str = ""
    locale: str = ""
    segments: tuple[str, ...] = ()


MAX_SEGMENTS = 50


def account_segments(row) -> tuple[str, ...]:
    """The segments column as the token and the Account message carry it."""
    return tuple(code for code in (row["segments"] or "").split(",") if code)


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in_seconds: int


def _hash_refresh(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Identity:
    def __init__(self, db: Database, pack: CountryPack, signer: TokenSigner, outbox: Outbox, clock,
                 refresh_ttl_seconds: int, lockout_threshold: int = 5, lockout_base_seconds: int = 30,
                 lockout_max_seconds: int = 900, company_lookup=None, hasher: PasswordHasher = DEFAULT_HASHER):
        self.db = db
        self.hasher = hasher
        # Verified against on unknown e-mails so a miss costs as much time as a wrong password.
        self._dummy_hash = hasher.hash(secrets.token_hex(16))
        self.pack = pack
        self.signer = signer
        self.outbox = outbox
        self.clock = clock
        self.refresh_ttl = timedelta(seconds=refresh_ttl_seconds)
        self.lockout_threshold = lockout_threshold
        self.lockout_base = lockout_base_seconds
        self.lockout_max = lockout_max_seconds
        # company_id -> group_id ("" when none); raises NotFound for unknown companies.
        self.company_lookup = company_lookup

    # --- accounts --------------------------------------------------------------------------
    def validate(self, new: NewAccount) -> dict:
        """The row to insert, or InvalidArgument naming the first bad field."""
        if new.role not in CREATORS:
            raise InvalidArgument("role", f"must be one of {', '.join(CREATORS)}")
        name = require_text("name", new.name, max_length=120)
        email = (new.email or "").strip().lower()
        if len(email) > 254 or not EMAIL.match(email) or email.endswith(ERASED_DOMAIN):
            raise InvalidArgument("email", "is not a valid e-mail address")
        if not 10 <= len(new.password or "") <= 128:
            raise InvalidArgument("password", "must have between 10 and 128 characters")
        locale = new.locale or self.pack.languages[0]
        if locale not in LOCALES:
            raise InvalidArgument("locale", f"must be one of {', '.join(LOCALES)}")
        row = {"role": new.role, "name": name, "email": email, "locale": locale,
               "national_id": None, "company_id": None, "group_id": None, "jurisdiction": None, "segments": ""}
        if new.role == "consumer":
            row["national_id"] = self.pack.person_id.normalise("national_id", new.national_id)
        elif new.national_id:
            raise InvalidArgument("national_id", "only consumers register a national ID")
        if new.role == "company_agent":
            row["company_id"] = require_text("company_id", new.company_id, max_length=36)
        elif new.company_id:
            raise InvalidArgument("company_id", "only company agents belong to a company")
        if new.role in ("manager", "monitor"):
            row["jurisdiction"] = self._jurisdiction(new.jurisdiction)
        elif new.jurisdiction:
            raise InvalidArgument("jurisdiction", "only managers and monitors have a jurisdiction")
        if new.role == "monitor":
            row["segments"] = ",".join(self._segments(new.segments))
        elif new.segments:
            raise InvalidArgument("segments", "only monitors (sector regulators) are limited to segments")
        return row

    def _segments(self, values) -> list[str]:
        """Distinct segment codes of the pack's taxonomy, in the order given."""
        codes = list(dict.fromkeys((value or "").strip() for value in values))
        if len(codes) > MAX_SEGMENTS:
            raise InvalidArgument("segments", f"at most {MAX_SEGMENTS} segments")
        if "" in codes:
            raise InvalidArgument("segments", "must not hold an empty code")
        unknown = [code for code in codes if code not in self.pack.segment_codes]
        if unknown:
            raise InvalidArgument("segments", f"not segment codes of this country's taxonomy: {', '.join(unknown)[:200]}")
        return codes

    def _jurisdiction(self, value: str) -> str:
        """The country, one of its subdivisions, or a municipal office's docket
        ("<subdivision>/<authority id>", as the complaint service scopes it)."""
        value = (value or "").strip()
        region, _, office = value.partition("/")
        region = region.upper()
        if region != self.pack.code and not re.fullmatch(rf"{self.pack.code}-[A-Z0-9]{{1,3}}", region):
            raise InvalidArgument("jurisdiction", f"must be {self.pack.code} or {self.pack.code}-<subdivision>")
        if office and not any(a.id == office and a.jurisdiction == region and a.municipalities
                              for a in self.pack.authorities):
            raise InvalidArgument("jurisdiction", "names no municipal office of this country pack")
        return f"{region}/{office}" if office else region

    def create_account(self, caller: Principal | None, new: NewAccount) -> dict:
        if new.role not in CREATORS:
            raise InvalidArgument("role", f"must be one of {', '.join(CREATORS)}")
        allowed = CREATORS[new.role]
        # Who may ask comes before what they asked: no validation detail leaks to the unauthorised.
        if allowed is not None:
            if caller is None:
                raise Unauthenticated("creating this kind of account needs a signed-in admin or manager")
            if caller.role not in allowed:
                raise PermissionDenied(f"a {caller.role} cannot create {new.role} accounts")
        row = self.validate(new)
        if caller and caller.role == "manager" and row["jurisdiction"] and not _within(caller.jurisdiction, row["jurisdiction"]):
            raise PermissionDenied("outside your jurisdiction")
        if row["company_id"]:
            # Checked against the registry so a token never names a company that does not exist.
            row["group_id"] = self.company_lookup(row["company_id"]) or None
        row.update(id=str(uuid.uuid4()), password_hash=self.hasher.hash(new.password), created_at=self.clock.now(),
                   failed_logins=0)
        with self.db.transaction() as session:
            self._ensure_unique(session, row)
            session.execute(accounts.insert().values(**row))
            self.outbox.add(session, "account_created", events_pb2.AccountCreated(
                account_id=row["id"], role=row["role"], name=row["name"], email=row["email"], locale=row["locale"],
                company_id=row["company_id"] or "", group_id=row["group_id"] or "",
                jurisdiction=row["jurisdiction"] or ""))
        return row

    @staticmethod
    def _ensure_unique(session: Session, row: dict) -> None:
        if session.execute(sa.select(accounts.c.id).where(accounts.c.email == row["email"])).first():
            raise AlreadyExists("an account with this e-mail already exists", "email")
        if row["national_id"] and session.execute(
                sa.select(accounts.c.id).where(accounts.c.national_id == row["national_id"])).first():
            raise AlreadyExists("an account with this national ID already exists", "national_id")

    def get_account(self, caller: Principal, account_id: str) -> dict:
        account_id = account_id or caller.account_id
        if account_id != caller.account_id and caller.role not in ("admin", "manager"):
            raise PermissionDenied("you can only read your own account")
        with self.db.transaction() as session:
            row = session.execute(sa.select(accounts).where(accounts.c.id == account_id)).mappings().first()
            if row is not None:  # a staff read of someone's account is audited (ADR 0020)
                audit.record(session.connection(), access_log, caller, "account.read", [(row["id"], row["id"])],
                             self.clock.now())
        if row is None:
            raise NotFound("no such account")
        row = dict(row)
        if caller.account_id != row["id"] and caller.role != "admin":
            row["national_id"] = None  # national IDs: the owner and admins only
        return row

    def ensure_bootstrap_admin(self, email: str, password: str) -> bool:
        """Creates the first admin from deployment settings when it does not exist yet."""
        if not email or not password:
            return False
        with self.db.transaction() as session:
            exists = session.execute(sa.select(accounts.c.id).where(accounts.c.email == email.lower())).first()
        if exists:
            return False
        try:
            self.create_account(Principal("bootstrap", "admin"), NewAccount(
                role="admin", name="Administrator", email=email, password=password, locale=self.pack.languages[0]))
        except AlreadyExists:
            return False  # another replica won the race
        return True

    def erase_account(self, caller: Principal, account_id: str, password: str) -> dict:
        """Erases an account's personal data on request (LGPD art. 18, Ley 25.326 art. 16): name,
        e-mail, national ID and password are blanked, its refresh tokens revoked, and account_erased
        tells the other services to drop what they keep. The id stays, so complaints keep their
        history (docs/adr/0018-erasure-on-request.md). The owner confirms with the password (a stolen
        access token alone must not erase an account); admins erase on a request made elsewhere."""
        account_id = account_id or caller.account_id
        own = account_id == caller.account_id
        if not own and caller.role != "admin":
            raise PermissionDenied("you can only erase your own account")
        if own and (not password or len(password) > 128):
            raise InvalidArgument("password", "confirm with your password")
        now = self.clock.now()
        with self.db.transaction() as session:
            row = session.execute(sa.select(accounts).where(accounts.c.id == account_id)
                                  .with_for_update()).mappings().first()
            if row is None:
                raise NotFound("no such account")
            if row["role"] == "admin":
                raise FailedPrecondition("admin accounts cannot be erased")
            if row["erased_at"] is not None:
                return dict(row)  # erased already: nothing more to do, nothing to announce again
            wrong_password = False
            if own:
                self._refuse_while_locked(row, now)
                wrong_password = not self._verify(row["password_hash"], password)
            if wrong_password:
                self._count_failure(session, row, now)
            else:
                blank = dict(name="", email=f"erased-{row['id']}{ERASED_DOMAIN}", national_id=None,
                             password_hash="!erased", failed_logins=0, locked_until=None, erased_at=now)
                session.execute(accounts.update().where(accounts.c.id == row["id"]).values(**blank))
                session.execute(refresh_tokens.update().where(
                    (refresh_tokens.c.account_id == row["id"]) & refresh_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now))
                self.outbox.add(session, "account_erased", events_pb2.AccountErased(
                    account_id=row["id"], role=row["role"]))
        if wrong_password:  # raised after the commit: the failure counts towards the lockout
            raise Unauthenticated("wrong password")
        return {**row, **blank}

    def list_accesses(self, caller: Principal, account_id: str, page_size: int, page_token: str) -> tuple[list, str]:
        """Who other than the owner read the account, newest first (ADR 0020)."""
        owner = audit.owner_to_list(caller, account_id)
        with self.db.transaction() as session:
            return audit.page(session.connection(), access_log, owner, page_size, page_token)

    # --- credentials -----------------------------------------------------------------------
    def login(self, email: str, password: str) -> tuple[Tokens, dict]:
        email = (email or "").strip().lower()
        if not email or not password or len(email) > 254 or len(password) > 128:
            raise InvalidArgument("email" if not email or len(email) > 254 else "password", "is required")
        now = self.clock.now()
        with self.db.transaction() as session:
            row = session.execute(sa.select(accounts).where(accounts.c.email == email).with_for_update()).mappings().first()
            if row is None:
                self._verify(self._dummy_hash, password)
                raise Unauthenticated("wrong e-mail or password")
            self._refuse_while_locked(row, now)
            if not self._verify(row["password_hash"], password):
                self._count_failure(session, row, now)
                failed = True
            else:
                failed = False
                values = {"failed_logins": 0, "locked_until": None}
                if self.hasher.check_needs_rehash(row["password_hash"]):  # the deployment changed the cost
                    values["password_hash"] = self.hasher.hash(password)
                session.execute(accounts.update().where(accounts.c.id == row["id"]).values(**values))
                tokens = self._issue(session, dict(row), family_id=str(uuid.uuid4()), now=now)
        if failed:
            raise Unauthenticated("wrong e-mail or password")
        return tokens, dict(row)

    @staticmethod
    def _refuse_while_locked(row, now: datetime) -> None:
        locked_until = row["locked_until"]
        if locked_until and locked_until > now:
            seconds = int((locked_until - now).total_seconds()) + 1
            raise ResourceExhausted(f"too many failed logins; try again in {seconds} seconds")

    def _count_failure(self, session: Session, row, now: datetime) -> None:
        failures = row["failed_logins"] + 1
        values = {"failed_logins": failures}
        if failures >= self.lockout_threshold:
            # Exponential backoff: each further failure doubles the lock, up to a cap.
            seconds = min(self.lockout_base * 2 ** (failures - self.lockout_threshold), self.lockout_max)
            values["locked_until"] = now + timedelta(seconds=seconds)
        session.execute(accounts.update().where(accounts.c.id == row["id"]).values(**values))

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def refresh(self, refresh_token: str) -> Tokens:
        if not refresh_token or len(refresh_token) > 200:
            raise InvalidArgument("refresh_token", "is required")
        now = self.clock.now()
        with self.db.transaction() as session:
            stored = session.execute(sa.select(refresh_tokens).where(
                refresh_tokens.c.token_hash == _hash_refresh(refresh_token)).with_for_update()).mappings().first()
            if stored is None:
                raise Unauthenticated("unknown refresh token")
            if stored["revoked_at"] is not None:
                # A rotated token came back: someone else may hold the family. Revoke it all.
                session.execute(refresh_tokens.update().where(
                    (refresh_tokens.c.family_id == stored["family_id"]) & refresh_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now))
                reused = True
            else:
                reused = False
                if stored["expires_at"] <= now:
                    raise Unauthenticated("refresh token expired")
                session.execute(refresh_tokens.update().where(refresh_tokens.c.id == stored["id"]).values(revoked_at=now))
                account = session.execute(sa.select(accounts).where(accounts.c.id == stored["account_id"])).mappings().one()
                tokens = self._issue(session, dict(account), family_id=stored["family_id"], now=now)
        if reused:
            raise Unauthenticated("refresh token already used; please sign in again")
        return tokens

    def revoke(self, refresh_token: str) -> None:
        if not refresh_token or len(refresh_token) > 200:
            raise InvalidArgument("refresh_token", "is required")
        with self.db.transaction() as session:
            session.execute(refresh_tokens.update().where(
                (refresh_tokens.c.token_hash == _hash_refresh(refresh_token)) & refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=self.clock.now()))

    def _issue(self, session: Session, account: dict, family_id: str, now: datetime) -> Tokens:
        principal = Principal(account["id"], account["role"], account["company_id"] or "",
                              account["group_id"] or "", account["jurisdiction"] or "", account_segments(account))
        refresh = secrets.token_urlsafe(32)
        session.execute(refresh_tokens.insert().values(
            id=str(uuid.uuid4()), token_hash=_hash_refresh(refresh), account_id=account["id"], family_id=family_id,
            expires_at=now + self.refresh_ttl, revoked_at=None, created_at=now))
        # Access tokens use wall-clock time: verifiers elsewhere check them against theirs.
        return Tokens(self.signer.issue(principal), refresh, self.signer.ttl_seconds)


def _within(manager_jurisdiction: str, jurisdiction: str) -> bool:
    """BR covers BR-SP; AR-B covers its municipal offices (AR-B/<office>)."""
    return jurisdiction == manager_jurisdiction or jurisdiction.startswith((manager_jurisdiction + "-",
                                                                            manager_jurisdiction + "/"))
