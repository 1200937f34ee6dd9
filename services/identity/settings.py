from dataclasses import dataclass

from concilia.chassis.config import ConfigError, env
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
    # argon2id cost, tuned to the deployment's hardware. Defaults: RFC 9106's low-memory profile.
    # Existing hashes keep verifying after a change and are re-hashed at the next login.
    password_hash_memory_kib: int = env("PASSWORD_HASH_MEMORY_KIB", 65536, help="argon2id memory per hash (KiB)")
    password_hash_time_cost: int = env("PASSWORD_HASH_TIME_COST", 3, help="argon2id passes")
    password_hash_parallelism: int = env("PASSWORD_HASH_PARALLELISM", 4, help="argon2id lanes")

    def __post_init__(self):
        # OWASP's floor for argon2id (19 MiB, 2 passes, 1 lane): below it a leaked table is cheap to crack.
        if (self.password_hash_memory_kib < 19456 or self.password_hash_time_cost < 2
                or self.password_hash_parallelism < 1):
            raise ConfigError("invalid configuration: PASSWORD_HASH_* below the argon2id minimum "
                              "(PASSWORD_HASH_MEMORY_KIB >= 19456, PASSWORD_HASH_TIME_COST >= 2, "
                              "PASSWORD_HASH_PARALLELISM >= 1)")
