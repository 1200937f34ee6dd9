"""The complaint lifecycle rules, over the database, the clock and the country pack.

States (stored as words): waiting_company -> (answered) waiting_evaluation -> finalised_evaluated;
waiting_company -> (refused) under_refusal_review -> cancelled (upheld) | waiting_company (rejected,
the answer clock resumes); waiting_company -> (deadline lapses) waiting_evaluation, unanswered;
waiting_evaluation -> (evaluation window lapses) finalised_not_evaluated; any open state ->
cancelled by a manager. Every change writes a history row and its event in the same transaction.
"""
import base64
import csv
import hashlib
import json
import logging
import uuid
from types import SimpleNamespace
from dataclasses import dataclass, field
from datetime import datetime, timedelta, time as dtime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from google.protobuf.timestamp_pb2 import Timestamp

from concilia.chassis.auth import Principal
from concilia.chassis.country import CountryPack
from concilia.chassis.db import Database
from concilia.chassis.errors import (FailedPrecondition, InvalidArgument, NotFound, PermissionDenied,
                                     ResourceExhausted, require_text)
from concilia.chassis.outbox import Outbox
from concilia.events.v1 import events_pb2 as ev

from . import models as m
from .storage import AttachmentStore

log = logging.getLogger(__name__)

WAITING_COMPANY = "waiting_company"
UNDER_REFUSAL_REVIEW = "under_refusal_review"
WAITING_EVALUATION = "waiting_evaluation"
FINALISED_EVALUATED = "finalised_evaluated"
FINALISED_NOT_EVALUATED = "finalised_not_evaluated"
CANCELLED = "cancelled"
STATUSES = (WAITING_COMPANY, UNDER_REFUSAL_REVIEW, WAITING_EVALUATION, FINALISED_EVALUATED,
            FINALISED_NOT_EVALUATED, CANCELLED)
