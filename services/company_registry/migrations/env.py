from concilia.chassis.db import run_alembic_env
from services.company_registry.models import metadata

run_alembic_env(metadata)
