"""concilia.chassis.proto_json gives exactly json_format's mapping, on every event type, for random
field values (hypothesis), and hands what it does not map itself to json_format; parsing event data
back gives what json_format.ParseDict gives, for the data as written and for altered data."""
import pytest
from google.protobuf import json_format, struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from concilia.chassis.proto_json import dict_to_message, message_to_dict
from concilia.events.v1 import events_pb2
from support.proto_messages import filled

# The payloads of events (the envelope itself is JSON built around them, never mapped from a message).
EVENT_TYPES = [cls for cls in vars(events_pb2).values()
               if isinstance(cls, type) and hasattr(cls, "DESCRIPTOR") and cls is not events_pb2.EventEnvelope]


@pytest.mark.parametrize("message_class", EVENT_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_same_mapping_as_json_format(message_class, data):
    message = data.draw(filled(message_class.DESCRIPTOR))
    assert message_to_dict(message) == json_format.MessageToDict(message, preserving_proto_field_name=True)


def test_what_it_does_not_map_itself_goes_to_json_format():
    message = struct_pb2.Struct()
    message.update({"a": 1.5, "b": [True, "x"]})
    assert message_to_dict(message) == {"a": 1.5, "b": [True, "x"]}


def test_events_are_mapped_by_the_short_walk():
    from concilia.chassis import proto_json
    assert EVENT_TYPES and all(proto_json._simple(cls.DESCRIPTOR) for cls in EVENT_TYPES)


def parse_dict(data, message_class):
    """The reference: what consumers did before dict_to_message."""
    return json_format.ParseDict(data, message_class(), ignore_unknown_fields=True)


def outcome(parse, data, message_class):
    try:
        return "parsed", parse(data, message_class)
    except Exception as error:  # noqa: BLE001 - the kind and words of the error are compared
        return "refused", type(error), str(error)


@pytest.mark.parametrize("message_class", EVENT_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_event_data_parses_back_as_json_format_parses_it(message_class, data):
    message = data.draw(filled(message_class.DESCRIPTOR))
    written = message_to_dict(message)
    assert dict_to_message(written, message_class) == message == parse_dict(written, message_class)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


ALTERATIONS = {
    "camelCase name": lambda key, value: (camel(key) if "_" in key else key + "_x", value),
    "unknown field": lambda key, value: ("no_such_field", value),
    "null": lambda key, value: (key, None),
    "number": lambda key, value: (key, 7),
    "negative number as text": lambda key, value: (key, "-12"),
    "number with spaces": lambda key, value: (key, " 12"),
    "boolean": lambda key, value: (key, True),
    "float": lambda key, value: (key, 1.5),
    "list": lambda key, value: (key, [value]),
    "object": lambda key, value: (key, {"x": value}),
    "timestamp with offset": lambda key, value: (key, "2026-03-02T10:00:00-03:00"),
    "timestamp with nanoseconds": lambda key, value: (key, "2026-03-02T13:00:00.123456789Z"),
    "timestamp with a comma": lambda key, value: (key, "2026-03-02T13:00:00,123Z"),
    "week date": lambda key, value: (key, "2026-W10-1T13:00:00Z"),
    "lone surrogate": lambda key, value: (key, "a\ud800b"),
    "enum name of another enum": lambda key, value: (key, "ROLE_CONSUMER"),
}


@st.composite
def altered(draw, data: dict) -> dict:
    """The data with one field (at the top or inside a nested message) changed in one way."""
    data = dict(data)
    nested = [k for k, v in data.items() if isinstance(v, dict) and v]
    if nested and draw(st.booleans()):
        key = draw(st.sampled_from(nested))
        data[key] = draw(altered(data[key]))
        return data
    key = draw(st.sampled_from(sorted(data))) if data else "missing"
    new_key, new_value = ALTERATIONS[draw(st.sampled_from(sorted(ALTERATIONS)))](key, data.get(key))
    data.pop(key, None)
    data[new_key] = new_value
    return data


@pytest.mark.parametrize("message_class", EVENT_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_altered_event_data_gets_json_formats_result_or_error(message_class, data):
    changed = data.draw(altered(message_to_dict(data.draw(filled(message_class.DESCRIPTOR)))))
    assert outcome(dict_to_message, changed, message_class) == outcome(parse_dict, changed, message_class)


def _recursive_node_class():
    """A message type that holds itself (none of ours does yet; a request body could nest it)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    file = descriptor_pb2.FileDescriptorProto(name="node_test.proto", package="nodetest", syntax="proto3")
    node = file.message_type.add(name="Node")
    node.field.add(name="name", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                   label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    node.field.add(name="child", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                   label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL, type_name=".nodetest.Node")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("nodetest.Node"))


def _nested(depth: int) -> dict:
    body = {"name": "leaf"}
    for level in range(depth):
        body = {"name": str(level), "child": body}
    return body


def test_deep_nesting_is_parse_dicts_to_refuse_not_a_recursion_error():
    Node = _recursive_node_class()
    shallow = dict_to_message(_nested(5), Node)
    assert shallow == json_format.ParseDict(_nested(5), Node()) and shallow.child.child.name == "2"
    assert dict_to_message(_nested(60), Node) == json_format.ParseDict(_nested(60), Node())
    with pytest.raises(json_format.ParseError, match="too deep"):
        dict_to_message(_nested(500), Node, ignore_unknown_fields=False)
