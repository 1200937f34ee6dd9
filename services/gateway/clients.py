"""gRPC stubs of every service, one channel each per gateway process."""
import importlib

from concilia.chassis.grpc_client import bearer, make_channel

# attribute -> (settings field with the address, generated module, stub class)
STUBS = {
    "identity": ("identity_addr", "concilia.identity.v1.identity_pb2_grpc", "IdentityServiceStub"),
    "company_registry": ("company_registry_addr", "concilia.company_registry.v1.company_registry_pb2_grpc",
                         "CompanyRegistryServiceStub"),
    "complaint": ("complaint_addr", "concilia.complaint.v1.complaint_pb2_grpc", "ComplaintServiceStub"),
    "notification": ("notification_addr", "concilia.notification.v1.notification_pb2_grpc",
                     "NotificationServiceStub"),
    "metrics": ("metrics_addr", "concilia.metrics.v1.metrics_pb2_grpc", "MetricsServiceStub"),
}


class Clients:
    def __init__(self, settings):
        self.settings = settings
        self.channels = {}
        for name, (address_field, module, stub_class) in STUBS.items():
            channel = make_channel(getattr(settings, address_field), timeout=settings.timeout_seconds)
            self.channels[name] = channel
            setattr(self, name, getattr(importlib.import_module(module), stub_class)(channel))

    def address(self, name: str) -> str:
        return getattr(self.settings, STUBS[name][0])


def call(method, request, token: str = "", timeout: float | None = None):
    """Calls a stub method forwarding the caller's token; errors propagate as grpc.RpcError."""
    return method(request, metadata=bearer(token), timeout=timeout)
