"""Domain errors. Services raise these; the gRPC layer maps them to status codes in one place
(grpc_server.py) and the gateway maps status codes to HTTP (services/gateway)."""


class DomainError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidArgument(DomainError):
    code = "INVALID_ARGUMENT"

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}", field)


class NotFound(DomainError):
    code = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    code = "FAILED_PRECONDITION"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class ResourceExhausted(DomainError):
    code = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    code = "UNAVAILABLE"


def require_text(field: str, value: str, *, max_length: int, min_length: int = 1) -> str:
    """Stripped text within length limits, or InvalidArgument naming the field."""
    value = (value or "").strip()
    if len(value) < min_length:
        raise InvalidArgument(field, "is required" if min_length == 1 else f"must have at least {min_length} characters")
    if len(value) > max_length:
        raise InvalidArgument(field, f"must have at most {max_length} characters")
    return value
