"""Alembic environment of the notification database."""
from concilia.chassis.db import run_alembic_env
from services.notification.models import metadata

run_alembic_env(metadata)
