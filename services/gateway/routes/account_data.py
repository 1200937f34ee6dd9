"""The caller's personal data in one JSON document (LGPD art. 18 II/V, Ley 25.326 art. 14: access
and portability): GET /api/v1/accounts/me/export. Composed here from the services that hold it,
each asked with the caller's own token, so each applies its own rules: a consumer gets their
complaints; staff get their account, inbox and preferences (the complaints they handle are not
their personal data); everyone gets who else read their data (docs/adr/0020-access-audit.md)."""
from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify

from concilia.chassis import audit
from concilia.complaint.v1 import complaint_pb2
from concilia.identity.v1 import identity_pb2
from concilia.notification.v1 import notification_pb2

from ..auth import require_api_token
from ..clients import call
from ..convert import to_json

bp = Blueprint("account_data", __name__)
PAGE_SIZE = 100


def _pages(method, request, field: str, token: str, limit: int = 0) -> list:
    """The items of a paged list, following the services' page tokens to the end (or to `limit`)."""
    items = []
    while True:
        response = call(method, request, token)
        items.extend(getattr(response, field))
        if not response.next_page_token or 0 < limit <= len(items):
            return items
        request.page_token = response.next_page_token


def access_trail(token: str, consumer: bool, limit: int = 0) -> list:
    """Who else read the caller's data, newest first (access audit, ADR 0020): identity's trail of
    the account and, for a consumer, the complaint service's of their complaints. Every entry, or
    the newest `limit`."""
    clients = current_app.extensions["concilia"].clients
    size = limit or audit.MAX_PAGE_SIZE
    trail = _pages(clients.identity.ListAccesses, identity_pb2.ListAccessesRequest(page_size=size), "accesses",
                   token, limit)
    if consumer:
        trail += _pages(clients.complaint.ListAccesses, complaint_pb2.ListAccessesRequest(page_size=size),
                        "accesses", token, limit)
    trail.sort(key=lambda a: (a.at.seconds, a.at.nanos), reverse=True)
    return trail[:limit] if limit else trail


def personal_data(token: str) -> tuple[str, dict]:
    """(account id, the document) for the holder of `token`."""
    clients = current_app.extensions["concilia"].clients
    account = call(clients.identity.GetAccount, identity_pb2.GetAccountRequest(), token).account
    consumer = account.role == identity_pb2.ROLE_CONSUMER
    complaints = []
    if consumer:
        for listed in _pages(clients.complaint.ListComplaints, complaint_pb2.ListComplaintsRequest(
                page_size=PAGE_SIZE), "complaints", token):
            complaint = call(clients.complaint.GetComplaint,
                             complaint_pb2.GetComplaintRequest(complaint_id=listed.id), token).complaint
            history = call(clients.complaint.GetHistory,
                           complaint_pb2.GetHistoryRequest(complaint_id=listed.id), token).entries
            complaints.append({**to_json(complaint), "history": [to_json(entry) for entry in history]})
    notifications = _pages(clients.notification.ListInbox, notification_pb2.ListInboxRequest(page_size=PAGE_SIZE),
                           "notifications", token)
    preferences = call(clients.notification.GetPreferences, notification_pb2.GetPreferencesRequest(), token)
    return account.id, {
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "account": to_json(account), "complaints": complaints,
        "notifications": [to_json(n) for n in notifications],
        "notification_preferences": to_json(preferences.preferences),
        "accesses": [to_json(a) for a in access_trail(token, consumer)]}


def download(token: str):
    """The document as a file download (the API route and the account page both serve it)."""
    account_id, document = personal_data(token)
    response = jsonify(document)
    response.headers["Content-Disposition"] = f'attachment; filename="concilia-{account_id}.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/v1/accounts/me/export")
def export_my_data():
    return download(require_api_token())
