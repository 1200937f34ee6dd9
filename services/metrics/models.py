"""Metrics tables. Nothing here identifies a consumer: no consumer id, no free text; only the
coarse profile the open data publishes (sex, age bracket, city)."""
import sqlalchemy as sa

from concilia.chassis.db import UtcDateTime

from concilia.chassis.outbox import define_outbox_tables

metadata = sa.MetaData()
outbox, processed_events = define_outbox_tables(metadata)

# One row per finalised complaint: the source of the open-data export and of odd-period queries.
complaints = sa.Table(
    "complaints", metadata,
    sa.Column("complaint_id", sa.String(64), primary_key=True),
    sa.Column("origin", sa.String(8), nullable=False),          # "event" or "import"
    sa.Column("company_id", sa.String(64), nullable=False),
    sa.Column("company_name", sa.Text, nullable=False),
    sa.Column("segment_code", sa.String(80), nullable=False),
    sa.Column("segment_name", sa.Text, nullable=False),
    sa.Column("region_code", sa.String(16), nullable=False),    # ISO 3166-2, e.g. BR-SP
    sa.Column("macro_region", sa.String(4), nullable=False),    # open-data Região (N, NE, ...)
    sa.Column("city", sa.Text, nullable=False),
    sa.Column("consumer_sex", sa.String(1), nullable=False),
    sa.Column("age_bracket", sa.Text, nullable=False),
    sa.Column("filed_on", sa.Date, nullable=False),
    sa.Column("answered_on", sa.Date, nullable=True),
    sa.Column("finalised_on", sa.Date, nullable=False),
    sa.Column("finalised_month", sa.String(7), nullable=False),
    sa.Column("answered", sa.Boolean, nullable=False),
    sa.Column("answer_days", sa.Integer, nullable=True),
    sa.Column("status", sa.String(32), nullable=False),         # finalised_evaluated / _not_evaluated
    sa.Column("evaluation", sa.String(16), nullable=False),     # resolved / not_resolved / not_evaluated
    sa.Column("score", sa.SmallInteger, nullable=True),
    sa.Column("area", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("problem_group", sa.Text, nullable=False),
    sa.Column("problem", sa.Text, nullable=False),
    sa.Column("purchase_channel", sa.Text, nullable=False),
    sa.Column("contacted_company", sa.Boolean, nullable=False),
    sa.Index("ix_complaints_finalised_on", "finalised_on"),
)

# The counts behind the indicators (concilia.opendata.Accumulator's fields) per
# (dimension, key, finalisation month). dimension: national (key ""), company, segment, region.
COUNTERS = ("finalised", "resolved", "not_resolved", "not_evaluated", "answered",
            "answer_days_sum", "answer_days_n", "score_sum", "score_n")
aggregates = sa.Table(
    "aggregates", metadata,
    sa.Column("dimension", sa.String(16), primary_key=True),
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    *[sa.Column(name, sa.BigInteger, nullable=False, server_default="0") for name in COUNTERS],
)

# Answer-time histogram source: finalised answered complaints per segment and whole day.
answer_times = sa.Table(
    "answer_times", metadata,
    sa.Column("segment_code", sa.String(80), primary_key=True),
    sa.Column("days", sa.Integer, primary_key=True),
    sa.Column("complaints", sa.BigInteger, nullable=False),
)

companies = sa.Table(
    "companies", metadata,
    sa.Column("company_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("segment_code", sa.String(80), nullable=False),
)

# Live state of complaints not finalised yet, for the SLA gauges. Each event sets only its own
# columns (upserts), so events of different types may arrive in any order.
open_complaints = sa.Table(
    "open_complaints", metadata,
    sa.Column("complaint_id", sa.String(64), primary_key=True),
    sa.Column("segment_code", sa.String(80), nullable=False, server_default=""),
    sa.Column("filed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("answer_deadline", UtcDateTime(), nullable=True),
    sa.Column("answered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("unanswered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.false()),
    # Refusals and their reviews seen (each event once): under review while refusals > reviews, and
    # then the answer clock is paused, so the complaint is not past its deadline.
    sa.Column("refusals", sa.Integer, nullable=False, server_default="0"),
    sa.Column("reviews", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_open_complaints_live", "closed", "filed"),
)

# Open-data files already imported (by content hash): importing one twice would double counts.
imports = sa.Table(
    "imports", metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("file_name", sa.String(300), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("imported_at", UtcDateTime(), nullable=False),
)
