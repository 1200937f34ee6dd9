"""Metrics aggregation against real PostgreSQL: import of the real open-data files, event
ingestion, queries, validation, export round trip and the SLA collector."""
import datetime as dt
import glob
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from concilia.chassis.country import load_pack
from concilia.chassis.db import Database, migrate
from concilia.chassis.errors import InvalidArgument, NotFound
from concilia.chassis.outbox import envelope
from concilia.events.v1 import events_pb2
from concilia.opendata import Reader, aggregate, read_records
from concilia.opendata import layout as L
from services.metrics import models as m
from services.metrics.domain import Ingestor, Metrics, Segments, opendata_company_id
from services.metrics.import_opendata import Importer
from services.metrics.sla import SlaCollector

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "consumidor-gov-br-2014"
FILES = sorted(glob.glob(str(DATA / "*.csv.gz")))
JULY = str(DATA / "2014-07.csv.gz")
PACK = load_pack("BR")
SEGMENTS = Segments.from_pack(PACK)


def _ts(day: dt.date | None) -> Timestamp:
    ts = Timestamp()
    if day is not None:  # local noon, so the local date is the day itself
        ts.FromDatetime(dt.datetime.combine(day, dt.time(12), PACK.zone).astimezone(dt.timezone.utc))
    return ts


def finalised_envelope(record, complaint_id: str) -> dict:
    """A complaint_finalised envelope carrying one open-data record, as the complaint service would."""
    data = events_pb2.ComplaintFinalised(
        complaint=events_pb2.ComplaintRef(
            complaint_id=complaint_id, consumer_id=str(uuid.uuid4()),
            company_id=opendata_company_id(record.company), segment_code=SEGMENTS.code_for(record.segment),
            region_code=f"BR-{record.uf}"),
        status="finalised_evaluated" if record.status == L.STATUS_EVALUATED else "finalised_not_evaluated",
        resolution={L.RESOLVED: "resolved", L.NOT_RESOLVED: "not_resolved"}.get(record.evaluation, ""),
        satisfaction_score=record.score or 0, answered=record.answered,
        answer_time_days=record.answer_days or 0, filed_at=_ts(record.opened_on),
        answered_at=_ts(record.answered_on), finalised_at=_ts(record.finalised_on), area=record.area,
        subject=record.subject, problem_group=record.problem_group, problem=record.problem,
        purchase_channel=record.how_bought, contacted_company_first=record.contacted_company,
        city=record.city, company_name=record.company, segment_name=record.segment,
        consumer_sex=record.sex, consumer_age_bracket=record.age_range)
    return envelope("complaint_finalised", "complaint", data, "BR")


@pytest.fixture
def database(make_database):
    url = make_database("metrics")
    migrate("services.metrics", url)
    db = Database(url, pool_size=2)
    yield db
    db.engine.dispose()


def _counts(db: Database) -> dict:
    with db.transaction() as session:
        return {t.name: session.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                for t in (m.complaints, m.aggregates, m.answer_times, m.companies, m.processed_events)}


def _same(figures: dict, expected: dict) -> None:
    for name in ("complaints", "resolved", "not_resolved", "not_evaluated", "answered"):
        assert figures[name] == expected[name], name
    for name in ("solution_index", "strict_solution_index", "answered_share", "satisfaction",
                 "avg_answer_days"):
        if expected[name] is None:  # no base (e.g. nothing evaluated)
            assert figures[name] is None, name
        else:
            assert figures[name] == pytest.approx(expected[name], rel=1e-12), name


def test_import_of_all_real_files_gives_the_published_figures(database):
    importer = Importer(database, PACK)
    for path in FILES:
        assert importer.import_file(path)[0] == "imported"
    metrics = Metrics(database, PACK)
    expected = aggregate(Reader().columns(FILES)).indicators(PACK.formula_version)

    national = metrics.indicators("national", "")
    _same(national["indicators"], expected)
    assert national["indicators"]["complaints"] == 45772
    assert round(national["indicators"]["solution_index"], 4) == 0.7316
    assert round(national["indicators"]["strict_solution_index"], 4) == 0.4302
    assert round(national["indicators"]["avg_answer_days"], 2) == 6.59
    # Per company, keyed by id and named as in the files.
    by_name = {national["company_names"][cid]: f for cid, f in national["by_company"].items()}
    assert set(by_name) == set(expected["by_company"])
    for name, figures in by_name.items():
        _same(figures, expected["by_company"][name])
    # Per segment (codes of the pack's taxonomy) and per month.
    assert {national["segment_names"][c] for c in national["by_segment"]} == set(expected["by_segment"])
    trend = dict(metrics.trend("national", ""))
    assert list(trend) == sorted(expected["by_month"])
    for month, figures in trend.items():
        _same(figures, expected["by_month"][month])
    # A region (UF) scope.
    _same(metrics.indicators("region", "BR-SP")["indicators"], expected["by_uf"]["SP"])

    # The same file again is refused, and nothing changes.
    before = _counts(database)
    assert importer.import_file(JULY) == ("already imported", 0)
    assert _counts(database) == before


