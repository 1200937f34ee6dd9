"""The complaint lifecycle rules, over the database, the clock and the country pack.

States (stored as words): waiting_company -> (answered) waiting_evaluation -> finalised_evaluated;
waiting_company -> (refused) under_refusal_review -> cancelled (upheld) | waiting_company (rejected,
the answer clock resumes); waiting_company -> (deadline lapses) waiting_evaluation, unanswered;
waiting_evaluation -> (evaluation window lapses) finalised_not_evaluated; any open state ->
cancelled by a manager. Every change writes a history row and its event in the same transaction.

Packs with a conciliation hearing (docs/adr/0011) add: waiting_evaluation -> (consumer: not resolved)
hearing_pending -> (manager schedules) hearing_scheduled -> (manager records the outcome)
finalised_evaluated; an unanswered complaint in waiting_evaluation may also be scheduled directly;
hearing_pending -> (scheduling window lapses) finalised_evaluated as the consumer judged it.
"""
import base64
import contextlib
import csv
import functools
import hashlib
import json
import logging
import uuid
from types import SimpleNamespace
from urllib.parse import urlsplit
from dataclasses import dataclass, field
from datetime import datetime, timedelta, time as dtime
from typing import Iterator

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from google.protobuf.timestamp_pb2 import Timestamp

from concilia.chassis import audit, retention
from concilia.chassis.auth import Principal
from concilia.chassis.country import Authority, CountryPack
from concilia.chassis.db import Database, execute_numbered
from concilia.chassis.errors import (FailedPrecondition, InvalidArgument, NotFound, PermissionDenied,
                                     ResourceExhausted, require_text)
from concilia.chassis.outbox import Outbox
from concilia.events.v1 import events_pb2 as ev

from . import models as m
from .storage import AttachmentStore
from .work import Change, DriverWork, SessionWork, Work, consumer_erased, typed_values

log = logging.getLogger(__name__)

WAITING_COMPANY = "waiting_company"
UNDER_REFUSAL_REVIEW = "under_refusal_review"
WAITING_EVALUATION = "waiting_evaluation"
FINALISED_EVALUATED = "finalised_evaluated"
FINALISED_NOT_EVALUATED = "finalised_not_evaluated"
CANCELLED = "cancelled"
HEARING_PENDING = "hearing_pending"
HEARING_SCHEDULED = "hearing_scheduled"
STATUSES = (WAITING_COMPANY, UNDER_REFUSAL_REVIEW, WAITING_EVALUATION, FINALISED_EVALUATED,
            FINALISED_NOT_EVALUATED, CANCELLED, HEARING_PENDING, HEARING_SCHEDULED)
OPEN_STATUSES = (WAITING_COMPANY, UNDER_REFUSAL_REVIEW, WAITING_EVALUATION, HEARING_PENDING, HEARING_SCHEDULED)
# How a hearing's outcome closes the complaint (resolution of a finalised-evaluated complaint).
HEARING_RESOLUTION = {"agreement": "resolved", "no_agreement": "not_resolved", "no_show": "not_resolved"}
RESOLUTIONS = ("resolved", "not_resolved")
SYSTEM = ("system", "system")  # actor of deadline transitions
NOT_PARTICIPATING = "company is not participating; suggest it with SuggestCompany"
ERASED = "this account was erased on request"

# File signatures, so a declared content type must match the bytes (no .exe renamed to .pdf).
MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
# Statements of the filing path, built once: filing is the hot path (see bench/bench_file_complaint.py)
# and SQLAlchemy then only binds parameters instead of rebuilding and re-keying each statement.
# The filing's reads in one round trip: the company in the replica and, when the consumer sent an
# idempotency key, the complaint already filed with it. Always one row (NULLs for what is missing).
FILING_READS = sa.text(
    "SELECT company.id, company.group_id, company.trade_name, company.segment_name, company.status,"
    " earlier.id AS earlier_id, earlier.request_hash AS earlier_hash,"
    " EXISTS (SELECT 1 FROM erased_consumers WHERE account_id = :consumer_id) AS consumer_erased"
    " FROM (VALUES (1)) AS one"
    " LEFT JOIN companies AS company ON company.id = :company_id"
    " LEFT JOIN complaints AS earlier ON earlier.consumer_id = :consumer_id AND earlier.idempotency_key = :key")
COMPLAINT_BY_KEY = sa.select(m.complaints.c.id, m.complaints.c.request_hash).where(
    m.complaints.c.consumer_id == sa.bindparam("consumer_id"),
    m.complaints.c.idempotency_key == sa.bindparam("key"))
INSERT_COMPLAINT = m.complaints.insert()
INSERT_HISTORY = m.history.insert()
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


@dataclass
class NewAttachment:
    file_name: str
    content_type: str
    content: bytes


@dataclass
class Filing:
    company_id: str
    segment_code: str
    area: str
    subject: str
    problem_group: str
    problem: str
    purchase_channel: str
    contacted_company_first: bool
    description: str
    desired_outcome: str
    region_code: str
    city: str
    idempotency_key: str = ""
    attachments: list[NewAttachment] = field(default_factory=list)

    def fingerprint(self) -> str:
        """Hash of what was asked, to tell a replay from a different request reusing a key."""
        data = {k: v for k, v in self.__dict__.items() if k not in ("attachments", "idempotency_key")}
        data["attachments"] = [hashlib.sha256(a.content).hexdigest() for a in self.attachments]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass
class ListQuery:
    status: str = ""
    company_id: str = ""
    filed_from: datetime | None = None
    filed_to: datetime | None = None
    page_size: int = 0
    page_token: str = ""
    order_by: str = ""


@functools.lru_cache(maxsize=4)
def filing_write(complaint_columns: tuple, history_columns: tuple, outbox_columns: tuple, dialect) -> sa.TextClause:
    """The writes of a filing as one PostgreSQL statement (data-modifying CTEs): take one filing from
    the account's allowance for the day unless it is used up, and only then insert the complaint, its
    first history entry and its event. A statement is atomic by itself, so the filing needs no
    multi-round-trip transaction (docs/adr/0012-write-path.md). Returns the new count, or no row
    (and writes nothing) when the allowance was used up. Built once per set of columns."""
    quote = dialect.identifier_preparer.quote

    def insert(table: sa.Table, columns: tuple, prefix: str, source: str) -> str:
        values = ", ".join(typed_values(table, columns, prefix, dialect))
        return f"INSERT INTO {table.name} ({', '.join(quote(name) for name in columns)}) SELECT {values} FROM {source}"
    return sa.text(f"""
        WITH counted AS (
            INSERT INTO rate_counters (account_id, kind, window_start, count)
            SELECT CAST(:account_id AS VARCHAR), 'filing', CAST(:window_start AS TIMESTAMP WITH TIME ZONE), 1
            WHERE CAST(:allowance AS INTEGER) > 0
            ON CONFLICT (account_id, kind, window_start) DO UPDATE SET count = rate_counters.count + 1
            WHERE rate_counters.count < CAST(:allowance AS INTEGER)
            RETURNING count
        ), complaint AS (
            {insert(m.complaints, complaint_columns, "c_", "counted")} RETURNING id
        ), entry AS (
            {insert(m.history, history_columns, "h_", "complaint")}
        ), event AS (
            {insert(m.outbox, outbox_columns, "o_", "complaint")}
        )
        SELECT count FROM counted""")


class Taxonomy:
    """The pack's complaint taxonomy: valid paths and segment names."""

    def __init__(self, pack: CountryPack):
        self.paths: set[tuple[str, str, str, str, str]] = set()
        self.segment_names: dict[str, str] = {}
        with pack.taxonomy_file.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                self.segment_names[row["segment_code"]] = row["segment"]
                self.paths.add((row["segment_code"], row["area"], row["subject"], row["problem_group"],
                                row["problem"]))


