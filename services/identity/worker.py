"""Identity worker: relays the outbox (account_created) to RabbitMQ."""
from nameko.timer import timer

from concilia.chassis.worker import OutboxRelayProvider, Telemetry, relay_interval_seconds

from .models import outbox


class IdentityWorker:
    name = "identity"
    telemetry = Telemetry()
    relay = OutboxRelayProvider(outbox, source="identity")

    @timer(interval=relay_interval_seconds())
    def relay_outbox(self):
        self.relay()
