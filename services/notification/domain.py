"""The notification rules: who hears about which event, in which language, through which channel;
preferences; webhooks and their deliveries. Plain functions over a Session; raise chassis errors.

Personal data (names, e-mail addresses) lives only in `contacts` and `email_outbox` and must never
reach a log line, a span attribute or a metric label: log ids only.
"""
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import sqlalchemy as sa

from sqlalchemy.orm import Session

from concilia.chassis import i18n, retention
from concilia.chassis.auth import Principal
from concilia.chassis.country import CountryPack
from concilia.chassis.db import Database, Writes
from concilia.chassis.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from concilia.chassis.outbox import consume_batch, parse_data
from concilia.events.v1 import events_pb2 as ev

from . import messages
from . import models as m

# Fixed namespace: notification and delivery ids are derived from the event id, so a redelivered
# event maps to the same rows (and the same e-mail Message-ID).
ID_NAMESPACE = uuid.UUID("6f1c1f0e-6a1e-4d3c-9a53-0c0f1c1a7e11")

# complaint event type -> message class. Every one is a notification kind and a webhook event type.
COMPLAINT_EVENTS = {
    "complaint_filed": ev.ComplaintFiled,
    "complaint_answered": ev.ComplaintAnswered,
    "complaint_refused": ev.ComplaintRefused,
    "complaint_refusal_reviewed": ev.ComplaintRefusalReviewed,
    "complaint_unanswered": ev.ComplaintUnanswered,
    "complaint_message_added": ev.ComplaintMessageAdded,
    "complaint_evaluated": ev.ComplaintEvaluated,
    "complaint_finalised": ev.ComplaintFinalised,
    "complaint_cancelled": ev.ComplaintCancelled,
    "deadline_reminder": ev.DeadlineReminder,
}
KINDS = tuple(COMPLAINT_EVENTS)
WEBHOOK_EVENT_TYPES = KINDS

# Who hears about what; message_added and deadline_reminder depend on the event (see audiences()).
AUDIENCES = {
    "complaint_filed": ("company", "consumer"),
    "complaint_answered": ("consumer",),
    "complaint_refused": ("consumer", "authority"),
    "complaint_refusal_reviewed": ("consumer", "company"),
    "complaint_unanswered": ("consumer", "company"),
    "complaint_evaluated": ("company",),
    "complaint_finalised": ("consumer", "company"),
    "complaint_cancelled": ("consumer", "company"),
}

DELIVERY_STATUSES = ("pending", "retrying", "delivered", "dead_lettered")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_IDS_PER_CALL = 500


def _uuid5(*parts: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, ":".join(parts)))


def notification_id(event_id: str, account_id: str) -> str:
    return _uuid5("notification", event_id, account_id)


def delivery_id(event_id: str, webhook_id: str) -> str:
    return _uuid5("delivery", event_id, webhook_id)


def email_message_id(notification_id_: str, sender: str) -> str:
    """RFC 5322 Message-ID of a notification's e-mail: the same on every retry, so a receiver
    (or a person) can recognise the rare duplicate that at-least-once sending can produce."""
    domain = sender.rsplit("@", 1)[-1].strip(" >") if "@" in sender else "concilia.invalid"
    return f"<{notification_id_}@{domain or 'concilia.invalid'}>"


# --- languages -------------------------------------------------------------------------------

def normalise_locale(value: str) -> str:
    """"pt_BR", "pt-br" -> "pt-BR"; "EN" -> "en"; "" -> ""."""
    parts = (value or "").strip().replace("_", "-").split("-")
    if not parts[0]:
        return ""
    return "-".join([parts[0].lower(), *(p.upper() for p in parts[1:2])])


def supported_locales(pack: CountryPack) -> list[str]:
    """The deployment's languages that have texts."""
    return [code for code in (normalise_locale(c) for c in pack.languages) if code in messages.LOCALES]


def choose_locale(pack: CountryPack, *candidates: str) -> str:
    """The first candidate the deployment speaks (exactly, else by language), else the pack's default."""
    supported = supported_locales(pack)
    for candidate in map(normalise_locale, candidates):
        if not candidate:
            continue
        if candidate in supported:
            return candidate
        for code in supported:
            if code.split("-")[0] == candidate.split("-")[0]:
                return code
    default = normalise_locale(pack.default_locale)
    return default if default in messages.LOCALES else (supported[0] if supported else "en")


