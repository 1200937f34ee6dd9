"""Protobuf <-> JSON for the REST API: proto field names, enums as short lowercase words
(ROLE_CONSUMER -> "consumer", COMPLAINT_STATUS_WAITING_COMPANY -> "waiting_company")."""
import functools

from google.protobuf import json_format
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor

from flask import request

from concilia.chassis.proto_json import dict_to_message, message_to_dict

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


@functools.lru_cache(maxsize=None)
def _enum_fields(descriptor) -> tuple:
    """(name, enum type) of the message's enum fields, whose values the body gives as words."""
    return tuple((f.name, f.enum_type) for f in descriptor.fields if f.type == FieldDescriptor.TYPE_ENUM)


def from_json(body: dict, message_class, enum_fields: dict | None = None):
    """Builds a request message from a JSON object; unknown fields are an error (typos show).
    Top-level enums are words; the rest is the JSON mapping, read by the chassis's plan (which
    leaves anything it does not expect to ParseDict, so results and errors stay ParseDict's)."""
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "the request body must be a JSON object")
    body = dict(body)
    for name, enum in _enum_fields(message_class.DESCRIPTOR):
        if name in body:
            body[name] = enum.values_by_number[word_to_enum(enum, body[name], name)].name
    try:
        return dict_to_message(body, message_class, ignore_unknown_fields=False)
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
