"""The published language: integration events as versioned protobuf contracts (docs/events.md).

Every top-level message of `proto/oonledger/<service>/v1/events.proto` is the contract of the
integration event of the same name. A producer translates its domain event into the contract
message in one place (`services/<service>/published.py`, a `PublishedLanguage`); the envelope
then carries the message's bytes, its content type names the message, and `schema_version` is
the contract's version. Consumers decode through `decode`: an unknown version or a missing
required fact is a `ContractViolation` (the consumer dead-letters it with the reason), never a
silent zero. Events without a contract keep canonical JSON (services/common/wire.py).

`as_dict` is the dict view of a message (field names as declared, int64 as int, enums as the
domain's spelling): a service's projections of its own events and the ledger's fold read it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from oonledger.claims.v1 import events_pb2 as claims_events
from oonledger.common.v1 import field_pb2
from oonledger.common.v1.envelope_pb2 import EventEnvelope
from oonledger.fees.v1 import events_pb2 as fees_events
from oonledger.negotiation.v1 import events_pb2 as negotiation_events
from oonledger.settlement.v1 import events_pb2 as settlement_events

PROTOBUF = "application/x-protobuf"

# service -> {version: the generated events module of that version}. A new major version is
# a new package (oonledger.<service>.v2) added here, with an upcaster from the old one.
_MODULES: dict[str, dict[int, Any]] = {
    "claims": {1: claims_events},
    "negotiation": {1: negotiation_events},
    "settlement": {1: settlement_events},
    "fees": {1: fees_events},
}


# Descriptors come from the C (upb) implementation at run time; the stubs name the Python ones.
Field = Any


class ContractViolation(Exception):
    """A message that breaks its contract (unknown version, wrong type, missing fact)."""


@dataclass(frozen=True)
class Contract:
    service: str
    event_type: str
    version: int
    message_class: type[Message]

    @property
    def content_type(self) -> str:
        return f"{PROTOBUF}; messageType={self.message_class.DESCRIPTOR.full_name}"


def _registry() -> dict[tuple[str, str], dict[int, Contract]]:
    registry: dict[tuple[str, str], dict[int, Contract]] = {}
    for service, versions in _MODULES.items():
        for version, module in versions.items():
            for name in module.DESCRIPTOR.message_types_by_name:
                registry.setdefault((service, name), {})[version] = Contract(
                    service, name, version, getattr(module, name)
                )
    return registry


CONTRACTS = _registry()


def contract_for(service: str, event_type: str, version: int | None = None) -> Contract | None:
    """The contract of an event (its latest version when `version` is None); None: no contract."""
    versions = CONTRACTS.get((service, event_type))
    if not versions:
        return None
    return versions[max(versions)] if version is None else versions.get(version)


def is_contracted(service: str, event_type: str) -> bool:
    return (service, event_type) in CONTRACTS


# -- decoding (consumers) ----------------------------------------------------------------------
def decode(envelope: EventEnvelope) -> Message:
    """The typed message of a contracted event, checked; ContractViolation says what is wrong.

    A payload recorded before the event had a contract (canonical JSON, the "v0" form) is
    upcast to the contract's v1 by field name: events still in streams and in the ledger from
    before the change remain readable.
    """
    service, event_type = envelope.service, envelope.event_type
    name = f"{service} {event_type} v{envelope.schema_version}"
    versions = CONTRACTS.get((service, event_type))
    if not versions:
        raise ContractViolation(f"{name}: {service} publishes no contract for {event_type}")
    if not envelope.payload_content_type.startswith(PROTOBUF):
        message = _upcast_json(versions[min(versions)], envelope.payload)
    else:
        contract = versions.get(envelope.schema_version)
        if contract is None:
            raise ContractViolation(
                f"{name}: unknown schema version (this consumer reads "
                f"{', '.join(f'v{v}' for v in sorted(versions))})"
            )
        if envelope.payload_content_type != contract.content_type:
            raise ContractViolation(
                f"{name}: payload is {envelope.payload_content_type!r}, "
                f"expected {contract.content_type!r}"
            )
        message = contract.message_class()
        try:
            message.ParseFromString(envelope.payload)
        except DecodeError as exc:
            raise ContractViolation(f"{name}: undecodable payload: {exc}") from exc
    missing = missing_required(message)
    if missing:
        raise ContractViolation(f"{name}: required field(s) missing: {', '.join(missing)}")
    return message


def _upcast_json(contract: Contract, payload: bytes) -> Message:
    fields = json.loads(payload) if payload else {}
    return message_from_dict(contract.message_class, fields, strict=False)


def missing_required(message: Message, prefix: str = "") -> list[str]:
    """Paths of the required fields (field.proto's `required` option) left at default."""
    missing: list[str] = []
    for name, is_message, repeated, required in _required_plan(message.DESCRIPTOR):
        value = getattr(message, name)
        if is_message:
            items = list(value) if repeated else ([value] if message.HasField(name) else [])
            if not items and required:
                missing.append(f"{prefix}{name}")
            for i, item in enumerate(items):
                where = f"{prefix}{name}[{i}]." if repeated else f"{prefix}{name}."
                missing.extend(missing_required(item, where))
        elif not value:  # the plan holds only the required scalars
            missing.append(f"{prefix}{name}")
    return missing


# Per message type (its descriptor): what `missing_required` must look at, computed once. A field
# is in the plan when it is required, or when it is a message whose type (or a type below it)
# has a required field; everything else cannot be missing. (The options were read per field
# and per event before: a third of the cost of building a 10,000-claim remittance's messages.)
_REQUIRED_PLANS: dict[Any, tuple[tuple[str, bool, bool, bool], ...]] = {}


def _required_plan(descriptor: Any) -> tuple[tuple[str, bool, bool, bool], ...]:
    plan = _REQUIRED_PLANS.get(descriptor)
    if plan is None:
        entries = []
        for field in descriptor.fields:
            is_message = field.type == FieldDescriptor.TYPE_MESSAGE
            required = _required(field)
            if required or (is_message and _has_required(field.message_type, set())):
                entries.append((field.name, is_message, _repeated(field), required))
        plan = tuple(entries)
        _REQUIRED_PLANS[descriptor] = plan
    return plan


def _has_required(descriptor: Any, seen: set[str]) -> bool:
    """Whether a message type, or a message type it holds, has a required field."""
    if descriptor.full_name in seen:
        return False
    seen.add(descriptor.full_name)
    return any(
        _required(field) or (field.type == FieldDescriptor.TYPE_MESSAGE
                             and _has_required(field.message_type, seen))
        for field in descriptor.fields
    )


def _required(field: Field) -> bool:
    return bool(field.GetOptions().Extensions[field_pb2.required])


def _repeated(field: Field) -> bool:
    return bool(field.is_repeated)


# -- the dict view -----------------------------------------------------------------------------
def as_dict(message: Message) -> dict[str, Any]:
    """Every declared field by name; int64 as int, enums as domain text, unset optional = None."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if _repeated(field):
            out[field.name] = [_plain(field, item) for item in value]
        elif field.has_presence and not message.HasField(field.name):
            out[field.name] = None
        else:
            out[field.name] = _plain(field, value)
    return out


def _plain(field: Field, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return as_dict(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_text(field.enum_type, value)
    return value


def enum_text(enum: Any, number: int) -> str:
    value = enum.values_by_number.get(number)
    if value is None:
        raise ContractViolation(f"{enum.full_name}: unknown value {number}")
    return str(value.GetOptions().Extensions[field_pb2.text])


def enum_number(enum: Any, text: str) -> int:
    numbers = _ENUM_NUMBERS.get(enum)
    if numbers is None:
        numbers = {}
        for value in enum.values:  # the first value of a spelling wins, as it always did
            numbers.setdefault(str(value.GetOptions().Extensions[field_pb2.text]),
                               int(value.number))
        _ENUM_NUMBERS[enum] = numbers
    number = numbers.get(text)
    if number is None:
        raise ContractViolation(f"{enum.full_name}: no value for {text!r}")
    return number


_ENUM_NUMBERS: dict[Any, dict[str, int]] = {}


def payload_as_dict(
    service: str, event_type: str, schema_version: int, content_type: str, payload: bytes
) -> dict[str, Any]:
    """Any stored payload (contracted or JSON) as a dict: the ledger's fold and timeline."""
    if not content_type.startswith(PROTOBUF):
        return json.loads(payload) if payload else {}
    envelope = EventEnvelope(
        service=service, event_type=event_type, schema_version=schema_version,
        payload=payload, payload_content_type=content_type,
    )
    return as_dict(decode(envelope))


# -- building messages (producers, golden files) ----------------------------------------------
def message_from_dict(
    cls: type[Message] | Descriptor,
    data: Mapping[str, Any],
    *,
    strict: bool = True,
    internal: Iterable[str] = (),
) -> Message:
    """The message of `cls` holding `data` (the dict view's shape, dates/UUIDs accepted).

    strict: every declared field (but a proto3 `optional` scalar) must be given and every given
    key must be a field or listed
    as `internal` (a domain field deliberately kept off the wire), so a renamed field on either
    side fails loudly instead of publishing a default. Not strict: missing fields stay at their
    default and unknown keys are ignored (upcasting a pre-contract JSON payload).
    """
    message = message_factory.GetMessageClass(cls)() if isinstance(cls, Descriptor) else cls()
    _fill(message, data, strict, frozenset(internal))
    return message


def _fill(message: Message, data: Mapping[str, Any], strict: bool, internal: frozenset[str]
          ) -> None:
    plan = _fill_plan(message.DESCRIPTOR)
    if strict:
        given = data.keys()
        unknown = sorted(given - plan.names - internal)
        # A proto3 `optional` scalar may be left out (a sparse map of cited facts); every other
        # field must be given, even as None.
        absent = sorted(plan.expected - given)
        if unknown or absent:
            raise ContractViolation(
                f"{message.DESCRIPTOR.full_name}: "
                + "; ".join(part for part in (
                    f"not in the contract: {', '.join(unknown)}" if unknown else "",
                    f"not provided: {', '.join(absent)}" if absent else "") if part)
            )
    for name, field, kind in plan.fields:
        value = data.get(name)
        if value is None:
            continue
        if kind == _SCALAR:
            setattr(message, name, _scalar(field, value))
        elif kind == _MESSAGE:
            child = getattr(message, name)
            child.SetInParent()
            _fill(child, value, strict, frozenset())
        elif kind == _REPEATED_MESSAGE:
            target = getattr(message, name)
            for item in value:
                _fill(target.add(), item, strict, frozenset())
        else:
            getattr(message, name).extend(_scalar(field, item) for item in value)


_SCALAR, _MESSAGE, _REPEATED_SCALAR, _REPEATED_MESSAGE = range(4)


@dataclass(frozen=True)
class _FillPlan:
    """A message type's fields as `_fill` walks them, computed once per type."""

    names: frozenset[str]
    expected: frozenset[str]  # what a strict caller must give (all but optional scalars)
    fields: tuple[tuple[str, Field, int], ...]


_FILL_PLANS: dict[Any, _FillPlan] = {}


def _fill_plan(descriptor: Any) -> _FillPlan:
    plan = _FILL_PLANS.get(descriptor)
    if plan is None:
        fields = descriptor.fields_by_name
        plan = _FillPlan(
            names=frozenset(fields),
            expected=frozenset(n for n, f in fields.items() if not _optional_scalar(f)),
            fields=tuple(
                (name, field, (2 if _repeated(field) else 0)
                 + (1 if field.type == FieldDescriptor.TYPE_MESSAGE else 0))
                for name, field in fields.items()
            ),
        )
        _FILL_PLANS[descriptor] = plan
    return plan


def _optional_scalar(field: Field) -> bool:
    return bool(field.has_presence) and field.type != FieldDescriptor.TYPE_MESSAGE


def _scalar(field: Field, value: Any) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        if type(value) is str:
            return value
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, date | UUID):
            return value.isoformat() if isinstance(value, date) else str(value)
        if not isinstance(value, str):
            raise ContractViolation(f"{field.full_name}: expected text, got {value!r}")
        return value
    if kind == FieldDescriptor.TYPE_ENUM:
        return enum_number(field.enum_type, str(value))
    if kind == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            raise ContractViolation(f"{field.full_name}: expected a bool, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractViolation(f"{field.full_name}: expected an integer, got {value!r}")
    return value


# -- producers -----------------------------------------------------------------------------------
# Facts the envelope already carries; a creation event's fields include them.
ENVELOPE_FACTS = frozenset({"tenant_id"})
Translation = Callable[[Any], Message]


@dataclass(frozen=True)
class Published:
    """What the envelope carries for one domain event."""

    payload: bytes
    content_type: str
    schema_version: int


class PublishedLanguage:
    """One service's translations: domain event class -> its contract message (latest version)."""

    def __init__(self, service: str, translations: Mapping[type, Translation]) -> None:
        self.service = service
        self.translations = dict(translations)
        for event_class in self.translations:
            if contract_for(service, event_class.__name__) is None:
                raise ContractViolation(
                    f"{service}: no contract in events.proto for {event_class.__name__}")

    def message_for(self, event: Any) -> Message | None:
        translate = self.translations.get(type(event))
        return translate(event) if translate is not None else None

    def publish(self, event: Any) -> Published | None:
        """The contract's bytes for a contracted event; None keeps canonical JSON."""
        message = self.message_for(event)
        if message is None:
            return None
        contract = contract_for(self.service, type(event).__name__)
        assert contract is not None  # checked in __init__
        missing = missing_required(message)
        if missing:
            raise ContractViolation(f"{self.service} {contract.event_type}: required field(s) "
                                    f"missing: {', '.join(missing)}")
        return Published(message.SerializeToString(deterministic=True), contract.content_type,
                         contract.version)


def publish_fields(
    service: str, event_type: str, fields: Mapping[str, Any], *, strict: bool = True
) -> Published:
    """The contract bytes of an event given as its dict view (golden files, test upstreams)."""
    contract = contract_for(service, event_type)
    if contract is None:
        raise ContractViolation(f"{service} publishes no contract for {event_type}")
    message = message_from_dict(contract.message_class, fields, strict=strict)
    missing = missing_required(message)
    if missing:
        raise ContractViolation(
            f"{service} {event_type}: required field(s) missing: {', '.join(missing)}")
    return Published(message.SerializeToString(deterministic=True), contract.content_type,
                     contract.version)


def from_fields(cls: type[Message], *, internal: Iterable[str] = (),
                extra: Callable[[Any], Mapping[str, Any]] | None = None) -> Translation:
    """A translation that copies the event's own fields by name (strictly, see message_from_dict).

    `internal` names domain fields kept off the wire; `extra` adds facts computed from the event.
    """
    kept_off = frozenset(internal) | ENVELOPE_FACTS

    def translate(event: Any) -> Message:
        from services.common.wire import event_fields

        fields = event_fields(event)
        if extra is not None:
            fields.update(extra(event))
        return message_from_dict(cls, fields, internal=kept_off)

    return translate
