"""Complaint pages: a consumer files (with attachments), follows, exchanges messages and evaluates;
a company agent works an inbox sorted by deadline and answers or refuses; a manager reviews
refusals. Deadlines are shown in the deployment's time zone; texts in its language."""
import csv
import functools
from datetime import timezone

import grpc
from flask import (Blueprint, Response, current_app, flash, redirect, render_template, request, url_for)

from concilia.chassis import i18n
from concilia.chassis.clock import clock_from_env
from concilia.company_registry.v1 import company_registry_pb2 as rpb
from concilia.complaint.v1 import complaint_pb2 as pb

from ..auth import login_required, principal, token
from ..clients import call
from ..routes.complaints import export_response
from ..errors import from_rpc_error
from ..locale import ROLE_NAMES, current_locale, error_text, gettext as _, lazy_gettext as _l

bp = Blueprint("pages_complaints", __name__)

CLOCK = clock_from_env()  # the platform clock, so pages agree with the service's deadlines
STATUS_WORDS = {v.number: v.name[len("COMPLAINT_STATUS_"):].lower() for v in pb.ComplaintStatus.DESCRIPTOR.values}
# Page texts (English; translated by the gateway's catalogs when shown, in the page's language).
TEXTS = {"my": _l("My complaints"), "new": _l("New complaint"), "inbox": _l("Company inbox"),
         "refusals": _l("Refusals to review"), "company": _l("Company"), "status": _l("Status"),
         "filed": _l("Filed on"), "deadline": _l("Deadline"), "days_left": _l("Days left"),
         "none": _l("No complaints."),
         "export": _l("Download every complaint you can see (CSV, without texts)"), "problem": _l("Problem"), "channel": _l("How it was bought"),
         "contacted": _l("Contacted the company first"), "description": _l("Description"),
         "outcome": _l("What you expect from the company"), "city": _l("City"), "attachment": _l("Attachment"),
         "file": _l("File complaint"), "choose": _l("Choose"),
         "messages": _l("Messages"), "send": _l("Send"), "answer": _l("Reply"), "refuse": _l("Refuse"),
         "reason": _l("Reason"), "evaluate": _l("Evaluate"), "resolved": _l("Resolved"),
         "not_resolved": _l("Not resolved"), "score": _l("Score (1 to 5)"), "comment": _l("Comment"),
         "uphold": _l("Uphold the refusal (cancels)"), "reject": _l("Reject the refusal (back to the company)"),
         "history": _l("History"), "answer_text": _l("Answer"), "evaluation_deadline": _l("Evaluation deadline"),
         "next": _l("Next page"), "open": _l("Open"),
         "statuses": {"waiting_company": _l("Waiting for the company"),
                      "under_refusal_review": _l("Refusal under review"),
                      "waiting_evaluation": _l("Waiting for evaluation"),
                      "finalised_evaluated": _l("Finalised, evaluated"),
                      "finalised_not_evaluated": _l("Finalised, not evaluated"), "cancelled": _l("Cancelled")}}
# History actions and refusal reasons are codes; people read these names (unknown codes as they are).
ACTION_NAMES = {
    "filed": _l("Complaint filed"), "message_added": _l("Message sent"), "attachment_added": _l("Attachment added"),
    "answered": _l("Answered by the company"), "refused": _l("Refused by the company"),
    "refusal_upheld": _l("Refusal upheld"), "refusal_rejected": _l("Refusal rejected"),
    "evaluated": _l("Evaluated by the consumer"), "cancelled": _l("Cancelled"), "redacted": _l("Personal data removed"),
    "answer_deadline_lapsed": _l("Answer deadline lapsed"),
    "evaluation_deadline_lapsed": _l("Evaluation deadline lapsed"),
    "hearing_scheduled": _l("Hearing scheduled"), "hearing_rescheduled": _l("Hearing rescheduled"),
    "hearing_held": _l("Hearing held"), "hearing_window_lapsed": _l("Hearing window lapsed"),
    "personal_data_erased": _l("Personal data erased at the consumer’s request"),
    "retention_expired": _l("Texts and attachments removed at the end of the retention period"),
}
REFUSAL_REASON_NAMES = {
    "not_customer": _l("Not our customer"), "duplicate": _l("Duplicate complaint"),
    "wrong_company": _l("Filed against the wrong company"), "abusive_content": _l("Abusive content"),
    "outside_scope": _l("Outside the scope of consumer protection"),
}
ACTOR_NAMES = {**ROLE_NAMES, "system": _l("the platform")}


def services():
    return current_app.extensions["concilia"]


