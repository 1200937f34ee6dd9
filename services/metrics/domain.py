"""Metrics rules: events and open-data rows in, public indicators out.

Counts live in `aggregates` per (dimension, key, finalisation month); the published figures are
computed from them by concilia.opendata's versioned formulas (see `compute`), so the service, the
open-data importer and `concilia opendata indicators` share one definition.
"""
from __future__ import annotations

import calendar
import csv
import logging
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterable, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from concilia.chassis import outbox
from concilia.chassis.country import CountryPack
from concilia.chassis.db import Writes
from concilia.chassis.errors import InvalidArgument, NotFound
from concilia.events.v1 import events_pb2
from concilia.opendata import Accumulator, Complaint, get_formula
from concilia.opendata import layout as L
from concilia.opendata.writer import format_record

from . import models as m

log = logging.getLogger(__name__)

CONSUMER = "metrics"
DIMENSIONS = ("national", "company", "segment", "region")
NATIONAL_KEY = ""

# Event vocabulary <-> the Brazilian open-data layout's words.
EVALUATION_WORDS = {"resolved": L.RESOLVED, "not_resolved": L.NOT_RESOLVED,
                    "not_evaluated": L.NOT_EVALUATED}
EVALUATION_CODES = {word: code for code, word in EVALUATION_WORDS.items()}
STATUS_WORDS = {"finalised_evaluated": L.STATUS_EVALUATED,
                "finalised_not_evaluated": L.STATUS_NOT_EVALUATED}
STATUS_CODES = {word: code for code, word in STATUS_WORDS.items()}

# Região of the Brazilian open-data layout per UF (IBGE macro-regions). Part of that layout, not of
# the rules: other countries' rows export an empty Região. (Belongs in concilia.opendata.layout.)
BR_MACRO_REGIONS = {
    **dict.fromkeys(("AC", "AM", "AP", "PA", "RO", "RR", "TO"), "N"),
    **dict.fromkeys(("AL", "BA", "CE", "MA", "PB", "PE", "PI", "RN", "SE"), "NE"),
    **dict.fromkeys(("DF", "GO", "MS", "MT"), "CO"),
    **dict.fromkeys(("ES", "MG", "RJ", "SP"), "SE"),
    **dict.fromkeys(("PR", "RS", "SC"), "S"),
}

OPENDATA_COMPANY_NAMESPACE = uuid.UUID("0f5c1e0a-6d43-4f55-9a0e-4b1f2c9d7e31")
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
REGION_RE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
MAX_KEY = 80


def compute(acc: Accumulator, formula_version: str) -> dict:
    """The one place published figures are computed: concilia.opendata's versioned formulas."""
    return get_formula(formula_version).compute(acc)


def opendata_company_id(name: str) -> str:
    """Open-data files carry no company id: imported rows get a stable id from the name."""
    return str(uuid.uuid5(OPENDATA_COMPANY_NAMESPACE, name.strip().casefold()))


def slug(text: str, limit: int = 60) -> str:
    import unicodedata
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:limit].rstrip("-")


@dataclass(frozen=True)
class Segments:
    """Market segments of the country pack's taxonomy: the only values segment labels may take."""
    names: dict  # code -> name
    codes: dict  # name -> code

    @classmethod
    def from_pack(cls, pack: CountryPack) -> "Segments":
        names = {}
        with open(pack.taxonomy_file, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                names.setdefault(row["segment_code"], row["segment"])
        return cls(names, {name: code for code, name in names.items()})

    def code_for(self, name: str) -> str:
        return self.codes.get(name.strip()) or slug(name)

    def label(self, code: str) -> str:
        """A bounded Prometheus label value: a taxonomy code or "other"."""
        return code if code in self.names else "other"


# --- writing -------------------------------------------------------------------------------------

def _adding(table: str, keys: str, columns) -> str:
    return (f"ON CONFLICT ({keys}) DO UPDATE SET "
            + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns))


def consume_batch(session: Session, event_ids: list[str]) -> set[str]:
    return outbox.consume_batch(session, m.processed_events, CONSUMER, event_ids)


def _clean(text: str, limit: int) -> str:
    # The layout cannot carry ';' or line breaks (published values never contain them); other
    # spacing is kept as the catalogue has it.
    if ";" in text or "\r" in text or "\n" in text:
        text = text.replace(";", ",").replace("\r", " ").replace("\n", " ")
    return text.strip()[:limit]


