"""The registry's rules, over a SQLAlchemy session, the platform clock and the country pack.

Adhesion lifecycle:  (apply) -> PENDING --approve--> ACTIVE --suspend--> SUSPENDED --reinstate--> ACTIVE
Every transition is one transaction holding the new state, its history row and (when the platform
must learn about it) its event in the outbox. Anything else is FAILED_PRECONDITION and changes nothing.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from concilia.chassis.auth import Principal
from concilia.chassis.country import CountryPack, mandatory_adhesion_reasons
from concilia.chassis.errors import (AlreadyExists, FailedPrecondition, InvalidArgument, NotFound,
                                     PermissionDenied, require_text)
from concilia.chassis.outbox import Outbox
from concilia.events.v1 import events_pb2

from . import models
from .taxonomy import Node, Taxonomy, fold

SOURCE = "company_registry"

PENDING, ACTIVE, SUSPENDED = "pending", "active", "suspended"
STATUSES = (PENDING, ACTIVE, SUSPENDED)

MANAGERS = ("manager", "admin")
STAFF = ("manager", "monitor", "admin")
SUGGESTERS = ("consumer",)

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

# Defaults for text limits; a country pack may set its own under `limits:`.
DEFAULT_LIMITS = {"company_name_max_chars": 200, "group_name_max_chars": 200, "status_reason_max_chars": 500,
                  "name_filter_max_chars": 200}


@dataclass(frozen=True)
class Rule:
    allowed_from: tuple[str, ...]
    to: str
    event_type: str


RULES = {
    "approve": Rule((PENDING,), ACTIVE, "company_adhered"),
    "suspend": Rule((ACTIVE,), SUSPENDED, "company_suspended"),
    "reinstate": Rule((SUSPENDED,), ACTIVE, "company_adhered"),
}


@dataclass(frozen=True)
class Company:
    id: str
    tax_id: str
    legal_name: str
    trade_name: str
    segment_code: str
    group_id: str
    group_name: str
    status: str
    status_reason: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Transition:
    """One row of a company's history; from_status is "" for the application itself."""
    from_status: str
    to_status: str
    reason: str
    actor_id: str
    actor_role: str
    occurred_at: datetime


@dataclass(frozen=True)
class Suggestion:
    tax_id: str
    name: str
    times_suggested: int
    first_suggested_at: datetime


@dataclass(frozen=True)
class Page:
    items: list
    next_page_token: str


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _require_uuid(field: str, value: str) -> str:
    try:
        return str(uuid.UUID((value or "").strip()))
    except ValueError:
        raise InvalidArgument(field, "is required" if not value else "must be an id (UUID)") from None


def _page_size(value: int) -> int:
    if value == 0:
        return DEFAULT_PAGE_SIZE
    if value < 0 or value > MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be between 1 and {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})")
    return value