OPEN_STATUSES = (WAITING_COMPANY, UNDER_REFUSAL_REVIEW, WAITING_EVALUATION)
RESOLUTIONS = ("resolved", "not_resolved")
SYSTEM = ("system", "system")  # actor of deadline transitions
NOT_PARTICIPATING = "company is not participating; suggest it with SuggestCompany"

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
COMPANY_BY_ID = sa.select(m.companies).where(m.companies.c.id == sa.bindparam("company_id"))
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

    def days_left(self, deadline: datetime, now: datetime) -> int:
        """Local days left before the deadline (which is a local midnight): 1 on the last day."""
        return (self.local_date(deadline) - self.local_date(now)).days

    # --- access ------------------------------------------------------------------------------
    def in_jurisdiction(self, principal: Principal, region_code: str) -> bool:
        j = principal.jurisdiction
        return bool(j) and (j == self.pack.code or region_code == j or region_code.startswith(j + "-"))

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
            return self.in_jurisdiction(principal, row.region_code)
        return False

    def _load(self, session, principal: Principal, complaint_id: str, for_update: bool = False):
        complaint_id = (complaint_id or "").strip()
        if not complaint_id:
            raise InvalidArgument("complaint_id", "is required")
        query = sa.select(m.complaints).where(m.complaints.c.id == complaint_id[:36])
        if for_update and self.db.is_postgres:
            query = query.with_for_update()
        row = session.execute(query).first()
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
        if principal.role != "manager" or not self.in_jurisdiction(principal, row.region_code):
            raise PermissionDenied("only a manager of the complaint's jurisdiction may do this")

    # --- writing helpers ---------------------------------------------------------------------
    def _history(self, session, complaint_id: str, action: str, actor: tuple[str, str], now: datetime,
                 from_status: str = "", to_status: str = "", detail: str = "") -> None:
        session.connection().execute(INSERT_HISTORY, dict(
            complaint_id=complaint_id, action=action, actor_id=actor[0], actor_role=actor[1],
            from_status=from_status, to_status=to_status, detail=detail, at=now))

    def _update(self, session, row, now: datetime, action: str, actor: tuple[str, str], detail: str = "",
                **values):
        """Applies a state change with its history entry; returns the updated row."""
        session.execute(m.complaints.update().where(m.complaints.c.id == row.id).values(**values))
        self._history(session, row.id, action, actor, now, row.status, values.get("status", row.status), detail)
        return session.execute(sa.select(m.complaints).where(m.complaints.c.id == row.id)).one()

    @staticmethod
    def ref(row) -> ev.ComplaintRef:
        return ev.ComplaintRef(complaint_id=row.id, consumer_id=row.consumer_id, company_id=row.company_id,
                               company_group_id=row.company_group_id, segment_code=row.segment_code,
                               region_code=row.region_code)

    def _finalised_event(self, session, row, now: datetime) -> None:
        self.outbox.add(session, "complaint_finalised", ev.ComplaintFinalised(
            complaint=self.ref(row), status=row.status, resolution=row.resolution,
            satisfaction_score=row.satisfaction_score, answered=row.answered,
            answer_time_days=row.answer_time_days or 0, filed_at=ts(row.filed_at),
            answered_at=ts(row.answered_at), finalised_at=ts(row.finalised_at), area=row.area,
            subject=row.subject, problem_group=row.problem_group, problem=row.problem,
            purchase_channel=row.purchase_channel, contacted_company_first=row.contacted_company_first,
            city=row.city, company_name=row.company_name, segment_name=row.segment_name), now)

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
            with self.db.transaction() as session:
                return self._file(session, principal, filing, fingerprint)
        except sa.exc.IntegrityError:
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
        return self._full(session, session.execute(
            sa.select(m.complaints).where(m.complaints.c.id == existing.id)).one())

    def _file(self, session, principal: Principal, filing: Filing, fingerprint: str) -> dict:
        existing = self._by_key(session, principal, filing.idempotency_key)
        if existing is not None:
            return self._replay(session, existing, fingerprint)
        company = session.connection().execute(COMPANY_BY_ID, {"company_id": filing.company_id}).first()
        if company is None or company.status != "active":
            raise FailedPrecondition(NOT_PARTICIPATING)
        now = self.clock.now()
        local_day = datetime.combine(self.local_date(now), dtime(0, 0), tzinfo=self.pack.zone)
        if self._count_use(session, principal.account_id, "filing", local_day) > self.filings_per_day:
            raise ResourceExhausted(f"at most {self.filings_per_day} complaints may be filed per day")
        complaint_id = str(uuid.uuid4())
        deadline = self.pack.add_days(now, self.pack.windows.company_answer_days)
        row = dict(
            id=complaint_id, status=WAITING_COMPANY, consumer_id=principal.account_id,
            idempotency_key=filing.idempotency_key or None, request_hash=fingerprint,
            company_id=company.id, company_group_id=company.group_id, company_name=company.trade_name,
            segment_code=filing.segment_code,
            segment_name=self.taxonomy.segment_names.get(filing.segment_code, company.segment_name),
            area=filing.area, subject=filing.subject, problem_group=filing.problem_group, problem=filing.problem,
            purchase_channel=filing.purchase_channel, contacted_company_first=filing.contacted_company_first,
            description=filing.description, desired_outcome=filing.desired_outcome,
            region_code=filing.region_code, city=filing.city, filed_at=now, answer_deadline=deadline)
        session.connection().execute(INSERT_COMPLAINT, row)
        self._history(session, complaint_id, "filed", (principal.account_id, principal.role), now,
                      to_status=WAITING_COMPANY)
        stored = self._store_attachments(session, complaint_id, principal, now, filing.attachments)
        self.outbox.add(session, "complaint_filed", ev.ComplaintFiled(
            complaint=ev.ComplaintRef(complaint_id=complaint_id, consumer_id=principal.account_id,
                                      company_id=company.id, company_group_id=company.group_id,
                                      segment_code=filing.segment_code, region_code=filing.region_code),
            filed_at=ts(now), answer_deadline=ts(deadline)), now)
        # The new complaint as stored, without reading it back (filing stays one short transaction).
        complete = {column.name: None for column in m.complaints.columns}
        complete.update(answered=False, answer_text="", refusal_reason="", refusal_text="", under_review_days=0,
                        resolution="", satisfaction_score=0, evaluation_comment="", cancellation_reason="", **row)
        return {"complaint": SimpleNamespace(**complete), "messages": [],
                "attachments": [SimpleNamespace(**values) for values in stored]}

    # --- reading -----------------------------------------------------------------------------
    def get(self, principal: Principal, complaint_id: str) -> dict:
        with self.db.transaction() as session:
            row = self._load(session, principal, complaint_id)
            return self._full(session, row)

    def _full(self, session, row) -> dict:
        return {
            "complaint": row,
            "messages": session.execute(sa.select(m.messages).where(m.messages.c.complaint_id == row.id)
                                        .order_by(m.messages.c.sent_at, m.messages.c.id)).all(),
            "attachments": session.execute(sa.select(m.attachments).where(m.attachments.c.complaint_id == row.id)
                                           .order_by(m.attachments.c.uploaded_at, m.attachments.c.id)).all(),
        }

    def history(self, principal: Principal, complaint_id: str) -> list:
        with self.db.transaction() as session:
            row = self._load(session, principal, complaint_id)
            return session.execute(sa.select(m.history).where(m.history.c.complaint_id == row.id)
                                   .order_by(m.history.c.seq)).all()

    def attachment(self, principal: Principal, complaint_id: str, attachment_id: str) -> tuple:
        with self.db.transaction() as session:
            row = self._load(session, principal, complaint_id)
            attachment = session.execute(sa.select(m.attachments).where(
                m.attachments.c.complaint_id == row.id,
                m.attachments.c.id == (attachment_id or "").strip()[:36])).first()
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
            j = principal.jurisdiction
            scope = sa.true() if j == self.pack.code else sa.or_(c.region_code == j, c.region_code.like(j + "-%"))
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
        next_token = ""
        if len(rows) > size:
            rows = rows[:size]
            last = rows[-1]
            next_token = self._encode_cursor(order, getattr(last, sort_column.name), last.id)
        return rows, next_token

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
        with self.db.transaction() as session:
            row = self._load(session, principal, complaint_id, for_update=True)
            self._require_company(principal, row)
            now = self.clock.now()
            self._require_waiting_company(row, now)
            answer_days = max(0, (self.local_date(now) - self.local_date(row.filed_at)).days - row.under_review_days)
            evaluation_deadline = self.pack.add_days(now, self.pack.windows.consumer_evaluation_days)
            row = self._update(session, row, now, "answered", (principal.account_id, principal.role),
                               status=WAITING_EVALUATION, answered=True, answered_at=now, answer_text=text,
                               answer_time_days=answer_days, evaluation_deadline=evaluation_deadline)
            self.outbox.add(session, "complaint_answered", ev.ComplaintAnswered(
                complaint=self.ref(row), answered_at=ts(now), answer_time_days=answer_days,
                evaluation_deadline=ts(evaluation_deadline)), now)
            return self._full(session, row)

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
        with self.db.transaction() as session:
            row = self._load(session, principal, complaint_id, for_update=True)
            self._require_company(principal, row)
            now = self.clock.now()
            self._require_waiting_company(row, now)
            row = self._update(session, row, now, "refused", (principal.account_id, principal.role), reason_code,
                               status=UNDER_REFUSAL_REVIEW, refused_at=now, refusal_reason=reason_code,
                               refusal_text=text)
            self.outbox.add(session, "complaint_refused", ev.ComplaintRefused(
                complaint=self.ref(row), reason_code=reason_code, refused_at=ts(now)), now)
            return self._full(session, row)

    # --- manager -----------------------------------------------------------------------------
    def review_refusal(self, principal: Principal, complaint_id: str, uphold: bool, note: str) -> dict:
        note = (note or "").strip()
        if len(note) > 1000:
            raise InvalidArgument("note", "must have at most 1000 characters")
        with self.db.transaction() as session:
            row = self._load(session, principal, complaint_id, for_update=True)
            self._require_manager(principal, row)
            if row.status != UNDER_REFUSAL_REVIEW:
                raise FailedPrecondition(f"the complaint is {row.status}, not under refusal review")
            now = self.clock.now()
            actor = (principal.account_id, principal.role)
            review_days = max(0, (self.local_date(now) - self.local_date(row.refused_at)).days)
            if uphold:
                row = self._update(session, row, now, "refusal_upheld", actor, note, status=CANCELLED,
                                   under_review_days=row.under_review_days + review_days, finalised_at=now,
                                   cancellation_reason=f"refusal upheld: {row.refusal_reason}")
                self.outbox.add(session, "complaint_refusal_reviewed", ev.ComplaintRefusalReviewed(
                    complaint=self.ref(row), upheld=True, reviewer_id=principal.account_id), now)
                self.outbox.add(session, "complaint_cancelled", ev.ComplaintCancelled(
                    complaint=self.ref(row), reason=row.cancellation_reason), now)
            else:
                # The answer clock resumes: the deadline moves by the whole days spent under review.
                deadline = self.shift_local_days(row.answer_deadline, review_days)
                row = self._update(session, row, now, "refusal_rejected", actor, note, status=WAITING_COMPANY,
                                   under_review_days=row.under_review_days + review_days, answer_deadline=deadline)
                self.outbox.add(session, "complaint_refusal_reviewed", ev.ComplaintRefusalReviewed(
                    complaint=self.ref(row), upheld=False, reviewer_id=principal.account_id,
                    answer_deadline=ts(deadline)), now)
            return self._full(session, row)

    def cancel(self, principal: Principal, complaint_id: str, reason: str) -> dict:
        reason = require_text("reason", reason, max_length=1000)
        with self.db.transaction() as session:
            row = self._load(session, principal, complaint_id, for_update=True)
            self._require_manager(principal, row)
            if row.status not in OPEN_STATUSES:
                raise FailedPrecondition(f"the complaint is already closed ({row.status})")
            now = self.clock.now()
            row = self._update(session, row, now, "cancelled", (principal.account_id, principal.role), reason,
                               status=CANCELLED, finalised_at=now, cancellation_reason=reason)
            self.outbox.add(session, "complaint_cancelled", ev.ComplaintCancelled(
                complaint=self.ref(row), reason=reason), now)
            return self._full(session, row)

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
        with self.db.transaction() as session:
            row = self._load(session, principal, complaint_id, for_update=True)
            self._require_manager(principal, row)
            if "answer_text" in replacements and not row.answered:
                raise FailedPrecondition("the complaint has no answer to redact")
            if "evaluation_comment" in replacements and row.status != FINALISED_EVALUATED:
                raise FailedPrecondition("the complaint has no evaluation to redact")
            now = self.clock.now()
            detail = "fields: " + ", ".join(sorted(replacements)) + (f"; {note}" if note else "")
            row = self._update(session, row, now, "redacted", (principal.account_id, principal.role), detail,
                               **replacements)
            return self._full(session, row)

    # --- consumer ----------------------------------------------------------------------------
    def evaluate(self, principal: Principal, complaint_id: str, resolution: str, score: int, comment: str) -> dict:
        if resolution not in RESOLUTIONS:
            raise InvalidArgument("resolution", "must be resolved or not_resolved")
        if not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidArgument("satisfaction_score", "must be an integer from 1 to 5")
        comment = (comment or "").strip()
        if len(comment) > self.message_max:
            raise InvalidArgument("comment", f"must have at most {self.message_max} characters")
        with self.db.transaction() as session:
            row = self._load(session, principal, complaint_id, for_update=True)
            self._require_owner(principal, row)
            if row.status in (WAITING_COMPANY, UNDER_REFUSAL_REVIEW):
                raise FailedPrecondition("the complaint cannot be evaluated before the company answers "
                                         "or its answer window ends")
            if row.status != WAITING_EVALUATION:
                raise FailedPrecondition(f"the complaint is already closed ({row.status})")
            now = self.clock.now()
            if now >= row.evaluation_deadline:
                raise FailedPrecondition("the evaluation deadline has passed")
            row = self._update(session, row, now, "evaluated", (principal.account_id, principal.role),
                               f"{resolution}, score {score}", status=FINALISED_EVALUATED, resolution=resolution,
                               satisfaction_score=score, evaluation_comment=comment, finalised_at=now)
            self.outbox.add(session, "complaint_evaluated", ev.ComplaintEvaluated(
                complaint=self.ref(row), resolution=resolution, satisfaction_score=score), now)
            self._finalised_event(session, row, now)
            return self._full(session, row)

    # --- both parties --------------------------------------------------------------------------
    def _require_party(self, principal: Principal, row) -> None:
        if principal.role == "consumer" and row.consumer_id == principal.account_id:
            return
        if self.acts_for_company(principal, row):
            return
        raise PermissionDenied("only the consumer and the company may add to a complaint")

    def add_message(self, principal: Principal, complaint_id: str, text: str):
        text = require_text("text", text, max_length=self.message_max)
        with self.db.transaction() as session:
            row = self._load(session, principal, complaint_id, for_update=True)
            self._require_party(principal, row)
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
            row = self._load(session, principal, complaint_id, for_update=True)
            self._require_party(principal, row)
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
                for row in rows:
                    apply(session, row, now)
            total += len(rows)
            if len(rows) < batch_size:
                return total

    def _mark_unanswered(self, session, row, now: datetime) -> None:
        # The evaluation window counts from the lapsed deadline, not from when the sweep ran.
        evaluation_deadline = self.pack.add_days(row.answer_deadline, self.pack.windows.consumer_evaluation_days)
        row = self._update(session, row, now, "answer_deadline_lapsed", SYSTEM, status=WAITING_EVALUATION,
                           answered=False, evaluation_deadline=evaluation_deadline)
        self.outbox.add(session, "complaint_unanswered", ev.ComplaintUnanswered(
            complaint=self.ref(row), answer_deadline=ts(row.answer_deadline),
            evaluation_deadline=ts(evaluation_deadline)), now)

    def _finalise_not_evaluated(self, session, row, now: datetime) -> None:
        row = self._update(session, row, now, "evaluation_deadline_lapsed", SYSTEM, status=FINALISED_NOT_EVALUATED,
                           finalised_at=row.evaluation_deadline)
        self._finalised_event(session, row, now)

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
            while True:
                with self.db.transaction() as session:
                    rows = self._claim(session, sa.select(m.complaints).where(
                        c.status == status, deadline > now, deadline <= now + window,
                        sa.or_(reminded_for.is_(None), reminded_for != deadline)).order_by(deadline), batch_size)
                    for row in rows:
                        due = getattr(row, deadline.name)
                        session.execute(m.complaints.update().where(c.id == row.id).values({reminded_for.name: due}))
                        self.outbox.add(session, "deadline_reminder", ev.DeadlineReminder(
                            complaint=self.ref(row), deadline_kind=kind, deadline=ts(due),
                            days_left=self.days_left(due, now)), now)
                total += len(rows)
                if len(rows) < batch_size:
                    break
        return total

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
