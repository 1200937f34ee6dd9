"""The registry's worker: relays the outbox (company_adhered, company_suspended) to RabbitMQ.

python -m concilia.chassis.run_worker services.company_registry.worker
"""

from concilia.chassis.worker import OutboxRelayProvider, Telemetry

from . import models
from .domain import SOURCE


class CompanyRegistryWorker:
    name = "company_registry"
    telemetry = Telemetry()
    relay = OutboxRelayProvider(models.outbox, source=SOURCE)