def test_periods_by_finalisation_date_agree_between_aggregates_and_rows(database):
    Importer(database, PACK).import_file(JULY)
    records, _ = read_records([JULY])
    metrics = Metrics(database, PACK)
    # Month-aligned: answered from the aggregates; equal to all of July.
    july = metrics.indicators("national", "", "2014-07-01", "2014-07-31")["indicators"]
    assert july["complaints"] == len(records)
    # Mid-month: answered from the complaint rows; equal to recomputing from the records.
    start, end = dt.date(2014, 7, 10), dt.date(2014, 7, 20)
    chosen = [r for r in records if start <= r.finalised_on <= end]
    from concilia.opendata import aggregate_records
    expected = aggregate_records(chosen).indicators(PACK.formula_version)
    _same(metrics.indicators("national", "", start.isoformat(), end.isoformat())["indicators"], expected)
    company = chosen[0].company
    _same(metrics.indicators("company", opendata_company_id(company), start.isoformat(),
                             end.isoformat())["indicators"], expected["by_company"][company])
    # Nothing finalised in this period.
    assert metrics.indicators("national", "", "2020-01-01", "2020-01-31")["indicators"]["complaints"] == 0


def test_events_give_the_same_aggregates_as_the_import_and_duplicates_change_nothing(database, make_database):
    records, _ = read_records([JULY])
    envelopes = [finalised_envelope(r, f"c-{i}") for i, r in enumerate(records)]
    ingestor = Ingestor(PACK, SEGMENTS)
    for start in range(0, len(envelopes), 500):  # batches as the worker commits them
        with database.transaction() as session:
            assert ingestor.ingest(session, envelopes[start:start + 500]) == len(envelopes[start:start + 500])
    with database.transaction() as session:
        by_events = sorted(session.execute(sa.select(m.aggregates)).all())

    # Redelivery of a whole batch, and of one event inside a new batch: nothing changes.
    before = _counts(database)
    with database.transaction() as session:
        assert ingestor.ingest(session, envelopes[:300] + envelopes[:1]) == 0
    assert _counts(database) == before
    with database.transaction() as session:
        assert sorted(session.execute(sa.select(m.aggregates)).all()) == by_events

    other = Database(make_database("metrics_import"))
    migrate("services.metrics", str(other.engine.url.render_as_string(hide_password=False)))
    Importer(other, PACK).import_file(JULY)
    with other.transaction() as session:
        by_import = sorted(session.execute(sa.select(m.aggregates)).all())
    other.engine.dispose()
    assert by_events == by_import


def test_a_batch_with_seen_events_or_complaints_applies_only_the_new_ones(database):
    """The first attempt writes a batch as if all of it were new; an event id already claimed, or
    a complaint already counted under another event id, sends it down the careful path."""
    records = read_records([JULY])[0][:40]
    envelopes = [finalised_envelope(r, f"c-{i}") for i, r in enumerate(records)]
    refused = _live("complaint_refused", events_pb2.ComplaintRefused(
        complaint=events_pb2.ComplaintRef(complaint_id="open-1", company_id="co")))
    ingestor = Ingestor(PACK, SEGMENTS)
    with database.transaction() as session:
        assert ingestor.ingest(session, envelopes[:20] + [refused]) == 21
    # 10 redelivered events and 10 new ones; a redelivered refusal (a counter) and 5 new ones.
    with database.transaction() as session:
        assert ingestor.ingest(session, envelopes[10:30]) == 10
    with database.transaction() as session:
        assert ingestor.ingest(session, [refused] + envelopes[30:35]) == 5
    # A new event id finalising complaint c-0 again, with 5 new ones.
    again = finalised_envelope(records[0], "c-0")
    with database.transaction() as session:
        assert ingestor.ingest(session, [again] + envelopes[35:]) == 6
    from concilia.opendata import aggregate_records
    _same(Metrics(database, PACK).indicators("national", "")["indicators"],
          aggregate_records(records).indicators(PACK.formula_version))
    assert _counts(database)["complaints"] == 40 and _counts(database)["processed_events"] == 42
    with database.transaction() as session:
        assert session.execute(sa.select(m.open_complaints.c.refusals)).scalars().all() == [1]


