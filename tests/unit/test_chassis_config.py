from dataclasses import dataclass

import pytest

from concilia.chassis.config import ConfigError, env, load
from concilia.chassis.logs import redact


@dataclass(frozen=True)
class Example:
    url: str = env("EXAMPLE_URL")
    port: int = env("EXAMPLE_PORT", 50051)
    tls: bool = env("EXAMPLE_TLS", False)


def test_defaults_and_parsing():
    settings = load(Example, {"EXAMPLE_URL": "postgresql://x", "EXAMPLE_PORT": "7000", "EXAMPLE_TLS": "yes"})
    assert (settings.url, settings.port, settings.tls) == ("postgresql://x", 7000, True)
    assert load(Example, {"EXAMPLE_URL": "u"}).port == 50051


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        load(Example, {"EXAMPLE_PORT": "seven", "EXAMPLE_TLS": "maybe"})
    message = str(error.value)
    assert "EXAMPLE_URL is required" in message
    assert "EXAMPLE_PORT='seven'" in message
    assert "EXAMPLE_TLS='maybe'" in message


def test_personal_data_is_masked_in_log_text():
    text = redact("login failed for maria.silva@example.com with CPF 529.982.247-25 on port 50051")
    assert "maria.silva" not in text and "529.982.247-25" not in text
    assert "<email>" in text and "<id>" in text and "50051" in text


def test_ids_that_are_not_personal_data_survive_redaction():
    assert redact("complaint 12345678-1234-4abc-9def-123456789012 filed") == \
        "complaint 12345678-1234-4abc-9def-123456789012 filed"
