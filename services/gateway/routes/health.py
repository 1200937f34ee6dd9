"""Liveness, readiness and the OpenAPI document."""
import functools
import pathlib

import grpc
import yaml
from flask import Blueprint, current_app, jsonify
from grpc_health.v1 import health_pb2, health_pb2_grpc

bp = Blueprint("health", __name__)
OPENAPI_DIR = pathlib.Path(__file__).resolve().parent.parent / "openapi"


@bp.get("/livez")
def livez():
    """The process answers: liveness only, no dependencies."""
    return jsonify(status="ok")


@bp.get("/healthz")
def healthz():
    """200 when every service answers SERVING on its gRPC health service, else 503."""
    clients = current_app.extensions["concilia"].clients
    report, healthy = {}, True
    for name, channel in clients.channels.items():
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1.0)
            serving = response.status == health_pb2.HealthCheckResponse.SERVING
        except grpc.RpcError:
            serving = False
        report[name] = "serving" if serving else "not_serving"
        healthy = healthy and serving
    return jsonify(status="ok" if healthy else "unavailable", services=report), 200 if healthy else 503


@functools.lru_cache(maxsize=1)
def openapi_document() -> dict:
    """base.yaml plus every area's fragment (paths and component schemas), merged."""
    document = yaml.safe_load((OPENAPI_DIR / "base.yaml").read_text(encoding="utf-8"))
    for fragment_path in sorted(OPENAPI_DIR.glob("*.yaml")):
        if fragment_path.name == "base.yaml":
            continue
        fragment = yaml.safe_load(fragment_path.read_text(encoding="utf-8")) or {}
        document.setdefault("paths", {}).update(fragment.get("paths", {}))
        for section, items in (fragment.get("components") or {}).items():
            document.setdefault("components", {}).setdefault(section, {}).update(items)
        document.setdefault("tags", []).extend(fragment.get("tags", []))
    _bound_query_strings(document)
    return document


MAX_QUERY_VALUE = 500  # characters; enforced for every request in app.py


def _bound_query_strings(document: dict) -> None:
    """Every string query parameter is at most MAX_QUERY_VALUE characters, as the gateway enforces."""
    for path in document.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {}) if parameter.get("in") == "query" else {}
                if schema.get("type") == "string" and "maxLength" not in schema and "enum" not in schema:
                    schema["maxLength"] = MAX_QUERY_VALUE


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(openapi_document())