class Cursor:
    """Opaque page tokens: the last row's sort key, bound to the query's filters."""

    @staticmethod
    def encode(filters: tuple, key: list) -> str:
        payload = {"f": Cursor._fingerprint(filters), "k": key}
        return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")

    @staticmethod
    def decode(token: str, filters: tuple, types: tuple) -> list | None:
        if not token:
            return None
        try:
            padded = token + "=" * (-len(token) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            key = payload["k"]
            valid = (payload["f"] == Cursor._fingerprint(filters) and isinstance(key, list) and len(key) == len(types)
                     and all(type(value) is kind for value, kind in zip(key, types)))
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
            valid = False
        if not valid:
            raise InvalidArgument("page_token", "is not a token returned by this query (filters must not change)")
        return key

    @staticmethod
    def _fingerprint(filters: tuple) -> str:
        return hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:12]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Registry:
    def __init__(self, pack: CountryPack, taxonomy: Taxonomy, clock, outbox: Outbox):
        self.pack = pack
        self.taxonomy = taxonomy
        self.clock = clock
        self.outbox = outbox
        self.limits = {**DEFAULT_LIMITS, **{k: v for k, v in pack.limits.items() if k in DEFAULT_LIMITS}}

    # --- adhesion ----------------------------------------------------------------------------
    def apply(self, session: Session, actor: Principal | None, *, tax_id: str, legal_name: str, trade_name: str,
              segment_code: str, group_name: str = "", terms_accepted: bool = False) -> Company:
        """Anyone (even anonymous) may apply; the company starts PENDING until a manager approves."""
        name_max = self.limits["company_name_max_chars"]
        tax_id = self.pack.company_id.normalise("tax_id", tax_id)
        legal_name = require_text("legal_name", legal_name, max_length=name_max)
        trade_name = require_text("trade_name", trade_name, max_length=name_max)
        segment_code = self._require_segment("segment_code", segment_code)
        group_name = (group_name or "").strip()
        if group_name:
            group_name = require_text("group_name", group_name, max_length=self.limits["group_name_max_chars"])
        if not terms_accepted:
            raise InvalidArgument("terms_accepted", "the terms of adhesion must be accepted")
        if session.execute(sa.select(models.companies.c.id).where(models.companies.c.tax_id == tax_id)).first():
            raise AlreadyExists(f"a company with this {self.pack.company_id.label} is already registered", "tax_id")

        now = self.clock.now()
        group_id = self._group_for(session, group_name, now) if group_name else None
        company_id = str(uuid.uuid4())
        try:
            with session.begin_nested():
                session.execute(models.companies.insert().values(
                    id=company_id, tax_id=tax_id, legal_name=legal_name, trade_name=trade_name,
                    segment_code=segment_code, group_id=group_id, status=PENDING, status_reason="",
                    sort_name=fold(trade_name), search_text=f"{fold(trade_name)} {fold(legal_name)}",
                    terms_accepted_at=now, created_at=now, updated_at=now))
        except sa.exc.IntegrityError:
            # Two applications for the same ID at once: the unique index decides.
            raise AlreadyExists(f"a company with this {self.pack.company_id.label} is already registered",
                                "tax_id") from None
        self._record(session, company_id, None, PENDING, "", actor, now)
        return self.get(session, company_id)

    def approve(self, session: Session, actor: Principal, company_id: str) -> Company:
        return self._transition(session, actor, "approve", company_id, reason="")

    def suspend(self, session: Session, actor: Principal, company_id: str, reason: str) -> Company:
        actor.require_role(*MANAGERS)
        company_id = _require_uuid("company_id", company_id)
        reason = require_text("reason", reason, max_length=self.limits["status_reason_max_chars"])
        return self._transition(session, actor, "suspend", company_id, reason=reason)

    def reinstate(self, session: Session, actor: Principal, company_id: str) -> Company:
        return self._transition(session, actor, "reinstate", company_id, reason="")

    def _transition(self, session: Session, actor: Principal, action: str, company_id: str, reason: str) -> Company:
        actor.require_role(*MANAGERS)
        company_id = _require_uuid("company_id", company_id)
        rule = RULES[action]
        table = models.companies
        # Row lock: two managers acting at once are serialised, and the loser sees the new status.
        row = session.execute(sa.select(table).where(table.c.id == company_id).with_for_update()).first()
        if row is None:
            raise NotFound("no company with this id", "company_id")
        if row.status not in rule.allowed_from:
            raise FailedPrecondition(f"cannot {action} a company that is {row.status} "
                                     f"(only {' or '.join(rule.allowed_from)})")
        now = self.clock.now()
        session.execute(table.update().where(table.c.id == company_id).values(
            status=rule.to, status_reason=reason, updated_at=now))
        self._record(session, company_id, row.status, rule.to, reason, actor, now)
        company = self.get(session, company_id)
        if rule.event_type == "company_adhered":
            message = events_pb2.CompanyAdhered(company_id=company.id, tax_id=company.tax_id,
                                                trade_name=company.trade_name, segment_code=company.segment_code,
                                                group_id=company.group_id)
        else:
            message = events_pb2.CompanySuspended(company_id=company.id, reason=reason)
        self.outbox.add(session, rule.event_type, message, occurred_at=now)
        return company

    def _record(self, session: Session, company_id: str, from_status: str | None, to_status: str, reason: str,
                actor: Principal | None, now: datetime) -> None:
        session.execute(models.company_history.insert().values(
            company_id=company_id, from_status=from_status, to_status=to_status, reason=reason,
            actor_id=actor.account_id if actor else "", actor_role=actor.role if actor else "public",
            occurred_at=now))

    def _group_for(self, session: Session, name: str, now: datetime) -> str:
        """The id of the economic group called `name` (case/accents ignored), created when new."""
        groups = models.economic_groups
        key = fold(name)
        existing = session.execute(sa.select(groups.c.id).where(groups.c.name_key == key)).scalar()
        if existing:
            return existing
        group_id = str(uuid.uuid4())
        try:
            with session.begin_nested():
                session.execute(groups.insert().values(id=group_id, name=name, name_key=key, created_at=now))
            return group_id
        except sa.exc.IntegrityError:  # created concurrently by another application: reuse it
            return session.execute(sa.select(groups.c.id).where(groups.c.name_key == key)).scalar_one()

    def _require_segment(self, field: str, code: str) -> str:
        code = (code or "").strip()
        if not code:
            raise InvalidArgument(field, "is required")
        if not self.taxonomy.has_segment(code):
            raise InvalidArgument(field, "is not a market segment of this country's taxonomy")
        return code

    # --- taxonomy ----------------------------------------------------------------------------
    def segments(self) -> list[Node]:
        return self.taxonomy.sorted_segments()

    def segment(self, code: str) -> Node:
        """A market segment with its areas, subjects, problem groups and problems."""
        return self.taxonomy.segment(self._require_segment("segment_code", code))

    # --- reading -----------------------------------------------------------------------------
    def _company_query(self):
        companies, groups = models.companies, models.economic_groups
        return sa.select(companies, groups.c.name.label("group_name")).select_from(
            companies.outerjoin(groups, companies.c.group_id == groups.c.id))

    @staticmethod
    def _company(row) -> Company:
        return Company(id=row.id, tax_id=row.tax_id, legal_name=row.legal_name, trade_name=row.trade_name,
                       segment_code=row.segment_code, group_id=row.group_id or "", group_name=row.group_name or "",
                       status=row.status, status_reason=row.status_reason or "",
                       created_at=_utc(row.created_at), updated_at=_utc(row.updated_at))

    def get(self, session: Session, company_id: str) -> Company:
        company_id = _require_uuid("company_id", company_id)
        row = session.execute(self._company_query().where(models.companies.c.id == company_id)).first()
        if row is None:
            raise NotFound("no company with this id", "company_id")
        return self._company(row)

    def list(self, session: Session, *, status: str = "", segment_code: str = "", name_contains: str = "",
             page_size: int = 0, page_token: str = "") -> Page:
        """Companies by folded trade name, then id; keyset pagination (stable while rows are added)."""
        companies = models.companies
        if status and status not in STATUSES:
            raise InvalidArgument("status", f"must be one of {', '.join(STATUSES)}")
        segment_code = (segment_code or "").strip()
        if segment_code:
            self._require_segment("segment_code", segment_code)
        name_contains = (name_contains or "").strip()
        if name_contains:
            require_text("name_contains", name_contains, max_length=self.limits["name_filter_max_chars"])
        size = _page_size(page_size)
        filters = ("companies", status, segment_code, fold(name_contains))
        after = Cursor.decode(page_token, filters, types=(str, str))

        query = self._company_query()
        if status:
            query = query.where(companies.c.status == status)
        if segment_code:
            query = query.where(companies.c.segment_code == segment_code)
        if name_contains:
            query = query.where(companies.c.search_text.like(f"%{_escape_like(fold(name_contains))}%", escape="\\"))
        if after:
            query = query.where(sa.or_(companies.c.sort_name > after[0],
                                       sa.and_(companies.c.sort_name == after[0], companies.c.id > after[1])))
        rows = session.execute(query.order_by(companies.c.sort_name, companies.c.id).limit(size + 1)).all()
        items = [self._company(row) for row in rows[:size]]
        token = Cursor.encode(filters, [rows[size - 1].sort_name, rows[size - 1].id]) if len(rows) > size else ""
        return Page(items, token)

    def history(self, session: Session, actor: Principal, company_id: str) -> list[Transition]:
        """Every recorded status change, oldest first (staff only: it names the acting accounts)."""
        actor.require_role(*STAFF)
        self.get(session, company_id)  # InvalidArgument / NotFound
        table = models.company_history
        rows = session.execute(sa.select(table).where(table.c.company_id == company_id).order_by(table.c.seq)).all()
        return [Transition(from_status=row.from_status or "", to_status=row.to_status, reason=row.reason,
                           actor_id=row.actor_id, actor_role=row.actor_role, occurred_at=_utc(row.occurred_at))
                for row in rows]

    # --- suggestions -------------------------------------------------------------------------
    def suggest(self, session: Session, actor: Principal, *, name: str, tax_id: str) -> Suggestion:
        """A consumer suggests a company not yet on the platform; repeats count up."""
        actor.require_role(*SUGGESTERS)
        name = require_text("name", name, max_length=self.limits["company_name_max_chars"])
        tax_id = self.pack.company_id.normalise("tax_id", tax_id)
        if session.execute(sa.select(models.companies.c.id).where(models.companies.c.tax_id == tax_id)).first():
            raise AlreadyExists("this company is already on the platform", "tax_id")
        table = models.company_suggestions
        now = self.clock.now()
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        # One atomic upsert: concurrent suggestions of the same ID all count.
        statement = insert(table).values(tax_id=tax_id, name=name, times_suggested=1, first_suggested_at=now,
                                         last_suggested_at=now)
        session.execute(statement.on_conflict_do_update(
            index_elements=[table.c.tax_id],
            set_={"times_suggested": table.c.times_suggested + 1, "last_suggested_at": now}))
        row = session.execute(sa.select(table).where(table.c.tax_id == tax_id)).one()
        return self._suggestion(row)

    @staticmethod
    def _suggestion(row) -> Suggestion:
        return Suggestion(tax_id=row.tax_id, name=row.name, times_suggested=row.times_suggested,
                          first_suggested_at=_utc(row.first_suggested_at))

    def list_suggestions(self, session: Session, actor: Principal, *, page_size: int = 0,
                         page_token: str = "") -> Page:
        """Most suggested first (ties by ID)."""
        actor.require_role(*MANAGERS)
        size = _page_size(page_size)
        filters = ("suggestions",)
        after = Cursor.decode(page_token, filters, types=(int, str))
        table = models.company_suggestions
        query = sa.select(table)
        if after:
            query = query.where(sa.or_(table.c.times_suggested < after[0],
                                       sa.and_(table.c.times_suggested == after[0], table.c.tax_id > after[1])))
        rows = session.execute(query.order_by(table.c.times_suggested.desc(), table.c.tax_id).limit(size + 1)).all()
        items = [self._suggestion(row) for row in rows[:size]]
        last = rows[size - 1] if len(rows) > size else None
        return Page(items, Cursor.encode(filters, [last.times_suggested, last.tax_id]) if last else "")


