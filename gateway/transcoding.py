"""JSON ↔ protobuf bytes, following the protos' canonical JSON mapping (json_format).

Before json_format reads a request, `json_violations` checks the whole body against the request
message, so the caller learns every bad field in one answer, each by its JSON path
(`claim.lines[0].billedCents`), and `null` is refused for every field that cannot be null (only
the wrapper types and `google.protobuf.Value` can).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2

from gateway.catalog import Method

BODY = "body"


@dataclass(frozen=True)
class JsonViolation:
    path: str
    description: str


class MalformedJson(ValueError):
    """The body is not a JSON object of the method's request message."""

    def __init__(self, message: str, violations: tuple[JsonViolation, ...] = ()) -> None:
        super().__init__(message)
        self.violations = violations or (JsonViolation(BODY, message),)


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def request_bytes(method: Method, body: bytes) -> bytes:
    """An empty body is the empty request; anything else must be a JSON object of the request."""
    message = message_class(method.input)()
    if not body.strip():
        return message.SerializeToString()
    name = method.input.full_name
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJson(f"invalid {name} JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedJson(f"the body must be a JSON object ({name})")
    violations = json_violations(method.input, value)
    if violations:
        listed = "; ".join(f"{v.path}: {v.description}" for v in violations)
        raise MalformedJson(f"invalid {name} JSON: {listed}", tuple(violations))
    try:
        json_format.ParseDict(value, message)
    except json_format.ParseError as exc:  # a rule json_violations does not know yet
        raise MalformedJson(f"invalid {name} JSON: {exc}") from None
    return message.SerializeToString()


# -- the shape of a JSON body, checked against its message -------------------------------------
_NULLABLE = frozenset({
    "google.protobuf.Value", "google.protobuf.NullValue", "google.protobuf.StringValue",
    "google.protobuf.BytesValue", "google.protobuf.BoolValue", "google.protobuf.Int32Value",
    "google.protobuf.UInt32Value", "google.protobuf.Int64Value", "google.protobuf.UInt64Value",
    "google.protobuf.FloatValue", "google.protobuf.DoubleValue",
})
_AS_STRING = {  # well-known messages written as a JSON string
    "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask",
}
_INTEGER = re.compile(r"^-?[0-9]+$")
_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1, "int32"),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1, "int32"),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1, "int32"),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1, "uint32"),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1, "uint32"),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1, "int64"),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1, "int64"),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1, "int64"),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1, "uint64"),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1, "uint64"),
}


def json_violations(descriptor: Descriptor, value: dict[str, Any],
                    path: str = "") -> list[JsonViolation]:
    """Every field of `value` that the message cannot take, by JSON path."""
    out: list[JsonViolation] = []
    fields = {**{f.name: f for f in descriptor.fields},
              **{f.json_name: f for f in descriptor.fields}}
    for key, item in value.items():
        at = f"{path}.{key}" if path else key
        field = fields.get(key)
        if field is None:
            out.append(JsonViolation(at, f"unknown field of {descriptor.full_name}"))
        else:
            out += _field_violations(field, item, at)
    return out


def _field_violations(field: FieldDescriptor, value: Any, at: str) -> list[JsonViolation]:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        if not isinstance(value, dict):
            return [JsonViolation(at, f"expected an object, got {_kind(value)}")]
        key_field, value_field = message.fields_by_name["key"], message.fields_by_name["value"]
        out = []
        for key, item in value.items():
            if key_field.type in _RANGES and not _INTEGER.match(key):
                out.append(JsonViolation(f"{at}[{key!r}]", "map key is not an integer"))
            out += _single_violations(value_field, item, f"{at}[{key!r}]")
        return out
    if field.is_repeated:
        if not isinstance(value, list):
            return [JsonViolation(at, f"expected an array, got {_kind(value)}")]
        out = []
        for i, item in enumerate(value):
            out += _single_violations(field, item, f"{at}[{i}]")
        return out
    return _single_violations(field, value, at)


def _single_violations(field: FieldDescriptor, value: Any, at: str) -> list[JsonViolation]:
    message = field.message_type
    if value is None:
        if message is not None and message.full_name in _NULLABLE:
            return []
        return [JsonViolation(at, "null is not a value here: omit the field instead")]
    if message is not None:
        if message.full_name in _NULLABLE or message.full_name.startswith("google.protobuf."):
            if message.full_name in _AS_STRING and not isinstance(value, str):
                return [JsonViolation(at, f"expected a string, got {_kind(value)}")]
            return []  # json_format checks the rest of a well-known type
        if not isinstance(value, dict):
            return [JsonViolation(at, f"expected an object ({message.name}), got {_kind(value)}")]
        return json_violations(message, value, at)
    problem = _scalar_problem(field, value)
    return [JsonViolation(at, problem)] if problem else []


def _scalar_problem(field: FieldDescriptor, value: Any) -> str | None:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return None if isinstance(value, str) else f"expected a string, got {_kind(value)}"
    if kind == FieldDescriptor.TYPE_BOOL:
        return None if isinstance(value, bool) else f"expected true or false, got {_kind(value)}"
    if kind == FieldDescriptor.TYPE_BYTES:
        if not isinstance(value, str):
            return f"expected a base64 string, got {_kind(value)}"
        try:
            base64.b64decode(value.replace("-", "+").replace("_", "/") + "==")
        except (binascii.Error, ValueError):
            return "not base64"
        return None
    enum = field.enum_type
    if kind == FieldDescriptor.TYPE_ENUM and enum is not None:
        if isinstance(value, str) and value in enum.values_by_name:
            return None
        numbered = isinstance(value, int) and not isinstance(value, bool)
        if numbered and value in enum.values_by_number:
            return None
        return f"not one of {', '.join(enum.values_by_name)}"
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        if isinstance(value, str):
            try:
                float(value)
                return None
            except ValueError:
                pass
        return f"expected a number, got {_kind(value)}"
    low, high, name = _RANGES[kind]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return f"expected an integer ({name}), got {_kind(value)}"
    if isinstance(value, float):
        if not value.is_integer():
            return f"expected an integer ({name}), got {value!r}"
        value = int(value)
    if isinstance(value, str):
        if not _INTEGER.match(value):
            return f"expected an integer ({name}) as a decimal string, got {value!r}"
        value = int(value)
    if not low <= value <= high:
        return f"out of range for {name}"
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def response_json(method: Method, payload: bytes) -> dict[str, Any]:
    message = message_class(method.output)()
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise ValueError(f"upstream sent an unreadable {method.output.full_name}") from exc
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def status_details_json(status: status_pb2.Status) -> list[dict[str, Any]]:
    """google.rpc details (BadRequest, RetryInfo, ...) as JSON; unknown types by name only."""
    rendered = []
    for detail in status.details:
        try:
            rendered.append(json_format.MessageToDict(detail))
        except (TypeError, KeyError, json_format.Error):
            rendered.append({"@type": detail.type_url})
    return rendered
