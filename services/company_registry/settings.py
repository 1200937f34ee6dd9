from dataclasses import dataclass

from concilia.chassis.config import env
from concilia.chassis.service import ApiSettings


@dataclass(frozen=True)
class Settings(ApiSettings):
    grpc_port: int = env("GRPC_PORT", 50052)
