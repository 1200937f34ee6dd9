"""Protobuf <-> JSON for the REST API: proto field names, enums as short lowercase words
(ROLE_CONSUMER -> "consumer", COMPLAINT_STATUS_WAITING_COMPANY -> "waiting_company")."""
import functools
import re

from google.protobuf import json_format
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor

from flask import request

from concilia.chassis.proto_json import message_to_dict

from .errors import ApiError


def _enum_prefix(enum: EnumDescriptor) -> str:
    return enum.values[0].name.rsplit("UNSPECIFIED", 1)[0] if enum.values[0].name.endswith("UNSPECIFIED") else ""


def enum_to_word(enum: EnumDescriptor, number: int) -> str:
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    return value.name[len(_enum_prefix(enum)):].lower()


def word_to_enum(enum: EnumDescriptor, word: str, field: str) -> int:
    if word in ("", None):
        return 0
    name = _enum_prefix(enum) + str(word).upper()
    value = enum.values_by_name.get(name)
    if value is None or value.number == 0:
        choices = ", ".join(enum_to_word(enum, v.number) for v in enum.values if v.number)
        raise ApiError(400, "INVALID_ARGUMENT", f"{field}: must be one of {choices}", field)
    return value.number


def to_json(message) -> dict:
    """The message's JSON mapping with every field without presence printed (at its default when
    unset), as `json_format.MessageToDict(preserving_proto_field_name=True,
    always_print_fields_with_no_presence=True)`, enums as words; the chassis walk does it cheaply."""
    return message_to_dict(message, with_defaults=True, enum_name=enum_to_word)


# from_json builds the message directly from a body whose every value is one ParseDict would take
# unchanged (its type check below); anything else goes to ParseDict, so its errors and edge
# cases (camelCase names, base64, timestamps, floats, nulls, out-of-range numbers...) stay its own.
_SURROGATE = re.compile("[\ud800-\udfff]")  # paired ones too: protobuf refuses to encode them
_INT_RANGES = {FieldDescriptor.CPPTYPE_INT32: (-2**31, 2**31), FieldDescriptor.CPPTYPE_UINT32: (0, 2**32),
               FieldDescriptor.CPPTYPE_INT64: (-2**63, 2**63), FieldDescriptor.CPPTYPE_UINT64: (0, 2**64),
               FieldDescriptor.CPPTYPE_ENUM: (-2**31, 2**31)}
_MAX_DEPTH = 32  # ParseDict refuses nesting deeper than 100


def _is_text(value, _depth) -> bool:
    return type(value) is str and (value.isascii() or not _SURROGATE.search(value))


def _is_bool(value, _depth) -> bool:
    return type(value) is bool


def _value_check(field: FieldDescriptor):
    """A check that a JSON value is one ParseDict takes unchanged for one item of the field; None
    for the fields left to ParseDict (bytes, floats, maps, oneofs, well-known messages...)."""
    if field.containing_oneof is not None:
        return None
    if field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        return _is_text if field.type == FieldDescriptor.TYPE_STRING else None
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return _is_bool
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM and field.enum_type.is_closed:
        return None
    if field.cpp_type in _INT_RANGES:
        low, high = _INT_RANGES[field.cpp_type]
        return lambda value, _depth: type(value) is int and low <= value < high
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        message = field.message_type
        if message.GetOptions().map_entry or message.file.package == "google.protobuf":
            return None
        return lambda value, depth: type(value) is dict and depth < _MAX_DEPTH and _fits(message, value, depth + 1)
    return None


@functools.lru_cache(maxsize=None)
def _field_checks(descriptor) -> dict:
    """Proto field name -> check of its JSON value, for the fields from_json may set directly."""
    checks = {}
    by_json_name = {f.json_name: f for f in descriptor.fields}
    for field in descriptor.fields:
        check = _value_check(field)
        # ParseDict looks a key up as a json_name first: the key must lead it to this very field.
        if check is None or by_json_name.get(field.name, field) is not field:
            continue
        checks[field.name] = _each(check) if field.is_repeated else check
    return checks


def _each(check):
    return lambda value, depth: type(value) is list and all(check(item, depth) for item in value)


def _fits(descriptor, body: dict, depth: int = 1) -> bool:
    checks = _field_checks(descriptor)
    for key, value in body.items():
        check = checks.get(key)
        if check is None or not check(value, depth):
            return False
    return True


@functools.lru_cache(maxsize=None)
def _enum_fields(descriptor) -> tuple:
    """(name, enum type) of the message's enum fields, whose values the body gives as words."""
    return tuple((f.name, f.enum_type) for f in descriptor.fields if f.type == FieldDescriptor.TYPE_ENUM)


def from_json(body: dict, message_class, enum_fields: dict | None = None):
    """Builds a request message from a JSON object; unknown fields are an error (typos show)."""
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "the request body must be a JSON object")
    body = dict(body)
    descriptor = message_class.DESCRIPTOR
    for name, enum in _enum_fields(descriptor):
        if name in body:
            body[name] = word_to_enum(enum, body[name], name)
    if _fits(descriptor, body):
        return message_class(**body)
    try:
        return json_format.ParseDict(body, message_class())
    except json_format.ParseError as error:
        raise ApiError(400, "INVALID_ARGUMENT", f"invalid request body: {str(error)[:200]}") from None


def int_arg(name: str, minimum: int = -2**31) -> int:
    """An integer query parameter (0 when absent) that fits the int32 gRPC field it feeds;
    anything else is a 400 naming the parameter, never a 500 from protobuf."""
    raw = request.args.get(name, "")
    if raw == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "INVALID_ARGUMENT", f"{name}: must be an integer", name) from None
    if not minimum <= value < 2**31:
        raise ApiError(400, "INVALID_ARGUMENT", f"{name}: out of range", name)
    return value


def json_body() -> dict:
    """The request's JSON object; an empty body is an empty object, anything else a clear 400."""
    body = request.get_json(silent=True)
    if body is None:
        if not request.get_data():
            return {}
        raise ApiError(400, "INVALID_ARGUMENT", "the request body must be JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "the request body must be a JSON object")
    return body
