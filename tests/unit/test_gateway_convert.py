"""The gateway's protobuf <-> JSON conversion (services/gateway/convert.py over
concilia.chassis.proto_json) gives exactly what the former json_format-only code gave, on every
message type of the services' APIs (nested ones too): random messages for to_json; for from_json,
random bodies made from random messages and the same bodies mutated into invalid ones (wrong types,
unknown keys, camelCase names, out-of-range numbers, bools for numbers, floats, nulls, surrogates),
where the outcome (message, or ApiError status/code/message/field) must be the same."""
import copy
import importlib
import json

import pytest
from google.protobuf import json_format, message_factory, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway import convert
from support.proto_messages import filled, json_values
from services.gateway.convert import from_json, to_json
from services.gateway.errors import ApiError


# --- the former implementation, kept verbatim as the reference ------------------------------------
def old_enum_prefix(enum) -> str:
    return enum.values[0].name.rsplit("UNSPECIFIED", 1)[0] if enum.values[0].name.endswith("UNSPECIFIED") else ""


def old_enum_to_word(enum, number: int) -> str:
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    return value.name[len(old_enum_prefix(enum)):].lower()


def old_word_to_enum(enum, word: str, field: str) -> int:
    if word in ("", None):
        return 0
    name = old_enum_prefix(enum) + str(word).upper()
    value = enum.values_by_name.get(name)
    if value is None or value.number == 0:
        choices = ", ".join(old_enum_to_word(enum, v.number) for v in enum.values if v.number)
        raise ApiError(400, "INVALID_ARGUMENT", f"{field}: must be one of {choices}", field)
    return value.number


def old_to_json(message) -> dict:
    data = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)
    old_rewrite_enums(message.DESCRIPTOR, data)
    return data


def old_rewrite_enums(descriptor, data: dict) -> None:
    for field in descriptor.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        if field.type == FieldDescriptor.TYPE_ENUM:
            def word(v):
                number = field.enum_type.values_by_name[v].number if isinstance(v, str) else v
                return old_enum_to_word(field.enum_type, number)
            data[field.name] = [word(v) for v in value] if isinstance(value, list) else word(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value.values():
                    old_rewrite_enums(value_field.message_type, item)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.full_name.startswith("concilia."):
            for item in value if isinstance(value, list) else [value]:
                old_rewrite_enums(field.message_type, item)


def old_from_json(body: dict, message_class):
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "the request body must be a JSON object")
    body = dict(body)
    descriptor = message_class.DESCRIPTOR
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_ENUM and field.name in body:
            body[field.name] = old_word_to_enum(field.enum_type, body[field.name], field.name)
    try:
        return json_format.ParseDict(body, message_class())
    except json_format.ParseError as error:
        raise ApiError(400, "INVALID_ARGUMENT", f"invalid request body: {str(error)[:200]}") from None


# --- every message type of the services' APIs -------------------------------------------------------
def all_types():
    found = []

    def add(descriptor):
        found.append(message_factory.GetMessageClass(descriptor))
        for nested in descriptor.nested_types:
            add(nested)
    for service in ("identity", "company_registry", "complaint", "notification", "metrics"):
        module = importlib.import_module(f"concilia.{service}.v1.{service}_pb2")
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            add(descriptor)
    return found


TYPES = all_types()


def outcome(build):
    """What build() gave: a message (as deterministic bytes, which show presence: a set empty
    sub-message is not an unset one), JSON (as text: key order and types), or what it raised."""
    try:
        result = build()
    except ApiError as error:
        return ("error", error.status, error.code, error.message, error.field)
    except Exception as error:  # noqa: BLE001 - the same unexpected failure is the same outcome too
        return ("raised", type(error).__name__, str(error))
    if isinstance(result, dict):
        return ("json", json.dumps(result))
    return ("message", type(result), result.SerializeToString(deterministic=True))


def same_json(new, old):
    # json.dumps keeps key order and tells 1 from 1.0 from true from "1"
    assert new == old
    assert json.dumps(new) == json.dumps(old)


@pytest.mark.parametrize("message_class", TYPES, ids=lambda c: c.DESCRIPTOR.full_name)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_to_json_as_before(message_class, data):
    message = data.draw(filled(message_class.DESCRIPTOR))
    same_json(to_json(message), old_to_json(message))


