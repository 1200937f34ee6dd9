"""Identity worker: relays the outbox (account_created, account_erased) to RabbitMQ and prunes the
access log by the country pack's retention (docs/adr/0021-retention.md)."""
import logging

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from concilia.chassis import audit, retention
from concilia.chassis.clock import clock_from_env
from concilia.chassis.country import pack_from_env
from concilia.chassis.worker import DatabaseProvider, OutboxRelayProvider, Telemetry

from .models import access_log, outbox

log = logging.getLogger(__name__)


class PackAndClock(DependencyProvider):
    def setup(self):
        self.pack, self.clock = pack_from_env(), clock_from_env()

    def get_dependency(self, worker_ctx):
        return self


class IdentityWorker:
    name = "identity"
    telemetry = Telemetry()
    relay = OutboxRelayProvider(outbox, source="identity")
    db = DatabaseProvider()
    platform = PackAndClock()

    @timer(interval=retention.SWEEP_INTERVAL_SECONDS)
    def apply_retention(self):
        pruned = audit.prune(self.db, access_log, self.platform.pack.retention.access_log_days,
                             self.platform.clock.now())
        if pruned:
            log.info("retention: %d access log rows pruned", pruned)