class BadEvent(ValueError):
    pass


def _field(data: dict, name: str, default=""):
    """A field of an event's JSON mapping: proto field name, or its lowerCamelCase JSON name
    (both are valid protobuf JSON); absent fields have their proto default."""
    if name in data:
        return data[name]
    head, *rest = name.split("_")
    return data.get(head + "".join(part.title() for part in rest), default)


def _day(data: dict, name: str, zone) -> Optional[date]:
    """Local date of a google.protobuf.Timestamp in JSON (RFC 3339), None when absent."""
    value = _field(data, name, None)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(zone).date()
    except (TypeError, ValueError):
        raise BadEvent(f"{name} is not an RFC 3339 timestamp") from None


def finalised_row(data: dict, pack: CountryPack, segments: Segments) -> dict:
    """A complaints row from a complaint_finalised event's data (the JSON mapping of
    concilia.events.v1.ComplaintFinalised), read directly: this is the hot path of ingestion and
    protobuf's ParseDict costs more than the rest of it. No consumer id, no free text is kept."""
    ref = _field(data, "complaint", {}) or {}
    complaint_id, company_id = _field(ref, "complaint_id"), _field(ref, "company_id")
    if not complaint_id or not company_id:
        raise BadEvent("complaint_finalised without complaint or company id")
    status = _field(data, "status")
    if status not in STATUS_WORDS:
        raise BadEvent(f"unknown status {str(status)[:40]!r}")
    evaluated = status == "finalised_evaluated"
    resolution = _field(data, "resolution")
    evaluation = resolution if evaluated else "not_evaluated"
    if evaluation not in EVALUATION_WORDS or (evaluated and evaluation == "not_evaluated"):
        raise BadEvent(f"resolution {str(resolution)[:40]!r} does not fit status {status!r}")
    score = int(_field(data, "satisfaction_score", 0) or 0)
    score = score if evaluated and 1 <= score <= 5 else None
    zone = pack.zone
    filed_on, finalised_on = _day(data, "filed_at", zone), _day(data, "finalised_at", zone)
    if filed_on is None or finalised_on is None:
        raise BadEvent("complaint_finalised without filed_at or finalised_at")
    answered = bool(_field(data, "answered", False))
    region = str(_field(ref, "region_code")).upper()
    uf = region.split("-", 1)[1] if "-" in region else ""
    segment_name = _field(data, "segment_name")
    segment_code = _field(ref, "segment_code") or segments.code_for(segment_name)
    return {
        "complaint_id": complaint_id[:64], "origin": "event",
        "company_id": company_id[:64], "company_name": _clean(_field(data, "company_name"), 500),
        "segment_code": segment_code[:80],
        "segment_name": _clean(segment_name or segments.names.get(segment_code, ""), 500),
        "region_code": region[:16], "macro_region": BR_MACRO_REGIONS.get(uf, "") if pack.code == "BR" else "",
        "city": _clean(_field(data, "city"), 500), "consumer_sex": _field(data, "consumer_sex")[:1],
        "age_bracket": _clean(_field(data, "consumer_age_bracket"), 500),
        "filed_on": filed_on,
        "answered_on": _day(data, "answered_at", zone) if answered else None,
        "finalised_on": finalised_on, "finalised_month": f"{finalised_on.year:04d}-{finalised_on.month:02d}",
        "answered": answered,
        "answer_days": int(_field(data, "answer_time_days", 0) or 0) if answered else None,
        "status": status, "evaluation": evaluation, "score": score,
        "area": _clean(_field(data, "area"), 500), "subject": _clean(_field(data, "subject"), 500),
        "problem_group": _clean(_field(data, "problem_group"), 500),
        "problem": _clean(_field(data, "problem"), 500),
        "purchase_channel": _clean(_field(data, "purchase_channel"), 500),
        "contacted_company": bool(_field(data, "contacted_company_first", False)),
    }


