"""Sign-in, registration and sign-out pages (the session cookie holds the tokens)."""
import grpc
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for

from concilia.identity.v1 import identity_pb2

from ..auth import principal
from ..clients import call
from ..errors import from_rpc_error
from ..locale import gettext as _

bp = Blueprint("pages_identity", __name__)


def _safe_next(target: str) -> str:
    # Only local paths: never redirect a fresh session to another site.
    return target if target.startswith("/") and not target.startswith("//") else "/"


@bp.get("/")
def home():
    return render_template("identity/home.html", user=principal())


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        clients = current_app.extensions["concilia"].clients
        try:
            response = call(clients.identity.Login, identity_pb2.LoginRequest(
                email=request.form.get("email", ""), password=request.form.get("password", "")))
        except grpc.RpcError as rpc_error:
            error = from_rpc_error(rpc_error)
        else:
            session.clear()
            session["access_token"] = response.tokens.access_token
            session["refresh_token"] = response.tokens.refresh_token
            session["name"] = response.account.name
            return redirect(_safe_next(request.args.get("next", "/")))
    return render_template("identity/login.html", error=error), 400 if error else 200


@bp.route("/register", methods=["GET", "POST"])
def register():
    error = None
    form = request.form
    if request.method == "POST":
        clients = current_app.extensions["concilia"].clients
        try:
            call(clients.identity.CreateAccount, identity_pb2.CreateAccountRequest(
                role=identity_pb2.ROLE_CONSUMER, name=form.get("name", ""), email=form.get("email", ""),
                password=form.get("password", ""), national_id=form.get("national_id", ""),
                locale=form.get("locale", "")))
        except grpc.RpcError as rpc_error:
            error = from_rpc_error(rpc_error)
        else:
            flash(_("Your account was created; please sign in."), "ok")
            return redirect(url_for("pages_identity.login"))
    pack = current_app.extensions["concilia"].pack
    return render_template("identity/register.html", error=error, form=form, id_label=pack.person_id.label), \
        400 if error else 200


@bp.post("/logout")
def logout():
    refresh = session.get("refresh_token")
    if refresh:
        clients = current_app.extensions["concilia"].clients
        try:
            call(clients.identity.RevokeToken, identity_pb2.RevokeTokenRequest(refresh_token=refresh))
        except grpc.RpcError:
            pass  # the session ends anyway
    session.clear()
    return redirect("/")