def test_to_json_leaves_well_known_types_as_json_format_prints_them():
    """Enum words are for the services' messages: a Struct's keys that look like fields stay as they are."""
    from concilia.company_registry.v1 import company_registry_pb2 as pb
    message = pb.AdhesionObligation(company_status=pb.COMPANY_STATUS_ACTIVE)
    message.facts.update({"fields": {"kind": "COMPANY_STATUS_ACTIVE", "a": 1}, "company_status": "x"})
    same_json(to_json(message), old_to_json(message))
    same_json(to_json(pb.RecordCompanyFactsResponse(obligation=message)),
              old_to_json(pb.RecordCompanyFactsResponse(obligation=message)))


@settings(max_examples=300, deadline=None)
@given(seconds=st.one_of(st.integers(-62135596800, 253402300799), st.integers(-2**63, 2**63 - 1),
                         st.sampled_from([-62135596800, -62135596801, 253402300799, 253402300800, 0, -1])),
       nanos=st.one_of(st.integers(0, 999_999_999), st.integers(-2**31, 2**31 - 1),
                       st.sampled_from([0, 1, 1000, 1_000_000, 999_000_000, 999_999_000, 999_999_999, 10**9, -1])))
def test_to_json_timestamps_as_before(seconds, nanos):
    """Every Timestamp, the invalid ones too (json_format's error, in its words)."""
    from concilia.complaint.v1 import complaint_pb2 as pb
    message = pb.Complaint(filed_at=timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos))
    message.messages.add(sent_at=timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos))
    assert outcome(lambda: to_json(message)) == outcome(lambda: old_to_json(message))


def test_to_json_gives_new_lists_each_time():
    from concilia.complaint.v1 import complaint_pb2 as pb
    first = to_json(pb.Complaint())
    first["messages"].append("x")
    assert to_json(pb.Complaint())["messages"] == []


# --- from_json ----------------------------------------------------------------------------------------
def same_outcome(body, message_class):
    expected = outcome(lambda: old_from_json(copy.deepcopy(body), message_class))
    given_body = copy.deepcopy(body)
    assert outcome(lambda: from_json(given_body, message_class)) == expected
    assert given_body == body  # the caller's body is left alone


@st.composite
def bodies(draw, message_class):
    """A JSON body from a random message: as the API prints it, or as a client would most likely
    send it (enum numbers below the top level, int64 as numbers), top-level enums as words."""
    message = draw(filled(message_class.DESCRIPTOR))
    if draw(st.booleans()):
        return old_to_json(message)
    body = json_format.MessageToDict(message, preserving_proto_field_name=True, use_integers_for_enums=True,
                                     always_print_fields_with_no_presence=draw(st.booleans()),
                                     unquote_int64_if_possible=True)
    for field in message_class.DESCRIPTOR.fields:
        if field.type == FieldDescriptor.TYPE_ENUM and field.name in body and not field.is_repeated:
            body[field.name] = old_enum_to_word(field.enum_type, body[field.name])
    return body


