import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CompanyStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPANY_STATUS_UNSPECIFIED: _ClassVar[CompanyStatus]
    COMPANY_STATUS_PENDING: _ClassVar[CompanyStatus]
    COMPANY_STATUS_ACTIVE: _ClassVar[CompanyStatus]
    COMPANY_STATUS_SUSPENDED: _ClassVar[CompanyStatus]
COMPANY_STATUS_UNSPECIFIED: CompanyStatus
COMPANY_STATUS_PENDING: CompanyStatus
COMPANY_STATUS_ACTIVE: CompanyStatus
COMPANY_STATUS_SUSPENDED: CompanyStatus

class Company(_message.Message):
    __slots__ = ("id", "tax_id", "legal_name", "trade_name", "segment_code", "group_id", "group_name", "status", "status_reason", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    LEGAL_NAME_FIELD_NUMBER: _ClassVar[int]
    TRADE_NAME_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    tax_id: str
    legal_name: str
    trade_name: str
    segment_code: str
    group_id: str
    group_name: str
    status: CompanyStatus
    status_reason: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tax_id: _Optional[str] = ..., legal_name: _Optional[str] = ..., trade_name: _Optional[str] = ..., segment_code: _Optional[str] = ..., group_id: _Optional[str] = ..., group_name: _Optional[str] = ..., status: _Optional[_Union[CompanyStatus, str]] = ..., status_reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ApplyForAdhesionRequest(_message.Message):
    __slots__ = ("tax_id", "legal_name", "trade_name", "segment_code", "group_name", "terms_accepted")
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    LEGAL_NAME_FIELD_NUMBER: _ClassVar[int]
    TRADE_NAME_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    TERMS_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    tax_id: str
    legal_name: str
    trade_name: str
    segment_code: str
    group_name: str
    terms_accepted: bool
    def __init__(self, tax_id: _Optional[str] = ..., legal_name: _Optional[str] = ..., trade_name: _Optional[str] = ..., segment_code: _Optional[str] = ..., group_name: _Optional[str] = ..., terms_accepted: _Optional[bool] = ...) -> None: ...

class ApplyForAdhesionResponse(_message.Message):
    __slots__ = ("company",)
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    company: Company
    def __init__(self, company: _Optional[_Union[Company, _Mapping]] = ...) -> None: ...

class ApproveAdhesionRequest(_message.Message):
    __slots__ = ("company_id",)
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    def __init__(self, company_id: _Optional[str] = ...) -> None: ...

class ApproveAdhesionResponse(_message.Message):
    __slots__ = ("company",)
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    company: Company
    def __init__(self, company: _Optional[_Union[Company, _Mapping]] = ...) -> None: ...

class SuspendCompanyRequest(_message.Message):
    __slots__ = ("company_id", "reason")
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    reason: str
    def __init__(self, company_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SuspendCompanyResponse(_message.Message):
    __slots__ = ("company",)
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    company: Company
    def __init__(self, company: _Optional[_Union[Company, _Mapping]] = ...) -> None: ...

class ReinstateCompanyRequest(_message.Message):
    __slots__ = ("company_id",)
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    def __init__(self, company_id: _Optional[str] = ...) -> None: ...

class ReinstateCompanyResponse(_message.Message):
    __slots__ = ("company",)
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    company: Company
    def __init__(self, company: _Optional[_Union[Company, _Mapping]] = ...) -> None: ...

class GetCompanyRequest(_message.Message):
    __slots__ = ("company_id",)
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    def __init__(self, company_id: _Optional[str] = ...) -> None: ...

class GetCompanyResponse(_message.Message):
    __slots__ = ("company",)
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    company: Company
    def __init__(self, company: _Optional[_Union[Company, _Mapping]] = ...) -> None: ...

class ListCompaniesRequest(_message.Message):
    __slots__ = ("status", "segment_code", "name_contains", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: CompanyStatus
    segment_code: str
    name_contains: str
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[_Union[CompanyStatus, str]] = ..., segment_code: _Optional[str] = ..., name_contains: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCompaniesResponse(_message.Message):
    __slots__ = ("companies", "next_page_token")
    COMPANIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    companies: _containers.RepeatedCompositeFieldContainer[Company]
    next_page_token: str
    def __init__(self, companies: _Optional[_Iterable[_Union[Company, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("code", "name")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ListSegmentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSegmentsResponse(_message.Message):
    __slots__ = ("segments",)
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    def __init__(self, segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ...) -> None: ...

class TaxonomyNode(_message.Message):
    __slots__ = ("code", "name", "children")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    children: _containers.RepeatedCompositeFieldContainer[TaxonomyNode]
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., children: _Optional[_Iterable[_Union[TaxonomyNode, _Mapping]]] = ...) -> None: ...

class GetTaxonomyRequest(_message.Message):
    __slots__ = ("segment_code",)
    SEGMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    segment_code: str
    def __init__(self, segment_code: _Optional[str] = ...) -> None: ...

class GetTaxonomyResponse(_message.Message):
    __slots__ = ("segment", "areas")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    AREAS_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    areas: _containers.RepeatedCompositeFieldContainer[TaxonomyNode]
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ..., areas: _Optional[_Iterable[_Union[TaxonomyNode, _Mapping]]] = ...) -> None: ...

class SuggestCompanyRequest(_message.Message):
    __slots__ = ("name", "tax_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    tax_id: str
    def __init__(self, name: _Optional[str] = ..., tax_id: _Optional[str] = ...) -> None: ...

class Suggestion(_message.Message):
    __slots__ = ("tax_id", "name", "times_suggested", "first_suggested_at")
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMES_SUGGESTED_FIELD_NUMBER: _ClassVar[int]
    FIRST_SUGGESTED_AT_FIELD_NUMBER: _ClassVar[int]
    tax_id: str
    name: str
    times_suggested: int
    first_suggested_at: _timestamp_pb2.Timestamp
    def __init__(self, tax_id: _Optional[str] = ..., name: _Optional[str] = ..., times_suggested: _Optional[int] = ..., first_suggested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SuggestCompanyResponse(_message.Message):
    __slots__ = ("suggestion",)
    SUGGESTION_FIELD_NUMBER: _ClassVar[int]
    suggestion: Suggestion
    def __init__(self, suggestion: _Optional[_Union[Suggestion, _Mapping]] = ...) -> None: ...

class ListSuggestionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSuggestionsResponse(_message.Message):
    __slots__ = ("suggestions", "next_page_token")
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    suggestions: _containers.RepeatedCompositeFieldContainer[Suggestion]
    next_page_token: str
    def __init__(self, suggestions: _Optional[_Iterable[_Union[Suggestion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CompanyTransition(_message.Message):
    __slots__ = ("from_status", "to_status", "reason", "actor_id", "actor_role", "occurred_at")
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    from_status: CompanyStatus
    to_status: CompanyStatus
    reason: str
    actor_id: str
    actor_role: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, from_status: _Optional[_Union[CompanyStatus, str]] = ..., to_status: _Optional[_Union[CompanyStatus, str]] = ..., reason: _Optional[str] = ..., actor_id: _Optional[str] = ..., actor_role: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListCompanyHistoryRequest(_message.Message):
    __slots__ = ("company_id",)
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    def __init__(self, company_id: _Optional[str] = ...) -> None: ...

class ListCompanyHistoryResponse(_message.Message):
    __slots__ = ("transitions",)
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    transitions: _containers.RepeatedCompositeFieldContainer[CompanyTransition]
    def __init__(self, transitions: _Optional[_Iterable[_Union[CompanyTransition, _Mapping]]] = ...) -> None: ...

class AdhesionReason(_message.Message):
    __slots__ = ("rule_id", "description", "waived", "waiver_reason")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    WAIVED_FIELD_NUMBER: _ClassVar[int]
    WAIVER_REASON_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    description: str
    waived: bool
    waiver_reason: str
    def __init__(self, rule_id: _Optional[str] = ..., description: _Optional[str] = ..., waived: _Optional[bool] = ..., waiver_reason: _Optional[str] = ...) -> None: ...

class AdhesionObligation(_message.Message):
    __slots__ = ("tax_id", "company_id", "name", "company_status", "facts", "reasons", "obliged", "adhered", "facts_updated_at", "pack_version")
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMPANY_STATUS_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    OBLIGED_FIELD_NUMBER: _ClassVar[int]
    ADHERED_FIELD_NUMBER: _ClassVar[int]
    FACTS_UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    PACK_VERSION_FIELD_NUMBER: _ClassVar[int]
    tax_id: str
    company_id: str
    name: str
    company_status: CompanyStatus
    facts: _struct_pb2.Struct
    reasons: _containers.RepeatedCompositeFieldContainer[AdhesionReason]
    obliged: bool
    adhered: bool
    facts_updated_at: _timestamp_pb2.Timestamp
    pack_version: str
    def __init__(self, tax_id: _Optional[str] = ..., company_id: _Optional[str] = ..., name: _Optional[str] = ..., company_status: _Optional[_Union[CompanyStatus, str]] = ..., facts: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., reasons: _Optional[_Iterable[_Union[AdhesionReason, _Mapping]]] = ..., obliged: _Optional[bool] = ..., adhered: _Optional[bool] = ..., facts_updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pack_version: _Optional[str] = ...) -> None: ...

class AdhesionHistoryEntry(_message.Message):
    __slots__ = ("action", "detail", "reason", "actor_id", "actor_role", "occurred_at")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    action: str
    detail: str
    reason: str
    actor_id: str
    actor_role: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, action: _Optional[str] = ..., detail: _Optional[str] = ..., reason: _Optional[str] = ..., actor_id: _Optional[str] = ..., actor_role: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordCompanyFactsRequest(_message.Message):
    __slots__ = ("company_id", "tax_id", "name", "facts")
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    tax_id: str
    name: str
    facts: _struct_pb2.Struct
    def __init__(self, company_id: _Optional[str] = ..., tax_id: _Optional[str] = ..., name: _Optional[str] = ..., facts: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class RecordCompanyFactsResponse(_message.Message):
    __slots__ = ("obligation",)
    OBLIGATION_FIELD_NUMBER: _ClassVar[int]
    obligation: AdhesionObligation
    def __init__(self, obligation: _Optional[_Union[AdhesionObligation, _Mapping]] = ...) -> None: ...

class GetAdhesionObligationRequest(_message.Message):
    __slots__ = ("company_id", "tax_id")
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    tax_id: str
    def __init__(self, company_id: _Optional[str] = ..., tax_id: _Optional[str] = ...) -> None: ...

class GetAdhesionObligationResponse(_message.Message):
    __slots__ = ("obligation", "history")
    OBLIGATION_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    obligation: AdhesionObligation
    history: _containers.RepeatedCompositeFieldContainer[AdhesionHistoryEntry]
    def __init__(self, obligation: _Optional[_Union[AdhesionObligation, _Mapping]] = ..., history: _Optional[_Iterable[_Union[AdhesionHistoryEntry, _Mapping]]] = ...) -> None: ...

class GrantAdhesionWaiverRequest(_message.Message):
    __slots__ = ("company_id", "tax_id", "rule_id", "reason")
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    tax_id: str
    rule_id: str
    reason: str
    def __init__(self, company_id: _Optional[str] = ..., tax_id: _Optional[str] = ..., rule_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GrantAdhesionWaiverResponse(_message.Message):
    __slots__ = ("obligation",)
    OBLIGATION_FIELD_NUMBER: _ClassVar[int]
    obligation: AdhesionObligation
    def __init__(self, obligation: _Optional[_Union[AdhesionObligation, _Mapping]] = ...) -> None: ...

class RevokeAdhesionWaiverRequest(_message.Message):
    __slots__ = ("company_id", "tax_id", "rule_id", "reason")
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    tax_id: str
    rule_id: str
    reason: str
    def __init__(self, company_id: _Optional[str] = ..., tax_id: _Optional[str] = ..., rule_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeAdhesionWaiverResponse(_message.Message):
    __slots__ = ("obligation",)
    OBLIGATION_FIELD_NUMBER: _ClassVar[int]
    obligation: AdhesionObligation
    def __init__(self, obligation: _Optional[_Union[AdhesionObligation, _Mapping]] = ...) -> None: ...

class ListMandatoryAdhesionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMandatoryAdhesionsResponse(_message.Message):
    __slots__ = ("obligations", "next_page_token")
    OBLIGATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    obligations: _containers.RepeatedCompositeFieldContainer[AdhesionObligation]
    next_page_token: str
    def __init__(self, obligations: _Optional[_Iterable[_Union[AdhesionObligation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