def format_deadline(deadline: datetime | None, pack: CountryPack, locale: str) -> str:
    """The last local day of a window. Deadlines are local midnights after that day (pack.add_days)."""
    if deadline is None:
        return ""
    last_day = (deadline - timedelta(seconds=1)).astimezone(pack.zone).date()
    return i18n.format_date(last_day, pack, locale, "long")  # honours the pack's format_locale (UY)


def _upsert(session: Session, table: sa.Table, key: str, values: dict) -> None:
    updated = session.execute(table.update().where(table.c[key] == values[key]).values(**values)).rowcount
    if not updated:
        session.execute(table.insert().values(**values))


# --- batches of events ------------------------------------------------------------------------
# The worker writes events in batches (one transaction for many events) because one commit per
# event cannot keep up with the replay load; every function below works on a whole batch with a
# fixed number of statements.

def _insert(session: Session, table: sa.Table):
    """INSERT with ON CONFLICT support for the session's dialect (PostgreSQL or SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def claim_events(session: Session, consumer: str, event_ids) -> set[str]:
    """The ids among `event_ids` this consumer has not handled yet, recorded as handled in the
    caller's transaction (consume_once for a batch: one statement, same table and guarantee)."""
    return consume_batch(session, m.processed_events, consumer, event_ids)


def _upsert_many(session: Session, table: sa.Table, key: str, rows: list[dict], where=None) -> None:
    """where: a condition on the existing row; when false, the conflicting row is left as it is."""
    if not rows:
        return
    rows = list({row[key]: row for row in rows}.values())  # the last version of each key wins
    statement = _insert(session, table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[key], set_={c: statement.excluded[c] for c in rows[0] if c != key}, where=where)
    session.execute(statement)


def record_contacts(session: Session, accounts, now: datetime) -> None:
    # Never over a tombstone: a late or redelivered account_created of an erased account changes nothing.
    _upsert_many(session, m.contacts, "account_id", [dict(
        account_id=a.account_id, role=a.role, name=a.name[:200], email=a.email[:320],
        locale=normalise_locale(a.locale)[:16], company_id=a.company_id, group_id=a.group_id,
        jurisdiction=a.jurisdiction, updated_at=now) for a in accounts if a.account_id],
        where=m.contacts.c.erased_at.is_(None))


def erase_accounts(session: Session, accounts, now: datetime) -> None:
    """Erasure on request (LGPD, Ley 25.326), on identity's account_erased (AccountErased data): drops
    the accounts' inbox, preferences, e-mails (sent ones too: they hold the address and the texts) and
    the events kept for them as consumers, and leaves a tombstone in contacts (inserted when the
    account_created has not arrived yet) that record_contacts never overwrites. Run after the batch's
    record_contacts, so an account created and erased in one batch ends erased."""
    rows = [dict(account_id=a.account_id, role=a.role, name="", email="", locale="", company_id="", group_id="",
                 jurisdiction="", updated_at=now, erased_at=now) for a in accounts if a.account_id]
    if not rows:
        return
    ids = [row["account_id"] for row in rows]
    n, u = m.notifications.c, m.unaddressed_events.c
    # E-mails are keyed by their notification's id: they go first.
    session.execute(m.email_outbox.delete().where(
        m.email_outbox.c.notification_id.in_(sa.select(n.id).where(n.account_id.in_(ids)))))
    session.execute(m.notifications.delete().where(n.account_id.in_(ids)))
    session.execute(m.preferences.delete().where(m.preferences.c.account_id.in_(ids)))
    session.execute(m.unaddressed_events.delete().where(u.waiting_for == "consumer", u.consumer_id.in_(ids)))
    # An account erased twice keeps its first erased_at.
    _upsert_many(session, m.contacts, "account_id", rows, where=m.contacts.c.erased_at.is_(None))


def record_companies(session: Session, companies, now: datetime) -> None:
    _upsert_many(session, m.companies, "company_id", [dict(
        company_id=c.company_id, trade_name=c.trade_name[:200], group_id=c.group_id, updated_at=now)
        for c in companies if c.company_id])


def record_contact(session: Session, data: ev.AccountCreated, now: datetime) -> None:
    record_contacts(session, [data], now)