def add_to_aggregates(writes: Writes, rows: list[dict]) -> None:
    """Adds finalised complaints (complaints rows, new ones only) to the aggregates, the
    answer-time counts and the company names; one upsert statement per table."""
    if not rows:
        return
    # Count identical (groups, outcome) combinations first: far fewer Accumulator updates.
    combos = Counter((r["finalised_month"], r["company_id"], r["segment_code"], r["region_code"],
                      r["answered"], r["evaluation"], r["score"], r["answer_days"]) for r in rows)
    companies = {r["company_id"]: (r["company_name"], r["segment_code"]) for r in rows}
    add_combinations(writes, combos, companies)


def add_combinations(writes: Writes, combos: Counter, companies: dict) -> None:
    """combos: Counter of (month, company_id, segment_code, region_code, answered, evaluation,
    score, answer_days); companies: {company_id: (name, segment_code)}."""
    deltas: dict[tuple, Accumulator] = {}
    answer_times: Counter = Counter()
    for (month, company, segment, region, answered, evaluation, score, days), n in combos.items():
        word = EVALUATION_WORDS[evaluation]
        for group in (("national", NATIONAL_KEY, month), ("company", company, month),
                      ("segment", segment, month), ("region", region, month)):
            acc = deltas.get(group)
            if acc is None:
                acc = deltas[group] = Accumulator()
            acc.add_values(answered, word, score, days, n)
        if answered and days is not None:
            answer_times[(segment, days)] += n

    # Sorted keys: concurrent workers lock aggregate rows in the same order (no deadlocks).
    values = [{"dimension": d, "key": k, "month": mo, **{c: getattr(acc, c) for c in m.COUNTERS}}
              for (d, k, mo), acc in sorted(deltas.items())]
    writes.insert(m.aggregates, values, _adding("aggregates", "dimension, key, month", m.COUNTERS))
    writes.insert(m.answer_times,
                  [{"segment_code": s, "days": d, "complaints": n} for (s, d), n in sorted(answer_times.items())],
                  _adding("answer_times", "segment_code, days", ["complaints"]))
    upsert_companies(writes, {cid: name for cid, (name, _s) in companies.items()},
                     {cid: seg for cid, (_n, seg) in companies.items()})


def upsert_companies(writes: Writes, names: dict, segments: dict) -> None:
    if not names:
        return
    writes.insert(m.companies,
                  [{"company_id": cid, "name": names[cid][:500], "segment_code": (segments.get(cid) or "")[:80]}
                   for cid in sorted(names)],
                  "ON CONFLICT (company_id) DO UPDATE SET name = excluded.name, segment_code = excluded.segment_code "
                  "WHERE (companies.name, companies.segment_code) IS DISTINCT FROM (excluded.name, excluded.segment_code)")


def insert_complaints(writes: Writes, rows: dict[str, dict]) -> list:
    """Queues the insert of complaints rows ({complaint_id: row}); after `writes.send()` the list
    returned holds the ids of those that were new (a complaint counts once)."""
    return writes.insert(m.complaints, [rows[k] for k in sorted(rows)],
                         "ON CONFLICT (complaint_id) DO NOTHING", "complaint_id")


@dataclass
class Effects:
    """What a batch of new events changes: finalised complaints ({id: complaints row}), live SLA
    state ({id: open_complaints row}) and company names and segments from company_adhered."""
    finalised: dict
    live: dict
    names: dict
    company_segments: dict


