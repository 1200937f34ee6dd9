"""The complaint service's gRPC API: a thin servicer (proto <-> domain). `python -m services.complaint.api`"""
import sys
from datetime import timezone

from concilia.chassis.clock import clock_from_env
from concilia.chassis.country import load_pack
from concilia.chassis.db import Database
from concilia.chassis.errors import InvalidArgument
from concilia.chassis.grpc_server import current_principal, full_names
from concilia.chassis.service import identity_verifier, run_api
from concilia.complaint.v1 import complaint_pb2 as pb
from concilia.complaint.v1 import complaint_pb2_grpc as pb_grpc

from . import domain
from .domain import Complaints, Filing, ListQuery, NewAttachment, ts
from .settings import Settings
from .storage import LocalFolderStore

STATUS_TO_PB = {name: pb.ComplaintStatus.Value("COMPLAINT_STATUS_" + name.upper()) for name in domain.STATUSES}
STATUS_FROM_PB = {number: name for name, number in STATUS_TO_PB.items()}
RESOLUTION_TO_PB = {"resolved": pb.RESOLUTION_RESOLVED, "not_resolved": pb.RESOLUTION_NOT_RESOLVED, "": 0}
RESOLUTION_FROM_PB = {number: name for name, number in RESOLUTION_TO_PB.items()}
OUTCOME_TO_PB = {name: pb.HearingOutcome.Value("HEARING_OUTCOME_" + name.upper())
                 for name in ("agreement", "no_agreement", "no_show")}
OUTCOME_FROM_PB = {number: name for name, number in OUTCOME_TO_PB.items()}


def message_pb(row) -> pb.Message:
    return pb.Message(id=row.id, author_id=row.author_id, author_role=row.author_role, text=row.text,
                      sent_at=ts(row.sent_at))


def attachment_pb(row) -> pb.Attachment:
    return pb.Attachment(id=row.id, file_name=row.file_name, content_type=row.content_type,
                         size_bytes=row.size_bytes, sha256=row.sha256, uploaded_at=ts(row.uploaded_at))


def complaint_pb(row, messages=(), attachments=()) -> pb.Complaint:
    return pb.Complaint(
        id=row.id, status=STATUS_TO_PB[row.status], company_id=row.company_id,
        company_group_id=row.company_group_id, consumer_id=row.consumer_id,
        taxonomy=pb.Taxonomy(segment_code=row.segment_code, area=row.area, subject=row.subject,
                             problem_group=row.problem_group, problem=row.problem),
        purchase_channel=row.purchase_channel, contacted_company_first=row.contacted_company_first,
        description=row.description, desired_outcome=row.desired_outcome, region_code=row.region_code,
        city=row.city, filed_at=ts(row.filed_at), answer_deadline=ts(row.answer_deadline),
        answered_at=ts(row.answered_at), answered=row.answered, answer_text=row.answer_text,
        answer_time_days=row.answer_time_days or 0, evaluation_deadline=ts(row.evaluation_deadline),
        resolution=RESOLUTION_TO_PB[row.resolution], satisfaction_score=row.satisfaction_score,
        evaluation_comment=row.evaluation_comment, finalised_at=ts(row.finalised_at),
        refusal_reason=row.refusal_reason, cancellation_reason=row.cancellation_reason,
        messages=[message_pb(r) for r in messages], attachments=[attachment_pb(r) for r in attachments],
        company_name=row.company_name, refusal_text=row.refusal_text, refused_at=ts(row.refused_at),
        under_review_days=row.under_review_days, authority_id=row.authority_id or "",
        authority_jurisdiction=row.authority_jurisdiction or "", hearing_window_ends=ts(row.hearing_window_ends),
        hearing_at=ts(row.hearing_at), hearing_url=row.hearing_url or "",
        hearing_outcome=OUTCOME_TO_PB.get(row.hearing_outcome or "", 0))


def full_pb(view: dict) -> pb.Complaint:
    return complaint_pb(view["complaint"], view["messages"], view["attachments"])


