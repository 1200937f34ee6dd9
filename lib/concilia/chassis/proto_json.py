"""Protobuf messages to their JSON mapping (what `json_format.MessageToDict` returns, with proto
field names), for the event envelopes written on hot paths and the gateway's responses.

`json_format` walks every message in Python with many checks per field; for the flat messages our
events and API responses are (scalars, enums, nested messages, Timestamps, repeated fields) the
same mapping is a short walk over `ListFields()`, several times cheaper (docs/adr/0012-write-path.md).
Each message type gets a plan once (which name and converter per field, which defaults to print);
a message type with anything else (maps, floats, extensions, enum value options) goes to
`json_format` whole, and so do other well-known types (Any, Struct, wrappers, Duration, ...)
met as fields. tests/unit/test_proto_json.py (events) and tests/unit/test_gateway_convert.py
(API messages, defaults, enum words) check both give the same result.
"""
import base64
import datetime
import functools
import re
from typing import Callable

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

_TIMESTAMP = "google.protobuf.Timestamp"
_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
          FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}
_FLOATS = {FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE}
_EPOCH = datetime.datetime(1970, 1, 1)
_SECONDS_MIN, _SECONDS_MAX = -62135596800, 253402300799  # 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z

EnumName = Callable[[EnumDescriptor, int], object]


@functools.lru_cache(maxsize=None)
def _simple(descriptor: Descriptor) -> bool:
    """Whether every field, down the nested messages, is one the short walk maps exactly."""
    if not _walkable(descriptor):
        return False
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.full_name != _TIMESTAMP:
            if _well_known(field.message_type) or not _simple(field.message_type):
                return False
    return True


def _well_known(descriptor: Descriptor) -> bool:
    return descriptor.file.package == "google.protobuf"


def _walkable(descriptor: Descriptor) -> bool:
    """Whether the walk can map this message's own fields (nested messages decide for themselves)."""
    if _well_known(descriptor) or descriptor.extension_ranges:
        return False
    for field in descriptor.fields:
        if field.type in _FLOATS:
            return False  # float formatting (shortest repr of 32-bit floats) is left to json_format
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            return False
        if field.enum_type is not None and (field.enum_type.is_closed
                                            or any(v.has_options for v in field.enum_type.values)):
            return False  # closed enums raise on unknown numbers; value options may rename (pb.enumvalue.json)
    return True


def _same(value):
    return value


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _enum_converter(enum: EnumDescriptor, enum_name: EnumName | None):
    if enum_name is None:  # json_format: the value's name, an unknown number as it is (open enums)
        names = {v.number: v.name for v in enum.values}
        return lambda number: names.get(number, number)
    words = {v.number: enum_name(enum, v.number) for v in enum.values}
    return lambda number: words[number] if number in words else enum_name(enum, number)


def _timestamp_converter(field_name: str):
    """Timestamp.ToJsonString() (RFC 3339, Z, 0/3/6/9 fraction digits), in a few C calls instead of
    its Python arithmetic; what it refuses, json_format refuses in its words."""
    def convert(value) -> str:
        seconds, nanos = value.seconds, value.nanos
        if not (_SECONDS_MIN <= seconds <= _SECONDS_MAX and 0 <= nanos < 1_000_000_000):
            try:
                return value.ToJsonString()
            except ValueError as error:
                raise json_format.SerializeToJsonError(f"Failed to serialize {field_name} field: {error}.") from error
        text = (_EPOCH + datetime.timedelta(0, seconds)).isoformat()  # positional: keywords cost more
        if not nanos:
            return text + "Z"
        if not nanos % 1_000_000:
            return f"{text}.{nanos // 1_000_000:03d}Z"
        if not nanos % 1_000:
            return f"{text}.{nanos // 1_000:06d}Z"
        return f"{text}.{nanos:09d}Z"
    return convert


def _message_converter(field: FieldDescriptor, with_defaults: bool, enum_name: EnumName | None):
    descriptor = field.message_type
    if descriptor.full_name == _TIMESTAMP:
        return _timestamp_converter(field.name)
    plan = None

    def convert(message):  # the nested plan is looked up on first use: message types may be recursive
        nonlocal plan
        if plan is None:
            plan = _plan(descriptor, with_defaults, enum_name)
        return plan(message)
    return convert


