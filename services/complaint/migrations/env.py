from concilia.chassis.db import run_alembic_env
from services.complaint.models import metadata

run_alembic_env(metadata)