def record_company(session: Session, data: ev.CompanyAdhered, now: datetime) -> None:
    record_companies(session, [data], now)


# --- recipients -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipient:
    account_id: str
    audience: str  # consumer | company | authority


def audiences(event_type: str, data) -> tuple[str, ...]:
    if event_type == "complaint_message_added":
        # The other party hears about a message; an authority's message goes to both.
        return {"consumer": ("company",), "company_agent": ("consumer",)}.get(data.author_role, ("consumer", "company"))
    if event_type == "deadline_reminder":
        # Whoever owes the next step.
        return {"company_answer": ("company",), "consumer_evaluation": ("consumer",)}.get(data.deadline_kind, ())
    return AUDIENCES.get(event_type, ())


class Directory:
    """What a batch needs to know about people and companies, loaded with a few IN queries."""

    def __init__(self, session: Session, pack: CountryPack, refs, with_agents: bool = True):
        """with_agents=False: the caller knows the recipients already (late delivery); the
        companies' agents are not looked up."""
        self.session, self.pack = session, pack
        company_ids = {r.company_id for r in refs if r.company_id}
        group_ids = {r.company_group_id for r in refs if r.company_group_id}
        c = m.contacts.c
        self.names = dict(session.execute(sa.select(m.companies.c.company_id, m.companies.c.trade_name)
                                          .where(m.companies.c.company_id.in_(company_ids))).all()) if company_ids else {}
        # Agents of the company, and group-wide agents (no company of their own) of its group.
        self.agents_of_company: dict[str, list[str]] = {}
        self.agents_of_group: dict[str, list[str]] = {}
        if with_agents and (company_ids or group_ids):
            rows = session.execute(sa.select(c.account_id, c.company_id, c.group_id).where(
                c.role == "company_agent", c.erased_at.is_(None),
                sa.or_(c.company_id.in_(company_ids), sa.and_(c.company_id == "", c.group_id.in_(group_ids))))
                .order_by(c.account_id)).all()
            for row in rows:
                if row.company_id:
                    self.agents_of_company.setdefault(row.company_id, []).append(row.account_id)
                else:
                    self.agents_of_group.setdefault(row.group_id, []).append(row.account_id)
        self._managers: dict[str, list[str]] = {}
        self.contacts: dict[str, object] = {}
        self.preferences: dict[str, object] = {}

    def company_agents(self, ref: ev.ComplaintRef) -> list[str]:
        agents = list(self.agents_of_company.get(ref.company_id, []))
        if ref.company_group_id:
            agents += self.agents_of_group.get(ref.company_group_id, [])
        return agents

    def competent_managers(self, ref: ev.ComplaintRef) -> list[str]:
        """Managers of the authority competent for the complaint's region (the national one otherwise)."""
        authority = self.pack.authority_for(ref.region_code)
        jurisdiction = authority.jurisdiction if authority else self.pack.code
        if jurisdiction not in self._managers:
            c = m.contacts.c
            self._managers[jurisdiction] = list(self.session.scalars(
                sa.select(c.account_id).where(c.role == "manager", c.jurisdiction == jurisdiction,
                                              c.erased_at.is_(None)).order_by(c.account_id)))
        return self._managers[jurisdiction]

    def load_people(self, account_ids) -> None:
        ids = list(set(account_ids) - set(self.contacts))
        if not ids:
            return
        for row in self.session.execute(sa.select(m.contacts).where(m.contacts.c.account_id.in_(ids))):
            self.contacts[row.account_id] = row
        for row in self.session.execute(sa.select(m.preferences).where(m.preferences.c.account_id.in_(ids))):
            self.preferences[row.account_id] = row


def recipients(directory: Directory, event_type: str, data) -> list[Recipient]:
    ref = data.complaint
    found: dict[str, Recipient] = {}
    for audience in audiences(event_type, data):
        if audience == "consumer":
            ids = [ref.consumer_id] if ref.consumer_id else []
        elif audience == "company":
            ids = directory.company_agents(ref) if ref.company_id else []
        else:
            ids = directory.competent_managers(ref)
        for account_id in ids:
            found.setdefault(account_id, Recipient(account_id, audience))
    return list(found.values())