def objects(node):
    """Every JSON object in the body, the body itself first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from objects(value)


odd_values = st.one_of(
    json_values, st.sampled_from([2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32 - 1, 2**32, 2**63 - 1, 2**63,
                                  -2**63 - 1, 2**64 - 1, 2**64, -1, 0, 1, True, False, 1.0, 1.5, -0.0, None, "",
                                  "12", " 12", "1e3", "aGk=", "not base64!", "1970-01-01T00:00:00Z", "yesterday",
                                  "\ud800", "a\udfffb", "\ud83d\ude00", "ok", [None], [1.0], [True], [{}], {}]),
    st.lists(st.sampled_from([0, 1, -1, 2**31, 2**63, True, "x", 1.0, None, {}]), max_size=3),
).map(copy.deepcopy)  # the sampled lists and objects are shared: a later mutation must not change them


@st.composite
def mutated(draw, message_class):
    body = draw(bodies(message_class))
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(list(objects(body))))
        keys = list(target)
        kind = draw(st.sampled_from(["value", "unknown", "camel", "value"] if keys else ["unknown"]))
        if kind == "value":
            target[draw(st.sampled_from(keys))] = draw(odd_values)
        elif kind == "unknown":
            target[draw(st.sampled_from(["zz_unknown", "id", "status", "created_at", "@type"]))] = draw(odd_values)
        else:
            key = draw(st.sampled_from(keys))
            camel = key.split("_")[0] + "".join(part.title() for part in key.split("_")[1:])
            target[camel] = target.pop(key)
    return body


@pytest.mark.parametrize("message_class", TYPES, ids=lambda c: c.DESCRIPTOR.full_name)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_from_json_as_before(message_class, data):
    same_outcome(data.draw(bodies(message_class)), message_class)


@pytest.mark.parametrize("message_class", TYPES, ids=lambda c: c.DESCRIPTOR.full_name)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_from_json_of_invalid_bodies_as_before(message_class, data):
    same_outcome(data.draw(mutated(message_class)), message_class)


@pytest.mark.parametrize("body", [
    {"company_id": "c", "taxonomy": {"area": 1}},            # wrong type below the top level
    {"company_id": "c", "taxonomy": {"area": None}},
    {"company_id": "c", "taxonomy": []},
    {"company_id": "c", "taxonomy": "x"},
    {"companyId": "c"},                                      # json name: ParseDict takes it
    {"company_id": "c", "companyId": "d"},
    {"company_id": "\ud800"},                                # unpaired surrogate: ParseDict's error
    {"company_id": "\ud83d\ude00"},                          # paired surrogates: protobuf refuses them
    {"contacted_company_first": 1},
    {"attachments": [{"file_name": "a.pdf", "content": "JVBERi0="}]},
    {"attachments": [None]},
    {"attachments": {}},
    {"description": ["x"]},
    {"taxonomy": {}},                                        # an empty object still sets the field
])
def test_from_json_edge_cases_as_before(body):
    from concilia.complaint.v1 import complaint_pb2 as pb
    same_outcome(body, pb.FileComplaintRequest)


@pytest.mark.parametrize("body", [
    {"role": "consumer", "email": "a@b.c", "password": "x"},
    {"role": "bogus"}, {"role": 1}, {"role": ["consumer"]}, {"role": None}, {"role": ""},
])
def test_from_json_top_level_enum_words_as_before(body):
    from concilia.identity.v1 import identity_pb2 as pb
    same_outcome(body, pb.CreateAccountRequest)


def test_from_json_builds_plain_bodies_without_parse_dict(monkeypatch):
    """The bench's FileComplaint body and other plain ones take the direct way (the point of it)."""
    from concilia.complaint.v1 import complaint_pb2 as pb
    from concilia.identity.v1 import identity_pb2 as ipb
    from support.complaints import filing

    def refuse(*args, **kwargs):
        raise AssertionError("went to ParseDict")
    request = filing("company-1")
    request.attachments.add(file_name="a.pdf", content_type="application/pdf")
    body = json_format.MessageToDict(request, preserving_proto_field_name=True)
    expected = old_from_json(body, pb.FileComplaintRequest)
    monkeypatch.setattr(convert.json_format, "ParseDict", refuse)
    assert from_json(body, pb.FileComplaintRequest) == expected
    assert from_json({"taxonomy": {}}, pb.FileComplaintRequest).HasField("taxonomy")
    assert from_json({"role": "consumer", "email": "a@b.c"}, ipb.CreateAccountRequest).role == ipb.ROLE_CONSUMER


def test_every_type_was_found():
    names = {cls.DESCRIPTOR.full_name for cls in TYPES}
    assert {"concilia.complaint.v1.FileComplaintResponse", "concilia.identity.v1.CreateAccountRequest",
            "concilia.metrics.v1.GetIndicatorsResponse.ByCompanyEntry"} <= names
    assert len(names) > 100


def test_export_rows_are_spreadsheet_safe_and_keep_plain_values():
    """The staff CSV export (routes.complaints.export_row): cells a spreadsheet would run as a formula
    (typed by consumers and companies) are quoted, everything else stays as the API gives it."""
    from concilia.complaint.v1 import complaint_pb2 as pb
    from services.gateway.routes.complaints import EXPORT_COLUMNS, export_row
    complaint = pb.Complaint(id="c-1", status=pb.COMPLAINT_STATUS_FINALISED_EVALUATED, city="=HYPERLINK(\"x\")",
                             company_name="@SUM(A1)", purchase_channel="-1+2", region_code="BR-SP", answered=True,
                             answer_time_days=3, satisfaction_score=5, resolution=pb.RESOLUTION_RESOLVED,
                             taxonomy=pb.Taxonomy(segment_code="bancos", problem="+cmd"))
    row = dict(zip(EXPORT_COLUMNS, export_row(complaint)))
    assert (row["city"], row["company_name"], row["purchase_channel"], row["problem"]) == (
        "'=HYPERLINK(\"x\")", "'@SUM(A1)", "'-1+2", "'+cmd")
    assert (row["id"], row["status"], row["region_code"], row["segment_code"], row["answered"],
            row["contacted_company_first"], row["answer_time_days"], row["satisfaction_score"]) == (
        "c-1", "finalised_evaluated", "BR-SP", "bancos", "true", "false", 3, 5)
    assert (row["resolution"], row["refusal_reason"], row["finalised_at"]) == ("resolved", "", "")
    assert export_row(pb.Complaint())[EXPORT_COLUMNS.index("resolution")] == ""  # unset enum: empty
