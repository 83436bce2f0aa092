"""The request reader: every unary call's request is checked here, once, before a servicer runs.

What it refuses (INVALID_ARGUMENT, one field violation per bad field, named by its path such as
`claim.lines[1].billed_cents`):

- text with control characters (NUL included); `\\t`, `\\n` and `\\r` only in free-text fields;
- an amount (`*_cents`) beyond `money.MAX_AMOUNT_CENTS`;
- on a mutating call (its request message has a `request_id` field): a missing, over-long or
  non-printable request id. The id is the body's `request_id`, else the caller's
  `x-request-id` metadata; nothing invents one (the gateway forwards only what the caller sent).

It also fingerprints a mutating request (SHA-256 of its deterministic serialization without
`request_id`) so that a request id reused for a different request is refused instead of
answered with the first request's result (`TenantAggregate.has_handled`).

Invalid UTF-8 never reaches this module: protobuf refuses it while parsing, and the gRPC server
turns that into INVALID_ARGUMENT (`grpc_server.TolerantParsing`).
"""

from __future__ import annotations

import hashlib
import re

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from services.common.context import CommandContext
from services.common.errors import Violations
from services.common.money import amount_out_of_range

REQUEST_ID_FIELD = "request_id"
MAX_REQUEST_ID_LENGTH = 200

# Fields people write prose into (notes, letters, X12 files): tabs and line breaks allowed.
FREE_TEXT_FIELDS = frozenset(
    {"notes", "rationale", "reason", "summary", "grounds", "plan_language", "x12"}
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_LAYOUT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_REQUEST_ID = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces

_INTEGERS = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_SFIXED64,
        FieldDescriptor.TYPE_FIXED64,
    }
)


def is_mutating(request: Message) -> bool:
    """A mutating call's request message carries a `request_id` (the protos' convention)."""
    return REQUEST_ID_FIELD in request.DESCRIPTOR.fields_by_name


def read_request(request: Message, ctx: CommandContext) -> CommandContext:
    """Check the whole request; the context to run it with (request id and fingerprint set)."""
    violations = Violations()
    _check_message(request, "", violations)
    if is_mutating(request):
        request_id = getattr(request, REQUEST_ID_FIELD).strip() or ctx.request_id
        _check_request_id(request_id, violations)
        violations.raise_if_any()
        return ctx.with_request(request_id, fingerprint(request))
    violations.raise_if_any()
    return ctx


def fingerprint(request: Message) -> str:
    """SHA-256 of the request (its type and body without the request id): equal for a retry,
    different otherwise — including the same body sent to another method."""
    body = request.__class__()
    body.CopyFrom(request)
    body.ClearField(REQUEST_ID_FIELD)
    digest = hashlib.sha256(request.DESCRIPTOR.full_name.encode() + b"\n")
    digest.update(body.SerializeToString(deterministic=True))
    return digest.hexdigest()


def text_problem(value: str, free_text: bool = False) -> str | None:
    """Why `value` may not be stored as text, or None when it may."""
    control = (_CONTROL_EXCEPT_LAYOUT if free_text else _CONTROL).search(value)
    if control is None:
        return None
    allowed = " (only tab, line feed and carriage return are allowed)" if free_text else ""
    return f"contains the control character U+{ord(control.group()):04X}{allowed}"


def _check_request_id(request_id: str, violations: Violations) -> None:
    if not request_id:
        violations.add(
            REQUEST_ID_FIELD,
            "is required on every mutating call (a retry with the same id changes nothing)",
        )
    elif len(request_id) > MAX_REQUEST_ID_LENGTH:
        violations.add(REQUEST_ID_FIELD, f"at most {MAX_REQUEST_ID_LENGTH} characters")
    elif not _REQUEST_ID.fullmatch(request_id):
        violations.add(REQUEST_ID_FIELD, "printable ASCII without spaces only")


def _check_message(message: Message, prefix: str, violations: Violations) -> None:
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = field.message_type.fields
            for key, item in value.items():
                _check_value(key_field, key, f"{path}[{key!r}]", violations, key=True)
                _check_value(value_field, item, f"{path}[{key!r}]", violations)
        elif field.is_repeated:
            for index, item in enumerate(value):
                _check_value(field, item, f"{path}[{index}]", violations)
        else:
            _check_value(field, value, path, violations)


def _check_value(
    field: FieldDescriptor, value: object, path: str, violations: Violations, key: bool = False
) -> None:
    if field.type == FieldDescriptor.TYPE_MESSAGE and isinstance(value, Message):
        _check_message(value, path + ".", violations)
    elif field.type == FieldDescriptor.TYPE_STRING and isinstance(value, str):
        problem = text_problem(value, free_text=field.name in FREE_TEXT_FIELDS and not key)
        if problem:
            violations.add(path, problem)
    elif field.type in _INTEGERS and field.name.endswith("_cents") and isinstance(value, int):
        problem = amount_out_of_range(value)
        if problem:
            violations.add(path, problem)


def unreadable_field(descriptor: Descriptor, data: bytes, prefix: str = "") -> str | None:
    """The path of the first string field in `data` that is not valid UTF-8 (None if none is).

    protobuf's parser says only that *some* string had bad UTF-8; this walks the wire format
    with the message's descriptor so the violation can name the field.
    """
    counts: dict[int, int] = {}
    pos = 0
    try:
        while pos < len(data):
            key, pos = _varint(data, pos)
            number, wire_type = key >> 3, key & 7
            if wire_type == 0:
                _, pos = _varint(data, pos)
                continue
            if wire_type in (1, 5):
                pos += 8 if wire_type == 1 else 4
                continue
            if wire_type != 2:
                return None
            length, pos = _varint(data, pos)
            chunk, pos = data[pos : pos + length], pos + length
            field = descriptor.fields_by_number.get(number)
            if field is None:
                continue
            path = prefix + field.name
            if field.is_repeated:
                counts[number] = counts.get(number, -1) + 1
                path = f"{path}[{counts[number]}]"
            if field.type == FieldDescriptor.TYPE_STRING:
                try:
                    chunk.decode("utf-8")
                except UnicodeDecodeError:
                    return path
            elif field.message_type is not None:
                found = unreadable_field(field.message_type, chunk, path + ".")
                if found:
                    return found
    except IndexError:
        return None
    return None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