def test_malformed_event_is_skipped_and_recorded(database):
    record = read_records([JULY])[0][0]
    bad = finalised_envelope(record, "bad-1")
    bad["data"]["status"] = "finalised_somehow"
    good = finalised_envelope(record, "good-1")
    no_id = finalised_envelope(record, "no-id")
    del no_id["id"]
    long_id = finalised_envelope(record, "long-id")
    long_id["id"] = "x" * 80
    with database.transaction() as session:
        assert Ingestor(PACK, SEGMENTS).ingest(session, [bad, good, no_id, long_id]) == 3
    with database.transaction() as session:  # redelivered: nothing new
        assert Ingestor(PACK, SEGMENTS).ingest(session, [bad, good, long_id]) == 0
    national = Metrics(database, PACK).indicators("national", "")["indicators"]
    assert national["complaints"] == 2


def test_queries_reject_bad_input(database):
    Importer(database, PACK).import_file(JULY)
    metrics = Metrics(database, PACK)
    with pytest.raises(InvalidArgument) as error:
        metrics.indicators("", "")
    assert error.value.field == "scope"
    with pytest.raises(InvalidArgument) as error:
        metrics.indicators("national", "", "2014-13-01")
    assert error.value.field == "period_from"
    with pytest.raises(InvalidArgument) as error:
        metrics.indicators("national", "", "2014-08-01", "2014-07-01")
    assert error.value.field == "period_to"
    with pytest.raises(InvalidArgument) as error:
        metrics.indicators("company", "")
    assert error.value.field == "key"
    with pytest.raises(NotFound):
        metrics.indicators("company", str(uuid.uuid4()))
    with pytest.raises(NotFound):
        metrics.indicators("segment", "no-such-segment")
    with pytest.raises(InvalidArgument) as error:
        metrics.indicators("region", "Sao Paulo")
    assert error.value.field == "key"
    with pytest.raises(InvalidArgument) as error:
        metrics.trend("national", "", "2014-7")
    assert error.value.field == "month_from"
    with pytest.raises(InvalidArgument) as error:
        metrics.ranking("comercio-eletronico", min_complaints=-1)
    assert error.value.field == "min_complaints"
    with pytest.raises(InvalidArgument) as error:
        list(metrics.export("July"))
    assert error.value.field == "month"


def test_ranking_orders_by_solution_index_and_applies_the_minimum(database):
    Importer(database, PACK).import_file(JULY)
    records, _ = read_records([JULY])
    segment = "Operadoras de Telecomunicações (Telefonia, Internet, TV por assinatura)"
    expected = aggregate_records_by_company([r for r in records if r.segment == segment])
    name, entries = Metrics(database, PACK).ranking(SEGMENTS.code_for(segment), min_complaints=50)
    assert name == segment
    big = {c for c, f in expected.items() if f["complaints"] >= 50}
    assert {e[1] for e in entries} == big and big
    indices = [e[2]["solution_index"] for e in entries]
    assert indices == sorted(indices, reverse=True)
    for _cid, company, figures in entries:
        _same(figures, expected[company])


def aggregate_records_by_company(records) -> dict:
    from concilia.opendata import aggregate_records
    return aggregate_records(records).indicators(PACK.formula_version)["by_company"]


def test_export_reads_back_as_the_same_records(database, tmp_path):
    Importer(database, PACK).import_file(JULY)
    data = b"".join(Metrics(database, PACK).export("2014-07", chunk_rows=700))
    assert data.startswith(L.HEADER.encode("cp1252") + b"\r\n")
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    reader = Reader()
    exported = list(reader.records(path))
    assert reader.rejections == []
    original, _ = read_records([JULY])
    assert sorted(exported, key=repr) == sorted(original, key=repr)
    # An empty month is a header-only file.
    assert b"".join(Metrics(database, PACK).export("2019-01")) == L.HEADER.encode("cp1252") + b"\r\n"


def _live(event_type: str, message, event_id: str | None = None) -> dict:
    return envelope(event_type, "complaint", message, "BR", event_id=event_id)


class FixedClock:
    def __init__(self, now):
        self.value = now

    def now(self):
        return self.value


def _samples(collector) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in collector.collect() for s in family.samples}


