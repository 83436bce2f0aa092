"""JSON ↔ protobuf bytes, following the protos' canonical JSON mapping (json_format)."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2

from gateway.catalog import Method


class MalformedJson(ValueError):
    """The body is not a JSON object of the method's request message."""


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def request_bytes(method: Method, body: bytes) -> bytes:
    """An empty body is the empty request; anything else must be a JSON object of the request."""
    message = message_class(method.input)()
    if body.strip():
        try:
            text = body.decode("utf-8")
            if not isinstance(json.loads(text), dict):
                raise MalformedJson(f"the body must be a JSON object ({method.input.full_name})")
            json_format.Parse(text, message)
        except (UnicodeDecodeError, json.JSONDecodeError, json_format.ParseError) as exc:
            raise MalformedJson(f"invalid {method.input.full_name} JSON: {exc}") from None
    return message.SerializeToString()


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
