"""Who is calling the gateway: a bearer token (API) or the signed session cookie (web pages only).

The gateway verifies tokens locally with identity's public keys (cached), so rendering a page
knows the caller's role without a call to identity; services verify the token again themselves.
"""
import functools

from flask import current_app, g, redirect, request, session, url_for

from concilia.chassis.auth import Principal
from concilia.chassis.errors import Unauthenticated

from .errors import ApiError


def token() -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if request.path.startswith("/api/"):
        return ""  # the JSON API takes bearer tokens only, so it needs no CSRF token (csrf.py)
    return session.get("access_token", "")


def principal() -> Principal | None:
    """The verified caller, or None for anonymous requests (an invalid token counts as anonymous)."""
    if "principal" not in g:
        g.principal = None
        raw = token()
        if raw:
            try:
                g.principal = current_app.extensions["concilia"].verifier.verify(raw)
            except Unauthenticated:
                g.principal = None
    return g.principal


def require_api_token() -> str:
    raw = token()
    if not raw:
        raise ApiError(401, "UNAUTHENTICATED", "missing access token")
    return raw


def login_required(view):
    """For HTML pages: anonymous visitors go to the login page and come back afterwards."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if principal() is None:
            return redirect(url_for("pages_identity.login", next=request.path))
        return view(*args, **kwargs)
    return wrapper
