"""Protobuf <-> JSON for the REST API: proto field names, enums as short lowercase words
(ROLE_CONSUMER -> "consumer", COMPLAINT_STATUS_WAITING_COMPANY -> "waiting_company")."""
from google.protobuf import json_format
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor

from flask import request

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
    data = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)
    _rewrite_enums(message.DESCRIPTOR, data)
    return data


def _rewrite_enums(descriptor, data: dict) -> None:
    for field in descriptor.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        if field.type == FieldDescriptor.TYPE_ENUM:
            def word(v):
                number = field.enum_type.values_by_name[v].number if isinstance(v, str) else v
                return enum_to_word(field.enum_type, number)
            data[field.name] = [word(v) for v in value] if isinstance(value, list) else word(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value.values():
                    _rewrite_enums(value_field.message_type, item)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.full_name.startswith("concilia."):
            for item in value if isinstance(value, list) else [value]:
                _rewrite_enums(field.message_type, item)


def from_json(body: dict, message_class, enum_fields: dict | None = None):
    """Builds a request message from a JSON object; unknown fields are an error (typos show)."""
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "the request body must be a JSON object")
    body = dict(body)
    descriptor = message_class.DESCRIPTOR
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_ENUM and field.name in body:
            body[field.name] = word_to_enum(field.enum_type, body[field.name], field.name)
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
