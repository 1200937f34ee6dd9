"""Sign-in, registration and sign-out pages (the session cookie holds the tokens)."""
import grpc
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for

from datetime import timezone

from concilia.chassis import i18n
from concilia.identity.v1 import identity_pb2

from ..auth import login_required, principal, token
from ..clients import call
from ..errors import ApiError, from_rpc_error
from ..locale import current_locale, gettext as _, lazy_gettext as _l
from ..routes.account_data import access_trail, download

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


@bp.get("/account")
@login_required
def account():
    """The signed-in person's account: download of their data, erasure (docs/adr/0018)."""
    return _account_page(None)


# What someone else read (access audit, docs/adr/0020), as people read it.
ACCESS_NAMES = {
    "account.read": _l("your account"), "complaint.read": _l("your complaint"),
    "complaint.listed": _l("your complaint, in a list"), "history.read": _l("your complaint’s history"),
    "attachment.read": _l("a file of your complaint"),
}
RECENT_ACCESSES = 20


def _account_page(error):
    clients = current_app.extensions["concilia"].clients
    row = call(clients.identity.GetAccount, identity_pb2.GetAccountRequest(), token()).account
    accesses = access_trail(token(), row.role == identity_pb2.ROLE_CONSUMER, limit=RECENT_ACCESSES)
    pack = current_app.extensions["concilia"].pack
    shown = [{"at": i18n.format_datetime(a.at.ToDatetime(tzinfo=timezone.utc), pack, current_locale(), "short"),
              "role": a.actor_role, "action": a.action, "what": ACCESS_NAMES.get(a.action, a.action),
              "complaint_id": getattr(a, "complaint_id", "")} for a in accesses]
    return render_template("identity/account.html", account=row, accesses=shown, error=error), \
        400 if error else 200


@bp.get("/account/data.json")
@login_required
def account_data():
    return download(token())


@bp.post("/account/erasure")
@login_required
def erase_account():
    if request.form.get("confirm") != "yes":
        return _account_page(ApiError(400, "INVALID_ARGUMENT", "confirm: tick the box to confirm", "confirm"))
    clients = current_app.extensions["concilia"].clients
    try:
        call(clients.identity.EraseAccount, identity_pb2.EraseAccountRequest(
            password=request.form.get("password", "")), token())
    except grpc.RpcError as rpc_error:
        return _account_page(from_rpc_error(rpc_error))
    session.clear()
    flash(_("Your personal data was erased and your account closed."), "ok")
    return redirect("/")
