"""The notifications pages: the signed-in user's inbox and e-mail preferences, and (company agents)
the company's webhooks with their recent deliveries."""
import grpc
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from concilia.chassis import i18n
from concilia.notification.v1 import notification_pb2 as pb

from ..auth import login_required, principal, token
from ..clients import call
from ..convert import enum_to_word
from ..errors import from_rpc_error
from ..locale import LANGUAGE_NAMES, error_text, gettext as _, lazy_gettext as _l

bp = Blueprint("pages_notifications", __name__)

# Event kinds, as people read them; the codes are what the API and webhooks use.
KIND_NAMES = {
    "complaint_filed": _l("Complaint filed"), "complaint_answered": _l("Complaint answered"),
    "complaint_refused": _l("Complaint refused"), "complaint_refusal_reviewed": _l("Refusal reviewed"),
    "complaint_unanswered": _l("Complaint unanswered"), "complaint_message_added": _l("New message"),
    "complaint_evaluated": _l("Complaint evaluated"), "complaint_finalised": _l("Complaint finalised"),
    "complaint_cancelled": _l("Complaint cancelled"), "deadline_reminder": _l("Deadline reminder"),
}
DELIVERY_STATUS_NAMES = {"pending": _l("Pending"), "delivered": _l("Delivered"), "retrying": _l("Retrying"),
                         "dead_lettered": _l("Failed (no more retries)")}


def stub():
    return current_app.extensions["concilia"].clients.notification


def flash_error(error: grpc.RpcError) -> None:
    flash(error_text(from_rpc_error(error)).message, "error")


@bp.get("/notifications")
@login_required
def inbox():
    unread_only = request.args.get("unread") == "1"
    listing = call(stub().ListInbox, pb.ListInboxRequest(unread_only=unread_only, page_size=50,
                                                         page_token=request.args.get("page", "")), token())
    prefs = call(stub().GetPreferences, pb.GetPreferencesRequest(), token()).preferences
    pack = current_app.extensions["concilia"].pack
    languages = [(code, LANGUAGE_NAMES.get(code, code)) for code in i18n.offered_locales(pack)]
    return render_template("notifications/inbox.html", listing=listing, prefs=prefs, kinds=KIND_NAMES.items(),
                           languages=languages, unread_only=unread_only,
                           is_agent=principal().role == "company_agent")


@bp.post("/notifications/read")
@login_required
def mark_read():
    ids = request.form.getlist("notification_id")
    request_message = pb.MarkReadRequest(all=True) if request.form.get("all") else pb.MarkReadRequest(notification_ids=ids)
    try:
        call(stub().MarkRead, request_message, token())
    except grpc.RpcError as error:
        flash_error(error)
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
        flash_error(error)
    else:
        flash(_("Preferences saved."), "ok")
    return redirect(url_for("pages_notifications.inbox"))


@bp.get("/notifications/webhooks")
@login_required
def webhooks():
    hooks = call(stub().ListWebhooks, pb.ListWebhooksRequest(), token()).webhooks
    deliveries = call(stub().ListDeliveries, pb.ListDeliveriesRequest(page_size=50), token()).deliveries
    status_enum = pb.DeliveryStatus.DESCRIPTOR
    return render_template("notifications/webhooks.html", hooks=hooks, deliveries=deliveries, kinds=KIND_NAMES.items(),
                           status_word=lambda n: enum_to_word(status_enum, n), status_names=DELIVERY_STATUS_NAMES)


@bp.post("/notifications/webhooks")
@login_required
def register_webhook():
    try:
        response = call(stub().RegisterWebhook, pb.RegisterWebhookRequest(
            url=request.form.get("url", ""), event_types=request.form.getlist("event_types")), token())
    except grpc.RpcError as error:
        flash_error(error)
    else:
        # Shown once: the company stores it to verify X-Concilia-Signature.
        flash(_("Webhook registered. Its signing secret is shown only now: %(secret)s", secret=response.secret), "ok")
    return redirect(url_for("pages_notifications.webhooks"))


@bp.post("/notifications/webhooks/deliveries/<delivery_id>/replay")
@login_required
def replay(delivery_id):
    try:
        call(stub().ReplayDelivery, pb.ReplayDeliveryRequest(delivery_id=delivery_id), token())
    except grpc.RpcError as error:
        flash_error(error)
    else:
        flash(_("The delivery was queued again."), "ok")
    return redirect(url_for("pages_notifications.webhooks"))
