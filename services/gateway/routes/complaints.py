"""Complaint REST API (documented in openapi/complaints.yaml): the whole lifecycle, messages,
attachments, history. Every route needs a bearer token; the complaint service decides who may do what."""
import base64
import binascii
import csv
import io
from datetime import datetime, timezone

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from google.protobuf.timestamp_pb2 import Timestamp

from concilia.complaint.v1 import complaint_pb2 as pb

from ..auth import require_api_token
from ..clients import call
from ..convert import from_json, int_arg, json_body, to_json, word_to_enum
from ..errors import ApiError

bp = Blueprint("complaints", __name__, url_prefix="/api/v1/complaints")
STATUS_ENUM = pb.ComplaintStatus.DESCRIPTOR
RESOLUTION_ENUM = pb.Resolution.DESCRIPTOR


def complaints():
    return current_app.extensions["concilia"].clients.complaint


def with_path_id(message_class, complaint_id: str, body: dict | None = None):
    """A request from the JSON body plus the complaint id taken from the path only."""
    body = json_body() if body is None else body
    if "complaint_id" in body:
        raise ApiError(400, "INVALID_ARGUMENT", "complaint_id: goes in the path, not the body", "complaint_id")
    message = from_json(body, message_class)
    message.complaint_id = complaint_id
    return message


def time_arg(name: str) -> Timestamp | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    try:
        instant = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=timezone.utc)
        stamp = Timestamp()
        stamp.FromDatetime(instant)
        return stamp
    except (ValueError, OverflowError):
        raise ApiError(400, "INVALID_ARGUMENT", f"{name}: must be an RFC 3339 date-time", name) from None


# --- filing and reading -----------------------------------------------------------------------
@bp.post("")
def file_complaint():
    body = json_body()
    message = from_json(body, pb.FileComplaintRequest)
    key = request.headers.get("Idempotency-Key", "")
    if key and not message.idempotency_key:
        message.idempotency_key = key
    response = call(complaints().FileComplaint, message, require_api_token())
    return jsonify(to_json(response)), 201


def list_request() -> pb.ListComplaintsRequest:
    message = pb.ListComplaintsRequest(
        status=word_to_enum(STATUS_ENUM, request.args.get("status", ""), "status"),
        company_id=request.args.get("company_id", ""), page_size=int_arg("page_size", minimum=0),
        page_token=request.args.get("page_token", ""), order_by=request.args.get("order_by", ""))
    for name in ("filed_from", "filed_to"):
        stamp = time_arg(name)
        if stamp is not None:
            getattr(message, name).CopyFrom(stamp)
    return message


@bp.get("")
def list_complaints():
    return jsonify(to_json(call(complaints().ListComplaints, list_request(), require_api_token())))


# The export's columns: the case's facts, as the open data has them, plus its id, status and
# authority. Free texts, messages, attachments and the consumer's id stay out (data minimisation:
# they are read in the case itself, where each read is audited).
EXPORT_COLUMNS = ("id", "status", "filed_at", "company_id", "company_name", "segment_code", "area", "subject",
                  "problem_group", "problem", "purchase_channel", "contacted_company_first", "region_code", "city",
                  "authority_id", "answer_deadline", "answered", "answered_at", "answer_time_days",
                  "under_review_days", "resolution", "satisfaction_score", "finalised_at", "refusal_reason")
EXPORT_PAGE_SIZE = 100  # the complaint service's largest page
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so (OWASP CSV injection)


def export_row(complaint: pb.Complaint) -> list:
    row = to_json(complaint)
    row.update(row.pop("taxonomy", None) or {})
    return [export_cell(row.get(name)) for name in EXPORT_COLUMNS]


def export_cell(value) -> str | int:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value in (None, "unspecified"):  # an unset enum is an empty cell
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        # Typed by consumers and companies (city, trade name): a spreadsheet must show it, not run it.
        return "'" + value
    return value


@bp.get("/export.csv")
def export_complaints():
    return export_response(list_request(), require_api_token())