def _deadline_of(event_type: str, data) -> datetime | None:
    field = {"complaint_filed": "answer_deadline", "complaint_answered": "evaluation_deadline",
             "complaint_unanswered": "evaluation_deadline", "complaint_refusal_reviewed": "answer_deadline",
             "deadline_reminder": "deadline"}.get(event_type)
    if field and data.HasField(field):
        return getattr(data, field).ToDatetime(tzinfo=timezone.utc)
    return None


def _preferences_row(session: Session, account_id: str):
    return session.execute(sa.select(m.preferences).where(m.preferences.c.account_id == account_id)).first()


def wants_email(prefs, kind: str) -> bool:
    if prefs is None:
        return True
    return bool(prefs.email_enabled) and kind not in json.loads(prefs.muted_kinds or "[]")


@dataclass
class Outcome:
    notifications: int = 0
    emails: int = 0
    deliveries: int = 0


def handle_complaint_events(session: Session, pack: CountryPack, events, *, now: datetime, email_on: bool,
                            base_url: str = "") -> Outcome:
    """Writes the in-app notifications, queued e-mails and webhook deliveries of complaint events,
    given as [(envelope, typed data)] already claimed (claim_events) in the same transaction.
    Events that reach nobody on one side are kept for the contacts that come later (deliver_late)."""
    directory = Directory(session, pack, [data.complaint for _, data in events])
    plans = [(envelope, data, recipients(directory, envelope["type"], data)) for envelope, data in events]
    directory.load_people(r.account_id for _, _, found in plans for r in found)
    wall_now = datetime.now(timezone.utc)
    notification_rows, email_rows = _render(directory, pack, plans, now, wall_now, email_on, base_url)
    writes = Writes(session)  # the batch's three inserts in one round trip
    writes.insert(m.notifications, notification_rows)
    writes.insert(m.email_outbox, email_rows)
    writes.insert(m.unaddressed_events, _unaddressed(directory, events, email_on, wall_now))
    writes.send()
    deliveries = queue_webhook_deliveries(session, [(envelope, data.complaint.company_id) for envelope, data in events],
                                          wall_now)
    return Outcome(len(notification_rows), len(email_rows), deliveries)


def _render(directory: Directory, pack: CountryPack, plans, now: datetime, wall_now: datetime, email_on: bool,
            base_url: str) -> tuple[list[dict], list[dict]]:
    """The notification and e-mail rows of [(envelope, data, recipients)]."""
    notification_rows, email_rows = [], []
    deadlines: dict[tuple, str] = {}  # Babel's date formatting is slow; a batch repeats few (deadline, locale) pairs
    for envelope, data, found in plans:
        event_type, ref = envelope["type"], data.complaint
        context = dict(ref=ref.complaint_id[:8], company=directory.names.get(ref.company_id, ""),
                       days_left=getattr(data, "days_left", 0), upheld=getattr(data, "upheld", False),
                       resolution=getattr(data, "resolution", ""), score=getattr(data, "satisfaction_score", 0))
        deadline = _deadline_of(event_type, data)
        link = f"{base_url.rstrip('/')}/complaints/{ref.complaint_id}" if base_url and ref.complaint_id else ""
        for recipient in found:
            contact = directory.contacts.get(recipient.account_id)
            if contact is not None and contact.erased_at is not None:
                continue  # erased on request: nobody to notify
            prefs = directory.preferences.get(recipient.account_id)
            locale = choose_locale(pack, prefs.locale if prefs else "", contact.locale if contact else "")
            shown = deadlines.get((deadline, locale))
            if shown is None:
                shown = deadlines[deadline, locale] = format_deadline(deadline, pack, locale)
            title, body = messages.render(locale, event_type, recipient.audience, deadline=shown, **context)
            nid = notification_id(envelope["id"], recipient.account_id)
            notification_rows.append(dict(
                id=nid, account_id=recipient.account_id, event_id=envelope["id"], kind=event_type,
                complaint_id=ref.complaint_id, title=title[:300], body=body, created_at=now, read_at=None))
            if email_on and contact is not None and contact.email and wants_email(prefs, event_type):
                email_rows.append(dict(
                    notification_id=nid, to_address=contact.email, subject=title[:300],
                    body=messages.render_email(locale, body, name=contact.name, link=link), locale=locale,
                    status="pending", attempts=0, next_attempt_at=wall_now, last_error="", created_at=wall_now))
    return notification_rows, email_rows


