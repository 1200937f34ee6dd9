"""concilia.chassis.proto_json gives exactly json_format's mapping, on every event type, for random
field values (hypothesis), and hands what it does not map itself to json_format."""
from datetime import datetime, timezone

import pytest
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import given, settings
from hypothesis import strategies as st

from concilia.chassis.proto_json import message_to_dict
from concilia.events.v1 import events_pb2

# The payloads of events (the envelope itself is JSON built around them, never mapped from a message).
EVENT_TYPES = [cls for cls in vars(events_pb2).values()
               if isinstance(cls, type) and hasattr(cls, "DESCRIPTOR") and cls is not events_pb2.EventEnvelope]
INTS = {FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
        FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
        FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
        FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
        FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1)}
instants = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(timezone.utc))


def scalar(field):
    if field.type in INTS:
        return st.integers(*INTS[field.type])
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=20)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=20)
    if field.type == FieldDescriptor.TYPE_ENUM:  # known names and unknown numbers
        return st.sampled_from([v.number for v in field.enum_type.values] + [999])
    raise AssertionError(f"no strategy for {field.full_name}")


@st.composite
def filled(draw, message_class, depth=0):
    message = message_class()
    for field in message.DESCRIPTOR.fields:
        if depth > 3 or not draw(st.booleans()):
            continue
        count = draw(st.integers(0, 3)) if field.is_repeated else 1
        for _ in range(count):
            if field.message_type is not None and field.message_type.full_name == "google.protobuf.Timestamp":
                value = timestamp_pb2.Timestamp()
                value.FromDatetime(draw(instants))
            elif field.message_type is not None:
                value = draw(filled(getattr(events_pb2, field.message_type.name), depth + 1))
            else:
                value = draw(scalar(field))
            target = getattr(message, field.name)
            if field.is_repeated:
                target.add().CopyFrom(value) if field.message_type is not None else target.append(value)
            elif field.message_type is not None:
                target.CopyFrom(value)
            else:
                setattr(message, field.name, value)
    return message


@pytest.mark.parametrize("message_class", EVENT_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_same_mapping_as_json_format(message_class, data):
    message = data.draw(filled(message_class))
    assert message_to_dict(message) == json_format.MessageToDict(message, preserving_proto_field_name=True)


def test_what_it_does_not_map_itself_goes_to_json_format():
    message = struct_pb2.Struct()
    message.update({"a": 1.5, "b": [True, "x"]})
    assert message_to_dict(message) == {"a": 1.5, "b": [True, "x"]}


def test_events_are_mapped_by_the_short_walk():
    from concilia.chassis import proto_json
    assert EVENT_TYPES and all(proto_json._simple(cls.DESCRIPTOR) for cls in EVENT_TYPES)
