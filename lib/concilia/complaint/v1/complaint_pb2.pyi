import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ComplaintStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPLAINT_STATUS_UNSPECIFIED: _ClassVar[ComplaintStatus]
    COMPLAINT_STATUS_WAITING_COMPANY: _ClassVar[ComplaintStatus]
    COMPLAINT_STATUS_UNDER_REFUSAL_REVIEW: _ClassVar[ComplaintStatus]
    COMPLAINT_STATUS_WAITING_EVALUATION: _ClassVar[ComplaintStatus]
    COMPLAINT_STATUS_FINALISED_EVALUATED: _ClassVar[ComplaintStatus]
    COMPLAINT_STATUS_FINALISED_NOT_EVALUATED: _ClassVar[ComplaintStatus]
    COMPLAINT_STATUS_CANCELLED: _ClassVar[ComplaintStatus]
    COMPLAINT_STATUS_HEARING_PENDING: _ClassVar[ComplaintStatus]
    COMPLAINT_STATUS_HEARING_SCHEDULED: _ClassVar[ComplaintStatus]

class HearingOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEARING_OUTCOME_UNSPECIFIED: _ClassVar[HearingOutcome]
    HEARING_OUTCOME_AGREEMENT: _ClassVar[HearingOutcome]
    HEARING_OUTCOME_NO_AGREEMENT: _ClassVar[HearingOutcome]
    HEARING_OUTCOME_NO_SHOW: _ClassVar[HearingOutcome]