# --- contacts that arrive after the events meant for them -------------------------------------

def _unaddressed(directory: Directory, events, email_on: bool, wall_now: datetime) -> list[dict]:
    """unaddressed_events rows for the events that found no agent of the company, or (with e-mail
    on) no contact for the consumer: identity's account_created may still be on its way."""
    rows = []
    for envelope, data in events:
        ref, sides = data.complaint, audiences(envelope["type"], data)
        waiting = []
        if "company" in sides and ref.company_id and not directory.company_agents(ref):
            waiting.append("company")
        # An erased consumer's tombstone is in directory.contacts: nothing waits for them.
        if email_on and "consumer" in sides and ref.consumer_id and ref.consumer_id not in directory.contacts:
            waiting.append("consumer")
        rows += [dict(event_id=envelope["id"], waiting_for=side, company_id=ref.company_id,
                      company_group_id=ref.company_group_id, consumer_id=ref.consumer_id,
                      envelope=json.dumps(envelope, ensure_ascii=False), created_at=wall_now) for side in waiting]
    return rows


def deliver_late(session: Session, pack: CountryPack, accounts, *, now: datetime, email_on: bool,
                 base_url: str = "") -> Outcome:
    """Gives contacts just recorded (AccountCreated data) what was kept for their side: company
    agents the events that reached no agent of their company (or, group-wide agents, of their
    group), consumers the e-mails of their events that had no address yet. Each kept event is
    handed to the first contacts of its side and then dropped; rows already written (a consumer's
    in-app notification) stay as they are. Erased accounts (tombstones) are given nothing."""
    c = m.contacts.c
    erased = set(session.scalars(sa.select(c.account_id).where(
        c.account_id.in_([a.account_id for a in accounts]), c.erased_at.is_not(None))))
    accounts = [a for a in accounts if a.account_id not in erased]
    agents = [a for a in accounts if a.role == "company_agent" and (a.company_id or a.group_id)]
    consumers = {a.account_id for a in accounts if a.role == "consumer"} if email_on else set()
    u = m.unaddressed_events.c
    wanted = []
    if companies := {a.company_id for a in agents if a.company_id}:
        wanted.append((u.waiting_for == "company") & u.company_id.in_(companies))
    if groups := {a.group_id for a in agents if not a.company_id}:
        wanted.append((u.waiting_for == "company") & u.company_group_id.in_(groups))
    if consumers:
        wanted.append((u.waiting_for == "consumer") & u.consumer_id.in_(consumers))
    if not wanted:
        return Outcome()
    kept = session.execute(sa.select(m.unaddressed_events).where(sa.or_(*wanted))
                           .order_by(u.created_at, u.event_id)).all()
    if not kept:
        return Outcome()
    plans = []
    for row in kept:
        envelope = json.loads(row.envelope)
        data = parse_data(envelope, COMPLAINT_EVENTS[envelope["type"]])
        if row.waiting_for == "consumer":
            found = [Recipient(row.consumer_id, "consumer")]
        else:
            found = [Recipient(a.account_id, "company") for a in agents
                     if a.company_id == row.company_id or (not a.company_id and a.group_id == row.company_group_id)]
        plans.append((envelope, data, found))
    directory = Directory(session, pack, [data.complaint for _, data, _ in plans], with_agents=False)
    directory.load_people(r.account_id for _, _, found in plans for r in found)
    notification_rows, email_rows = _render(directory, pack, plans, now, datetime.now(timezone.utc), email_on,
                                            base_url)
    writes = Writes(session)
    writes.insert(m.notifications, notification_rows, conflict="ON CONFLICT DO NOTHING")
    writes.insert(m.email_outbox, email_rows, conflict="ON CONFLICT DO NOTHING")
    writes.send()
    session.execute(m.unaddressed_events.delete().where(
        sa.tuple_(u.event_id, u.waiting_for).in_([(row.event_id, row.waiting_for) for row in kept])))
    return Outcome(len(notification_rows), len(email_rows), 0)


def prune_unaddressed(session: Session, older_than: datetime) -> int:
    """Drops kept events nobody came for within the retention."""
    return session.execute(m.unaddressed_events.delete().where(
        m.unaddressed_events.c.created_at < older_than)).rowcount


