"""Each service's migrations build exactly the schema its models.py declares (alembic's
autogenerate comparison on a migrated SQLite database finds nothing to add, drop or change): a
table or index added to the models without a migration, or the reverse, fails here."""
import importlib

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from concilia.chassis.db import migrate

SERVICES = ["identity", "company_registry", "complaint", "notification", "metrics"]


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_build_the_models_schema(service, tmp_path):
    url = f"sqlite:///{tmp_path}/{service}.db"
    migrate(f"services.{service}", url)
    models = importlib.import_module(f"services.{service}.models")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), models.metadata)
    finally:
        engine.dispose()
    assert differences == []