# --- mandatory adhesion ------------------------------------------------------------------------
# Rules are data in the country pack (`adhesion_rules` over declared `company_facts`, evaluated by
# concilia.chassis.country.mandatory_adhesion_reasons). The registry keeps the facts per tax id,
# the managers' waivers and an append-only history of both.
FACTS_RECORDED, WAIVER_GRANTED, WAIVER_REVOKED = "facts_recorded", "waiver_granted", "waiver_revoked"
FACT_KEEPERS = ("manager",)
WAIVER_REASON_MAX = 500


@dataclass(frozen=True)
class AdhesionReason:
    rule_id: str
    description: str
    waived: bool
    waiver_reason: str


@dataclass(frozen=True)
class Obligation:
    tax_id: str
    company_id: str
    name: str
    company_status: str            # "" when the company is not registered
    facts: dict
    reasons: list[AdhesionReason]  # rules met, waived or not, in pack order
    obliged: bool                  # some rule met and not waived
    adhered: bool                  # an active participant
    facts_updated_at: datetime | None


@dataclass(frozen=True)
class AdhesionChange:
    action: str
    detail: str
    reason: str
    actor_id: str
    actor_role: str
    occurred_at: datetime


class MandatoryAdhesion:
    """Company facts, rule evaluation and waivers. Each method runs inside the caller's transaction."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self.pack = registry.pack

    # --- who and what ----------------------------------------------------------------------------
    def _subject(self, session: Session, company_id: str, tax_id: str) -> tuple[str, object]:
        """(compact tax id, company row or None) from exactly one of company_id / tax_id."""
        company_id, tax_id = (company_id or "").strip(), (tax_id or "").strip()
        if company_id and tax_id:
            raise InvalidArgument("tax_id", "give company_id or tax_id, not both")
        companies = models.companies
        if company_id:
            company_id = _require_uuid("company_id", company_id)
            row = session.execute(sa.select(companies).where(companies.c.id == company_id)).first()
            if row is None:
                raise NotFound("no company with this id", "company_id")
            return row.tax_id, row
        if not tax_id:
            raise InvalidArgument("company_id", "give a company_id or a tax_id")
        tax_id = self.pack.company_id.normalise("tax_id", tax_id)
        return tax_id, session.execute(sa.select(companies).where(companies.c.tax_id == tax_id)).first()

    def _require_national_manager(self, actor: Principal) -> None:
        actor.require_role("manager")
        if actor.jurisdiction != self.pack.code:
            raise PermissionDenied(f"only a national manager ({self.pack.code}) may waive a mandatory-adhesion rule")

    def _clean_facts(self, facts: dict) -> dict:
        """Checks each fact against the pack (null = remove); integral numbers become ints."""
        if not isinstance(facts, dict) or not facts:
            raise InvalidArgument("facts", "give at least one fact")
        clean = {}
        for name, value in facts.items():
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            try:
                mandatory_adhesion_reasons(self.pack, {name: value})
            except InvalidArgument as error:
                raise InvalidArgument(f"facts.{name}", error.message.split(": ", 1)[-1]) from None
            if value is not None and self.pack.company_facts[name] == "segment":
                self.registry._require_segment(f"facts.{name}", value)
            clean[name] = value
        return clean

    def _usable(self, name: str, value) -> bool:
        try:
            mandatory_adhesion_reasons(self.pack, {name: value})
            return True
        except InvalidArgument:
            return False

    def _history(self, session: Session, tax_id: str, action: str, detail: str, reason: str, actor: Principal,
                 now: datetime) -> None:
        session.execute(models.adhesion_history.insert().values(
            tax_id=tax_id, action=action, detail=detail[:500], reason=reason, actor_id=actor.account_id,
            actor_role=actor.role, occurred_at=now))

    # --- evaluation -----------------------------------------------------------------------------
    def _evaluate(self, tax_id: str, facts_row, company, waivers: dict, name: str = "") -> Obligation:
        stored = json.loads(facts_row.facts) if facts_row is not None else {}
        # Facts the pack no longer declares (or of another type) are kept but ignored.
        facts = {k: v for k, v in stored.items() if self._usable(k, v)}
        met = set(mandatory_adhesion_reasons(self.pack, facts))
        reasons = [AdhesionReason(rule.id, rule.description, rule.id in waivers, waivers.get(rule.id, ""))
                   for rule in self.pack.adhesion_rules if rule.id in met]
        status = company.status if company is not None else ""
        return Obligation(
            tax_id=tax_id, company_id=company.id if company is not None else "",
            name=company.trade_name if company is not None else (facts_row.name if facts_row is not None else name),
            company_status=status, facts=stored, reasons=reasons, obliged=any(not r.waived for r in reasons),
            adhered=status == ACTIVE, facts_updated_at=_utc(facts_row.updated_at) if facts_row is not None else None)

    def _load(self, session: Session, tax_id: str, company, name: str = "", lock: bool = False) -> Obligation:
        query = sa.select(models.company_facts).where(models.company_facts.c.tax_id == tax_id)
        facts_row = session.execute(query.with_for_update() if lock else query).first()
        waivers = dict(session.execute(sa.select(models.adhesion_waivers.c.rule_id, models.adhesion_waivers.c.reason)
                                       .where(models.adhesion_waivers.c.tax_id == tax_id)).all())
        return self._evaluate(tax_id, facts_row, company, waivers, name)

    def _suggested_name(self, session: Session, tax_id: str) -> str:
        return session.execute(sa.select(models.company_suggestions.c.name)
                               .where(models.company_suggestions.c.tax_id == tax_id)).scalar() or ""

    # --- commands -------------------------------------------------------------------------------
    def record_facts(self, session: Session, actor: Principal, *, company_id: str = "", tax_id: str = "",
                     name: str = "", facts: dict) -> Obligation:
        """Merges the given facts into the company's (null removes one); returns the new evaluation."""
        actor.require_role(*FACT_KEEPERS)
        facts = self._clean_facts(facts)
        name = (name or "").strip()
        if name:
            name = require_text("name", name, max_length=self.registry.limits["company_name_max_chars"])
        tax_id, company = self._subject(session, company_id, tax_id)
        table = models.company_facts
        current = session.execute(sa.select(table).where(table.c.tax_id == tax_id).with_for_update()).first()
        if company is not None:
            name = company.trade_name
        elif not name:
            name = (current.name if current is not None else "") or self._suggested_name(session, tax_id)
            if not name:
                raise InvalidArgument("name", "is required for a company that is neither registered nor suggested")
        merged = json.loads(current.facts) if current is not None else {}
        merged.update(facts)
        merged = {k: v for k, v in sorted(merged.items()) if v is not None}
        now = self.registry.clock.now()
        values = dict(name=name, facts=json.dumps(merged, sort_keys=True), updated_at=now, updated_by=actor.account_id)
        if current is None:
            try:
                with session.begin_nested():
                    session.execute(table.insert().values(tax_id=tax_id, **values))
            except sa.exc.IntegrityError:  # recorded concurrently: apply ours on top of it
                session.execute(table.update().where(table.c.tax_id == tax_id).values(**values))
        else:
            session.execute(table.update().where(table.c.tax_id == tax_id).values(**values))
        self._history(session, tax_id, FACTS_RECORDED, ", ".join(sorted(facts)), "", actor, now)
        return self._load(session, tax_id, company)

    def grant_waiver(self, session: Session, actor: Principal, *, company_id: str = "", tax_id: str = "",
                     rule_id: str, reason: str) -> Obligation:
        self._require_national_manager(actor)
        rule_id = self._require_rule(rule_id)
        reason = require_text("reason", reason, max_length=WAIVER_REASON_MAX)
        tax_id, company = self._subject(session, company_id, tax_id)
        obligation = self._load(session, tax_id, company, lock=True)
        reason_for = {r.rule_id: r for r in obligation.reasons}
        if rule_id not in reason_for:
            raise FailedPrecondition(f"rule {rule_id} does not apply to this company's recorded facts")
        if reason_for[rule_id].waived:
            raise AlreadyExists(f"rule {rule_id} is already waived for this company", "rule_id")
        now = self.registry.clock.now()
        session.execute(models.adhesion_waivers.insert().values(tax_id=tax_id, rule_id=rule_id, reason=reason,
                                                                granted_by=actor.account_id, granted_at=now))
        self._history(session, tax_id, WAIVER_GRANTED, rule_id, reason, actor, now)
        return self._load(session, tax_id, company)

    def revoke_waiver(self, session: Session, actor: Principal, *, company_id: str = "", tax_id: str = "",
                      rule_id: str, reason: str) -> Obligation:
        self._require_national_manager(actor)
        rule_id = self._require_rule(rule_id)
        reason = require_text("reason", reason, max_length=WAIVER_REASON_MAX)
        tax_id, company = self._subject(session, company_id, tax_id)
        waivers = models.adhesion_waivers
        deleted = session.execute(waivers.delete().where(waivers.c.tax_id == tax_id, waivers.c.rule_id == rule_id))
        if deleted.rowcount == 0:
            raise NotFound(f"rule {rule_id} is not waived for this company", "rule_id")
        self._history(session, tax_id, WAIVER_REVOKED, rule_id, reason, actor, self.registry.clock.now())
        return self._load(session, tax_id, company)

    def _require_rule(self, rule_id: str) -> str:
        rule_id = (rule_id or "").strip()
        known = [rule.id for rule in self.pack.adhesion_rules]
        if rule_id not in known:
            raise InvalidArgument("rule_id", f"must be one of the {self.pack.code} pack's adhesion rules: "
                                             f"{', '.join(known) or 'none (adhesion is voluntary)'}")
        return rule_id

    # --- reading ---------------------------------------------------------------------------------
    def get(self, session: Session, actor: Principal, *, company_id: str = "",
            tax_id: str = "") -> tuple[Obligation, list[AdhesionChange]]:
        actor.require_role(*STAFF)
        tax_id, company = self._subject(session, company_id, tax_id)
        name = self._suggested_name(session, tax_id) if company is None else ""
        obligation = self._load(session, tax_id, company, name)
        if company is None and obligation.facts_updated_at is None and not name:
            raise NotFound("the registry knows nothing about this company", "tax_id")
        table = models.adhesion_history
        rows = session.execute(sa.select(table).where(table.c.tax_id == tax_id).order_by(table.c.seq)).all()
        return obligation, [AdhesionChange(r.action, r.detail, r.reason, r.actor_id, r.actor_role, _utc(r.occurred_at))
                            for r in rows]

    def list_mandatory(self, session: Session, actor: Principal, *, page_size: int = 0,
                       page_token: str = "") -> Page:
        """Companies obliged by some unwaived rule that are not active participants, by tax id."""
        actor.require_role(*STAFF)
        size = _page_size(page_size)
        filters = ("mandatory-adhesions", self.pack.version)
        after = Cursor.decode(page_token, filters, types=(str,))
        last_seen = after[0] if after else ""
        facts, companies, waivers = models.company_facts, models.companies, models.adhesion_waivers
        found: list[Obligation] = []
        batch = 200
        while len(found) <= size:
            rows = session.execute(sa.select(facts, companies.c.id.label("company_id"), companies.c.status,
                                             companies.c.trade_name)
                                   .select_from(facts.outerjoin(companies, companies.c.tax_id == facts.c.tax_id))
                                   .where(facts.c.tax_id > last_seen).order_by(facts.c.tax_id).limit(batch)).all()
            if not rows:
                break
            waived: dict[str, dict] = {}
            for tax, rule, reason in session.execute(sa.select(waivers.c.tax_id, waivers.c.rule_id, waivers.c.reason)
                                                     .where(waivers.c.tax_id.in_([r.tax_id for r in rows]))):
                waived.setdefault(tax, {})[rule] = reason
            for row in rows:
                company = (_CompanyView(row.company_id, row.status, row.trade_name)
                           if row.company_id is not None else None)
                obligation = self._evaluate(row.tax_id, row, company, waived.get(row.tax_id, {}))
                if obligation.obliged and not obligation.adhered:
                    found.append(obligation)
                    if len(found) > size:
                        break
            last_seen = rows[-1].tax_id
            if len(rows) < batch:
                break
        items = found[:size]
        return Page(items, Cursor.encode(filters, [items[-1].tax_id]) if len(found) > size else "")


@dataclass(frozen=True)
class _CompanyView:
    id: str
    status: str
    trade_name: str