def apply_retention(database: Database, days: int | None, now: datetime, wall_now: datetime) -> dict[str, int]:
    """The pack's retention.notification_days (None keeps everything): inbox notifications, e-mails
    and webhook deliveries created longer ago go, whatever their state (docs/adr/0021-retention.md).
    Each is aged on the clock that stamped it: notifications on the platform clock (`now`), e-mails
    and deliveries on the wall clock, as they are sent in real time."""
    if days is None:
        return {}
    period = timedelta(days=days)
    return {name: retention.prune_older_than(database, table, "created_at", at - period, kind=name)
            for name, table, at in (("notifications", m.notifications, now), ("emails", m.email_outbox, wall_now),
                                    ("webhook_deliveries", m.webhook_deliveries, wall_now))}


def handle_complaint_event(session: Session, pack: CountryPack, envelope: dict, data, *, now: datetime,
                           email_on: bool, base_url: str = "") -> Outcome:
    return handle_complaint_events(session, pack, [(envelope, data)], now=now, email_on=email_on, base_url=base_url)


# --- webhooks ---------------------------------------------------------------------------------

def webhook_body(envelope: dict) -> str:
    """The exact bytes (as text) that are signed and POSTed: the event envelope as received."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def queue_webhook_deliveries(session: Session, events: list[tuple[dict, str]], now: datetime) -> int:
    """One delivery row per (event, subscribed active webhook of the company); events are
    [(envelope, company_id)]."""
    company_of = {envelope["id"]: company_id for envelope, company_id in events}
    envelopes = [envelope for envelope, _ in events]
    company_ids = {c for c in company_of.values() if c}
    if not company_ids:
        return 0
    w = m.webhooks.c
    hooks: dict[str, list] = {}
    for hook in session.execute(sa.select(w.id, w.company_id, w.event_types)
                                .where(w.company_id.in_(company_ids), w.active)):
        hooks.setdefault(hook.company_id, []).append((hook.id, set(json.loads(hook.event_types))))
    rows = []
    for envelope in envelopes:
        for hook_id, types in hooks.get(company_of[envelope["id"]], []):
            if envelope["type"] in types:
                rows.append(dict(id=delivery_id(envelope["id"], hook_id), webhook_id=hook_id, event_id=envelope["id"],
                                 event_type=envelope["type"], payload=webhook_body(envelope), status="pending",
                                 attempts=0, replays=0, last_http_status=0, last_error="", next_attempt_at=now,
                                 created_at=now))
    if rows:
        # The (webhook, event) unique constraint is the last guard; claim_events already drops redeliveries.
        session.execute(m.webhook_deliveries.insert(), rows)
    return len(rows)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """X-Concilia-Signature value: t=<unix ts>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, now: int, tolerance_seconds: int = 300) -> bool:
    """What a receiver does (documented for companies; used by the tests)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Delay before the next try after `attempts` failed ones: base, 2·base, 4·base... capped."""
    return min(cap, base * (2 ** max(0, attempts - 1)))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address_allowed(address: str, allow_loopback: bool) -> bool:
    """Whether a webhook may be sent to this IP: public addresses only (no internal networks,
    link-local cloud metadata, multicast...), plus loopback when explicitly allowed (tests)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


def validate_webhook_url(url: str, allow_insecure_loopback: bool) -> str:
    url = (url or "").strip()
    if not url:
        raise InvalidArgument("url", "is required")
    if len(url) > 2048:
        raise InvalidArgument("url", "must have at most 2048 characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InvalidArgument("url", "is not a valid URL") from None
    if not host:
        raise InvalidArgument("url", "must include a host")
    if parts.username or parts.password:
        raise InvalidArgument("url", "must not carry credentials (the signature authenticates Concilia)")
    if parts.fragment:
        raise InvalidArgument("url", "must not have a fragment")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not address_allowed(host, allow_insecure_loopback):
        raise InvalidArgument("url", "must point to a public address")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and allow_insecure_loopback and _is_loopback(host):
        return url
    raise InvalidArgument("url", "must use https://")


def _require_company_agent(principal: Principal) -> str:
    principal.require_role("company_agent")
    if not principal.company_id:
        raise PermissionDenied("this account is not linked to a company")
    return principal.company_id


def _validate_event_types(event_types) -> list[str]:
    chosen = []
    for value in event_types:
        value = (value or "").strip()
        if value not in WEBHOOK_EVENT_TYPES:
            raise InvalidArgument("event_types", f"unknown event type {value[:64]!r} (known: {', '.join(WEBHOOK_EVENT_TYPES)})")
        if value not in chosen:
            chosen.append(value)
    if not chosen:
        raise InvalidArgument("event_types", "choose at least one event type")
    return chosen


def register_webhook(session: Session, principal: Principal, url: str, event_types, *, now: datetime,
                     allow_insecure_loopback: bool, max_per_company: int):
    """(webhook row, signing secret). The secret is returned only here."""
    company_id = _require_company_agent(principal)
    url = validate_webhook_url(url, allow_insecure_loopback)
    chosen = _validate_event_types(event_types)
    w = m.webhooks.c
    active = session.execute(sa.select(w.url).where(w.company_id == company_id, w.active)).scalars().all()
    if url in active:
        raise AlreadyExists("an active webhook with this URL already exists for the company", "url")
    if len(active) >= max_per_company:
        raise FailedPrecondition(f"a company may have at most {max_per_company} active webhooks")
    secret = secrets.token_hex(32)
    values = dict(id=str(uuid.uuid4()), company_id=company_id, url=url, secret=secret,
                  event_types=json.dumps(chosen), active=True, created_by=principal.account_id, created_at=now)
    session.execute(m.webhooks.insert().values(**values))
    return session.execute(sa.select(m.webhooks).where(w.id == values["id"])).one(), secret


def list_webhooks(session: Session, principal: Principal):
    company_id = _require_company_agent(principal)
    w = m.webhooks.c
    return session.execute(sa.select(m.webhooks).where(w.company_id == company_id)
                           .order_by(w.created_at, w.id)).all()


def _company_webhook(session: Session, company_id: str, webhook_id: str, field: str = "webhook_id"):
    _require_uuid(field, webhook_id)
    row = session.execute(sa.select(m.webhooks).where(m.webhooks.c.id == webhook_id)).first()
    if row is None or row.company_id != company_id:  # another company's webhook does not exist for you
        raise NotFound("no such webhook")
    return row


def deactivate_webhook(session: Session, principal: Principal, webhook_id: str):
    company_id = _require_company_agent(principal)
    _company_webhook(session, company_id, webhook_id)
    session.execute(m.webhooks.update().where(m.webhooks.c.id == webhook_id).values(active=False))
    return session.execute(sa.select(m.webhooks).where(m.webhooks.c.id == webhook_id)).one()


def list_deliveries(session: Session, principal: Principal, webhook_id: str, status: str, page_size: int,
                    page_token: str):
    """(rows, next_page_token), newest first."""
    company_id = _require_company_agent(principal)
    d, w = m.webhook_deliveries.c, m.webhooks.c
    query = sa.select(m.webhook_deliveries).join(m.webhooks, w.id == d.webhook_id).where(w.company_id == company_id)
    if webhook_id:
        _company_webhook(session, company_id, webhook_id)
        query = query.where(d.webhook_id == webhook_id)
    if status:
        if status not in DELIVERY_STATUSES:
            raise InvalidArgument("status", f"must be one of {', '.join(DELIVERY_STATUSES)}")
        query = query.where(d.status == status)
    return _page(session, query, d.created_at, d.id, page_size, page_token)


def replay_delivery(session: Session, principal: Principal, delivery_id_: str):
    """Queues a delivery again now, with a fresh retry budget (the attempt count restarts)."""
    company_id = _require_company_agent(principal)
    _require_uuid("delivery_id", delivery_id_)
    d = m.webhook_deliveries.c
    row = session.execute(sa.select(m.webhook_deliveries).where(d.id == delivery_id_).with_for_update()).first()
    if row is None:
        raise NotFound("no such delivery")
    hook = _company_webhook(session, company_id, row.webhook_id)
    if not hook.active:
        raise FailedPrecondition("the webhook is deactivated")
    if row.status in ("pending", "retrying"):
        raise FailedPrecondition(f"the delivery is already queued ({row.status})")
    session.execute(m.webhook_deliveries.update().where(d.id == delivery_id_).values(
        status="pending", attempts=0, replays=row.replays + 1, next_attempt_at=datetime.now(timezone.utc),
        last_error=""))
    return session.execute(sa.select(m.webhook_deliveries).where(d.id == delivery_id_)).one()


# --- inbox and preferences ----------------------------------------------------------------------

def _require_uuid(field: str, value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(field, "is not a valid id") from None


def _page_size(page_size: int) -> int:
    if page_size < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _page(session: Session, query, created_column, id_column, page_size: int, page_token: str):
    """Keyset pagination, newest first: the token is the (created_at, id) of the last row shown."""
    size = _page_size(page_size)
    if page_token:
        try:
            created, last_id = json.loads(base64.urlsafe_b64decode(page_token.encode()).decode())
            created = datetime.fromisoformat(created)
        except (ValueError, TypeError):
            raise InvalidArgument("page_token", "is not valid") from None
        query = query.where(sa.or_(created_column < created, sa.and_(created_column == created, id_column < last_id)))
    rows = session.execute(query.order_by(created_column.desc(), id_column.desc()).limit(size + 1)).all()
    next_token = ""
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        created = last.created_at if last.created_at.tzinfo else last.created_at.replace(tzinfo=timezone.utc)
        next_token = base64.urlsafe_b64encode(json.dumps([created.isoformat(), last.id]).encode()).decode()
    return rows, next_token


def list_inbox(session: Session, principal: Principal, unread_only: bool, page_size: int, page_token: str):
    """(rows, next_page_token, unread_count) of the caller's own notifications."""
    n = m.notifications.c
    query = sa.select(m.notifications).where(n.account_id == principal.account_id)
    if unread_only:
        query = query.where(n.read_at.is_(None))
    rows, next_token = _page(session, query, n.created_at, n.id, page_size, page_token)
    unread = session.scalar(sa.select(sa.func.count()).select_from(m.notifications)
                            .where(n.account_id == principal.account_id, n.read_at.is_(None)))
    return rows, next_token, unread


