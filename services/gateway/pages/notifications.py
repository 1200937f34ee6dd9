"""The notifications pages: the signed-in user's inbox and e-mail preferences, and (company agents)
the company's webhooks with their recent deliveries."""
import grpc
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from concilia.notification.v1 import notification_pb2 as pb

from ..auth import login_required, principal, token
from ..clients import call
from ..convert import enum_to_word
from ..errors import from_rpc_error

bp = Blueprint("pages_notifications", __name__)

KINDS = ("complaint_filed", "complaint_answered", "complaint_refused", "complaint_refusal_reviewed",
         "complaint_unanswered", "complaint_message_added", "complaint_evaluated", "complaint_finalised",
         "complaint_cancelled", "deadline_reminder")


def stub():
    return current_app.extensions["concilia"].clients.notification


def page_lang() -> str:
    return current_app.extensions["concilia"].pack.languages[0]


@bp.get("/notifications")
@login_required
def inbox():
    unread_only = request.args.get("unread") == "1"
    listing = call(stub().ListInbox, pb.ListInboxRequest(unread_only=unread_only, page_size=50,
                                                         page_token=request.args.get("page", "")), token())
    prefs = call(stub().GetPreferences, pb.GetPreferencesRequest(), token()).preferences
    pack = current_app.extensions["concilia"].pack
    return render_template("notifications/inbox.html", listing=listing, prefs=prefs, kinds=KINDS,
                           languages=pack.languages, unread_only=unread_only, page_lang=page_lang(),
                           is_agent=principal().role == "company_agent")


@bp.post("/notifications/read")
@login_required
def mark_read():
    ids = request.form.getlist("notification_id")
    request_message = pb.MarkReadRequest(all=True) if request.form.get("all") else pb.MarkReadRequest(notification_ids=ids)
    try:
        call(stub().MarkRead, request_message, token())
    except grpc.RpcError as error:
        flash(from_rpc_error(error).message, "error")
    return redirect(url_for("pages_notifications.inbox"))


@bp.post("/notifications/preferences")
@login_required
def save_preferences():
    form = request.form
    prefs = pb.Preferences(email_enabled=form.get("email_enabled") == "on", locale=form.get("locale", ""),
                           muted_kinds=form.getlist("muted_kinds"))
    try:
        call(stub().UpdatePreferences, pb.UpdatePreferencesRequest(preferences=prefs), token())
    except grpc.RpcError as error:
        flash(from_rpc_error(error).message, "error")
    else:
        flash("preferences saved", "ok")
    return redirect(url_for("pages_notifications.inbox"))


@bp.get("/notifications/webhooks")
@login_required
def webhooks():
    hooks = call(stub().ListWebhooks, pb.ListWebhooksRequest(), token()).webhooks
    deliveries = call(stub().ListDeliveries, pb.ListDeliveriesRequest(page_size=50), token()).deliveries
    status_enum = pb.DeliveryStatus.DESCRIPTOR
    return render_template("notifications/webhooks.html", hooks=hooks, deliveries=deliveries, kinds=KINDS,
                           status_word=lambda n: enum_to_word(status_enum, n), page_lang=page_lang())


@bp.post("/notifications/webhooks")
@login_required
def register_webhook():
    try:
        response = call(stub().RegisterWebhook, pb.RegisterWebhookRequest(
            url=request.form.get("url", ""), event_types=request.form.getlist("event_types")), token())
    except grpc.RpcError as error:
        flash(from_rpc_error(error).message, "error")
    else:
        # Shown once: the company stores it to verify X-Concilia-Signature.
        flash(f"webhook registered; signing secret (shown only now): {response.secret}", "ok")
    return redirect(url_for("pages_notifications.webhooks"))


@bp.post("/notifications/webhooks/deliveries/<delivery_id>/replay")
@login_required
def replay(delivery_id):
    try:
        call(stub().ReplayDelivery, pb.ReplayDeliveryRequest(delivery_id=delivery_id), token())
    except grpc.RpcError as error:
        flash(from_rpc_error(error).message, "error")
    else:
        flash("delivery queued again", "ok")
    return redirect(url_for("pages_notifications.webhooks"))
