import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventEnvelope(_message.Message):
    __slots__ = ("id", "type", "source", "occurred_at", "country", "data")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    source: str
    occurred_at: _timestamp_pb2.Timestamp
    country: str
    data: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., source: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., country: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AccountCreated(_message.Message):
    __slots__ = ("account_id", "role", "name", "email", "locale", "company_id", "group_id", "jurisdiction")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    role: str
    name: str
    email: str
    locale: str
    company_id: str
    group_id: str
    jurisdiction: str
    def __init__(self, account_id: _Optional[str] = ..., role: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., locale: _Optional[str] = ..., company_id: _Optional[str] = ..., group_id: _Optional[str] = ..., jurisdiction: _Optional[str] = ...) -> None: ...

class AccountErased(_message.Message):
    __slots__ = ("account_id", "role")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    role: str
    def __init__(self, account_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class CompanyAdhered(_message.Message):
    __slots__ = ("company_id", "tax_id", "trade_name", "segment_code", "group_id")
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    TRADE_NAME_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    tax_id: str
    trade_name: str
    segment_code: str
    group_id: str
    def __init__(self, company_id: _Optional[str] = ..., tax_id: _Optional[str] = ..., trade_name: _Optional[str] = ..., segment_code: _Optional[str] = ..., group_id: _Optional[str] = ...) -> None: ...

class CompanySuspended(_message.Message):
    __slots__ = ("company_id", "reason")
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    reason: str
    def __init__(self, company_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ComplaintRef(_message.Message):
    __slots__ = ("complaint_id", "consumer_id", "company_id", "company_group_id", "segment_code", "region_code", "authority_id")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    COMPANY_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    AUTHORITY_ID_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    consumer_id: str
    company_id: str
    company_group_id: str
    segment_code: str
    region_code: str
    authority_id: str
    def __init__(self, complaint_id: _Optional[str] = ..., consumer_id: _Optional[str] = ..., company_id: _Optional[str] = ..., company_group_id: _Optional[str] = ..., segment_code: _Optional[str] = ..., region_code: _Optional[str] = ..., authority_id: _Optional[str] = ...) -> None: ...

class ComplaintFiled(_message.Message):
    __slots__ = ("complaint", "filed_at", "answer_deadline")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    FILED_AT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    filed_at: _timestamp_pb2.Timestamp
    answer_deadline: _timestamp_pb2.Timestamp
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., filed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answer_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ComplaintAnswered(_message.Message):
    __slots__ = ("complaint", "answered_at", "answer_time_days", "evaluation_deadline")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_TIME_DAYS_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    answered_at: _timestamp_pb2.Timestamp
    answer_time_days: int
    evaluation_deadline: _timestamp_pb2.Timestamp
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., answered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answer_time_days: _Optional[int] = ..., evaluation_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ComplaintUnanswered(_message.Message):
    __slots__ = ("complaint", "answer_deadline", "evaluation_deadline")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    answer_deadline: _timestamp_pb2.Timestamp
    evaluation_deadline: _timestamp_pb2.Timestamp
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., answer_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evaluation_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ComplaintRefused(_message.Message):
    __slots__ = ("complaint", "reason_code", "refused_at")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    REFUSED_AT_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    reason_code: str
    refused_at: _timestamp_pb2.Timestamp
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., reason_code: _Optional[str] = ..., refused_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ComplaintRefusalReviewed(_message.Message):
    __slots__ = ("complaint", "upheld", "reviewer_id", "answer_deadline")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    UPHELD_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    upheld: bool
    reviewer_id: str
    answer_deadline: _timestamp_pb2.Timestamp
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., upheld: _Optional[bool] = ..., reviewer_id: _Optional[str] = ..., answer_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ComplaintMessageAdded(_message.Message):
    __slots__ = ("complaint", "message_id", "author_role")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    message_id: str
    author_role: str
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., message_id: _Optional[str] = ..., author_role: _Optional[str] = ...) -> None: ...

class ComplaintEvaluated(_message.Message):
    __slots__ = ("complaint", "resolution", "satisfaction_score")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_SCORE_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    resolution: str
    satisfaction_score: int
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., resolution: _Optional[str] = ..., satisfaction_score: _Optional[int] = ...) -> None: ...

class DeadlineReminder(_message.Message):
    __slots__ = ("complaint", "deadline_kind", "deadline", "days_left")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_KIND_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    DAYS_LEFT_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    deadline_kind: str
    deadline: _timestamp_pb2.Timestamp
    days_left: int
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., deadline_kind: _Optional[str] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., days_left: _Optional[int] = ...) -> None: ...

class ComplaintFinalised(_message.Message):
    __slots__ = ("complaint", "status", "resolution", "satisfaction_score", "answered", "answer_time_days", "filed_at", "answered_at", "finalised_at", "area", "subject", "problem_group", "problem", "purchase_channel", "contacted_company_first", "city", "company_name", "segment_name", "consumer_sex", "consumer_age_bracket", "hearing_outcome")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_SCORE_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    ANSWER_TIME_DAYS_FIELD_NUMBER: _ClassVar[int]
    FILED_AT_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_FIELD_NUMBER: _ClassVar[int]
    FINALISED_AT_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_GROUP_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CONTACTED_COMPANY_FIRST_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    COMPANY_NAME_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_SEX_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_AGE_BRACKET_FIELD_NUMBER: _ClassVar[int]
    HEARING_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    status: str
    resolution: str
    satisfaction_score: int
    answered: bool
    answer_time_days: int
    filed_at: _timestamp_pb2.Timestamp
    answered_at: _timestamp_pb2.Timestamp
    finalised_at: _timestamp_pb2.Timestamp
    area: str
    subject: str
    problem_group: str
    problem: str
    purchase_channel: str
    contacted_company_first: bool
    city: str
    company_name: str
    segment_name: str
    consumer_sex: str
    consumer_age_bracket: str
    hearing_outcome: str
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., status: _Optional[str] = ..., resolution: _Optional[str] = ..., satisfaction_score: _Optional[int] = ..., answered: _Optional[bool] = ..., answer_time_days: _Optional[int] = ..., filed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finalised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., area: _Optional[str] = ..., subject: _Optional[str] = ..., problem_group: _Optional[str] = ..., problem: _Optional[str] = ..., purchase_channel: _Optional[str] = ..., contacted_company_first: _Optional[bool] = ..., city: _Optional[str] = ..., company_name: _Optional[str] = ..., segment_name: _Optional[str] = ..., consumer_sex: _Optional[str] = ..., consumer_age_bracket: _Optional[str] = ..., hearing_outcome: _Optional[str] = ...) -> None: ...

class ComplaintCancelled(_message.Message):
    __slots__ = ("complaint", "reason")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    reason: str
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ComplaintHearingScheduled(_message.Message):
    __slots__ = ("complaint", "scheduled_at", "scheduler_id")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_ID_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    scheduled_at: _timestamp_pb2.Timestamp
    scheduler_id: str
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scheduler_id: _Optional[str] = ...) -> None: ...

class ComplaintHearingHeld(_message.Message):
    __slots__ = ("complaint", "outcome", "recorded_at", "recorder_id")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    RECORDER_ID_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRef
    outcome: str
    recorded_at: _timestamp_pb2.Timestamp
    recorder_id: str
    def __init__(self, complaint: _Optional[_Union[ComplaintRef, _Mapping]] = ..., outcome: _Optional[str] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recorder_id: _Optional[str] = ...) -> None: ...