def _converter(field: FieldDescriptor, with_defaults: bool, enum_name: EnumName | None):
    """The function mapping one value of the field; None where json_format keeps the value as it is."""
    if field.message_type is not None:
        return _message_converter(field, with_defaults, enum_name)
    if field.type in _INT64:
        return str
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_converter(field.enum_type, enum_name)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return _bytes
    return None  # strings, bools, 32-bit integers


@functools.lru_cache(maxsize=None)
def _plan(descriptor: Descriptor, with_defaults: bool, enum_name: EnumName | None) -> Callable[[Message], dict]:
    """The function mapping messages of this type."""
    if not _walkable(descriptor):
        if _well_known(descriptor):
            enum_name = None  # the gateway's enum rewrite never entered well-known types
        return functools.partial(_json_format, with_defaults=with_defaults, enum_name=enum_name)
    fields = {field: (field.name, _converter(field, with_defaults, enum_name), field.is_repeated)
              for field in descriptor.fields}
    def walk(message: Message) -> dict:
        result = {}
        for field, value in message.ListFields():
            name, convert, repeated = fields[field]
            if convert is None:
                result[name] = list(value) if repeated else value
            elif repeated:
                result[name] = [convert(item) for item in value]
            else:
                result[name] = convert(value)
        return result
    if not with_defaults:
        return walk

    # json_format prints the fields without presence that ListFields() skipped after the others, in
    # declaration order, at their default; repeated fields as new lists.
    defaults = {field.name: None if field.is_repeated else (convert or _same)(field.default_value)
                for field, (_, convert, _) in fields.items() if not field.has_presence}
    lists = frozenset(field.name for field in descriptor.fields if field.is_repeated and field.name in defaults)

    def walk_with_defaults(message: Message) -> dict:
        result = walk(message)
        for name, default in defaults.items():
            if name not in result:
                result[name] = [] if name in lists else default
        return result
    return walk_with_defaults


def _json_format(message: Message, *, with_defaults: bool, enum_name: EnumName | None) -> dict:
    data = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=with_defaults)
    if enum_name is not None:
        _rename_enums(message.DESCRIPTOR, data, enum_name)
    return data


def _rename_enums(descriptor: Descriptor, data: dict, enum_name: EnumName) -> None:
    """Applies enum_name to json_format's enum names (or unknown numbers), down the regular messages."""
    for field in descriptor.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        if field.type == FieldDescriptor.TYPE_ENUM:
            def rename(v):
                return enum_name(field.enum_type, field.enum_type.values_by_name[v].number if isinstance(v, str) else v)
            data[field.name] = [rename(v) for v in value] if isinstance(value, list) else rename(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value.values():
                    _rename_enums(value_field.message_type, item, enum_name)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not _well_known(field.message_type):
            for item in value if isinstance(value, list) else [value]:
                _rename_enums(field.message_type, item, enum_name)


def message_to_dict(message: Message, *, with_defaults: bool = False, enum_name: EnumName | None = None) -> dict:
    """`json_format.MessageToDict(message, preserving_proto_field_name=True,
    always_print_fields_with_no_presence=with_defaults)`, faster. `enum_name(enum_descriptor, number)`,
    when given, maps every enum value (known or not) instead of its name; it must be a pure function
    (its results for the known values are kept) and hashable (plans are cached per function)."""
    return _plan(message.DESCRIPTOR, with_defaults, enum_name)(message)


# --- back: JSON mappings to messages -----------------------------------------------------------
# Consumers parse every event's data (what message_to_dict wrote) back into its message, and the
# gateway every request body. ParseDict walks the data in Python with many checks per field; the
# plan below only checks each value's type and hands the values to the message's constructor (which
# takes nested dicts, enum names and datetimes itself), about 4 times cheaper. Any value the plan
# does not expect as message_to_dict writes it (camelCase names, numbers for enums, nulls, other
# timestamp forms, unknown fields, a field the plan leaves to ParseDict: bytes, floats, maps,
# oneofs, well-known types other than Timestamp...) sends the whole message to ParseDict, so
# results and errors are its own.

class _Unplanned(Exception):
    pass


_INT32_RANGES = {FieldDescriptor.TYPE_INT32: (-2**31, 2**31), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31),
                 FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31), FieldDescriptor.TYPE_UINT32: (0, 2**32),
                 FieldDescriptor.TYPE_FIXED32: (0, 2**32)}
