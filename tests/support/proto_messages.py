"""Hypothesis strategies for random protobuf messages of any type, shared by the property tests of
the JSON mappings (tests/unit/test_gateway_convert.py, tests/unit/test_proto_json.py).

`filled(descriptor)` sets a random subset of the fields, nested messages (up to depth 3), repeated
fields, maps, Timestamps and Structs included; every integer type over its whole range, enums with
known numbers and unknown ones."""
from datetime import datetime, timezone

from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import strategies as st

INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1)}
UNKNOWN_ENUM_NUMBERS = [999, -7]

instants = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(timezone.utc))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8),
                         st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def scalar(field):
    """Values for a scalar field (or a map's key or scalar value)."""
    if field.type in INT_RANGES:
        return st.integers(*INT_RANGES[field.type])
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return st.floats()
    if field.type == FieldDescriptor.TYPE_FLOAT:
        return st.floats(width=32)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=20)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=20)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values] + UNKNOWN_ENUM_NUMBERS)
    raise AssertionError(f"no strategy for {field.full_name}")


@st.composite
def filled(draw, descriptor, depth=0):
    """A message of the descriptor's type with a random subset of its fields set."""
    message = message_factory.GetMessageClass(descriptor)()
    if descriptor.full_name == "google.protobuf.Timestamp":
        message.FromDatetime(draw(instants))
        return message
    if descriptor.full_name == "google.protobuf.Struct":
        message.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3)))
        return message
    for field in descriptor.fields:
        if depth > 3 or not draw(st.booleans()):
            continue
        target = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = field.message_type.fields
            for _ in range(draw(st.integers(0, 3))):
                key = draw(scalar(key_field))
                if value_field.message_type is not None:
                    target[key].CopyFrom(draw(filled(value_field.message_type, depth + 1)))
                else:
                    target[key] = draw(scalar(value_field))
            continue
        for _ in range(draw(st.integers(0, 3)) if field.is_repeated else 1):
            value = draw(filled(field.message_type, depth + 1) if field.message_type else scalar(field))
            if field.is_repeated:
                target.add().CopyFrom(value) if field.message_type is not None else target.append(value)
            elif field.message_type is not None:
                target.CopyFrom(value)  # sets it even when empty: presence must show in the JSON
            else:
                setattr(message, field.name, value)
    return message