def mark_read(session: Session, principal: Principal, notification_ids, all_: bool, now: datetime) -> int:
    n = m.notifications.c
    mine_unread = sa.and_(n.account_id == principal.account_id, n.read_at.is_(None))
    if all_:
        return session.execute(m.notifications.update().where(mine_unread).values(read_at=now)).rowcount
    ids = list(dict.fromkeys(notification_ids))
    if not ids:
        raise InvalidArgument("notification_ids", "give at least one id, or all=true")
    if len(ids) > MAX_IDS_PER_CALL:
        raise InvalidArgument("notification_ids", f"at most {MAX_IDS_PER_CALL} ids per call")
    ids = [_require_uuid("notification_ids", value) for value in ids]
    return session.execute(m.notifications.update().where(mine_unread, n.id.in_(ids)).values(read_at=now)).rowcount


@dataclass(frozen=True)
class Preferences:
    email_enabled: bool
    locale: str
    muted_kinds: tuple[str, ...]


def get_preferences(session: Session, principal: Principal) -> Preferences:
    row = _preferences_row(session, principal.account_id)
    if row is None:
        return Preferences(email_enabled=True, locale="", muted_kinds=())
    return Preferences(bool(row.email_enabled), row.locale, tuple(json.loads(row.muted_kinds or "[]")))


def update_preferences(session: Session, pack: CountryPack, principal: Principal, email_enabled: bool, locale: str,
                       muted_kinds, now: datetime) -> Preferences:
    locale = normalise_locale(locale)
    if locale and locale not in supported_locales(pack):
        raise InvalidArgument("locale", f"must be one of {', '.join(supported_locales(pack))} (or empty)")
    muted = []
    for kind in muted_kinds:
        if kind not in KINDS:
            raise InvalidArgument("muted_kinds", f"unknown kind {kind[:64]!r} (known: {', '.join(KINDS)})")
        if kind not in muted:
            muted.append(kind)
    _upsert(session, m.preferences, "account_id", dict(
        account_id=principal.account_id, email_enabled=email_enabled, locale=locale,
        muted_kinds=json.dumps(muted), updated_at=now))
    return Preferences(email_enabled, locale, tuple(muted))