def authority_scope(authority: Authority | None) -> str:
    """The jurisdiction scope of an authority's docket: its jurisdiction ("AR", "AR-B"), or
    "<jurisdiction>/<id>" for a municipal office, which shares its province's jurisdiction code
    but handles only the complaints routed to it. A manager's `jurisdiction` claim is one of these."""
    if authority is None:
        return ""
    return f"{authority.jurisdiction}/{authority.id}" if authority.municipalities else authority.jurisdiction


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


class Complaints:
    """The complaint rules. Each public method is one transaction."""

    def __init__(self, db: Database, pack: CountryPack, clock, store: AttachmentStore | None = None):
        self.db = db
        self.pack = pack
        self.clock = clock
        self.store = store
        self.outbox = Outbox(m.outbox, source="complaint", country=pack.code)
        self.taxonomy = Taxonomy(pack)
        limits = pack.limits
        self.description_max = int(limits.get("description_max_chars", 3000))
        self.message_max = int(limits.get("message_max_chars", 3000))
        self.attachment_max_bytes = int(limits.get("attachment_max_bytes", 5 * 1024 * 1024))
        self.attachment_types = tuple(limits.get("attachment_types", ("application/pdf",)))
        self.filings_per_day = int(limits.get("filings_per_day", 20))
        self.messages_per_hour = int(limits.get("messages_per_hour", 30))
        c = m.rate_counters.c
        insert = (postgresql_insert if db.is_postgres else sqlite_insert)(m.rate_counters)
        self._count_upsert = insert.on_conflict_do_update(
            index_elements=[c.account_id, c.kind, c.window_start], set_={"count": c.count + 1}).returning(c.count)

    # --- time helpers ------------------------------------------------------------------------
    def local_date(self, instant: datetime):
        return instant.astimezone(self.pack.zone).date()

    def shift_local_days(self, instant: datetime, days: int) -> datetime:
        """The same local wall-clock time `days` days later (deadlines stay at local midnight)."""
        local = instant.astimezone(self.pack.zone)
        moved = datetime.combine(local.date() + timedelta(days=days), local.time().replace(tzinfo=None),
                                 tzinfo=self.pack.zone)
        return moved.astimezone(instant.tzinfo)

    def resume_answer_deadline(self, deadline: datetime, stopped_at: datetime, resumed_at: datetime) -> datetime:
        """The answer deadline after the clock stood still from `stopped_at` to `resumed_at`.

        Calendar packs: moved by the whole local days between the two. Business-day packs: moved
        by the business days from the day it stopped (included) to the day it resumed (excluded),
        and the new last day is that many business days after the old one (holidays skipped)."""
        if self.pack.windows.day_count != "business":
            return self.shift_local_days(deadline, max(0, (self.local_date(resumed_at) - self.local_date(stopped_at)).days))
        day, resumed_on, lost = self.local_date(stopped_at), self.local_date(resumed_at), 0
        while day < resumed_on:
            lost += self.pack.is_business_day(day)
            day += timedelta(days=1)
        if lost == 0:
            return deadline
        last_day = self.local_date(deadline) - timedelta(days=1)  # a deadline is the midnight ending its last day
        return self.pack.add_business_days(datetime.combine(last_day, dtime(12, 0), tzinfo=self.pack.zone), lost)

    def days_left(self, deadline: datetime, now: datetime) -> int:
        """Local days left before the deadline (which is a local midnight): 1 on the last day."""
        return (self.local_date(deadline) - self.local_date(now)).days

    # --- access ------------------------------------------------------------------------------
    def covers(self, claim: str, scope: str) -> bool:
        """Whether a jurisdiction claim covers an authority scope: the national claim covers all,
        a province's claim its own docket and its municipal offices', an office's claim only its own."""
        return bool(claim) and (claim == self.pack.code or scope == claim or scope.startswith(claim + "-")
                                or scope.startswith(claim + "/"))

    def in_jurisdiction(self, principal: Principal, row) -> bool:
        return self.covers(principal.jurisdiction, row.authority_jurisdiction)

    def acts_for_company(self, principal: Principal, row) -> bool:
        if principal.role != "company_agent":
            return False
        if principal.company_id and principal.company_id == row.company_id:
            return True
        return bool(principal.group_id) and principal.group_id == row.company_group_id

    def can_see(self, principal: Principal, row) -> bool:
        if principal.role == "consumer":
            return row.consumer_id == principal.account_id
        if principal.role == "company_agent":
            return self.acts_for_company(principal, row)
        if principal.role in ("manager", "monitor"):
            # A sector monitor (a regulator) sees only its segments (Principal.segments).
            return self.in_jurisdiction(principal, row) and (not principal.segments
                                                             or row.segment_code in principal.segments)
        return False

    def _load(self, work: Work, principal: Principal, complaint_id: str, for_update: bool = False):
        complaint_id = (complaint_id or "").strip()
        if not complaint_id:
            raise InvalidArgument("complaint_id", "is required")
        row = work.complaint(complaint_id[:36], for_update)
        if row is None:
            raise NotFound("complaint not found")
        if not self.can_see(principal, row):
            raise PermissionDenied("this complaint is outside what your account may see")
        return row

    def _require_company(self, principal: Principal, row) -> None:
        if not self.acts_for_company(principal, row):
            raise PermissionDenied("only an agent of the company complained against may do this")

    def _require_owner(self, principal: Principal, row) -> None:
        if principal.role != "consumer" or row.consumer_id != principal.account_id:
            raise PermissionDenied("only the consumer who filed the complaint may do this")

    def _require_manager(self, principal: Principal, row) -> None:
        if principal.role != "manager" or not self.in_jurisdiction(principal, row):
            raise PermissionDenied("only a manager of the authority the complaint is routed to may do this")

    # --- writing helpers ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Work]:
        """The transaction of a lifecycle transition; the changes it collects are written at its end.
        On PostgreSQL on the driver's own connection: SQLAlchemy's work per statement cost more than
        the transition's statements (services/complaint/work.py, docs/adr/0012-write-path.md)."""
        with contextlib.ExitStack() as stack:
            if self.db.is_postgres:
                connection = stack.enter_context(self.db.driver_connection())
                stack.enter_context(connection.transaction())
                work = DriverWork(connection, self.db.engine.dialect)
            else:
                work = SessionWork(stack.enter_context(self.db.transaction()))
            yield work
            work.write_changes()

    @staticmethod
    def _history_entry(complaint_id: str, action: str, actor: tuple[str, str], now: datetime,
                       from_status: str = "", to_status: str = "", detail: str = "") -> dict:
        return dict(complaint_id=complaint_id, action=action, actor_id=actor[0], actor_role=actor[1],
                    from_status=from_status, to_status=to_status, detail=detail, at=now)

    def _history(self, session, complaint_id: str, action: str, actor: tuple[str, str], now: datetime,
                 detail: str = "") -> None:
        session.connection().execute(INSERT_HISTORY, self._history_entry(complaint_id, action, actor, now,
                                                                         detail=detail))

    def _update(self, work: Work, row, now: datetime, action: str, actor: tuple[str, str], detail: str = "",
                **values):
        """A state change with its history entry, collected in `work` and written with its events
        (`_event`) when the transaction ends. Returns the updated row, computed rather than read
        back: the transaction holds the complaint locked since it was read."""
        work.changes.append(Change(row.id, values, self._history_entry(
            row.id, action, actor, now, row.status, values.get("status", row.status), detail)))
        return SimpleNamespace(**{**row._asdict(), **values})

    def _event(self, work: Work, event_type: str, message, now: datetime) -> None:
        """An event of the change just collected in `work`, written with it."""
        work.changes[-1].events.append(self.outbox.row(event_type, message, now))

    @staticmethod
    def ref(row) -> ev.ComplaintRef:
        return ev.ComplaintRef(complaint_id=row.id, consumer_id=row.consumer_id, company_id=row.company_id,
                               company_group_id=row.company_group_id, segment_code=row.segment_code,
                               region_code=row.region_code, authority_id=row.authority_id)

    def _finalised_event(self, work: Work, row, now: datetime) -> None:
        self._event(work, "complaint_finalised", ev.ComplaintFinalised(
            complaint=self.ref(row), status=row.status, resolution=row.resolution,
            satisfaction_score=row.satisfaction_score, answered=row.answered,
            answer_time_days=row.answer_time_days or 0, filed_at=ts(row.filed_at),
            answered_at=ts(row.answered_at), finalised_at=ts(row.finalised_at), area=row.area,
            subject=row.subject, problem_group=row.problem_group, problem=row.problem,
            purchase_channel=row.purchase_channel, contacted_company_first=row.contacted_company_first,
            city=row.city, company_name=row.company_name, segment_name=row.segment_name,
            hearing_outcome=row.hearing_outcome), now)

    def _check_attachment(self, attachment: NewAttachment, index: int | None = None) -> NewAttachment:
        prefix = "attachments" if index is None else f"attachments[{index}]"
        name = require_text(f"{prefix}.file_name", attachment.file_name, max_length=200)
        if "/" in name or "\\" in name or "\x00" in name:
            raise InvalidArgument(f"{prefix}.file_name", "must be a plain file name")
        content_type = (attachment.content_type or "").strip().lower()
        if content_type not in self.attachment_types:
            raise InvalidArgument(f"{prefix}.content_type", f"must be one of {', '.join(self.attachment_types)}")
        size = len(attachment.content)
        if size == 0:
            raise InvalidArgument(f"{prefix}.content", "is empty")
        if size > self.attachment_max_bytes:
            raise InvalidArgument(f"{prefix}.content", f"is larger than {self.attachment_max_bytes} bytes")
        signatures = MAGIC.get(content_type)
        if signatures and not attachment.content.startswith(signatures):
            raise InvalidArgument(f"{prefix}.content", f"is not a {content_type} file")
        return NewAttachment(name, content_type, attachment.content)

    def _store_attachments(self, session, complaint_id: str, principal: Principal, now: datetime,
                           files: list[NewAttachment]) -> list:
        if files and self.store is None:
            raise FailedPrecondition("attachments are not available on this server")
        stored = []
        for attachment in files:
            digest = self.store.put(attachment.content)
            values = dict(id=str(uuid.uuid4()), complaint_id=complaint_id, file_name=attachment.file_name,
                          content_type=attachment.content_type, size_bytes=len(attachment.content),
                          sha256=digest, uploaded_by=principal.account_id, uploaded_at=now)
            session.execute(m.attachments.insert().values(**values))
            self._history(session, complaint_id, "attachment_added", (principal.account_id, principal.role), now,
                          detail=values["id"])
            stored.append(values)
        return stored

    def _count_use(self, session, account_id: str, kind: str, window_start: datetime) -> int:
        """Counts one more use in the account's current window; returns the new count. A refused
        request raises afterwards, and its rollback takes the increment back."""
        return session.connection().execute(self._count_upsert, dict(
            account_id=account_id, kind=kind, window_start=window_start, count=1)).scalar_one()

    # --- filing ------------------------------------------------------------------------------
    def validate_filing(self, filing: Filing) -> Filing:
        company_id = require_text("company_id", filing.company_id, max_length=64)
        path = tuple(require_text(f"taxonomy.{name}", getattr(filing, name), max_length=300)
                     for name in ("segment_code", "area", "subject", "problem_group", "problem"))
        if path not in self.taxonomy.paths:
            raise InvalidArgument("taxonomy", "is not a segment > area > subject > problem group > problem "
                                              "path of this country's taxonomy")
        region = (filing.region_code or "").strip().upper()
        if not region.startswith(self.pack.code + "-") or not 4 <= len(region) <= 16:
            raise InvalidArgument("region_code", f"must be a subdivision code such as {self.pack.code}-XX")
        key = (filing.idempotency_key or "").strip()
        if len(key) > 128:
            raise InvalidArgument("idempotency_key", "must have at most 128 characters")
        return Filing(
            company_id=company_id, segment_code=path[0], area=path[1], subject=path[2], problem_group=path[3],
            problem=path[4],
            purchase_channel=require_text("purchase_channel", filing.purchase_channel, max_length=100),
            contacted_company_first=bool(filing.contacted_company_first),
            description=require_text("description", filing.description, max_length=self.description_max),
            desired_outcome=require_text("desired_outcome", filing.desired_outcome, max_length=1000),
            region_code=region, city=require_text("city", filing.city, max_length=100), idempotency_key=key,
            attachments=[self._check_attachment(a, i) for i, a in enumerate(filing.attachments)])

    def file(self, principal: Principal, filing: Filing) -> dict:
        """Files a complaint; returns it (the same complaint again for a replayed idempotency key)."""
        principal.require_role("consumer")
        filing = self.validate_filing(filing)
        fingerprint = filing.fingerprint()
        try:
            if self.db.is_postgres and not filing.attachments:
                with self.db.driver_connection() as connection:
                    view = self._file_in_two_statements(connection, principal, filing, fingerprint)
                if view is not None:
                    return view
            # Attachments (files and their rows), SQLite, and replays: in a transaction.
            with self.db.transaction() as session:
                return self._file(session, principal, filing, fingerprint)
        except (sa.exc.IntegrityError, psycopg.IntegrityError):
            # Two requests with the same key raced; the other one won: answer with its complaint.
            with self.db.transaction() as session:
                existing = self._by_key(session, principal, filing.idempotency_key)
                if existing is None:
                    raise
                return self._replay(session, existing, fingerprint)

    def _by_key(self, session, principal: Principal, key: str):
        if not key:
            return None
        return session.connection().execute(COMPLAINT_BY_KEY, {"consumer_id": principal.account_id,
                                                               "key": key}).first()

    def _replay(self, session, existing, fingerprint: str) -> dict:
        if existing.request_hash != fingerprint:
            raise FailedPrecondition("idempotency_key was already used for a different complaint")
        work = SessionWork(session)
        return self._full(work, work.complaint(existing.id, for_update=False))

    def _file_in_two_statements(self, connection, principal: Principal, filing: Filing,
                                fingerprint: str) -> dict | None:
        """The usual filing (PostgreSQL, no attachments) on the driver's connection in autocommit:
        one read, then one write statement, atomic by itself. SQLAlchemy's work per statement would
        cost more than these statements (docs/adr/0012-write-path.md). None when the idempotency
        key was used before: the caller replays it in a transaction."""
        dialect = self.db.engine.dialect
        found = execute_numbered(connection, FILING_READS, dialect, self._filing_reads_params(principal, filing),
                                 namedtuple_row).fetchone()
        if found.earlier_id is not None:
            return None
        day, row, entry, event = self._new_filing(principal, filing, fingerprint, found)
        statement = filing_write(tuple(row), tuple(entry), tuple(event), dialect)
        if execute_numbered(connection, statement, dialect, self._filing_write_params(
                principal.account_id, day, row, entry, event), namedtuple_row).fetchone() is None:
            raise ResourceExhausted(f"at most {self.filings_per_day} complaints may be filed per day")
        return self._filed_view(row, [])

    def _file(self, session, principal: Principal, filing: Filing, fingerprint: str) -> dict:
        found = session.connection().execute(FILING_READS, self._filing_reads_params(principal, filing)).one()
        if found.earlier_id is not None:
            earlier = SimpleNamespace(id=found.earlier_id, request_hash=found.earlier_hash)
            return self._replay(session, earlier, fingerprint)
        day, row, entry, event = self._new_filing(principal, filing, fingerprint, found)
        if not self._write_filing(session, principal.account_id, day, row, entry, event):
            raise ResourceExhausted(f"at most {self.filings_per_day} complaints may be filed per day")
        stored = self._store_attachments(session, row["id"], principal, row["filed_at"], filing.attachments)
        return self._filed_view(row, stored)

    @staticmethod
    def _filing_reads_params(principal: Principal, filing: Filing) -> dict:
        return {"company_id": filing.company_id, "consumer_id": principal.account_id, "key": filing.idempotency_key}

    def _new_filing(self, principal: Principal, filing: Filing, fingerprint: str, company) -> tuple:
        """The rows a filing writes: (local day for the rate limit, complaint, history entry, outbox
        row). `company` is the FILING_READS row; a company not participating is refused here."""
        if company.consumer_erased:
            raise PermissionDenied(ERASED)
        if company.id is None or company.status != "active":
            raise FailedPrecondition(NOT_PARTICIPATING)
        now = self.clock.now()
        local_day = datetime.combine(self.local_date(now), dtime(0, 0), tzinfo=self.pack.zone)
        complaint_id = str(uuid.uuid4())
        deadline = self.pack.add_days(now, self.pack.windows.company_answer_days)
        authority = self.pack.route(filing.region_code, filing.city)
        row = dict(
            id=complaint_id, status=WAITING_COMPANY, consumer_id=principal.account_id,
            idempotency_key=filing.idempotency_key or None, request_hash=fingerprint,
            company_id=company.id, company_group_id=company.group_id, company_name=company.trade_name,
            segment_code=filing.segment_code,
            segment_name=self.taxonomy.segment_names.get(filing.segment_code, company.segment_name),
            area=filing.area, subject=filing.subject, problem_group=filing.problem_group, problem=filing.problem,
            purchase_channel=filing.purchase_channel, contacted_company_first=filing.contacted_company_first,
            description=filing.description, desired_outcome=filing.desired_outcome,
            region_code=filing.region_code, city=filing.city, filed_at=now, answer_deadline=deadline,
            authority_id=authority.id if authority else "", authority_jurisdiction=authority_scope(authority))
        entry = dict(complaint_id=complaint_id, action="filed", actor_id=principal.account_id,
                     actor_role=principal.role, from_status="", to_status=WAITING_COMPANY, detail="", at=now)
        event = self.outbox.row("complaint_filed", ev.ComplaintFiled(
            complaint=ev.ComplaintRef(complaint_id=complaint_id, consumer_id=principal.account_id,
                                      company_id=company.id, company_group_id=company.group_id,
                                      segment_code=filing.segment_code, region_code=filing.region_code,
                                      authority_id=row["authority_id"]),
            filed_at=ts(now), answer_deadline=ts(deadline)), now)
        return local_day, row, entry, event

    @staticmethod
    def _filed_view(row: dict, stored: list) -> dict:
        """The new complaint as stored, without reading it back (filing stays short)."""
        complete = {column.name: None for column in m.complaints.columns}
        complete.update(answered=False, answer_text="", refusal_reason="", refusal_text="", under_review_days=0,
                        resolution="", satisfaction_score=0, evaluation_comment="", cancellation_reason="",
                        hearing_url="", hearing_outcome="")
        complete.update(row)
        return {"complaint": SimpleNamespace(**complete), "messages": [],
                "attachments": [SimpleNamespace(**values) for values in stored]}

    def _write_filing(self, session, account_id: str, day: datetime, complaint: dict, entry: dict,
                      event: dict) -> bool:
        """Counts the filing in the account's day and writes the complaint, its history entry and its
        event; False, writing nothing, when the day's allowance is used up."""
        connection = session.connection()
        if self.db.is_postgres:
            statement = filing_write(tuple(complaint), tuple(entry), tuple(event), self.db.engine.dialect)
            return connection.execute(statement, self._filing_write_params(
                account_id, day, complaint, entry, event)).first() is not None
        # SQLite (embedded use): statement by statement in the caller's transaction, whose rollback
        # on the caller's refusal takes the counter's increment back.
        if self._count_use(session, account_id, "filing", day) > self.filings_per_day:
            return False
        connection.execute(INSERT_COMPLAINT, complaint)
        connection.execute(INSERT_HISTORY, entry)
        connection.execute(self.outbox.insert, event)
        return True

    def _filing_write_params(self, account_id: str, day: datetime, complaint: dict, entry: dict, event: dict) -> dict:
        """The parameters of filing_write()."""
        return {"account_id": account_id, "window_start": day, "allowance": self.filings_per_day,
                **{f"c_{k}": v for k, v in complaint.items()}, **{f"h_{k}": v for k, v in entry.items()},
                **{f"o_{k}": v for k, v in event.items()}}

    # --- reading -----------------------------------------------------------------------------
    # Reads of a consumer's complaint by anyone else leave an access_log row in the read's own
    # transaction (docs/adr/0020-access-audit.md). Writes that return the complaint (answer, refuse, ...)
    # are not recorded: their caller acts on the complaint, which its history records.
    def get(self, principal: Principal, complaint_id: str) -> dict:
        with self.db.transaction() as session:
            work = SessionWork(session)
            row = self._load(work, principal, complaint_id)
            self._audit(session, principal, "complaint.read", [row])
            return self._full(work, row)

    def _audit(self, session, principal: Principal, action: str, rows) -> None:
        audit.record(session.connection(), m.access_log, principal, action, [(r.consumer_id, r.id) for r in rows],
                     self.clock.now())

    @staticmethod
    def _full(work: Work, row) -> dict:
        messages, attachments = work.related(row)
        return {"complaint": row, "messages": messages, "attachments": attachments}

    def history(self, principal: Principal, complaint_id: str) -> list:
        with self.db.transaction() as session:
            row = self._load(SessionWork(session), principal, complaint_id)
            self._audit(session, principal, "history.read", [row])
            return session.execute(sa.select(m.history).where(m.history.c.complaint_id == row.id)
                                   .order_by(m.history.c.seq)).all()

    def attachment(self, principal: Principal, complaint_id: str, attachment_id: str) -> tuple:
        with self.db.transaction() as session:
            row = self._load(SessionWork(session), principal, complaint_id)
            attachment = session.execute(sa.select(m.attachments).where(
                m.attachments.c.complaint_id == row.id,
                m.attachments.c.id == (attachment_id or "").strip()[:36])).first()
            if attachment is not None:
                self._audit(session, principal, "attachment.read", [row])
        if attachment is None:
            raise NotFound("attachment not found")
        return attachment, self.store.get(attachment.sha256)

    def list(self, principal: Principal, query: ListQuery) -> tuple[list, str]:
        c = m.complaints.c
        if principal.role == "consumer":
            scope = c.consumer_id == principal.account_id
        elif principal.role == "company_agent":
            scope = c.company_id == principal.company_id
            if principal.group_id:
                scope = sa.or_(scope, c.company_group_id == principal.group_id)
        elif principal.role in ("manager", "monitor") and principal.jurisdiction:
            j = principal.jurisdiction  # same rule as covers()
            scope = sa.true() if j == self.pack.code else sa.or_(
                c.authority_jurisdiction == j, c.authority_jurisdiction.like(_escape_like(j) + "-%", escape="\\"),
                c.authority_jurisdiction.like(_escape_like(j) + "/%", escape="\\"))
            if principal.segments:  # the same rule as can_see()
                scope = sa.and_(scope, c.segment_code.in_(principal.segments))
        else:
            raise PermissionDenied("this account may not list complaints")
        conditions = [scope]
        if query.status:
            if query.status not in STATUSES:
                raise InvalidArgument("status", f"must be one of {', '.join(STATUSES)}")
            conditions.append(c.status == query.status)
        if query.company_id:
            conditions.append(c.company_id == query.company_id.strip()[:64])
        if query.filed_from:
            conditions.append(c.filed_at >= query.filed_from)
        if query.filed_to:
            conditions.append(c.filed_at < query.filed_to)
        if query.filed_from and query.filed_to and query.filed_to <= query.filed_from:
            raise InvalidArgument("filed_to", "must be after filed_from")
        if query.page_size < 0:
            raise InvalidArgument("page_size", "must not be negative")
        size = min(query.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        order = query.order_by or "filed"
        if order not in ("filed", "deadline"):
            raise InvalidArgument("order_by", "must be filed or deadline")
        sort_column, descending = (c.filed_at, True) if order == "filed" else (c.answer_deadline, False)
        if query.page_token:
            after_value, after_id = self._decode_cursor(query.page_token, order)
            if descending:
                conditions.append(sa.tuple_(sort_column, c.id) < sa.tuple_(after_value, after_id))
            else:
                conditions.append(sa.tuple_(sort_column, c.id) > sa.tuple_(after_value, after_id))
        ordering = (sort_column.desc(), c.id.desc()) if descending else (sort_column.asc(), c.id.asc())
        with self.db.transaction() as session:
            rows = session.execute(sa.select(m.complaints).where(*conditions).order_by(*ordering)
                                   .limit(size + 1)).all()
            more, rows = len(rows) > size, rows[:size]
            self._audit(session, principal, "complaint.listed", rows)  # one insert for the page
        next_token = ""
        if more:
            last = rows[-1]
            next_token = self._encode_cursor(order, getattr(last, sort_column.name), last.id)
        return rows, next_token

    def list_accesses(self, principal: Principal, consumer_id: str, page_size: int,
                      page_token: str) -> tuple[list, str]:
        """Who other than the consumer read their complaints, newest first: consumers list their own,
        admins any consumer's (docs/adr/0020-access-audit.md)."""
        owner = audit.owner_to_list(principal, consumer_id)
        with self.db.transaction() as session:
            return audit.page(session.connection(), m.access_log, owner, page_size, page_token)

    @staticmethod
    def _encode_cursor(order: str, value: datetime, complaint_id: str) -> str:
        raw = json.dumps([order, value.isoformat(), complaint_id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_cursor(token: str, order: str) -> tuple[datetime, str]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            kind, value, complaint_id = json.loads(raw)
            if kind != order:
                raise ValueError
            return datetime.fromisoformat(value), str(complaint_id)
        except (ValueError, TypeError):
            raise InvalidArgument("page_token", "is not a token returned by this list") from None

    # --- company -----------------------------------------------------------------------------
    def answer(self, principal: Principal, complaint_id: str, text: str) -> dict:
        text = require_text("text", text, max_length=self.message_max)
        with self._transaction() as work:
            row = self._load(work, principal, complaint_id, for_update=True)
            self._require_company(principal, row)
            now = self.clock.now()
            self._require_waiting_company(row, now)
            answer_days = max(0, (self.local_date(now) - self.local_date(row.filed_at)).days - row.under_review_days)
            evaluation_deadline = self.pack.add_days(now, self.pack.windows.consumer_evaluation_days)
            row = self._update(work, row, now, "answered", (principal.account_id, principal.role),
                               status=WAITING_EVALUATION, answered=True, answered_at=now, answer_text=text,
                               answer_time_days=answer_days, evaluation_deadline=evaluation_deadline)
            self._event(work, "complaint_answered", ev.ComplaintAnswered(
                complaint=self.ref(row), answered_at=ts(now), answer_time_days=answer_days,
                evaluation_deadline=ts(evaluation_deadline)), now)
            return self._full(work, row)

    def _require_waiting_company(self, row, now: datetime) -> None:
        if row.status != WAITING_COMPANY:
            raise FailedPrecondition(f"the complaint is {row.status}, not waiting for the company")
        if now >= row.answer_deadline:
            raise FailedPrecondition("the answer deadline has passed")

    def refuse(self, principal: Principal, complaint_id: str, reason_code: str, text: str) -> dict:
        reason_code = (reason_code or "").strip()
        if reason_code not in self.pack.refusal_reasons:
            raise InvalidArgument("reason_code", f"must be one of {', '.join(self.pack.refusal_reasons)}")
        text = require_text("text", text, max_length=self.message_max)
        with self._transaction() as work:
            row = self._load(work, principal, complaint_id, for_update=True)
            self._require_company(principal, row)
            now = self.clock.now()
            self._require_waiting_company(row, now)
            row = self._update(work, row, now, "refused", (principal.account_id, principal.role), reason_code,
                               status=UNDER_REFUSAL_REVIEW, refused_at=now, refusal_reason=reason_code,
                               refusal_text=text)
            self._event(work, "complaint_refused", ev.ComplaintRefused(
                complaint=self.ref(row), reason_code=reason_code, refused_at=ts(now)), now)
            return self._full(work, row)

    # --- manager -----------------------------------------------------------------------------
    def review_refusal(self, principal: Principal, complaint_id: str, uphold: bool, note: str) -> dict:
        note = (note or "").strip()
        if len(note) > 1000:
            raise InvalidArgument("note", "must have at most 1000 characters")
        with self._transaction() as work:
            row = self._load(work, principal, complaint_id, for_update=True)
            self._require_manager(principal, row)
            if row.status != UNDER_REFUSAL_REVIEW:
                raise FailedPrecondition(f"the complaint is {row.status}, not under refusal review")
            now = self.clock.now()
            actor = (principal.account_id, principal.role)
            review_days = max(0, (self.local_date(now) - self.local_date(row.refused_at)).days)
            if uphold:
                row = self._update(work, row, now, "refusal_upheld", actor, note, status=CANCELLED,
                                   under_review_days=row.under_review_days + review_days, finalised_at=now,
                                   cancellation_reason=f"refusal upheld: {row.refusal_reason}")
                self._event(work, "complaint_refusal_reviewed", ev.ComplaintRefusalReviewed(
                    complaint=self.ref(row), upheld=True, reviewer_id=principal.account_id), now)
                self._event(work, "complaint_cancelled", ev.ComplaintCancelled(
                    complaint=self.ref(row), reason=row.cancellation_reason), now)
            else:
                # The answer clock resumes: the deadline moves by the days spent under review,
                # counted as the pack counts its windows (calendar or business days).
                deadline = self.resume_answer_deadline(row.answer_deadline, row.refused_at, now)
                row = self._update(work, row, now, "refusal_rejected", actor, note, status=WAITING_COMPANY,
                                   under_review_days=row.under_review_days + review_days, answer_deadline=deadline)
                self._event(work, "complaint_refusal_reviewed", ev.ComplaintRefusalReviewed(
                    complaint=self.ref(row), upheld=False, reviewer_id=principal.account_id,
                    answer_deadline=ts(deadline)), now)
            return self._full(work, row)

    def cancel(self, principal: Principal, complaint_id: str, reason: str) -> dict:
        reason = require_text("reason", reason, max_length=1000)
        with self._transaction() as work:
            row = self._load(work, principal, complaint_id, for_update=True)
            self._require_manager(principal, row)
            if row.status not in OPEN_STATUSES:
                raise FailedPrecondition(f"the complaint is already closed ({row.status})")
            now = self.clock.now()
            row = self._update(work, row, now, "cancelled", (principal.account_id, principal.role), reason,
                               status=CANCELLED, finalised_at=now, cancellation_reason=reason)
            self._event(work, "complaint_cancelled", ev.ComplaintCancelled(
                complaint=self.ref(row), reason=reason), now)
            return self._full(work, row)

    def redact(self, principal: Principal, complaint_id: str, description: str, answer_text: str,
               evaluation_comment: str, note: str) -> dict:
        """Replaces public text (personal data removed); allowed even after closing; recorded."""
        replacements = {}
        if (description or "").strip():
            replacements["description"] = require_text("description", description, max_length=self.description_max)
        if (answer_text or "").strip():
            replacements["answer_text"] = require_text("answer_text", answer_text, max_length=self.message_max)
        if (evaluation_comment or "").strip():
            replacements["evaluation_comment"] = require_text("evaluation_comment", evaluation_comment,
                                                              max_length=self.message_max)
        if not replacements:
            raise InvalidArgument("description", "give at least one replacement text")
        note = (note or "").strip()[:1000]
        with self._transaction() as work:
            row = self._load(work, principal, complaint_id, for_update=True)
            self._require_manager(principal, row)
            if "answer_text" in replacements and not row.answered:
                raise FailedPrecondition("the complaint has no answer to redact")
            if "evaluation_comment" in replacements and row.status != FINALISED_EVALUATED:
                raise FailedPrecondition("the complaint has no evaluation to redact")
            now = self.clock.now()
            detail = "fields: " + ", ".join(sorted(replacements)) + (f"; {note}" if note else "")
            row = self._update(work, row, now, "redacted", (principal.account_id, principal.role), detail,
                               **replacements)
            return self._full(work, row)

    # --- consumer ----------------------------------------------------------------------------
    def evaluate(self, principal: Principal, complaint_id: str, resolution: str, score: int, comment: str) -> dict:
        if resolution not in RESOLUTIONS:
            raise InvalidArgument("resolution", "must be resolved or not_resolved")
        if not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidArgument("satisfaction_score", "must be an integer from 1 to 5")
        comment = (comment or "").strip()
        if len(comment) > self.message_max:
            raise InvalidArgument("comment", f"must have at most {self.message_max} characters")
        with self._transaction() as work:
            row = self._load(work, principal, complaint_id, for_update=True)
            self._require_owner(principal, row)
            if work.consumer_erased(principal.account_id):
                raise PermissionDenied(ERASED)
            if row.status in (WAITING_COMPANY, UNDER_REFUSAL_REVIEW):
                raise FailedPrecondition("the complaint cannot be evaluated before the company answers "
                                         "or its answer window ends")
            if row.status != WAITING_EVALUATION:
                if row.status in (HEARING_PENDING, HEARING_SCHEDULED):
                    raise FailedPrecondition(f"the complaint is {row.status}, no longer waiting for an evaluation")
                raise FailedPrecondition(f"the complaint is already closed ({row.status})")
            now = self.clock.now()
            if now >= row.evaluation_deadline:
                raise FailedPrecondition("the evaluation deadline has passed")
            if resolution == "not_resolved" and self.pack.hearing_enabled:
                return self._await_hearing(work, principal, row, now, score, comment)
            row = self._update(work, row, now, "evaluated", (principal.account_id, principal.role),
                               f"{resolution}, score {score}", status=FINALISED_EVALUATED, resolution=resolution,
                               satisfaction_score=score, evaluation_comment=comment, finalised_at=now)
            self._event(work, "complaint_evaluated", ev.ComplaintEvaluated(
                complaint=self.ref(row), resolution=resolution, satisfaction_score=score), now)
            self._finalised_event(work, row, now)
            return self._full(work, row)

    # --- conciliation hearing (packs with `hearing.enabled`; docs/adr/0011) --------------------
    def hearing_window(self, opened_at: datetime) -> datetime:
        """End of the window in which the hearing must be held: the pack's business days after it opened."""
        return self.pack.add_business_days(opened_at, int(self.pack.hearing["schedule_within_business_days"]))

    def _require_hearings(self) -> None:
        if not self.pack.hearing_enabled:
            raise FailedPrecondition(f"the {self.pack.code} country pack has no conciliation hearing")

    def _await_hearing(self, work: Work, principal: Principal, row, now: datetime, score: int, comment: str) -> dict:
        """The consumer judged the answer not resolved: the evaluation is kept and a manager of the
        routed authority may now schedule a hearing until the window ends."""
        window = self.hearing_window(now)
        row = self._update(work, row, now, "evaluated", (principal.account_id, principal.role),
                           f"not_resolved, score {score}", status=HEARING_PENDING, resolution="not_resolved",
                           satisfaction_score=score, evaluation_comment=comment, hearing_window_ends=window)
        self._event(work, "complaint_evaluated", ev.ComplaintEvaluated(
            complaint=self.ref(row), resolution="not_resolved", satisfaction_score=score), now)
        return self._full(work, row)

    def _finalise_without_hearing(self, work: Work, row, now: datetime) -> None:
        # No hearing within the window: it ends as the consumer judged it, at the window's end.
        row = self._update(work, row, now, "hearing_window_lapsed", SYSTEM, status=FINALISED_EVALUATED,
                           finalised_at=row.hearing_window_ends)
        self._finalised_event(work, row, now)

    def _hearing_schedulable(self, row, now: datetime) -> None:
        unanswered = row.status == WAITING_EVALUATION and not row.answered and row.hearing_window_ends is not None
        rescheduling = row.status == HEARING_SCHEDULED and now < row.hearing_at
        if not (row.status == HEARING_PENDING or unanswered or rescheduling):
            raise FailedPrecondition(f"a hearing cannot be scheduled for a complaint that is {row.status}"
                                     + (" (answered and not judged unresolved)" if row.status == WAITING_EVALUATION
                                        else ""))
        if now >= row.hearing_window_ends:
            raise FailedPrecondition("the window for holding a hearing has ended")

    def schedule_hearing(self, principal: Principal, complaint_id: str, scheduled_at: datetime | None,
                         meeting_url: str, note: str) -> dict:
        self._require_hearings()
        if scheduled_at is None:
            raise InvalidArgument("scheduled_at", "is required")
        meeting_url = require_text("meeting_url", meeting_url, max_length=500)
        parts = urlsplit(meeting_url)
        if parts.scheme != "https" or not parts.netloc or any(c.isspace() for c in meeting_url):
            raise InvalidArgument("meeting_url", "must be an https address of the online meeting")
        note = (note or "").strip()
        if len(note) > 1000:
            raise InvalidArgument("note", "must have at most 1000 characters")
        with self._transaction() as work:
            row = self._load(work, principal, complaint_id, for_update=True)
            self._require_manager(principal, row)
            now = self.clock.now()
            self._hearing_schedulable(row, now)
            if scheduled_at <= now or scheduled_at >= row.hearing_window_ends:
                last_day = self.local_date(row.hearing_window_ends) - timedelta(days=1)
                raise InvalidArgument("scheduled_at", f"must be in the future and no later than {last_day.isoformat()} "
                                      f"({self.pack.hearing['schedule_within_business_days']} business days)")
            if not self.pack.is_business_day(self.local_date(scheduled_at)):
                raise InvalidArgument("scheduled_at", "must be a business day (not a weekend or a holiday)")
            action = "hearing_rescheduled" if row.status == HEARING_SCHEDULED else "hearing_scheduled"
            row = self._update(work, row, now, action, (principal.account_id, principal.role),
                               scheduled_at.isoformat() + (f"; {note}" if note else ""), status=HEARING_SCHEDULED,
                               hearing_at=scheduled_at, hearing_url=meeting_url)
            self._event(work, "complaint_hearing_scheduled", ev.ComplaintHearingScheduled(
                complaint=self.ref(row), scheduled_at=ts(scheduled_at), scheduler_id=principal.account_id), now)
            return self._full(work, row)

    def record_hearing_outcome(self, principal: Principal, complaint_id: str, outcome: str, note: str) -> dict:
        self._require_hearings()
        outcomes = self.pack.hearing["outcomes"]
        if outcome not in outcomes:
            raise InvalidArgument("outcome", f"must be one of {', '.join(outcomes)}")
        note = (note or "").strip()
        if len(note) > 1000:
            raise InvalidArgument("note", "must have at most 1000 characters")
        with self._transaction() as work:
            row = self._load(work, principal, complaint_id, for_update=True)
            self._require_manager(principal, row)
            if row.status != HEARING_SCHEDULED:
                raise FailedPrecondition(f"the complaint is {row.status}, no hearing is scheduled")
            now = self.clock.now()
            if now < row.hearing_at:
                raise FailedPrecondition("the hearing has not taken place yet")
            # The hearing closes the complaint: agreement counts as resolved, anything else as not
            # resolved; the consumer's satisfaction score (if any) is kept.
            row = self._update(work, row, now, "hearing_held", (principal.account_id, principal.role),
                               outcome + (f"; {note}" if note else ""), status=FINALISED_EVALUATED,
                               resolution=HEARING_RESOLUTION[outcome], hearing_outcome=outcome, finalised_at=now)
            self._event(work, "complaint_hearing_held", ev.ComplaintHearingHeld(
                complaint=self.ref(row), outcome=outcome, recorded_at=ts(now), recorder_id=principal.account_id), now)
            self._finalised_event(work, row, now)
            return self._full(work, row)

    # --- both parties --------------------------------------------------------------------------
    def _require_party(self, principal: Principal, row, session) -> None:
        if principal.role == "consumer" and row.consumer_id == principal.account_id:
            if consumer_erased(session.connection(), principal.account_id):
                raise PermissionDenied(ERASED)
            return
        if self.acts_for_company(principal, row):
            return
        raise PermissionDenied("only the consumer and the company may add to a complaint")

    def add_message(self, principal: Principal, complaint_id: str, text: str):
        text = require_text("text", text, max_length=self.message_max)
        with self.db.transaction() as session:
            row = self._load(SessionWork(session), principal, complaint_id, for_update=True)
            self._require_party(principal, row, session)
            if row.status not in OPEN_STATUSES:
                raise FailedPrecondition(f"the complaint is closed ({row.status})")
            now = self.clock.now()
            hour = now.replace(minute=0, second=0, microsecond=0)
            if self._count_use(session, principal.account_id, "message", hour) > self.messages_per_hour:
                raise ResourceExhausted(f"at most {self.messages_per_hour} messages may be sent per hour")
            message_id = str(uuid.uuid4())
            session.execute(m.messages.insert().values(id=message_id, complaint_id=row.id,
                                                       author_id=principal.account_id, author_role=principal.role,
                                                       text=text, sent_at=now))
            self._history(session, row.id, "message_added", (principal.account_id, principal.role), now,
                          detail=message_id)
            self.outbox.add(session, "complaint_message_added", ev.ComplaintMessageAdded(
                complaint=self.ref(row), message_id=message_id, author_role=principal.role), now)
            return session.execute(sa.select(m.messages).where(m.messages.c.id == message_id)).one()

    def add_attachment(self, principal: Principal, complaint_id: str, attachment: NewAttachment):
        attachment = self._check_attachment(attachment)
        with self.db.transaction() as session:
            row = self._load(SessionWork(session), principal, complaint_id, for_update=True)
            self._require_party(principal, row, session)
            if row.status not in OPEN_STATUSES:
                raise FailedPrecondition(f"the complaint is closed ({row.status})")
            stored = self._store_attachments(session, row.id, principal, self.clock.now(), [attachment])
            return session.execute(sa.select(m.attachments).where(m.attachments.c.id == stored[0]["id"])).one()

    # --- deadlines (the worker's sweep) ---------------------------------------------------------
    def sweep(self, batch_size: int = 200) -> dict[str, int]:
        """Applies every lapsed deadline and sends due reminders, as of the clock's now."""
        now = self.clock.now()
        counts = {"reminders": self._send_reminders(now, batch_size)}
        counts["unanswered"] = self._sweep(now, batch_size, WAITING_COMPANY, m.complaints.c.answer_deadline,
                                           self._mark_unanswered)
        counts["not_evaluated"] = self._sweep(now, batch_size, WAITING_EVALUATION,
                                              m.complaints.c.evaluation_deadline, self._finalise_not_evaluated)
        if self.pack.hearing_enabled:
            counts["hearing_not_scheduled"] = self._sweep(now, batch_size, HEARING_PENDING,
                                                          m.complaints.c.hearing_window_ends,
                                                          self._finalise_without_hearing)
        with self.db.transaction() as session:  # counters of past windows are no longer needed
            session.execute(m.rate_counters.delete().where(m.rate_counters.c.window_start < now - timedelta(days=2)))
        return counts

    def _claim(self, session, query, batch_size: int):
        query = query.limit(batch_size)
        if self.db.is_postgres:
            query = query.with_for_update(skip_locked=True)  # several workers share the work
        return session.execute(query).all()

    def _sweep(self, now: datetime, batch_size: int, status: str, deadline_column, apply) -> int:
        total = 0
        while True:
            with self.db.transaction() as session:
                rows = self._claim(session, sa.select(m.complaints).where(
                    m.complaints.c.status == status, deadline_column <= now).order_by(deadline_column), batch_size)
                work = SessionWork(session)  # the claim is a SQLAlchemy query: the changes go on its session
                for row in rows:
                    apply(work, row, now)
                work.write_changes()
            total += len(rows)
            if len(rows) < batch_size:
                return total

    def _mark_unanswered(self, work: Work, row, now: datetime) -> None:
        # The evaluation window counts from the lapsed deadline, not from when the sweep ran.
        evaluation_deadline = self.pack.add_days(row.answer_deadline, self.pack.windows.consumer_evaluation_days)
        # In hearing packs an unanswered complaint may go to a hearing, scheduled from the lapse on.
        window = self.hearing_window(row.answer_deadline) if self.pack.hearing_enabled else None
        row = self._update(work, row, now, "answer_deadline_lapsed", SYSTEM, status=WAITING_EVALUATION,
                           answered=False, evaluation_deadline=evaluation_deadline, hearing_window_ends=window)
        self._event(work, "complaint_unanswered", ev.ComplaintUnanswered(
            complaint=self.ref(row), answer_deadline=ts(row.answer_deadline),
            evaluation_deadline=ts(evaluation_deadline)), now)

    def _finalise_not_evaluated(self, work: Work, row, now: datetime) -> None:
        row = self._update(work, row, now, "evaluation_deadline_lapsed", SYSTEM, status=FINALISED_NOT_EVALUATED,
                           finalised_at=row.evaluation_deadline)
        self._finalised_event(work, row, now)

    def _send_reminders(self, now: datetime, batch_size: int) -> int:
        before = self.pack.windows.reminder_days_before
        if before <= 0:
            return 0
        window = timedelta(days=before)
        c = m.complaints.c
        kinds = (("company_answer", WAITING_COMPANY, c.answer_deadline, c.answer_reminder_for),
                 ("consumer_evaluation", WAITING_EVALUATION, c.evaluation_deadline, c.evaluation_reminder_for))
        total = 0
        for kind, status, deadline, reminded_for in kinds:
            not_reminded = sa.or_(reminded_for.is_(None), reminded_for != deadline)
            while True:
                with self.db.transaction() as session:
                    # Read without locking and build the reminders first: only the UPDATE below
                    # locks the rows, so an answer or an evaluation of one of them waits for that
                    # statement and the commit, not for the batch's work (which held them for
                    # 0.5-0.8 s under the replay load). One statement each: a sweep can remind
                    # thousands.
                    rows = session.execute(sa.select(m.complaints).where(
                        c.status == status, deadline > now, deadline <= now + window, not_reminded)
                        .order_by(deadline).limit(batch_size)).all()
                    if rows:
                        due = {row.id: getattr(row, deadline.name) for row in rows}
                        built = {row.id: self._reminder(row, kind, due[row.id], now) for row in rows}
                        # Marked only if still waiting for the same deadline and not reminded
                        # (an answer, a new deadline or another worker came first: not sent).
                        marked = set(session.scalars(m.complaints.update().where(
                            sa.tuple_(c.id, deadline).in_(list(due.items())), c.status == status, not_reminded)
                            .values({reminded_for.name: deadline}).returning(c.id)))
                        reminders = [built[i] for i in due if i in marked]
                        if reminders:
                            session.connection().execute(self.outbox.insert, reminders)
                        total += len(reminders)
                if len(rows) < batch_size:
                    break
        return total

    def _reminder(self, row, kind: str, due: datetime, now: datetime) -> dict:
        return self.outbox.row("deadline_reminder", ev.DeadlineReminder(
            complaint=self.ref(row), deadline_kind=kind, deadline=ts(due), days_left=self.days_left(due, now)), now)

    # --- company replica (the worker's event handlers) -----------------------------------------
    def company_adhered(self, session, data: ev.CompanyAdhered, occurred_at: datetime) -> None:
        self._upsert_company(session, data.company_id, occurred_at, status="active", group_id=data.group_id,
                             trade_name=data.trade_name, segment_code=data.segment_code,
                             segment_name=self.taxonomy.segment_names.get(data.segment_code, ""))

    def company_suspended(self, session, data: ev.CompanySuspended, occurred_at: datetime) -> None:
        self._upsert_company(session, data.company_id, occurred_at, status="suspended")

    def _upsert_company(self, session, company_id: str, occurred_at: datetime, **values) -> None:
        current = session.execute(sa.select(m.companies).where(m.companies.c.id == company_id)
                                  .with_for_update()).first()
        if current is None:
            if "trade_name" not in values:
                # Suspension of a company never seen adhering: remember it, it cannot receive complaints.
                values.update(trade_name="", segment_code="", group_id="")
            session.execute(m.companies.insert().values(id=company_id, changed_at=occurred_at, **values))
        elif occurred_at >= current.changed_at:
            session.execute(m.companies.update().where(m.companies.c.id == company_id)
                            .values(changed_at=occurred_at, **values))
        else:
            log.info("ignored an out-of-order company event (older than the replica)")

    # --- erasure on request (LGPD / Ley 25.326; the worker's account_erased handler) ------------
    def account_erased(self, session, data: ev.AccountErased, occurred_at: datetime) -> tuple[str, ...]:
        """Erases what an erased consumer account wrote, in the caller's transaction: the texts of its
        complaints, its messages' texts and its attachments (rows), with one history entry per complaint
        touched. Statuses, dates and what the indicators count stay. Returns the storage keys (sha256)
        no attachment references any more: the caller removes them with `remove_content` after the
        commit, so a rolled-back erasure never leaves rows pointing at removed files. Other roles wrote
        nothing personal here (messages and history keep only their ids)."""
        if data.role != "consumer" or not data.account_id:
            return ()
        account = data.account_id
        # From now on its still-valid access tokens file, write and evaluate nothing (ADR 0018).
        insert = postgresql_insert if self.db.is_postgres else sqlite_insert
        session.execute(insert(m.erased_consumers).values(account_id=account, erased_at=self.clock.now())
                        .on_conflict_do_nothing(index_elements=["account_id"]))
        c, msg, att = m.complaints.c, m.messages.c, m.attachments.c
        # Locked (in id order) as a transition locks each, so no message, attachment or evaluation
        # of these complaints can land between the reads below and the writes.
        rows = session.execute(sa.select(c.id, c.status, c.description, c.desired_outcome, c.evaluation_comment,
                                         c.idempotency_key).where(c.consumer_id == account).order_by(c.id)
                               .with_for_update()).all()
        if not rows:
            return ()
        mine = sa.select(c.id).where(c.consumer_id == account)
        with_messages = set(session.scalars(sa.select(msg.complaint_id).where(
            msg.complaint_id.in_(mine), msg.author_id == account, msg.text != "")))
        removed = session.execute(sa.select(att.id, att.complaint_id, att.sha256).where(
            att.complaint_id.in_(mine), att.uploaded_by == account)).all()
        with_attachments = {a.complaint_id for a in removed}
        # Only complaints with something left to erase: a second erasure (redelivery after the
        # processed_events retention, or another EraseAccount with a new event id) adds no history,
        # yet still erases what a still-valid access token may have added after the first one.
        touched = [r for r in rows if r.description or r.desired_outcome or r.evaluation_comment
                   or r.idempotency_key is not None or r.id in with_messages or r.id in with_attachments]
        if not touched:
            return ()
        ids = [r.id for r in touched]
        # The key back to NULL, not "": (key, consumer) is unique. request_hash stays.
        session.execute(m.complaints.update().where(c.id.in_(ids)).values(
            description="", desired_outcome="", evaluation_comment="", idempotency_key=None))
        session.execute(m.messages.update().where(msg.complaint_id.in_(ids), msg.author_id == account).values(text=""))
        if removed:
            session.execute(m.attachments.delete().where(att.id.in_([a.id for a in removed])))
        now = self.clock.now()
        session.connection().execute(INSERT_HISTORY, [
            self._history_entry(r.id, "personal_data_erased", (account, "consumer"), now, r.status, r.status,
                                "at the account owner's request") for r in touched])
        return self._unreferenced(session, {a.sha256 for a in removed})

    def apply_retention(self, batch_size: int = 200, max_batches: int = 100) -> dict[str, int]:
        """The pack's retention periods, as of the clock's now: closed complaints' texts (batch after
        batch, each removing its released attachment content after its commit), then the access log."""
        expired = 0
        for _ in range(max_batches):
            count, keys = self.expire_closed(batch_size)
            self.remove_content(keys)
            expired += count
            if count < batch_size:
                break
        return {"complaints_expired": expired,
                "accesses_pruned": audit.prune(self.db, m.access_log, self.pack.retention.access_log_days,
                                               self.clock.now())}

    def expire_closed(self, batch_size: int = 200) -> tuple[int, tuple[str, ...]]:
        """Retention (the pack's `retention.closed_complaint_days`, docs/adr/0021-retention.md): one
        batch of complaints closed (finalised or cancelled) longer ago than the period loses its
        texts, every message's text and its attachments, with a `retention_expired` history entry.
        What the indicators and open data use (statuses, dates, taxonomy, scores) stays. Returns
        how many complaints it expired and the storage keys to pass to `remove_content` after the
        commit (as `account_erased`). A complaint expires once: `texts_expired_at` marks it."""
        days = self.pack.retention.closed_complaint_days
        if days is None:
            return 0, ()
        now = self.clock.now()
        c, msg, att = m.complaints.c, m.messages.c, m.attachments.c
        with self.db.transaction() as session:
            # Closed complaints only change by a manager's redaction, which locks the row too.
            rows = self._claim(session, sa.select(c.id, c.status).where(
                c.texts_expired_at.is_(None), c.finalised_at < now - timedelta(days=days),
                c.status.notin_(OPEN_STATUSES)).order_by(c.texts_expired_at, c.finalised_at), batch_size)
            if not rows:
                return 0, ()
            ids = [r.id for r in rows]
            session.execute(m.complaints.update().where(c.id.in_(ids)).values(
                description="", desired_outcome="", answer_text="", refusal_text="", evaluation_comment="",
                cancellation_reason="", hearing_url="", idempotency_key=None, texts_expired_at=now))
            session.execute(m.messages.update().where(msg.complaint_id.in_(ids), msg.text != "").values(text=""))
            removed = session.execute(sa.select(att.id, att.sha256).where(att.complaint_id.in_(ids))).all()
            if removed:
                session.execute(m.attachments.delete().where(att.id.in_([a.id for a in removed])))
            session.connection().execute(INSERT_HISTORY, [
                self._history_entry(r.id, "retention_expired", SYSTEM, now, r.status, r.status,
                                    f"closed more than {days} days ago") for r in rows])
            released = self._unreferenced(session, {a.sha256 for a in removed})
        retention.REMOVED.labels("complaint_texts").inc(len(rows))
        return len(rows), released

    @staticmethod
    def _unreferenced(session, keys: set[str]) -> tuple[str, ...]:
        """Of the storage keys of deleted attachments, those no attachment (anyone's) still uses:
        content is stored once per sha256."""
        if not keys:
            return ()
        kept = set(session.scalars(sa.select(m.attachments.c.sha256).where(m.attachments.c.sha256.in_(keys))))
        return tuple(sorted(keys - kept))

    def remove_content(self, keys: tuple[str, ...]) -> None:
        """Removes stored attachment content released by `account_erased` or `expire_closed`, after
        its transaction committed. Checked again first: the same bytes may have been uploaded (and
        committed) since.
        A failure is logged with the keys, not raised: the event is consumed, a retry would not
        find them again."""
        if not keys:
            return
        try:
            with self.db.transaction() as session:
                kept = set(session.scalars(sa.select(m.attachments.c.sha256).where(m.attachments.c.sha256.in_(keys))))
            for key in keys:
                if key not in kept:
                    self.store.delete(key)
        except Exception:
            log.exception("erased attachment content not (all) removed; remove those no attachment references: %s",
                          ", ".join(keys))
