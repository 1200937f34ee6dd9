from concilia.chassis.db import run_alembic_env
from services.metrics.models import metadata

run_alembic_env(metadata)