class Ingestor:
    """Applies a batch of event envelopes in the caller's transaction (one commit per batch)."""

    def __init__(self, pack: CountryPack, segments: Segments | None = None):
        self.pack = pack
        self.segments = segments or Segments.from_pack(pack)

    def ingest(self, session: Session, envelopes: Iterable[dict]) -> int:
        """Returns how many events were new. Redelivered events (seen ids) change nothing.

        On PostgreSQL the batch is first written as if every event and every finalised complaint
        were new (what a redelivery-free stream is): the claim of the event ids, the effects and
        their checks go in one round trip (`Writes`). When the claim or the complaints insert
        finds one already there, that attempt is rolled back to its savepoint and the batch is
        written again from the ids actually claimed: two more round trips, only then."""
        by_id = {}
        for envelope in envelopes:
            event_id = envelope.get("id") if isinstance(envelope, dict) else None
            if not isinstance(event_id, str) or not event_id:
                # Without an id it cannot be deduplicated; failing would redeliver it forever.
                log.warning("skipped an event without id (type %s)",
                            str(envelope.get("type"))[:64] if isinstance(envelope, dict) else "?")
                continue
            by_id.setdefault(event_id[:36], envelope)  # processed_events.event_id is 36 long
        if not by_id:
            return 0
        writes = Writes(session)
        if writes.pipelined:
            effects = self.effects(by_id.values())
            writes.execute("SAVEPOINT ingest_as_new")
            claimed = outbox.claim_batch(writes, m.processed_events, CONSUMER, list(by_id))
            inserted = insert_complaints(writes, effects.finalised)
            self._apply(writes, effects, list(effects.finalised.values()))
            writes.send()
            if len(claimed) == len(by_id) and len(inserted) == len(effects.finalised):
                return len(by_id)
            session.execute(sa.text("ROLLBACK TO SAVEPOINT ingest_as_new"))
        fresh_ids = consume_batch(session, list(by_id))
        effects = self.effects(by_id[i] for i in by_id if i in fresh_ids)
        inserted = insert_complaints(writes, effects.finalised)
        writes.send()
        self._apply(writes, effects, [effects.finalised[i] for i in inserted])
        writes.send()
        return len(fresh_ids)

    def effects(self, envelopes: Iterable[dict]) -> Effects:
        """Reads new events into their effects; a malformed event is logged and has none."""
        finalised, live, names, company_segments = {}, {}, {}, {}
        for envelope in envelopes:
            kind = envelope.get("type")
            try:
                if kind == "complaint_finalised":
                    row = finalised_row(envelope.get("data") or {}, self.pack, self.segments)
                    finalised[row["complaint_id"]] = row
                elif kind == "company_adhered":
                    data = _parse(envelope, events_pb2.CompanyAdhered)
                    if data.company_id:
                        names[data.company_id] = data.trade_name
                        company_segments[data.company_id] = data.segment_code
                elif kind == "complaint_filed":
                    data = _parse(envelope, events_pb2.ComplaintFiled)
                    _live(live, data.complaint, filed=True, answer_deadline=_instant(data.answer_deadline))
                elif kind == "complaint_answered":
                    _live(live, _parse(envelope, events_pb2.ComplaintAnswered).complaint, answered=True)
                elif kind == "complaint_unanswered":
                    _live(live, _parse(envelope, events_pb2.ComplaintUnanswered).complaint, unanswered=True)
                elif kind == "complaint_refused":
                    _live(live, _parse(envelope, events_pb2.ComplaintRefused).complaint, refusals=1)
                elif kind == "complaint_refusal_reviewed":
                    data = _parse(envelope, events_pb2.ComplaintRefusalReviewed)
                    _live(live, data.complaint, answer_deadline=_instant(data.answer_deadline), reviews=1)
                elif kind == "complaint_cancelled":
                    _live(live, _parse(envelope, events_pb2.ComplaintCancelled).complaint, closed=True)
            except (BadEvent, ValueError, TypeError, AttributeError) as error:
                # A malformed event would fail forever: record it as handled and say so.
                log.warning("skipped malformed %s event %s: %s", kind, envelope.get("id"), error)
        # Finalised complaints leave the live state; the live upsert skips them, so an earlier
        # event of theirs that arrives late (another queue) cannot bring them back.
        for complaint_id in finalised:
            live.pop(complaint_id, None)
        return Effects(finalised, live, names, company_segments)

    @staticmethod
    def _apply(writes: Writes, effects: Effects, new_finalised: list[dict]) -> None:
        """Queues the effects' writes; only `new_finalised` complaints add to the aggregates."""
        add_to_aggregates(writes, new_finalised)
        upsert_companies(writes, effects.names, effects.company_segments)
        writes.delete(m.open_complaints, "complaint_id", sorted(effects.finalised))
        _apply_live(writes, effects.live)


def _parse(envelope: dict, message_class):
    from concilia.chassis.outbox import parse_data
    return parse_data(envelope, message_class)


def _instant(timestamp) -> Optional[datetime]:
    if not timestamp.seconds and not timestamp.nanos:
        return None
    return timestamp.ToDatetime(tzinfo=timezone.utc)


# open_complaints columns that add up (each event applied once) instead of flags that turn on.
LIVE_COUNTERS = ("refusals", "reviews")


