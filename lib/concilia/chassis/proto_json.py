"""Protobuf messages to their JSON mapping (what `json_format.MessageToDict` returns, with proto
field names), for the event envelopes written on hot paths.

`json_format` walks every message in Python with many checks per field; for the flat messages our
events are (scalars, enums, nested messages, Timestamps, repeated fields) the same mapping is a
short walk over `ListFields()`, several times cheaper (docs/adr/0012-write-path.md). A message
with anything else (maps, Any, Struct, wrappers, Duration, ...) goes to `json_format` whole.
tests/unit/test_proto_json.py checks both give the same result on every event type.
"""
import base64
import functools

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_TIMESTAMP = "google.protobuf.Timestamp"
_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
          FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}
_FLOATS = {FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE}


@functools.lru_cache(maxsize=None)
def _simple(descriptor: Descriptor) -> bool:
    """Whether every field, down the nested messages, is one the short walk maps exactly."""
    for field in descriptor.fields:
        if field.type in _FLOATS:
            return False  # float formatting (shortest repr of 32-bit floats) is left to json_format
        if field.message_type is not None:
            if field.message_type.GetOptions().map_entry:
                return False
            if field.message_type.full_name == _TIMESTAMP:
                continue
            if field.message_type.file.package == "google.protobuf" or not _simple(field.message_type):
                return False
    return True


def _value(field: FieldDescriptor, value):
    if field.message_type is not None:
        if field.message_type.full_name == _TIMESTAMP:
            return value.ToJsonString()
        return _fields(value)
    if field.type in _INT64:
        return str(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def _fields(message: Message) -> dict:
    result = {}
    for field, value in message.ListFields():
        if field.is_repeated:
            result[field.name] = [_value(field, item) for item in value]
        else:
            result[field.name] = _value(field, value)
    return result


def message_to_dict(message: Message) -> dict:
    """`json_format.MessageToDict(message, preserving_proto_field_name=True)`, faster."""
    if _simple(message.DESCRIPTOR):
        return _fields(message)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


__all__ = ["message_to_dict"]
