"""The plans PostgreSQL caches for the complaint api's prepared statements on a new, empty database
(a new deployment, every test and benchmark stack) must already use the right index: a cached
generic plan is kept until the first autoanalyze, which may be a minute and thousands of calls away."""
import psycopg
from sqlalchemy.dialects import postgresql

from concilia.chassis.db import migrate, numbered_sql
from services.complaint.domain import FILING_READS


def generic_plan(url: str, statement) -> str:
    sql, names = numbered_sql(statement, postgresql.psycopg.dialect())
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
        connection.execute(f"PREPARE probe AS {sql}")
        connection.execute("SET plan_cache_mode = force_generic_plan")
        values = ", ".join("'x'" for _ in names)
        return "\n".join(row[0] for row in connection.execute(f"EXPLAIN EXECUTE probe({values})"))


def test_the_filing_finds_an_earlier_idempotency_key_through_the_unique_index(make_database):
    url = make_database("complaint_plans")
    migrate("services.complaint", url)
    plan = generic_plan(url, FILING_READS)
    # Not ix_complaints_consumer_filed with a filter: that reads every complaint of the consumer.
    assert "uq_complaints_idempotency_key_consumer" in plan, plan
    assert "ix_complaints_consumer_filed" not in plan, plan
