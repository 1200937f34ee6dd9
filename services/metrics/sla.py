"""Prometheus SLA metrics, read from the metrics database when scraped (so a worker restart never
resets them). Label values are bounded: segment codes of the pack's taxonomy (anything else is
"other"), outcomes and formula names; never company ids or consumer data."""
from __future__ import annotations

import logging
from collections import defaultdict

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from concilia.opendata import Accumulator

from . import models as m
from .domain import Segments, compute

log = logging.getLogger(__name__)

# Answer time in days (the Brazilian window is 10 days; longer buckets cover other packs).
ANSWER_DAYS_BUCKETS = (0, 1, 2, 3, 5, 7, 10, 15, 20, 30)
OUTCOMES = ("resolved", "not_resolved", "not_evaluated")


class SlaCollector:
    def __init__(self, database, segments: Segments, formula_version: str, clock):
        self.database = database
        self.segments = segments
        self.formula_version = formula_version
        self.clock = clock

    def describe(self):
        return []  # collected lazily: no database query at registration time

    def collect(self):
        try:
            with self.database.transaction() as session:
                answer_rows = session.execute(sa.select(m.answer_times)).all()
                a = m.aggregates.c
                segment_rows = session.execute(
                    sa.select(a.key, *[sa.func.sum(getattr(a, c)).label(c) for c in m.COUNTERS])
                    .where(a.dimension == "segment").group_by(a.key)).all()
                live = self._live(session)
        except sa.exc.SQLAlchemyError:
            log.warning("SLA metrics unavailable: database error")
            return
        yield self._answer_time(answer_rows)
        yield from self._finalised(segment_rows)
        yield from live

    def _answer_time(self, rows):
        per_segment: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for row in rows:
            per_segment[self.segments.label(row.segment_code)][row.days] += row.complaints
        family = HistogramMetricFamily(
            "concilia_complaint_answer_time_days",
            "Company answer time of finalised answered complaints, in days", labels=["segment"])
        for segment, days in sorted(per_segment.items()):
            buckets = [(str(float(edge)), sum(n for d, n in days.items() if d <= edge))
                       for edge in ANSWER_DAYS_BUCKETS]
            buckets.append(("+Inf", sum(days.values())))
            family.add_metric([segment], buckets, sum_value=sum(d * n for d, n in days.items()))
        return family

    def _finalised(self, rows):
        finalised = CounterMetricFamily("concilia_complaints_finalised", "Finalised complaints by outcome",
                                        labels=["segment", "outcome"])
        index = GaugeMetricFamily("concilia_solution_index",
                                  "Solution index over all finalised complaints (fraction 0-1); "
                                  "official: the pack's formula version, strict: resolved / finalised",
                                  labels=["segment", "formula"])
        merged: dict[str, Accumulator] = defaultdict(Accumulator)
        for row in rows:
            acc = Accumulator()
            for name in m.COUNTERS:
                setattr(acc, name, int(getattr(row, name) or 0))
            merged[self.segments.label(row.key)].merge(acc)
        for segment, acc in sorted(merged.items()):
            for outcome in OUTCOMES:
                finalised.add_metric([segment, outcome], getattr(acc, outcome))
            figures = compute(acc, self.formula_version)
            if figures["solution_index"] is not None:
                index.add_metric([segment, "official"], figures["solution_index"])
                index.add_metric([segment, "strict"], figures["strict_solution_index"])
        yield finalised
        yield index

    def _live(self, session) -> list:
        o = m.open_complaints.c
        now = self.clock.now()
        under_review = o.refusals > o.reviews  # the answer clock is paused
        past = sa.and_(sa.not_(o.answered), sa.not_(under_review), sa.or_(o.unanswered, o.answer_deadline < now))
        rows = session.execute(
            sa.select(o.segment_code, sa.func.count().label("open"),
                      sa.func.sum(sa.case((past, 1), else_=0)).label("past_deadline"),
                      sa.func.sum(sa.case((under_review, 1), else_=0)).label("under_review"))
            .where(o.filed, sa.not_(o.closed)).group_by(o.segment_code)).all()
        open_family = GaugeMetricFamily("concilia_complaints_open", "Complaints filed and not finalised yet",
                                        labels=["segment"])
        past_family = GaugeMetricFamily(
            "concilia_complaints_past_deadline",
            "Open complaints the company did not answer by the answer deadline", labels=["segment"])
        review_family = GaugeMetricFamily(
            "concilia_complaints_under_refusal_review",
            "Open complaints the company refused, waiting for a manager's review (answer clock paused)",
            labels=["segment"])
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for row in rows:
            total = totals[self.segments.label(row.segment_code)]
            total[0] += row.open
            total[1] += int(row.past_deadline or 0)
            total[2] += int(row.under_review or 0)
        for segment, (open_count, past_count, review_count) in sorted(totals.items()):
            open_family.add_metric([segment], open_count)
            past_family.add_metric([segment], past_count)
            review_family.add_metric([segment], review_count)
        return [open_family, past_family, review_family]
