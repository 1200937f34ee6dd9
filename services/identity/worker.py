"""Identity worker: relays the outbox (account_created) to RabbitMQ."""

from concilia.chassis.worker import OutboxRelayProvider, Telemetry

from .models import outbox


class IdentityWorker:
    name = "identity"
    telemetry = Telemetry()
    relay = OutboxRelayProvider(outbox, source="identity")
