from dataclasses import dataclass

from concilia.chassis.config import env


@dataclass(frozen=True)
class GatewaySettings:
    port: int = env("PORT", 8080)
    metrics_port: int = env("METRICS_PORT", 0)
    workers: int = env("GATEWAY_WORKERS", 2)
    threads: int = env("GATEWAY_THREADS", 8)
    secret_key: str = env("GATEWAY_SECRET_KEY", "", help="signs session cookies; random per start when empty")
    secure_cookies: bool = env("GATEWAY_SECURE_COOKIES", False, help="set behind HTTPS")
    country: str = env("CONCILIA_COUNTRY", "BR")
    token_issuer: str = env("TOKEN_ISSUER", "concilia")
    identity_addr: str = env("IDENTITY_ADDR", "127.0.0.1:50051")
    company_registry_addr: str = env("COMPANY_REGISTRY_ADDR", "127.0.0.1:50052")
    complaint_addr: str = env("COMPLAINT_ADDR", "127.0.0.1:50053")
    notification_addr: str = env("NOTIFICATION_ADDR", "127.0.0.1:50054")
    metrics_addr: str = env("METRICS_ADDR", "127.0.0.1:50055")
    timeout_seconds: float = env("GRPC_CLIENT_TIMEOUT_SECONDS", 5.0)