_UNSIGNED64 = {FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64}
_INTEGER = re.compile("-?[0-9]+")
# Timestamp.ToJsonString of a microsecond instant (datetime.fromisoformat takes more forms than ParseDict).
_INSTANT = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{3}|\\.[0-9]{6})?Z")
_MAX_DEPTH = 32  # deeper bodies go to ParseDict (which refuses nesting over 100) instead of recursing here


def _typed(kind: type):
    def check(value, _depth):
        if type(value) is not kind:
            raise _Unplanned
        return value
    return check


def _ranged(low: int, high: int, as_text: bool):
    def check(value, _depth):
        if as_text and type(value) is str and _INTEGER.fullmatch(value):  # 64-bit integers are JSON strings
            value = int(value)
        if type(value) is not int or not low <= value < high:
            raise _Unplanned
        return value
    return check


def _instant(value, _depth):
    if type(value) is not str or not _INSTANT.fullmatch(value):
        raise _Unplanned
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        raise _Unplanned from None


def _enum_names(enum: EnumDescriptor):
    names = frozenset(value.name for value in enum.values)

    def check(value, _depth):
        if type(value) is not str or value not in names:
            raise _Unplanned
        return value
    return check


def _repeated(check):
    def each(value, depth):
        if type(value) is not list:
            raise _Unplanned
        return [check(item, depth) for item in value]
    return each


def _nested(descriptor: Descriptor):
    def check(value, depth):  # the nested plan is looked up on first use: message types may be recursive
        if depth >= _MAX_DEPTH:
            raise _Unplanned
        return _apply(_parse_plan(descriptor), value, depth + 1)
    return check


def _parse_converter(field: FieldDescriptor):
    """A check of one JSON value of the field, returning what the constructor takes; None for the
    fields left to ParseDict."""
    if field.containing_oneof is not None:
        return None
    if field.message_type is not None:
        if field.message_type.full_name == _TIMESTAMP:
            return _instant
        if _well_known(field.message_type) or field.message_type.GetOptions().map_entry:
            return None
        return _nested(field.message_type)
    if field.type == FieldDescriptor.TYPE_STRING:
        return _typed(str)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return _typed(bool)
    if field.type in _INT32_RANGES:
        return _ranged(*_INT32_RANGES[field.type], as_text=False)
    if field.type in _INT64:
        return _ranged(*((0, 2**64) if field.type in _UNSIGNED64 else (-2**63, 2**63)), as_text=True)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_names(field.enum_type)
    return None  # bytes, floats: ParseDict


@functools.lru_cache(maxsize=None)
def _parse_plan(descriptor: Descriptor) -> dict:
    """Proto field name -> check of its JSON value, for the fields the plan sets itself: a body that
    holds any other key (a field left to ParseDict, a JSON name, an unknown field) is ParseDict's."""
    plan = {}
    for field in descriptor.fields:
        convert = _parse_converter(field)
        if convert is not None:
            plan[field.name] = _repeated(convert) if field.is_repeated else convert
    return plan


def _apply(plan: dict, data, depth: int = 1) -> dict:
    if type(data) is not dict:
        raise _Unplanned
    values = {}
    for name, value in data.items():
        check = plan.get(name)
        if check is None:
            raise _Unplanned
        values[name] = check(value, depth)
    return values


def dict_to_message(data: dict, message_class: type[Message], *, ignore_unknown_fields: bool = True) -> Message:
    """`json_format.ParseDict(data, message_class(), ignore_unknown_fields=...)`, faster for what
    message_to_dict writes (and for request bodies written the same way). ParseDict's ParseError
    is raised as it would be."""
    try:
        return message_class(**_apply(_parse_plan(message_class.DESCRIPTOR), data))
    except (_Unplanned, ValueError, TypeError):  # the constructor's errors: ParseDict words them
        pass
    return json_format.ParseDict(data, message_class(), ignore_unknown_fields=ignore_unknown_fields)


__all__ = ["dict_to_message", "message_to_dict"]
