"""create_app(): the gateway's Flask application (gunicorn: "services.gateway.app:create_app()")."""
import importlib
import os
import pkgutil
import secrets
import time
from types import SimpleNamespace

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface
from prometheus_client import Counter, Histogram

from concilia.chassis import config
from concilia.chassis.auth import TokenVerifier
from concilia.chassis.country import load_pack
from concilia.chassis.grpc_client import jwks_fetcher
from concilia.chassis.logs import setup_logging
from concilia.chassis.telemetry import setup_tracing, spans_exported

from . import csrf, errors, locale
from .clients import Clients
from .routes.health import MAX_QUERY_VALUE
from .settings import GatewaySettings

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests served by the gateway", ["method", "route", "status"])
HTTP_SECONDS = Histogram("http_request_duration_seconds", "HTTP request time in the gateway", ["method", "route"],
                         buckets=(.0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))

MAX_BODY_BYTES = 12 * 1024 * 1024  # attachments are limited further by the country pack


class PageSessions(SecureCookieSessionInterface):
    """The JSON API takes bearer tokens only and never reads the session cookie (auth.py, csrf.py), so
    /api/ requests get an empty read-only session instead of verifying the cookie's signature: that
    was about 4 % of an API call's CPU in the gateway."""

    def open_session(self, app, request):
        if request.path.startswith(csrf.API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


def _blueprint_modules():
    """Every module in routes/ and pages/ that defines `bp` is registered: areas plug in by file."""
    for package in ("routes", "pages"):
        path = os.path.join(os.path.dirname(__file__), package)
        for info in sorted(pkgutil.iter_modules([path]), key=lambda i: i.name):
            module = importlib.import_module(f"{__package__}.{package}.{info.name}")
            if hasattr(module, "bp"):
                yield module


def create_app(settings: GatewaySettings | None = None) -> Flask:
    settings = settings or config.load(GatewaySettings)
    setup_logging("gateway")
    setup_tracing("gateway")
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies, MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        JSON_SORT_KEYS=False)
    app.session_interface = PageSessions()
    clients = Clients(settings)
    pack = load_pack(settings.country)
    app.extensions["concilia"] = SimpleNamespace(
        settings=settings, clients=clients, pack=pack,
        verifier=TokenVerifier(jwks_fetcher(clients.channels["identity"]), issuer=settings.token_issuer))
    errors.register(app)
    locale.init_app(app)
    csrf.init_app(app)
    for module in _blueprint_modules():
        app.register_blueprint(module.bp)

    if spans_exported():
        from opentelemetry.instrumentation.flask import FlaskInstrumentor
        FlaskInstrumentor().instrument_app(app, excluded_urls="livez,healthz,static")
    else:
        # No span leaves the process, and the request and gRPC client spans cost about a third of
        # a small request's CPU here: skip them; each service call then starts its own trace, which
        # the service's events carry on (docs/adr/0012-write-path.md).
        app.wsgi_app = _without_spans(app.wsgi_app)

    @app.before_request
    def _started():
        g.started = time.perf_counter()
        for name, value in request.args.items(multi=True):
            if len(value) > MAX_QUERY_VALUE:
                raise errors.ApiError(400, "INVALID_ARGUMENT", f"{name}: at most {MAX_QUERY_VALUE} characters", name)

    @app.after_request
    def _observe(response):
        # The route template, never the concrete path: ids must not become label values.
        route = request.url_rule.rule if request.url_rule else "unmatched"
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        HTTP_SECONDS.labels(request.method, route).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


def _without_spans(wsgi_app):
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    def wsgi_app_without_spans(environ, start_response):
        with suppress_instrumentation():
            return wsgi_app(environ, start_response)
    return wsgi_app_without_spans


def services_of(app: Flask) -> SimpleNamespace:
    return app.extensions["concilia"]
