"""Property-based run of the published OpenAPI document against the running gateway
(schemathesis): no 5xx, and every response conforms to the document (status codes, content
types, bodies)."""
import subprocess
from pathlib import Path

import pytest

from support.actors import Actors

SCHEMATHESIS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "schemathesis"


@pytest.fixture(scope="module")
def stack(start_stack):
    return start_stack(gateway=True)


@pytest.mark.parametrize("role", ["consumer", "manager"])
def test_the_gateway_honours_its_openapi_document(stack, role):
    _, token = Actors(stack).create(role)
    result = subprocess.run(
        [str(SCHEMATHESIS), "run", f"{stack.gateway_url}/openapi.json",
         "-H", f"Authorization: Bearer {token}",
         "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
         "--phases", "examples,fuzzing", "--max-examples", "15", "--max-time", "90", "--request-timeout", "10",
         "--continue-on-failure", "--generation-deterministic", "--workers", "2"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
