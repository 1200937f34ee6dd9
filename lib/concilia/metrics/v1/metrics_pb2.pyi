from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Scope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCOPE_UNSPECIFIED: _ClassVar[Scope]
    SCOPE_NATIONAL: _ClassVar[Scope]
    SCOPE_COMPANY: _ClassVar[Scope]
    SCOPE_SEGMENT: _ClassVar[Scope]
    SCOPE_REGION: _ClassVar[Scope]
SCOPE_UNSPECIFIED: Scope
SCOPE_NATIONAL: Scope
SCOPE_COMPANY: Scope
SCOPE_SEGMENT: Scope
SCOPE_REGION: Scope

class Indicators(_message.Message):
    __slots__ = ("complaints", "resolved", "not_resolved", "not_evaluated", "answered", "solution_index", "strict_solution_index", "answered_share", "avg_answer_days", "satisfaction", "formula_version", "evaluated")
    COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    NOT_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    NOT_EVALUATED_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    SOLUTION_INDEX_FIELD_NUMBER: _ClassVar[int]
    STRICT_SOLUTION_INDEX_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_SHARE_FIELD_NUMBER: _ClassVar[int]
    AVG_ANSWER_DAYS_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    FORMULA_VERSION_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_FIELD_NUMBER: _ClassVar[int]
    complaints: int
    resolved: int
    not_resolved: int
    not_evaluated: int
    answered: int
    solution_index: float
    strict_solution_index: float
    answered_share: float
    avg_answer_days: float
    satisfaction: float
    formula_version: str
    evaluated: int
    def __init__(self, complaints: _Optional[int] = ..., resolved: _Optional[int] = ..., not_resolved: _Optional[int] = ..., not_evaluated: _Optional[int] = ..., answered: _Optional[int] = ..., solution_index: _Optional[float] = ..., strict_solution_index: _Optional[float] = ..., answered_share: _Optional[float] = ..., avg_answer_days: _Optional[float] = ..., satisfaction: _Optional[float] = ..., formula_version: _Optional[str] = ..., evaluated: _Optional[int] = ...) -> None: ...

class GetIndicatorsRequest(_message.Message):
    __slots__ = ("scope", "key", "period_from", "period_to")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FROM_FIELD_NUMBER: _ClassVar[int]
    PERIOD_TO_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    key: str
    period_from: str
    period_to: str
    def __init__(self, scope: _Optional[_Union[Scope, str]] = ..., key: _Optional[str] = ..., period_from: _Optional[str] = ..., period_to: _Optional[str] = ...) -> None: ...

class GetIndicatorsResponse(_message.Message):
    __slots__ = ("indicators", "by_company", "company_names", "by_segment", "segment_names", "name", "segment_code")
    class ByCompanyEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Indicators
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Indicators, _Mapping]] = ...) -> None: ...
    class CompanyNamesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class BySegmentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Indicators
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Indicators, _Mapping]] = ...) -> None: ...
    class SegmentNamesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    INDICATORS_FIELD_NUMBER: _ClassVar[int]
    BY_COMPANY_FIELD_NUMBER: _ClassVar[int]
    COMPANY_NAMES_FIELD_NUMBER: _ClassVar[int]
    BY_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_NAMES_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    indicators: Indicators
    by_company: _containers.MessageMap[str, Indicators]
    company_names: _containers.ScalarMap[str, str]
    by_segment: _containers.MessageMap[str, Indicators]
    segment_names: _containers.ScalarMap[str, str]
    name: str
    segment_code: str
    def __init__(self, indicators: _Optional[_Union[Indicators, _Mapping]] = ..., by_company: _Optional[_Mapping[str, Indicators]] = ..., company_names: _Optional[_Mapping[str, str]] = ..., by_segment: _Optional[_Mapping[str, Indicators]] = ..., segment_names: _Optional[_Mapping[str, str]] = ..., name: _Optional[str] = ..., segment_code: _Optional[str] = ...) -> None: ...

class TrendPoint(_message.Message):
    __slots__ = ("month", "indicators")
    MONTH_FIELD_NUMBER: _ClassVar[int]
    INDICATORS_FIELD_NUMBER: _ClassVar[int]
    month: str
    indicators: Indicators
    def __init__(self, month: _Optional[str] = ..., indicators: _Optional[_Union[Indicators, _Mapping]] = ...) -> None: ...

class GetTrendRequest(_message.Message):
    __slots__ = ("scope", "key", "month_from", "month_to")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MONTH_FROM_FIELD_NUMBER: _ClassVar[int]
    MONTH_TO_FIELD_NUMBER: _ClassVar[int]
    scope: Scope
    key: str
    month_from: str
    month_to: str
    def __init__(self, scope: _Optional[_Union[Scope, str]] = ..., key: _Optional[str] = ..., month_from: _Optional[str] = ..., month_to: _Optional[str] = ...) -> None: ...

class GetTrendResponse(_message.Message):
    __slots__ = ("points",)
    POINTS_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[TrendPoint]
    def __init__(self, points: _Optional[_Iterable[_Union[TrendPoint, _Mapping]]] = ...) -> None: ...

class RankingEntry(_message.Message):
    __slots__ = ("company_id", "company_name", "indicators")
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    COMPANY_NAME_FIELD_NUMBER: _ClassVar[int]
    INDICATORS_FIELD_NUMBER: _ClassVar[int]
    company_id: str
    company_name: str
    indicators: Indicators
    def __init__(self, company_id: _Optional[str] = ..., company_name: _Optional[str] = ..., indicators: _Optional[_Union[Indicators, _Mapping]] = ...) -> None: ...

class GetRankingRequest(_message.Message):
    __slots__ = ("segment_code", "period_from", "period_to", "min_complaints")
    SEGMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FROM_FIELD_NUMBER: _ClassVar[int]
    PERIOD_TO_FIELD_NUMBER: _ClassVar[int]
    MIN_COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    segment_code: str
    period_from: str
    period_to: str
    min_complaints: int
    def __init__(self, segment_code: _Optional[str] = ..., period_from: _Optional[str] = ..., period_to: _Optional[str] = ..., min_complaints: _Optional[int] = ...) -> None: ...

class GetRankingResponse(_message.Message):
    __slots__ = ("entries", "segment_name")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[RankingEntry]
    segment_name: str
    def __init__(self, entries: _Optional[_Iterable[_Union[RankingEntry, _Mapping]]] = ..., segment_name: _Optional[str] = ...) -> None: ...

class ExportOpenDataRequest(_message.Message):
    __slots__ = ("month",)
    MONTH_FIELD_NUMBER: _ClassVar[int]
    month: str
    def __init__(self, month: _Optional[str] = ...) -> None: ...

class ExportOpenDataResponse(_message.Message):
    __slots__ = ("chunk",)
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    def __init__(self, chunk: _Optional[bytes] = ...) -> None: ...