def _live(live: dict, ref, **changes) -> None:
    if not ref.complaint_id:
        raise BadEvent("event without complaint id")
    _live_row(live, ref.complaint_id, ref.segment_code, **changes)


def _live_row(live: dict, complaint_id: str, segment_code: str, **changes) -> None:
    row = live.setdefault(complaint_id[:64], {
        "complaint_id": complaint_id[:64], "segment_code": "", "filed": False,
        "answer_deadline": None, "answered": False, "unanswered": False, "closed": False,
        "refusals": 0, "reviews": 0})
    if segment_code:
        row["segment_code"] = segment_code[:80]
    for name, value in changes.items():
        if name == "answer_deadline":
            row[name] = value or row[name]
        elif name in LIVE_COUNTERS:
            row[name] += value
        else:
            row[name] = row[name] or value


def _apply_live(writes: Writes, live: dict) -> None:
    """Upserts the live SLA state. Flags only ever turn on (OR) and counters only add up (each event
    is applied once), so arrival order never matters."""
    writes.insert(m.open_complaints, [live[k] for k in sorted(live)],
                  where="NOT EXISTS (SELECT 1 FROM complaints AS c WHERE c.complaint_id = r.complaint_id)",
                  conflict="ON CONFLICT (complaint_id) DO UPDATE SET "
                  "segment_code = COALESCE(NULLIF(excluded.segment_code, ''), open_complaints.segment_code), "
                  "answer_deadline = COALESCE(excluded.answer_deadline, open_complaints.answer_deadline), "
                  + ", ".join([f"{flag} = open_complaints.{flag} OR excluded.{flag}"
                               for flag in ("filed", "answered", "unanswered", "closed")]
                              + [f"{count} = open_complaints.{count} + excluded.{count}" for count in LIVE_COUNTERS]))


