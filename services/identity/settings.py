from dataclasses import dataclass

from concilia.chassis.config import env
from concilia.chassis.service import ApiSettings


@dataclass(frozen=True)
class Settings(ApiSettings):
    grpc_port: int = env("GRPC_PORT", 50051)
    signing_key_file: str = env("TOKEN_SIGNING_KEY_FILE", help="PEM Ed25519 private key signing access tokens")
    create_signing_key: bool = env("TOKEN_SIGNING_KEY_CREATE", True,
                                   help="create the key file when missing (off in production: mount a Secret)")
    access_token_ttl_seconds: int = env("ACCESS_TOKEN_TTL_SECONDS", 900)
    refresh_token_ttl_seconds: int = env("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600)
    company_registry_addr: str = env("COMPANY_REGISTRY_ADDR", "127.0.0.1:50052",
                                     help="checks a company agent's company and reads its group")
    bootstrap_admin_email: str = env("BOOTSTRAP_ADMIN_EMAIL", "")
    bootstrap_admin_password: str = env("BOOTSTRAP_ADMIN_PASSWORD", "")
    lockout_threshold: int = env("LOGIN_LOCKOUT_THRESHOLD", 5, help="failed logins before a lock")
    lockout_base_seconds: int = env("LOGIN_LOCKOUT_BASE_SECONDS", 30, help="first lock; doubles each time")
    lockout_max_seconds: int = env("LOGIN_LOCKOUT_MAX_SECONDS", 900)