class Resolution(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESOLUTION_UNSPECIFIED: _ClassVar[Resolution]
    RESOLUTION_RESOLVED: _ClassVar[Resolution]
    RESOLUTION_NOT_RESOLVED: _ClassVar[Resolution]
COMPLAINT_STATUS_UNSPECIFIED: ComplaintStatus
COMPLAINT_STATUS_WAITING_COMPANY: ComplaintStatus
COMPLAINT_STATUS_UNDER_REFUSAL_REVIEW: ComplaintStatus
COMPLAINT_STATUS_WAITING_EVALUATION: ComplaintStatus
COMPLAINT_STATUS_FINALISED_EVALUATED: ComplaintStatus
COMPLAINT_STATUS_FINALISED_NOT_EVALUATED: ComplaintStatus
COMPLAINT_STATUS_CANCELLED: ComplaintStatus
COMPLAINT_STATUS_HEARING_PENDING: ComplaintStatus
COMPLAINT_STATUS_HEARING_SCHEDULED: ComplaintStatus
HEARING_OUTCOME_UNSPECIFIED: HearingOutcome
HEARING_OUTCOME_AGREEMENT: HearingOutcome
HEARING_OUTCOME_NO_AGREEMENT: HearingOutcome
HEARING_OUTCOME_NO_SHOW: HearingOutcome
RESOLUTION_UNSPECIFIED: Resolution
RESOLUTION_RESOLVED: Resolution
RESOLUTION_NOT_RESOLVED: Resolution

class Taxonomy(_message.Message):
    __slots__ = ("segment_code", "area", "subject", "problem_group", "problem")
    SEGMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_GROUP_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    segment_code: str
    area: str
    subject: str
    problem_group: str
    problem: str
    def __init__(self, segment_code: _Optional[str] = ..., area: _Optional[str] = ..., subject: _Optional[str] = ..., problem_group: _Optional[str] = ..., problem: _Optional[str] = ...) -> None: ...

class Complaint(_message.Message):
    __slots__ = ("id", "status", "company_id", "company_group_id", "consumer_id", "taxonomy", "purchase_channel", "contacted_company_first", "description", "desired_outcome", "region_code", "city", "filed_at", "answer_deadline", "answered_at", "answered", "answer_text", "answer_time_days", "evaluation_deadline", "resolution", "satisfaction_score", "evaluation_comment", "finalised_at", "refusal_reason", "cancellation_reason", "messages", "attachments", "company_name", "refusal_text", "refused_at", "under_review_days", "authority_id", "authority_jurisdiction", "hearing_window_ends", "hearing_at", "hearing_url", "hearing_outcome")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    COMPANY_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CONTACTED_COMPANY_FIRST_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DESIRED_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    FILED_AT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    ANSWER_TEXT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_TIME_DAYS_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_SCORE_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_COMMENT_FIELD_NUMBER: _ClassVar[int]
    FINALISED_AT_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_REASON_FIELD_NUMBER: _ClassVar[int]
    CANCELLATION_REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    COMPANY_NAME_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_TEXT_FIELD_NUMBER: _ClassVar[int]
    REFUSED_AT_FIELD_NUMBER: _ClassVar[int]
    UNDER_REVIEW_DAYS_FIELD_NUMBER: _ClassVar[int]
    AUTHORITY_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHORITY_JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    HEARING_WINDOW_ENDS_FIELD_NUMBER: _ClassVar[int]
    HEARING_AT_FIELD_NUMBER: _ClassVar[int]
    HEARING_URL_FIELD_NUMBER: _ClassVar[int]
    HEARING_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: ComplaintStatus
    company_id: str
    company_group_id: str
    consumer_id: str
    taxonomy: Taxonomy
    purchase_channel: str
    contacted_company_first: bool
    description: str
    desired_outcome: str
    region_code: str
    city: str
    filed_at: _timestamp_pb2.Timestamp
    answer_deadline: _timestamp_pb2.Timestamp
    answered_at: _timestamp_pb2.Timestamp
    answered: bool
    answer_text: str
    answer_time_days: int
    evaluation_deadline: _timestamp_pb2.Timestamp
    resolution: Resolution
    satisfaction_score: int
    evaluation_comment: str
    finalised_at: _timestamp_pb2.Timestamp
    refusal_reason: str
    cancellation_reason: str
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    company_name: str
    refusal_text: str
    refused_at: _timestamp_pb2.Timestamp
    under_review_days: int
    authority_id: str
    authority_jurisdiction: str
    hearing_window_ends: _timestamp_pb2.Timestamp
    hearing_at: _timestamp_pb2.Timestamp
    hearing_url: str
    hearing_outcome: HearingOutcome
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[ComplaintStatus, str]] = ..., company_id: _Optional[str] = ..., company_group_id: _Optional[str] = ..., consumer_id: _Optional[str] = ..., taxonomy: _Optional[_Union[Taxonomy, _Mapping]] = ..., purchase_channel: _Optional[str] = ..., contacted_company_first: _Optional[bool] = ..., description: _Optional[str] = ..., desired_outcome: _Optional[str] = ..., region_code: _Optional[str] = ..., city: _Optional[str] = ..., filed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answer_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answered: _Optional[bool] = ..., answer_text: _Optional[str] = ..., answer_time_days: _Optional[int] = ..., evaluation_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolution: _Optional[_Union[Resolution, str]] = ..., satisfaction_score: _Optional[int] = ..., evaluation_comment: _Optional[str] = ..., finalised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refusal_reason: _Optional[str] = ..., cancellation_reason: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., company_name: _Optional[str] = ..., refusal_text: _Optional[str] = ..., refused_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., under_review_days: _Optional[int] = ..., authority_id: _Optional[str] = ..., authority_jurisdiction: _Optional[str] = ..., hearing_window_ends: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hearing_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hearing_url: _Optional[str] = ..., hearing_outcome: _Optional[_Union[HearingOutcome, str]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("id", "author_id", "author_role", "text", "sent_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    author_id: str
    author_role: str
    text: str
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., author_id: _Optional[str] = ..., author_role: _Optional[str] = ..., text: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Attachment(_message.Message):
    __slots__ = ("id", "file_name", "content_type", "size_bytes", "sha256", "uploaded_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., file_name: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., uploaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FileComplaintRequest(_message.Message):
    __slots__ = ("idempotency_key", "company_id", "taxonomy", "purchase_channel", "contacted_company_first", "description", "desired_outcome", "region_code", "city", "attachments")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CONTACTED_COMPANY_FIRST_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DESIRED_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    company_id: str
    taxonomy: Taxonomy
    purchase_channel: str
    contacted_company_first: bool
    description: str
    desired_outcome: str
    region_code: str
    city: str
    attachments: _containers.RepeatedCompositeFieldContainer[NewAttachment]
    def __init__(self, idempotency_key: _Optional[str] = ..., company_id: _Optional[str] = ..., taxonomy: _Optional[_Union[Taxonomy, _Mapping]] = ..., purchase_channel: _Optional[str] = ..., contacted_company_first: _Optional[bool] = ..., description: _Optional[str] = ..., desired_outcome: _Optional[str] = ..., region_code: _Optional[str] = ..., city: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[NewAttachment, _Mapping]]] = ...) -> None: ...

class NewAttachment(_message.Message):
    __slots__ = ("file_name", "content_type", "content")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    content_type: str
    content: bytes
    def __init__(self, file_name: _Optional[str] = ..., content_type: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class FileComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class GetComplaintRequest(_message.Message):
    __slots__ = ("complaint_id",)
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    def __init__(self, complaint_id: _Optional[str] = ...) -> None: ...

class GetComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class ListComplaintsRequest(_message.Message):
    __slots__ = ("status", "company_id", "filed_from", "filed_to", "page_size", "page_token", "order_by")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    FILED_FROM_FIELD_NUMBER: _ClassVar[int]
    FILED_TO_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    status: ComplaintStatus
    company_id: str
    filed_from: _timestamp_pb2.Timestamp
    filed_to: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    order_by: str
    def __init__(self, status: _Optional[_Union[ComplaintStatus, str]] = ..., company_id: _Optional[str] = ..., filed_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., filed_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListComplaintsResponse(_message.Message):
    __slots__ = ("complaints", "next_page_token")
    COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    complaints: _containers.RepeatedCompositeFieldContainer[Complaint]
    next_page_token: str
    def __init__(self, complaints: _Optional[_Iterable[_Union[Complaint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AnswerComplaintRequest(_message.Message):
    __slots__ = ("complaint_id", "text")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    text: str
    def __init__(self, complaint_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class AnswerComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class RefuseComplaintRequest(_message.Message):
    __slots__ = ("complaint_id", "reason_code", "text")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    reason_code: str
    text: str
    def __init__(self, complaint_id: _Optional[str] = ..., reason_code: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class RefuseComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class ReviewRefusalRequest(_message.Message):
    __slots__ = ("complaint_id", "uphold", "note")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    UPHOLD_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    uphold: bool
    note: str
    def __init__(self, complaint_id: _Optional[str] = ..., uphold: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class ReviewRefusalResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class EvaluateComplaintRequest(_message.Message):
    __slots__ = ("complaint_id", "resolution", "satisfaction_score", "comment")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_SCORE_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    resolution: Resolution
    satisfaction_score: int
    comment: str
    def __init__(self, complaint_id: _Optional[str] = ..., resolution: _Optional[_Union[Resolution, str]] = ..., satisfaction_score: _Optional[int] = ..., comment: _Optional[str] = ...) -> None: ...

class EvaluateComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class CancelComplaintRequest(_message.Message):
    __slots__ = ("complaint_id", "reason")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    reason: str
    def __init__(self, complaint_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class AddMessageRequest(_message.Message):
    __slots__ = ("complaint_id", "text")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    text: str
    def __init__(self, complaint_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class AddMessageResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: Message
    def __init__(self, message: _Optional[_Union[Message, _Mapping]] = ...) -> None: ...

class AddAttachmentRequest(_message.Message):
    __slots__ = ("complaint_id", "file_name", "content_type", "content")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    file_name: str
    content_type: str
    content: bytes
    def __init__(self, complaint_id: _Optional[str] = ..., file_name: _Optional[str] = ..., content_type: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class AddAttachmentResponse(_message.Message):
    __slots__ = ("attachment",)
    ATTACHMENT_FIELD_NUMBER: _ClassVar[int]
    attachment: Attachment
    def __init__(self, attachment: _Optional[_Union[Attachment, _Mapping]] = ...) -> None: ...

class GetAttachmentRequest(_message.Message):
    __slots__ = ("complaint_id", "attachment_id")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    attachment_id: str
    def __init__(self, complaint_id: _Optional[str] = ..., attachment_id: _Optional[str] = ...) -> None: ...

class GetAttachmentResponse(_message.Message):
    __slots__ = ("attachment", "content")
    ATTACHMENT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    attachment: Attachment
    content: bytes
    def __init__(self, attachment: _Optional[_Union[Attachment, _Mapping]] = ..., content: _Optional[bytes] = ...) -> None: ...

class RedactComplaintRequest(_message.Message):
    __slots__ = ("complaint_id", "description", "answer_text", "evaluation_comment", "note")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ANSWER_TEXT_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_COMMENT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    description: str
    answer_text: str
    evaluation_comment: str
    note: str
    def __init__(self, complaint_id: _Optional[str] = ..., description: _Optional[str] = ..., answer_text: _Optional[str] = ..., evaluation_comment: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class RedactComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("sequence", "action", "actor_id", "actor_role", "from_status", "to_status", "detail", "at")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    action: str
    actor_id: str
    actor_role: str
    from_status: ComplaintStatus
    to_status: ComplaintStatus
    detail: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, sequence: _Optional[int] = ..., action: _Optional[str] = ..., actor_id: _Optional[str] = ..., actor_role: _Optional[str] = ..., from_status: _Optional[_Union[ComplaintStatus, str]] = ..., to_status: _Optional[_Union[ComplaintStatus, str]] = ..., detail: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("complaint_id",)
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    def __init__(self, complaint_id: _Optional[str] = ...) -> None: ...

class GetHistoryResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ...) -> None: ...

class ScheduleHearingRequest(_message.Message):
    __slots__ = ("complaint_id", "scheduled_at", "meeting_url", "note")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    MEETING_URL_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    scheduled_at: _timestamp_pb2.Timestamp
    meeting_url: str
    note: str
    def __init__(self, complaint_id: _Optional[str] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., meeting_url: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ScheduleHearingResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class RecordHearingOutcomeRequest(_message.Message):
    __slots__ = ("complaint_id", "outcome", "note")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    outcome: HearingOutcome
    note: str
    def __init__(self, complaint_id: _Optional[str] = ..., outcome: _Optional[_Union[HearingOutcome, str]] = ..., note: _Optional[str] = ...) -> None: ...

class RecordHearingOutcomeResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class Access(_message.Message):
    __slots__ = ("at", "actor_id", "actor_role", "action", "complaint_id")
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    actor_id: str
    actor_role: str
    action: str
    complaint_id: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_id: _Optional[str] = ..., actor_role: _Optional[str] = ..., action: _Optional[str] = ..., complaint_id: _Optional[str] = ...) -> None: ...

class ListAccessesRequest(_message.Message):
    __slots__ = ("consumer_id", "page_size", "page_token")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    page_size: int
    page_token: str
    def __init__(self, consumer_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAccessesResponse(_message.Message):
    __slots__ = ("accesses", "next_page_token")
    ACCESSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    accesses: _containers.RepeatedCompositeFieldContainer[Access]
    next_page_token: str
    def __init__(self, accesses: _Optional[_Iterable[_Union[Access, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
