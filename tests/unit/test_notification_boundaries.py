"""Process boundaries and contracts of the notification service."""
import subprocess
import sys

import pytest
import yaml
from flask import Flask

from services.gateway.routes import notifications as routes
from services.gateway.routes.health import OPENAPI_DIR
from services.notification import domain


def loaded_modules(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize("module,forbidden", [
    ("services.notification.api", ("nameko", "eventlet")),
    ("services.notification.worker", ("grpc",)),
])
def test_api_and_worker_stay_on_their_side(module, forbidden):
    modules = loaded_modules(module)
    assert not [name for name in modules if name.split(".")[0] in forbidden]


def test_every_rest_route_is_in_the_openapi_fragment():
    fragment = yaml.safe_load((OPENAPI_DIR / "notifications.yaml").read_text(encoding="utf-8"))
    app = Flask(__name__)
    app.register_blueprint(routes.bp)
    documented = {(path, method) for path, item in fragment["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("notifications."):
            path = rule.rule.replace("<", "{").replace(">", "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method.lower()) in documented, (path, method)
    kinds = fragment["components"]["schemas"]["NotificationKind"]["enum"]
    assert kinds == list(domain.KINDS)
