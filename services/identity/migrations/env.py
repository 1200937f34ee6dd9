from concilia.chassis.db import run_alembic_env
from services.identity.models import metadata

run_alembic_env(metadata)