# --- reading -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """A finalisation-date period. `months` is set when whole months cover it exactly (the
    aggregates answer); otherwise `days` and the complaints table answer."""
    months: Optional[tuple[str, str]] = None
    days: Optional[tuple[date, date]] = None


def _parse_day(field: str, value: str) -> Optional[date]:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(field, "must be a date YYYY-MM-DD") from None


def parse_period(period_from: str, period_to: str) -> Period:
    start, end = _parse_day("period_from", period_from), _parse_day("period_to", period_to)
    if start and end and start > end:
        raise InvalidArgument("period_to", "must not be before period_from")
    if start is None and end is None:
        return Period()
    start_aligned = start is None or start.day == 1
    end_aligned = end is None or end.day == calendar.monthrange(end.year, end.month)[1]
    if start_aligned and end_aligned:
        return Period(months=(start.strftime("%Y-%m") if start else "0000-00",
                              end.strftime("%Y-%m") if end else "9999-99"))
    return Period(days=(start or date.min, end or date.max))


def parse_month(field: str, value: str, default: str) -> str:
    if not value:
        return default
    if not MONTH_RE.match(value):
        raise InvalidArgument(field, "must be a month YYYY-MM")
    return value


def _acc(row) -> Accumulator:
    acc = Accumulator()
    for name in m.COUNTERS:
        setattr(acc, name, int(getattr(row, name) or 0))
    return acc


_COMPLAINT_KEY = {"national": sa.literal(NATIONAL_KEY), "company": m.complaints.c.company_id,
                  "segment": m.complaints.c.segment_code, "region": m.complaints.c.region_code}


def counts(session: Session, dimension: str, period: Period, keys: Optional[Iterable[str]] = None,
           by_month: bool = False) -> dict:
    """{key: Accumulator} (or {(key, month): ...} with by_month) for one dimension and period."""
    keys = None if keys is None else list(keys)
    if period.days is None:
        a = m.aggregates.c
        group = [a.key, a.month] if by_month else [a.key]
        query = (sa.select(*group, *[sa.func.sum(getattr(a, c)).label(c) for c in m.COUNTERS])
                 .where(a.dimension == dimension).group_by(*group))
        if period.months:
            query = query.where(a.month.between(*period.months))
        if keys is not None:
            query = query.where(a.key.in_(keys))
    else:
        c = m.complaints.c
        key = _COMPLAINT_KEY[dimension].label("key")
        group = [key, c.finalised_month.label("month")] if by_month else [key]
        one = sa.literal(1)
        evaluated_with = lambda word: sa.func.sum(sa.case((c.evaluation == word, 1), else_=0))  # noqa: E731
        query = (sa.select(*group,
                           sa.func.count().label("finalised"),
                           evaluated_with("resolved").label("resolved"),
                           evaluated_with("not_resolved").label("not_resolved"),
                           evaluated_with("not_evaluated").label("not_evaluated"),
                           sa.func.sum(sa.case((c.answered, one), else_=0)).label("answered"),
                           sa.func.sum(sa.case((c.answered, c.answer_days), else_=0)).label("answer_days_sum"),
                           sa.func.sum(sa.case((sa.and_(c.answered, c.answer_days.is_not(None)), one),
                                               else_=0)).label("answer_days_n"),
                           sa.func.coalesce(sa.func.sum(c.score), 0).label("score_sum"),
                           sa.func.count(c.score).label("score_n"))
                 .where(c.finalised_on.between(*period.days)).group_by(*group))
        if keys is not None:
            query = query.where(_COMPLAINT_KEY[dimension].in_(keys))
    result = {}
    for row in session.execute(query):
        result[(row.key, row.month) if by_month else row.key] = _acc(row)
    return result


class Metrics:
    """Queries behind the gRPC API. Public data: no caller identity is needed or used."""

    def __init__(self, database, pack: CountryPack, segments: Segments | None = None):
        self.database = database
        self.pack = pack
        self.segments = segments or Segments.from_pack(pack)
        self.formula = pack.formula_version
        get_formula(self.formula)  # an unknown formula version fails at start-up

    def figures(self, acc: Accumulator) -> dict:
        return compute(acc, self.formula)

    def _check_scope(self, session: Session, scope: str, key: str) -> str:
        if scope not in DIMENSIONS:
            raise InvalidArgument("scope", "must be one of national, company, segment, region")
        key = (key or "").strip()
        if scope == "national":
            return NATIONAL_KEY
        if not key:
            raise InvalidArgument("key", f"is required for the {scope} scope")
        if len(key) > MAX_KEY:
            raise InvalidArgument("key", f"must have at most {MAX_KEY} characters")
        if scope == "company":
            if _company(session, key) is None:
                raise NotFound("no such company in the indicators")
        elif scope == "segment":
            if key not in self.segments.names and not _has_key(session, "segment", key):
                raise NotFound("no such segment")
        elif scope == "region" and not REGION_RE.match(key):
            raise InvalidArgument("key", "must be a region code like BR-SP")
        return key

    def indicators(self, scope: str, key: str, period_from: str = "", period_to: str = "") -> dict:
        period = parse_period(period_from, period_to)
        with self.database.transaction() as session:
            key = self._check_scope(session, scope, key)
            own = counts(session, scope, period, [key]).get(key, Accumulator())
            result = {"indicators": self.figures(own), "by_company": {}, "company_names": {},
                      "by_segment": {}, "segment_names": {}, "name": "", "segment_code": ""}
            if scope in ("national", "segment"):
                companies = _companies(session, segment=key if scope == "segment" else None)
                per_company = counts(session, "company", period,
                                     None if scope == "national" else list(companies))
                for company_id, acc in per_company.items():
                    if company_id in companies and acc.finalised:
                        result["by_company"][company_id] = self.figures(acc)
                        result["company_names"][company_id] = companies[company_id][0]
            if scope == "national":
                for code, acc in counts(session, "segment", period).items():
                    if acc.finalised:
                        result["by_segment"][code] = self.figures(acc)
                        result["segment_names"][code] = self.segments.names.get(code) or _segment_name(session, code)
            if scope == "company":
                row = _company(session, key)
                result["name"], result["segment_code"] = row.name, row.segment_code
            if scope == "segment":
                result["name"] = self.segments.names.get(key) or _segment_name(session, key)
                result["segment_code"] = key
        return result

    def trend(self, scope: str, key: str, month_from: str = "", month_to: str = "") -> list[tuple[str, dict]]:
        first = parse_month("month_from", month_from, "0000-00")
        last = parse_month("month_to", month_to, "9999-99")
        if first > last:
            raise InvalidArgument("month_to", "must not be before month_from")
        with self.database.transaction() as session:
            key = self._check_scope(session, scope, key)
            found = {month: acc for (_k, month), acc in
                     counts(session, scope, Period(months=(first, last)), [key], by_month=True).items()}
        if not found:
            return []
        months = _month_range(month_from or min(found), month_to or max(found))
        return [(month, self.figures(found.get(month, Accumulator()))) for month in months]

    def ranking(self, segment_code: str, period_from: str = "", period_to: str = "",
                min_complaints: int = 0) -> tuple[str, list[tuple[str, str, dict]]]:
        if min_complaints < 0:
            raise InvalidArgument("min_complaints", "must not be negative")
        period = parse_period(period_from, period_to)
        with self.database.transaction() as session:
            if not (segment_code or "").strip():
                raise InvalidArgument("segment_code", "is required")
            segment_code = self._check_scope(session, "segment", segment_code)
            companies = _companies(session, segment=segment_code)
            per_company = counts(session, "company", period, list(companies))
            segment_name = self.segments.names.get(segment_code) or _segment_name(session, segment_code)
        entries = []
        for company_id, acc in per_company.items():
            if acc.finalised and acc.finalised >= max(min_complaints, 1):
                entries.append((company_id, companies[company_id][0], self.figures(acc)))
        entries.sort(key=lambda e: (-(e[2]["solution_index"] or 0), -(e[2]["strict_solution_index"] or 0),
                                    -e[2]["complaints"], e[1]))
        return segment_name, entries

    def export(self, month: str, chunk_rows: int = 2000) -> Iterator[bytes]:
        """The month's finalised complaints as the Brazilian open-data CSV, in chunks."""
        if not month:
            raise InvalidArgument("month", "is required")
        month = parse_month("month", month, "")
        c = m.complaints.c
        first = date(int(month[:4]), int(month[5:]), 1)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        query = (sa.select(m.complaints).where(c.finalised_on.between(first, last))
                 .order_by(c.finalised_on, c.filed_on, c.complaint_id))
        lines = [L.HEADER]
        with self.database.transaction() as session:
            for row in session.execute(query.execution_options(yield_per=chunk_rows)):
                lines.append(format_record(to_record(row)))
                if len(lines) >= chunk_rows:
                    yield _encode(lines)
                    lines = []
        if lines:
            yield _encode(lines)


