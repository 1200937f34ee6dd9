"""Complaint REST API (documented in openapi/complaints.yaml): the whole lifecycle, messages,
attachments, history. Every route needs a bearer token; the complaint service decides who may do what."""
import base64
import binascii
from datetime import datetime, timezone

from flask import Blueprint, Response, current_app, jsonify, request
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


@bp.get("")
def list_complaints():
    message = pb.ListComplaintsRequest(
        status=word_to_enum(STATUS_ENUM, request.args.get("status", ""), "status"),
        company_id=request.args.get("company_id", ""), page_size=int_arg("page_size", minimum=0),
        page_token=request.args.get("page_token", ""), order_by=request.args.get("order_by", ""))
    for name in ("filed_from", "filed_to"):
        stamp = time_arg(name)
        if stamp is not None:
            getattr(message, name).CopyFrom(stamp)
    return jsonify(to_json(call(complaints().ListComplaints, message, require_api_token())))


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
