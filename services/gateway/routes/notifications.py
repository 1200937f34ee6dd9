"""Notifications REST API (documented in openapi/notifications.yaml): the caller's inbox and
e-mail preferences, and company webhooks with their deliveries."""
from flask import Blueprint, current_app, jsonify, request

from concilia.notification.v1 import notification_pb2 as pb

from ..auth import require_api_token
from ..clients import call
from ..convert import from_json, int_arg, json_body, to_json, word_to_enum
from ..errors import ApiError

bp = Blueprint("notifications", __name__, url_prefix="/api/v1")


def notification():
    return current_app.extensions["concilia"].clients.notification


def bool_arg(name: str) -> bool:
    raw = request.args.get(name, "").lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise ApiError(400, "INVALID_ARGUMENT", f"{name}: must be true or false", name)


# --- inbox ------------------------------------------------------------------------------------
@bp.get("/notifications")
def list_inbox():
    message = pb.ListInboxRequest(unread_only=bool_arg("unread_only"), page_size=int_arg("page_size"),
                                  page_token=request.args.get("page_token", ""))
    return jsonify(to_json(call(notification().ListInbox, message, require_api_token())))


@bp.post("/notifications/read")
def mark_read():
    message = from_json(json_body(), pb.MarkReadRequest)
    return jsonify(to_json(call(notification().MarkRead, message, require_api_token())))


# --- preferences ------------------------------------------------------------------------------
@bp.get("/notification-preferences")
def get_preferences():
    response = call(notification().GetPreferences, pb.GetPreferencesRequest(), require_api_token())
    return jsonify(to_json(response.preferences))


@bp.put("/notification-preferences")
def update_preferences():
    message = pb.UpdatePreferencesRequest(preferences=from_json(json_body(), pb.Preferences))
    response = call(notification().UpdatePreferences, message, require_api_token())
    return jsonify(to_json(response.preferences))


# --- webhooks ---------------------------------------------------------------------------------
@bp.post("/webhooks")
def register_webhook():
    response = call(notification().RegisterWebhook, from_json(json_body(), pb.RegisterWebhookRequest),
                    require_api_token())
    return jsonify(to_json(response)), 201


@bp.get("/webhooks")
def list_webhooks():
    return jsonify(to_json(call(notification().ListWebhooks, pb.ListWebhooksRequest(), require_api_token())))


@bp.post("/webhooks/<webhook_id>/deactivate")
def deactivate_webhook(webhook_id):
    response = call(notification().DeactivateWebhook, pb.DeactivateWebhookRequest(webhook_id=webhook_id),
                    require_api_token())
    return jsonify(to_json(response.webhook))


def _deliveries(webhook_id: str):
    status_field = pb.ListDeliveriesRequest.DESCRIPTOR.fields_by_name["status"]
    message = pb.ListDeliveriesRequest(
        webhook_id=webhook_id, status=word_to_enum(status_field.enum_type, request.args.get("status", ""), "status"),
        page_size=int_arg("page_size"), page_token=request.args.get("page_token", ""))
    return jsonify(to_json(call(notification().ListDeliveries, message, require_api_token())))


@bp.get("/webhooks/deliveries")
def list_all_deliveries():
    return _deliveries("")


@bp.get("/webhooks/<webhook_id>/deliveries")
def list_deliveries(webhook_id):
    return _deliveries(webhook_id)


@bp.post("/webhooks/deliveries/<delivery_id>/replay")
def replay_delivery(delivery_id):
    response = call(notification().ReplayDelivery, pb.ReplayDeliveryRequest(delivery_id=delivery_id),
                    require_api_token())
    return jsonify(to_json(response.delivery))