def _encode(lines: list[str]) -> bytes:
    # Names from events may hold characters cp1252 lacks; the layout is cp1252, so they become '?'.
    return (L.NEWLINE.join(lines) + L.NEWLINE).encode(L.ENCODING, errors="replace")


def to_record(row) -> Complaint:
    """A complaints row as a concilia.opendata Complaint (the open-data layout's values)."""
    uf = row.region_code.split("-", 1)[1] if "-" in row.region_code else row.region_code
    return Complaint(
        region=row.macro_region, uf=uf, city=row.city, sex=row.consumer_sex, age_range=row.age_bracket,
        opened_year=row.filed_on.year, opened_month=row.filed_on.month, opened_on=row.filed_on,
        answered_on=row.answered_on, finalised_on=row.finalised_on, answer_days=row.answer_days,
        company=row.company_name, segment=row.segment_name, area=row.area, subject=row.subject,
        problem_group=row.problem_group, problem=row.problem, how_bought=row.purchase_channel,
        contacted_company=row.contacted_company, answered=row.answered, status=STATUS_WORDS[row.status],
        evaluation=EVALUATION_WORDS[row.evaluation], score=row.score)


def _month_range(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _company(session: Session, company_id: str):
    return session.execute(sa.select(m.companies).where(m.companies.c.company_id == company_id)).first()


def _companies(session: Session, segment: Optional[str] = None) -> dict:
    query = sa.select(m.companies.c.company_id, m.companies.c.name, m.companies.c.segment_code)
    if segment is not None:
        query = query.where(m.companies.c.segment_code == segment)
    return {row.company_id: (row.name, row.segment_code) for row in session.execute(query)}


def _has_key(session: Session, dimension: str, key: str) -> bool:
    a = m.aggregates.c
    return session.execute(sa.select(sa.literal(1)).where(a.dimension == dimension, a.key == key)
                           .limit(1)).first() is not None


def _segment_name(session: Session, code: str) -> str:
    return session.execute(sa.select(m.complaints.c.segment_name)
                           .where(m.complaints.c.segment_code == code).limit(1)).scalar() or code
