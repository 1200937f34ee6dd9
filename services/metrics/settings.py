from dataclasses import dataclass

from concilia.chassis.config import env
from concilia.chassis.service import ApiSettings


@dataclass(frozen=True)
class Settings(ApiSettings):
    grpc_port: int = env("GRPC_PORT", 50055)
    export_chunk_rows: int = env("METRICS_EXPORT_CHUNK_ROWS", 2000,
                                 help="open-data rows per streamed chunk")


@dataclass(frozen=True)
class WorkerSettings:
    database_url: str = env("DATABASE_URL", help="SQLAlchemy URL of the metrics database")
    country: str = env("CONCILIA_COUNTRY", "BR")