def test_sla_gauges_follow_events_in_any_order(database):
    now = dt.datetime(2026, 3, 10, 12, tzinfo=dt.timezone.utc)
    segment = "comercio-eletronico"

    def ref(cid):
        return events_pb2.ComplaintRef(complaint_id=cid, company_id="co", segment_code=segment,
                                       region_code="BR-SP")

    def deadline(days):
        ts = Timestamp()
        ts.FromDatetime(now + dt.timedelta(days=days))
        return ts

    events = [
        # a: filed, deadline passed, never answered -> open and past deadline
        _live("complaint_filed", events_pb2.ComplaintFiled(complaint=ref("a"), answer_deadline=deadline(-1))),
        # b: answered before the finalised event... arrives after it -> closed, not counted
        _live("complaint_finalised", events_pb2.ComplaintFinalised(
            complaint=ref("b"), status="finalised_not_evaluated", filed_at=deadline(-20),
            finalised_at=deadline(-1), company_name="Loja", segment_name="Comércio Eletrônico")),
        _live("complaint_filed", events_pb2.ComplaintFiled(complaint=ref("b"), answer_deadline=deadline(5))),
        # c: answered although the deadline has passed since -> open, not past deadline
        _live("complaint_answered", events_pb2.ComplaintAnswered(complaint=ref("c"))),
        _live("complaint_filed", events_pb2.ComplaintFiled(complaint=ref("c"), answer_deadline=deadline(-3))),
        # d: window lapsed (unanswered) -> open and past deadline
        _live("complaint_filed", events_pb2.ComplaintFiled(complaint=ref("d"), answer_deadline=deadline(2))),
        _live("complaint_unanswered", events_pb2.ComplaintUnanswered(complaint=ref("d"))),
        # e: cancelled -> closed
        _live("complaint_filed", events_pb2.ComplaintFiled(complaint=ref("e"), answer_deadline=deadline(-1))),
        _live("complaint_cancelled", events_pb2.ComplaintCancelled(complaint=ref("e"))),
        # g: refused and under review, deadline passed meanwhile -> open, under review, not past
        _live("complaint_refused", events_pb2.ComplaintRefused(complaint=ref("g"))),
        _live("complaint_filed", events_pb2.ComplaintFiled(complaint=ref("g"), answer_deadline=deadline(-1))),
        # h: refused, review rejected with a new deadline that has passed -> past deadline again
        _live("complaint_filed", events_pb2.ComplaintFiled(complaint=ref("h"), answer_deadline=deadline(5))),
        _live("complaint_refusal_reviewed", events_pb2.ComplaintRefusalReviewed(
            complaint=ref("h"), upheld=False, answer_deadline=deadline(-2))),
        _live("complaint_refused", events_pb2.ComplaintRefused(complaint=ref("h"))),
        # f: a segment outside the taxonomy is labelled "other"
        _live("complaint_filed", events_pb2.ComplaintFiled(
            complaint=events_pb2.ComplaintRef(complaint_id="f", segment_code="made-up"),
            answer_deadline=deadline(3))),
    ]
    ingestor = Ingestor(PACK, SEGMENTS)
    for event in events:  # one event per batch: arrival order as listed
        with database.transaction() as session:
            ingestor.ingest(session, [event])
    collector = SlaCollector(database, SEGMENTS, PACK.formula_version, FixedClock(now))
    samples = _samples(collector)
    assert samples[("concilia_complaints_open", (("segment", segment),))] == 5  # a, c, d, g, h
    assert samples[("concilia_complaints_past_deadline", (("segment", segment),))] == 3  # a, d, h
    assert samples[("concilia_complaints_under_refusal_review", (("segment", segment),))] == 1  # g
    # The same refusal redelivered is applied once (each event id counts once).
    with database.transaction() as session:
        ingestor.ingest(session, [next(e for e in events if e["type"] == "complaint_refused")])
    assert _samples(collector)[("concilia_complaints_under_refusal_review", (("segment", segment),))] == 1
    assert samples[("concilia_complaints_open", (("segment", "other"),))] == 1
    # Time moves on: f's deadline passes too.
    collector.clock = FixedClock(now + dt.timedelta(days=4))
    assert _samples(collector)[("concilia_complaints_past_deadline", (("segment", "other"),))] == 1


