"""Settings of the notification api and worker (environment variables, see docs/developing.md)."""
from dataclasses import dataclass

from concilia.chassis.config import ConfigError, env
from concilia.chassis.service import ApiSettings


@dataclass(frozen=True)
class Settings(ApiSettings):
    grpc_port: int = env("GRPC_PORT", 50054)
    webhooks_allow_insecure_loopback: bool = env(
        "WEBHOOKS_ALLOW_INSECURE_LOOPBACK", False,
        help="accept http:// webhook URLs on loopback hosts (tests and local development only)")
    max_webhooks_per_company: int = env("WEBHOOKS_MAX_PER_COMPANY", 10)


@dataclass(frozen=True)
class WorkerSettings:
    database_url: str = env("DATABASE_URL", help="SQLAlchemy URL of the notification database")
    country: str = env("CONCILIA_COUNTRY", "BR")
    smtp_host: str = env("SMTP_HOST", "", help="empty = e-mail off (in-app notifications only)")
    smtp_port: int = env("SMTP_PORT", 25)
    smtp_from: str = env("SMTP_FROM", "Concilia <no-reply@concilia.invalid>")
    smtp_starttls: bool = env("SMTP_STARTTLS", False)
    smtp_username: str = env("SMTP_USERNAME", "")
    smtp_password: str = env("SMTP_PASSWORD", "")
    smtp_timeout_seconds: float = env("SMTP_TIMEOUT_SECONDS", 10.0)
    email_max_attempts: int = env("EMAIL_MAX_ATTEMPTS", 8)
    email_retry_base_seconds: float = env("EMAIL_RETRY_BASE_SECONDS", 30.0)
    webhook_max_attempts: int = env("WEBHOOK_MAX_ATTEMPTS", 8)
    webhook_retry_base_seconds: float = env("WEBHOOK_RETRY_BASE_SECONDS", 30.0)
    webhook_retry_max_seconds: float = env("WEBHOOK_RETRY_MAX_SECONDS", 6 * 3600.0)
    webhook_timeout_seconds: float = env("WEBHOOK_TIMEOUT_SECONDS", 5.0)
    webhooks_allow_insecure_loopback: bool = env(
        "WEBHOOKS_ALLOW_INSECURE_LOOPBACK", False, help="deliver to loopback hosts (tests and local development only)")
    public_base_url: str = env("PUBLIC_BASE_URL", "", help="gateway URL used for links in e-mails")
    batch_size: int = env("NOTIFICATION_SEND_BATCH", 100, help="e-mails / webhook calls per timer tick")
    unaddressed_retention_hours: float = env(
        "NOTIFICATION_UNADDRESSED_RETENTION_HOURS", 24.0,
        help="how long an event that found no agent of its company (or no consumer address) waits for one")

    def check(self) -> "WorkerSettings":
        if self.unaddressed_retention_hours <= 0:
            raise ConfigError("NOTIFICATION_UNADDRESSED_RETENTION_HOURS must be positive")
        return self

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host)
