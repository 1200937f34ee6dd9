"""gRPC status -> HTTP status, in one place. Bodies never carry stack traces."""
import logging

import grpc
from flask import jsonify, render_template, request

log = logging.getLogger(__name__)

HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.UNIMPLEMENTED: 501,
}
# Codes whose service message is safe and useful to show; the others get a generic text.
_PASS_MESSAGE = {400, 401, 403, 404, 409, 429}


class ApiError(Exception):
    """An error the gateway itself detects (bad JSON, missing body...)."""

    def __init__(self, status: int, code: str, message: str, field: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def from_rpc_error(error: grpc.RpcError) -> ApiError:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    status = HTTP_STATUS.get(code, 500)
    field = ""
    for key, value in (error.trailing_metadata() or ()) if hasattr(error, "trailing_metadata") else ():
        if key == "concilia-field":
            field = value
    if status in _PASS_MESSAGE:
        message = error.details() or code.name.lower()
    elif status in (503, 504):
        message = "a service is temporarily unavailable; try again"
    else:
        message = "internal error"
    if status >= 500:
        log.warning("gRPC call failed with %s", code.name)
    return ApiError(status, code.name, message, field)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def respond(error: ApiError):
    if wants_json():
        from .locale import current_locale, error_text
        body = {"error": {"code": error.code, "message": error.message,
                          "localized_message": error_text(error).message}}
        if error.field:
            body["error"]["field"] = error.field
        response = jsonify(body)
        response.headers["Content-Language"] = current_locale()
        return response, error.status
    return render_template("error.html", error=error), error.status


def register(app) -> None:
    @app.errorhandler(grpc.RpcError)
    def _rpc(error):
        return respond(from_rpc_error(error))

    @app.errorhandler(ApiError)
    def _api(error):
        return respond(error)

    @app.errorhandler(404)
    def _not_found(_error):
        return respond(ApiError(404, "NOT_FOUND", "no such resource"))

    @app.errorhandler(405)
    def _method(_error):
        return respond(ApiError(405, "METHOD_NOT_ALLOWED", "method not allowed"))

    @app.errorhandler(413)
    def _too_large(_error):
        return respond(ApiError(413, "PAYLOAD_TOO_LARGE", "request body too large"))

    @app.errorhandler(Exception)
    def _unhandled(error):
        from werkzeug.exceptions import HTTPException
        if isinstance(error, HTTPException):
            return respond(ApiError(error.code or 500, error.name.upper().replace(" ", "_"), error.description or error.name))
        log.exception("unhandled error on %s %s", request.method, request.url_rule.rule if request.url_rule else "?")
        return respond(ApiError(500, "INTERNAL", "internal error"))