class ComplaintServicer(pb_grpc.ComplaintServiceServicer):
    def __init__(self, complaints: Complaints):
        self.complaints = complaints

    def FileComplaint(self, request, context):
        principal = current_principal()
        t = request.taxonomy
        view = self.complaints.file(principal, Filing(
            company_id=request.company_id, segment_code=t.segment_code, area=t.area, subject=t.subject,
            problem_group=t.problem_group, problem=t.problem, purchase_channel=request.purchase_channel,
            contacted_company_first=request.contacted_company_first, description=request.description,
            desired_outcome=request.desired_outcome, region_code=request.region_code, city=request.city,
            idempotency_key=request.idempotency_key,
            attachments=[NewAttachment(a.file_name, a.content_type, a.content) for a in request.attachments]))
        return pb.FileComplaintResponse(complaint=full_pb(view))

    def GetComplaint(self, request, context):
        return pb.GetComplaintResponse(complaint=full_pb(self.complaints.get(current_principal(),
                                                                             request.complaint_id)))

    def ListComplaints(self, request, context):
        if request.status and request.status not in STATUS_FROM_PB:
            raise InvalidArgument("status", "unknown status")
        rows, next_token = self.complaints.list(current_principal(), ListQuery(
            status=STATUS_FROM_PB.get(request.status, ""), company_id=request.company_id,
            filed_from=request.filed_from.ToDatetime(tzinfo=timezone.utc) if request.HasField("filed_from") else None,
            filed_to=request.filed_to.ToDatetime(tzinfo=timezone.utc) if request.HasField("filed_to") else None,
            page_size=request.page_size, page_token=request.page_token, order_by=request.order_by))
        return pb.ListComplaintsResponse(complaints=[complaint_pb(r) for r in rows], next_page_token=next_token)

    def AnswerComplaint(self, request, context):
        view = self.complaints.answer(current_principal(), request.complaint_id, request.text)
        return pb.AnswerComplaintResponse(complaint=full_pb(view))

    def RefuseComplaint(self, request, context):
        view = self.complaints.refuse(current_principal(), request.complaint_id, request.reason_code, request.text)
        return pb.RefuseComplaintResponse(complaint=full_pb(view))

    def ReviewRefusal(self, request, context):
        view = self.complaints.review_refusal(current_principal(), request.complaint_id, request.uphold,
                                              request.note)
        return pb.ReviewRefusalResponse(complaint=full_pb(view))

    def EvaluateComplaint(self, request, context):
        view = self.complaints.evaluate(current_principal(), request.complaint_id,
                                        RESOLUTION_FROM_PB.get(request.resolution, "?"),
                                        request.satisfaction_score, request.comment)
        return pb.EvaluateComplaintResponse(complaint=full_pb(view))

    def CancelComplaint(self, request, context):
        view = self.complaints.cancel(current_principal(), request.complaint_id, request.reason)
        return pb.CancelComplaintResponse(complaint=full_pb(view))

    def AddMessage(self, request, context):
        row = self.complaints.add_message(current_principal(), request.complaint_id, request.text)
        return pb.AddMessageResponse(message=message_pb(row))

    def AddAttachment(self, request, context):
        row = self.complaints.add_attachment(current_principal(), request.complaint_id, NewAttachment(
            request.file_name, request.content_type, request.content))
        return pb.AddAttachmentResponse(attachment=attachment_pb(row))

    def GetAttachment(self, request, context):
        row, content = self.complaints.attachment(current_principal(), request.complaint_id,
                                                  request.attachment_id)
        return pb.GetAttachmentResponse(attachment=attachment_pb(row), content=content)

    def RedactComplaint(self, request, context):
        view = self.complaints.redact(current_principal(), request.complaint_id, request.description,
                                      request.answer_text, request.evaluation_comment, request.note)
        return pb.RedactComplaintResponse(complaint=full_pb(view))

    def ScheduleHearing(self, request, context):
        scheduled_at = request.scheduled_at.ToDatetime(tzinfo=timezone.utc) if request.HasField("scheduled_at") else None
        view = self.complaints.schedule_hearing(current_principal(), request.complaint_id, scheduled_at,
                                                request.meeting_url, request.note)
        return pb.ScheduleHearingResponse(complaint=full_pb(view))

    def RecordHearingOutcome(self, request, context):
        view = self.complaints.record_hearing_outcome(current_principal(), request.complaint_id,
                                                      OUTCOME_FROM_PB.get(request.outcome, ""), request.note)
        return pb.RecordHearingOutcomeResponse(complaint=full_pb(view))

    def GetHistory(self, request, context):
        rows = self.complaints.history(current_principal(), request.complaint_id)
        return pb.GetHistoryResponse(entries=[pb.HistoryEntry(
            sequence=r.seq, action=r.action, actor_id=r.actor_id, actor_role=r.actor_role,
            from_status=STATUS_TO_PB.get(r.from_status, 0), to_status=STATUS_TO_PB.get(r.to_status, 0),
            detail=r.detail, at=ts(r.at)) for r in rows])

    def ListAccesses(self, request, context):
        rows, next_token = self.complaints.list_accesses(current_principal(), request.consumer_id, request.page_size,
                                                         request.page_token)
        return pb.ListAccessesResponse(accesses=[pb.Access(
            at=ts(r.at), actor_id=r.actor_id, actor_role=r.actor_role, action=r.action, complaint_id=r.subject_id)
            for r in rows], next_page_token=next_token)


def build(settings: Settings):
    complaints = Complaints(Database(settings.database_url, pool_size=settings.max_workers), load_pack(settings.country),
                            clock_from_env(), LocalFolderStore(settings.attachments_dir))
    servicer = ComplaintServicer(complaints)

    def add_servicers(server):
        pb_grpc.add_ComplaintServiceServicer_to_server(servicer, server)
    return full_names(pb.DESCRIPTOR.services_by_name["ComplaintService"]), add_servicers, identity_verifier(settings)


def main() -> int:
    return run_api("complaint", Settings, build)


if __name__ == "__main__":
    sys.exit(main())
