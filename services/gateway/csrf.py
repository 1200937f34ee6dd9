"""Cross-site request forgery protection for the server-rendered pages (docs/adr/0015-csrf.md).

Every POST (any unsafe method) outside the JSON API must carry this session's token in the
`csrf_token` form field; forms put it there with `{{ csrf_field() }}`. The token lives in the
signed session cookie, which another site can neither read nor forge, and is compared with the
field in constant time. A request without a valid token is refused with a 403 page before any view
runs, so it changes nothing. Sign-in and sign-out clear the session, so they rotate the token.

/api/ is exempt: the JSON API authenticates bearer tokens only (auth.token() never reads the
session cookie there), and a browser does not add an Authorization header on its own.
"""
import hmac
import secrets

from flask import request, session
from markupsafe import Markup, escape

from .errors import ApiError

FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
API_PREFIX = "/api/"


def token() -> str:
    """This session's token, made when a page first shows a form."""
    value = session.get(FIELD)
    if not value:
        value = session[FIELD] = secrets.token_urlsafe(32)
    return value


def hidden_field() -> Markup:
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(token())}">')


def check() -> None:
    if request.method in SAFE_METHODS or request.path.startswith(API_PREFIX):
        return
    if request.routing_exception is not None:
        return  # no such page or method: let it be the 404/405 it is
    expected, sent = session.get(FIELD, ""), request.form.get(FIELD, "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise ApiError(403, "CSRF_TOKEN_INVALID", "missing or invalid form token; reload the page and try again")


def init_app(app) -> None:
    app.before_request(check)
    app.jinja_env.globals["csrf_field"] = hidden_field