def test_sla_finalised_counts_index_and_answer_time_histogram(database):
    Importer(database, PACK).import_file(JULY)
    records, _ = read_records([JULY])
    samples = _samples(SlaCollector(database, SEGMENTS, PACK.formula_version,
                                    FixedClock(dt.datetime.now(dt.timezone.utc))))
    segment = "Bancos, Financeiras e Administradoras de Cartão"
    code = SEGMENTS.code_for(segment)
    assert code in SEGMENTS.names
    mine = [r for r in records if r.segment == segment]
    resolved = sum(r.evaluation == L.RESOLVED for r in mine)
    silent = sum(r.evaluation == L.NOT_EVALUATED for r in mine)
    assert samples[("concilia_complaints_finalised_total", (("outcome", "resolved"), ("segment", code)))] == resolved
    assert samples[("concilia_complaints_finalised_total", (("outcome", "not_evaluated"), ("segment", code)))] == silent
    assert samples[("concilia_solution_index", (("formula", "official"), ("segment", code)))] == \
        pytest.approx((resolved + silent) / len(mine))
    assert samples[("concilia_solution_index", (("formula", "strict"), ("segment", code)))] == \
        pytest.approx(resolved / len(mine))
    answered = [r.answer_days for r in mine if r.answered]
    assert samples[("concilia_complaint_answer_time_days_count", (("segment", code),))] == len(answered)
    assert samples[("concilia_complaint_answer_time_days_sum", (("segment", code),))] == sum(answered)
    assert samples[("concilia_complaint_answer_time_days_bucket", (("le", "5.0"), ("segment", code)))] == \
        sum(d <= 5 for d in answered)
    # Bounded labels: every segment label is a taxonomy code or "other"; no company anywhere.
    labels = {dict(k[1]).get("segment") for k in samples}
    assert labels <= set(SEGMENTS.names) | {"other"}
    assert not any("company" in dict(k[1]) for k in samples)


def test_embedded_sqlite_gives_the_same_figures(tmp_path):
    """The embedded default (SQLite file): the same statements' SQLite forms."""
    url = f"sqlite:///{tmp_path}/metrics.db"
    migrate("services.metrics", url)
    db = Database(url)
    records, _ = read_records([JULY])
    chosen = records[:300]
    envelopes = [finalised_envelope(r, f"c-{i}") for i, r in enumerate(chosen)]
    ingestor = Ingestor(PACK, SEGMENTS)
    with db.transaction() as session:
        assert ingestor.ingest(session, envelopes[:200]) == 200
    with db.transaction() as session:
        assert ingestor.ingest(session, envelopes[150:]) == 100  # 50 redelivered
    from concilia.opendata import aggregate_records
    expected = aggregate_records(chosen).indicators(PACK.formula_version)
    metrics = Metrics(db, PACK)
    _same(metrics.indicators("national", "")["indicators"], expected)
    _same(metrics.indicators("national", "", "2014-07-02", "2014-07-20")["indicators"],
          aggregate_records([r for r in chosen if dt.date(2014, 7, 2) <= r.finalised_on <= dt.date(2014, 7, 20)])
          .indicators(PACK.formula_version))
    exported = tmp_path / "export.csv"
    exported.write_bytes(b"".join(metrics.export("2014-07")))
    assert sorted(Reader().records(exported), key=repr) == sorted(chosen, key=repr)
    with db.transaction() as session:  # finalised complaints never enter the live state
        assert session.execute(sa.select(sa.func.count()).select_from(m.open_complaints)).scalar() == 0
    db.engine.dispose()


def test_import_command_reports_rejected_rows_and_refuses_a_second_import(make_database, tmp_path, capsys):
    import gzip

    from services.metrics import import_opendata
    url = make_database("metrics_cli")
    lines = gzip.decompress(Path(JULY).read_bytes()).split(b"\r\n")
    bad_score = lines[1].rsplit(b";", 1)[0] + b";9"        # Nota do Consumidor out of range
    short = b";".join(lines[2].split(b";")[:10])             # 10 fields
    path = tmp_path / "july-with-errors.csv"
    path.write_bytes(b"\r\n".join([lines[0], bad_score, short, *lines[3:53]]) + b"\r\n")

    assert import_opendata.main([str(path), "--database-url", url, "--migrate", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "50 rows imported, 2 rejected" in out
    assert f"{path}:2: " in out and f"{path}:3: 10 fields instead of 23" in out
    db = Database(url)
    assert Metrics(db, PACK).indicators("national", "")["indicators"]["complaints"] == 50

    assert import_opendata.main([str(path), "--database-url", url, "--no-progress"]) == 2
    assert "skipped, already imported" in capsys.readouterr().out
    assert Metrics(db, PACK).indicators("national", "")["indicators"]["complaints"] == 50
    db.engine.dispose()