def export_response(message: pb.ListComplaintsRequest, token: str) -> Response:
    """Every complaint the caller may list (the list's filters; managers and monitors their
    jurisdiction, agents their company), as CSV, streamed page after page. The first page is read
    before anything is sent, so a bad filter or a refused caller gets its error; a later page that
    fails ends the download short (logged), as a dropped connection would."""
    message.page_size, message.page_token, message.order_by = EXPORT_PAGE_SIZE, "", "filed"
    client = complaints()
    page = call(client.ListComplaints, message, token)

    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        current = page
        while True:
            writer.writerows(export_row(complaint) for complaint in current.complaints)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if not current.next_page_token:
                return
            message.page_token = current.next_page_token
            current = call(client.ListComplaints, message, token)

    return Response(stream_with_context(lines()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="complaints.csv"'})


@bp.get("/accesses")
def list_accesses():
    """Who other than the consumer read their complaints (access audit, docs/adr/0020)."""
    message = pb.ListAccessesRequest(consumer_id=request.args.get("consumer_id", ""),
                                     page_size=int_arg("page_size", minimum=0),
                                     page_token=request.args.get("page_token", ""))
    return jsonify(to_json(call(complaints().ListAccesses, message, require_api_token())))


@bp.get("/<complaint_id>")
def get_complaint(complaint_id):
    message = pb.GetComplaintRequest(complaint_id=complaint_id)
    return jsonify(to_json(call(complaints().GetComplaint, message, require_api_token())))


@bp.get("/<complaint_id>/history")
def get_history(complaint_id):
    message = pb.GetHistoryRequest(complaint_id=complaint_id)
    return jsonify(to_json(call(complaints().GetHistory, message, require_api_token())))


# --- transitions ------------------------------------------------------------------------------
@bp.post("/<complaint_id>/answer")
def answer(complaint_id):
    message = with_path_id(pb.AnswerComplaintRequest, complaint_id)
    return jsonify(to_json(call(complaints().AnswerComplaint, message, require_api_token())))


@bp.post("/<complaint_id>/refusal")
def refuse(complaint_id):
    message = with_path_id(pb.RefuseComplaintRequest, complaint_id)
    return jsonify(to_json(call(complaints().RefuseComplaint, message, require_api_token())))


@bp.post("/<complaint_id>/refusal-review")
def review_refusal(complaint_id):
    message = with_path_id(pb.ReviewRefusalRequest, complaint_id)
    return jsonify(to_json(call(complaints().ReviewRefusal, message, require_api_token())))


@bp.post("/<complaint_id>/evaluation")
def evaluate(complaint_id):
    message = with_path_id(pb.EvaluateComplaintRequest, complaint_id)
    return jsonify(to_json(call(complaints().EvaluateComplaint, message, require_api_token())))


@bp.post("/<complaint_id>/cancellation")
def cancel(complaint_id):
    message = with_path_id(pb.CancelComplaintRequest, complaint_id)
    return jsonify(to_json(call(complaints().CancelComplaint, message, require_api_token())))


@bp.post("/<complaint_id>/redaction")
def redact(complaint_id):
    message = with_path_id(pb.RedactComplaintRequest, complaint_id)
    return jsonify(to_json(call(complaints().RedactComplaint, message, require_api_token())))


# --- conciliation hearing (packs with hearings; docs/adr/0011) ---------------------------------
@bp.post("/<complaint_id>/hearing")
def schedule_hearing(complaint_id):
    message = with_path_id(pb.ScheduleHearingRequest, complaint_id)
    return jsonify(to_json(call(complaints().ScheduleHearing, message, require_api_token())))


@bp.post("/<complaint_id>/hearing-outcome")
def record_hearing_outcome(complaint_id):
    message = with_path_id(pb.RecordHearingOutcomeRequest, complaint_id)
    return jsonify(to_json(call(complaints().RecordHearingOutcome, message, require_api_token())))


# --- messages and attachments -----------------------------------------------------------------
@bp.post("/<complaint_id>/messages")
def add_message(complaint_id):
    message = with_path_id(pb.AddMessageRequest, complaint_id)
    return jsonify(to_json(call(complaints().AddMessage, message, require_api_token()))), 201


@bp.post("/<complaint_id>/attachments")
def add_attachment(complaint_id):
    """multipart/form-data with a `file` part, or JSON {file_name, content_type, content (base64)}."""
    upload = request.files.get("file")
    if upload is not None:
        message = pb.AddAttachmentRequest(complaint_id=complaint_id, file_name=upload.filename or "",
                                          content_type=upload.mimetype or "", content=upload.read())
    elif request.mimetype == "multipart/form-data":
        raise ApiError(400, "INVALID_ARGUMENT", "file: a multipart part named file is required", "file")
    else:
        body = json_body()
        try:
            content = base64.b64decode(str(body.pop("content", "")), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "INVALID_ARGUMENT", "content: must be base64", "content") from None
        message = with_path_id(pb.AddAttachmentRequest, complaint_id, body)
        message.content = content
    return jsonify(to_json(call(complaints().AddAttachment, message, require_api_token()))), 201


@bp.get("/<complaint_id>/attachments/<attachment_id>")
def get_attachment(complaint_id, attachment_id):
    response = call(complaints().GetAttachment, pb.GetAttachmentRequest(
        complaint_id=complaint_id, attachment_id=attachment_id), require_api_token())
    attachment = response.attachment
    safe_name = "".join(c for c in attachment.file_name if c.isalnum() or c in "._- ") or "attachment"
    return Response(response.content, mimetype=attachment.content_type, headers={
        # Always a download, never rendered inline in our origin.
        "Content-Disposition": f'attachment; filename="{safe_name}"',
        "X-Content-SHA256": attachment.sha256,
        "Cache-Control": "private, no-store"})