def page_context() -> dict:
    pack = services().pack
    return {"t": TEXTS, "user": principal(), "action_names": ACTION_NAMES, "reason_names": REFUSAL_REASON_NAMES,
            "actor_names": ACTOR_NAMES, "status_word": lambda number: STATUS_WORDS.get(number, ""),
            "local": local_time, "days_left": days_left, "zone": pack.time_zone,
            "region_example": next((a.regions[0] for a in pack.authorities if a.regions), "")}


def local_time(stamp) -> str:
    """A protobuf Timestamp in the deployment's time zone ("" when unset)."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    return i18n.format_datetime(stamp.ToDatetime(tzinfo=timezone.utc), services().pack, current_locale(), "short")


def days_left(stamp) -> int | None:
    """Local days before a deadline (a local midnight): 1 on the last day, 0 or less when lapsed."""
    if not stamp.seconds:
        return None
    zone = services().pack.zone
    deadline = stamp.ToDatetime(tzinfo=timezone.utc).astimezone(zone).date()
    return (deadline - CLOCK.now().astimezone(zone).date()).days


@functools.lru_cache(maxsize=4)
def taxonomy_paths(taxonomy_file) -> dict[str, list[tuple[str, str, str, str]]]:
    paths: dict[str, list] = {}
    with open(taxonomy_file, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            paths.setdefault(row["segment_code"], []).append(
                (row["area"], row["subject"], row["problem_group"], row["problem"]))
    return paths


def complaints():
    return services().clients.complaint


def back_to(complaint_id: str):
    return redirect(url_for("pages_complaints.detail", complaint_id=complaint_id), code=303)


def act(complaint_id: str, method, message, done: str):
    """Runs one action for a form post; errors come back as a message on the complaint page."""
    try:
        call(method, message, token())
    except grpc.RpcError as error:
        flash(error_text(from_rpc_error(error)).message, "error")
    else:
        flash(done, "ok")
    return back_to(complaint_id)


# --- lists --------------------------------------------------------------------------------------
@bp.get("/complaints")
@login_required
def index():
    user = principal()
    order_by = "deadline" if user.role == "company_agent" else "filed"
    response = call(complaints().ListComplaints, pb.ListComplaintsRequest(
        page_size=20, page_token=request.args.get("page_token", ""), order_by=order_by), token())
    return render_template("complaints/list.html", complaints=response.complaints,
                           next_page_token=response.next_page_token, title_key="my", **page_context())


@bp.get("/complaints/export.csv")
@login_required
def export():
    """The staff's download of every complaint they can see (routes.complaints.export_response)."""
    return export_response(pb.ListComplaintsRequest(), token())


@bp.get("/company/inbox")
@login_required
def inbox():
    """Open complaints against the agent's company (or group), soonest deadline first."""
    response = call(complaints().ListComplaints, pb.ListComplaintsRequest(
        status=pb.COMPLAINT_STATUS_WAITING_COMPANY, order_by="deadline", page_size=50,
        page_token=request.args.get("page_token", "")), token())
    return render_template("complaints/list.html", complaints=response.complaints,
                           next_page_token=response.next_page_token, title_key="inbox", **page_context())


@bp.get("/manager/refusals")
@login_required
def refusals():
    response = call(complaints().ListComplaints, pb.ListComplaintsRequest(
        status=pb.COMPLAINT_STATUS_UNDER_REFUSAL_REVIEW, order_by="deadline", page_size=50,
        page_token=request.args.get("page_token", "")), token())
    return render_template("complaints/list.html", complaints=response.complaints,
                           next_page_token=response.next_page_token, title_key="refusals", **page_context())


# --- filing -------------------------------------------------------------------------------------
@bp.route("/complaints/new", methods=["GET", "POST"])
@login_required
def new():
    registry = services().clients.company_registry
    company_id = request.values.get("company_id", "")
    if not company_id:
        companies = call(registry.ListCompanies, rpb.ListCompaniesRequest(
            status=rpb.COMPANY_STATUS_ACTIVE, name_contains=request.args.get("q", ""), page_size=100)).companies
        return render_template("complaints/choose_company.html", companies=companies, **page_context())
    company = call(registry.GetCompany, rpb.GetCompanyRequest(company_id=company_id)).company
    paths = taxonomy_paths(str(services().pack.taxonomy_file)).get(company.segment_code, [])
    error = None
    if request.method == "POST":
        form = request.form
        try:
            area, subject, problem_group, problem = paths[int(form.get("problem_path", ""))]
        except (ValueError, IndexError):
            area = subject = problem_group = problem = ""
        message = pb.FileComplaintRequest(
            idempotency_key=form.get("idempotency_key", ""), company_id=company_id,
            taxonomy=pb.Taxonomy(segment_code=company.segment_code, area=area, subject=subject,
                                 problem_group=problem_group, problem=problem),
            purchase_channel=form.get("purchase_channel", ""),
            contacted_company_first=form.get("contacted_company_first") == "yes",
            description=form.get("description", ""), desired_outcome=form.get("desired_outcome", ""),
            region_code=form.get("region_code", ""), city=form.get("city", ""))
        for upload in request.files.getlist("attachments"):
            if upload and upload.filename:
                message.attachments.add(file_name=upload.filename, content_type=upload.mimetype or "",
                                        content=upload.read())
        try:
            response = call(complaints().FileComplaint, message, token())
        except grpc.RpcError as rpc_error:
            error = from_rpc_error(rpc_error)
        else:
            return back_to(response.complaint.id)
    return render_template("complaints/new.html", company=company, paths=paths, error=error, form=request.form,
                           **page_context()), 400 if error else 200


