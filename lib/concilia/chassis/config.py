"""Typed configuration from environment variables, failing fast with a clear message.

A settings class is a frozen dataclass whose fields carry `env(...)` metadata:

    @dataclass(frozen=True)
    class Settings:
        database_url: str = env("DATABASE_URL")
        grpc_port: int = env("GRPC_PORT", 50051)

`load(Settings)` reads them all and reports every missing or malformed variable at once.
"""
import dataclasses
import os
from typing import Any, Mapping, TypeVar

T = TypeVar("T")
_REQUIRED = object()


class ConfigError(Exception):
    """Raised at start-up when the environment does not describe a valid configuration."""


def env(name: str, default: Any = _REQUIRED, *, help: str = "") -> Any:
    """Declares a dataclass field read from the environment variable `name`."""
    metadata = {"env": name, "help": help, "required": default is _REQUIRED}
    if default is _REQUIRED:
        return dataclasses.field(default=None, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _parse(raw: str, kind: Any) -> Any:
    if kind in (bool, "bool"):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("expected true/false")
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    return raw


def load(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    environ = os.environ if environ is None else environ
    values, problems = {}, []
    for field in dataclasses.fields(cls):
        name = field.metadata.get("env")
        if not name:
            continue
        raw = environ.get(name)
        if raw is None or raw == "":
            if field.metadata["required"]:
                hint = f" ({field.metadata['help']})" if field.metadata["help"] else ""
                problems.append(f"{name} is required{hint}")
            continue
        try:
            values[field.name] = _parse(raw, field.type)
        except ValueError as error:
            problems.append(f"{name}={raw!r} is not a valid {getattr(field.type, '__name__', field.type)}: {error}")
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return cls(**values)


def describe(cls: type) -> list[tuple[str, Any, str]]:
    """(variable, default, help) rows, for --help texts and docs."""
    rows = []
    for field in dataclasses.fields(cls):
        if field.metadata.get("env"):
            default = "(required)" if field.metadata["required"] else field.default
            rows.append((field.metadata["env"], default, field.metadata["help"]))
    return rows
