from dataclasses import dataclass

from concilia.chassis.config import env
from concilia.chassis.service import ApiSettings


@dataclass(frozen=True)
class Settings(ApiSettings):
    grpc_port: int = env("GRPC_PORT", 50053)
    attachments_dir: str = env("ATTACHMENTS_DIR", ".data/attachments",
                               help="folder of the local attachment store (content-addressed by sha256)")


@dataclass(frozen=True)
class WorkerSettings:
    database_url: str = env("DATABASE_URL", help="SQLAlchemy URL of the complaint database")
    country: str = env("CONCILIA_COUNTRY", "BR")
    # The api's folder: the worker removes the content of attachments erased with their account.
    attachments_dir: str = env("ATTACHMENTS_DIR", ".data/attachments",
                               help="folder of the local attachment store, the same as the complaint api's")
    sweep_interval_seconds: float = env("DEADLINE_SWEEP_INTERVAL_SECONDS", 1.0,
                                        help="how often the worker looks for lapsed deadlines and due reminders")