# --- one complaint ------------------------------------------------------------------------------
@bp.get("/complaints/<complaint_id>")
@login_required
def detail(complaint_id):
    complaint = call(complaints().GetComplaint, pb.GetComplaintRequest(complaint_id=complaint_id), token()).complaint
    history = call(complaints().GetHistory, pb.GetHistoryRequest(complaint_id=complaint_id), token()).entries
    return render_template("complaints/detail.html", c=complaint, history=history,
                           refusal_reasons=services().pack.refusal_reasons, **page_context())


@bp.get("/complaints/<complaint_id>/attachments/<attachment_id>")
@login_required
def download(complaint_id, attachment_id):
    response = call(complaints().GetAttachment, pb.GetAttachmentRequest(
        complaint_id=complaint_id, attachment_id=attachment_id), token())
    safe_name = "".join(c for c in response.attachment.file_name if c.isalnum() or c in "._- ") or "attachment"
    return Response(response.content, mimetype=response.attachment.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{safe_name}"'})


@bp.post("/complaints/<complaint_id>/messages")
@login_required
def message(complaint_id):
    return act(complaint_id, complaints().AddMessage, pb.AddMessageRequest(
        complaint_id=complaint_id, text=request.form.get("text", "")), _("Message sent."))


@bp.post("/complaints/<complaint_id>/attachments")
@login_required
def attach(complaint_id):
    upload = request.files.get("file")
    return act(complaint_id, complaints().AddAttachment, pb.AddAttachmentRequest(
        complaint_id=complaint_id, file_name=upload.filename if upload else "",
        content_type=(upload.mimetype if upload else ""), content=upload.read() if upload else b""),
        _("Attachment added."))


@bp.post("/complaints/<complaint_id>/answer")
@login_required
def answer(complaint_id):
    return act(complaint_id, complaints().AnswerComplaint, pb.AnswerComplaintRequest(
        complaint_id=complaint_id, text=request.form.get("text", "")), _("Answer sent."))


@bp.post("/complaints/<complaint_id>/refusal")
@login_required
def refuse(complaint_id):
    return act(complaint_id, complaints().RefuseComplaint, pb.RefuseComplaintRequest(
        complaint_id=complaint_id, reason_code=request.form.get("reason_code", ""),
        text=request.form.get("text", "")), _("Refusal sent for review."))


@bp.post("/complaints/<complaint_id>/evaluation")
@login_required
def evaluate(complaint_id):
    resolution = {"resolved": pb.RESOLUTION_RESOLVED, "not_resolved": pb.RESOLUTION_NOT_RESOLVED}.get(
        request.form.get("resolution", ""), pb.RESOLUTION_UNSPECIFIED)
    try:
        score = int(request.form.get("satisfaction_score", "0"))
    except ValueError:
        score = 0
    return act(complaint_id, complaints().EvaluateComplaint, pb.EvaluateComplaintRequest(
        complaint_id=complaint_id, resolution=resolution, satisfaction_score=score,
        comment=request.form.get("comment", "")), _("Thank you: your evaluation was saved."))


@bp.post("/complaints/<complaint_id>/refusal-review")
@login_required
def review(complaint_id):
    return act(complaint_id, complaints().ReviewRefusal, pb.ReviewRefusalRequest(
        complaint_id=complaint_id, uphold=request.form.get("decision") == "uphold",
        note=request.form.get("note", "")), _("Review saved."))


@bp.post("/complaints/<complaint_id>/cancellation")
@login_required
def cancel(complaint_id):
    return act(complaint_id, complaints().CancelComplaint, pb.CancelComplaintRequest(
        complaint_id=complaint_id, reason=request.form.get("reason", "")), _("Complaint cancelled."))
