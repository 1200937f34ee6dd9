"""The notification gRPC api: the caller's inbox and preferences, and company webhooks.

python -m services.notification.api
"""
import json
import sys
from datetime import datetime, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from concilia.chassis.clock import clock_from_env
from concilia.chassis.country import load_pack
from concilia.chassis.db import Database
from concilia.chassis.errors import InvalidArgument
from concilia.chassis.grpc_server import current_principal, full_names
from concilia.chassis.service import identity_verifier, run_api
from concilia.notification.v1 import notification_pb2 as pb
from concilia.notification.v1 import notification_pb2_grpc as pb_grpc

from . import domain
from .settings import Settings

STATUS_TO_PB = {
    "pending": pb.DELIVERY_STATUS_PENDING, "retrying": pb.DELIVERY_STATUS_RETRYING,
    "delivered": pb.DELIVERY_STATUS_DELIVERED, "dead_lettered": pb.DELIVERY_STATUS_DEAD_LETTERED,
}
PB_TO_STATUS = {number: word for word, number in STATUS_TO_PB.items()}


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=timezone.utc)
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def notification_pb(row) -> pb.Notification:
    return pb.Notification(id=row.id, kind=row.kind, complaint_id=row.complaint_id, title=row.title, body=row.body,
                           read=row.read_at is not None, created_at=_ts(row.created_at))


def webhook_pb(row) -> pb.Webhook:
    return pb.Webhook(id=row.id, company_id=row.company_id, url=row.url, event_types=json.loads(row.event_types),
                      active=row.active, created_at=_ts(row.created_at))


def delivery_pb(row) -> pb.Delivery:
    waiting = row.status in ("pending", "retrying")
    return pb.Delivery(id=row.id, webhook_id=row.webhook_id, event_id=row.event_id, event_type=row.event_type,
                       status=STATUS_TO_PB[row.status], attempts=row.attempts, last_http_status=row.last_http_status,
                       next_attempt_at=_ts(row.next_attempt_at) if waiting else None, last_error=row.last_error,
                       created_at=_ts(row.created_at), delivered_at=_ts(row.delivered_at), replay_count=row.replays)


def preferences_pb(prefs: domain.Preferences) -> pb.Preferences:
    return pb.Preferences(email_enabled=prefs.email_enabled, locale=prefs.locale, muted_kinds=list(prefs.muted_kinds))


class NotificationServicer(pb_grpc.NotificationServiceServicer):
    def __init__(self, database: Database, settings: Settings, pack, clock):
        self.db = database
        self.settings = settings
        self.pack = pack
        self.clock = clock

    def ListInbox(self, request, context):
        principal = current_principal()
        with self.db.transaction() as session:
            rows, token, unread = domain.list_inbox(session, principal, request.unread_only, request.page_size,
                                                    request.page_token)
        return pb.ListInboxResponse(notifications=[notification_pb(r) for r in rows], next_page_token=token,
                                    unread_count=unread)

    def MarkRead(self, request, context):
        principal = current_principal()
        with self.db.transaction() as session:
            updated = domain.mark_read(session, principal, request.notification_ids, request.all, self.clock.now())
        return pb.MarkReadResponse(updated=updated)

    def GetPreferences(self, request, context):
        principal = current_principal()
        with self.db.transaction() as session:
            return pb.GetPreferencesResponse(preferences=preferences_pb(domain.get_preferences(session, principal)))

    def UpdatePreferences(self, request, context):
        principal = current_principal()
        p = request.preferences
        with self.db.transaction() as session:
            prefs = domain.update_preferences(session, self.pack, principal, p.email_enabled, p.locale,
                                              list(p.muted_kinds), datetime.now(timezone.utc))
        return pb.UpdatePreferencesResponse(preferences=preferences_pb(prefs))

    def RegisterWebhook(self, request, context):
        principal = current_principal()
        with self.db.transaction() as session:
            row, secret = domain.register_webhook(
                session, principal, request.url, list(request.event_types), now=datetime.now(timezone.utc),
                allow_insecure_loopback=self.settings.webhooks_allow_insecure_loopback,
                max_per_company=self.settings.max_webhooks_per_company)
        return pb.RegisterWebhookResponse(webhook=webhook_pb(row), secret=secret)

    def ListWebhooks(self, request, context):
        principal = current_principal()
        with self.db.transaction() as session:
            rows = domain.list_webhooks(session, principal)
        return pb.ListWebhooksResponse(webhooks=[webhook_pb(r) for r in rows])

    def DeactivateWebhook(self, request, context):
        principal = current_principal()
        with self.db.transaction() as session:
            row = domain.deactivate_webhook(session, principal, request.webhook_id)
        return pb.DeactivateWebhookResponse(webhook=webhook_pb(row))

    def ListDeliveries(self, request, context):
        principal = current_principal()
        status = PB_TO_STATUS.get(request.status, "") if request.status else ""
        if request.status and not status:
            raise InvalidArgument("status", "unknown delivery status")
        with self.db.transaction() as session:
            rows, token = domain.list_deliveries(session, principal, request.webhook_id, status, request.page_size,
                                                 request.page_token)
        return pb.ListDeliveriesResponse(deliveries=[delivery_pb(r) for r in rows], next_page_token=token)

    def ReplayDelivery(self, request, context):
        principal = current_principal()
        with self.db.transaction() as session:
            row = domain.replay_delivery(session, principal, request.delivery_id)
        return pb.ReplayDeliveryResponse(delivery=delivery_pb(row))


def build(settings: Settings):
    servicer = NotificationServicer(Database(settings.database_url, pool_size=settings.max_workers), settings,
                                    load_pack(settings.country), clock_from_env())

    def add_servicers(server):
        pb_grpc.add_NotificationServiceServicer_to_server(servicer, server)
    return full_names(pb.DESCRIPTOR.services_by_name["NotificationService"]), add_servicers, identity_verifier(settings)


def main() -> int:
    return run_api("notification", Settings, build)


if __name__ == "__main__":
    sys.exit(main())
