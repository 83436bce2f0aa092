"""Derive the wire form (EventEnvelope) of a stored domain event.

An integration event (one with a contract, see services/common/contracts.py) carries its
contract message's bytes, translated by the service's `PublishedLanguage`. Any other event's
payload is canonical JSON of the event's own fields: sorted keys, no whitespace, UTF-8;
dates/datetimes ISO-8601, UUIDs as strings, Decimals as strings; PHI fields removed.
`decode_payload` gives either as a dict (a contract message through its dict view).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from google.protobuf.timestamp_pb2 import Timestamp

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common import contracts

CONTENT_TYPE = "application/json; canonical"
# What an envelope adds to its payload beyond the event's stored JSON: event id, service, type
# names, timestamps, content type, protobuf tags. The stored JSON (eventsourcing's transcoder,
# before compression) already holds every payload field, in a longer form (dates and UUIDs as
# tagged objects), and the meta that becomes the envelope's header strings; so
# `len(stored JSON) + ENVELOPE_OVERHEAD_BYTES` bounds the envelope without building it.
ENVELOPE_OVERHEAD_BYTES = 512
_ENVELOPE_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}
)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot put {type(value).__name__} on the wire")


def canonical_json(data: Any) -> bytes:
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    ).encode("utf-8")


def decode_payload(envelope: EventEnvelope) -> dict[str, Any]:
    """The payload as a dict; a contract message is decoded and checked (ContractViolation)."""
    return contracts.payload_as_dict(
        envelope.service, envelope.event_type, envelope.schema_version,
        envelope.payload_content_type, envelope.payload,
    )


def event_fields(event: Any) -> dict[str, Any]:
    """The event's own fields, without envelope metadata and without PHI."""
    phi: frozenset[str] = getattr(type(event), "PHI_FIELDS", frozenset())
    return {
        name: value
        for name, value in vars(event).items()
        if name not in _ENVELOPE_FIELDS and not name.startswith("_") and name not in phi
    }


def event_payload(event: Any) -> dict[str, Any]:
    phi: frozenset[str] = getattr(type(event), "PHI_FIELDS", frozenset())
    fields = event_fields(event)
    if phi:
        fields["phi_redacted"] = sorted(phi)
    return fields


def aggregate_type_of(event: Any) -> str:
    qualname = type(event).__qualname__
    return qualname.split(".")[0] if "." in qualname else qualname


def to_timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def build_envelope(
    service: str,
    notification_id: int,
    event: Any,
    recorded_at: datetime,
    language: contracts.PublishedLanguage | None = None,
) -> EventEnvelope:
    """The envelope of a stored event: its contract message when `language` has one for it."""
    envelope = envelope_without_ids(service, event, recorded_at, language)
    envelope.event_id = event_id_of(service, notification_id)
    envelope.notification_id = notification_id
    return envelope


def event_id_of(service: str, notification_id: int) -> str:
    return f"{service}:{notification_id}"


def envelope_without_ids(
    service: str,
    event: Any,
    recorded_at: datetime,
    language: contracts.PublishedLanguage | None = None,
) -> EventEnvelope:
    """The envelope of an event being saved, before its notification id is known."""
    meta: dict[str, str] = dict(getattr(event, "meta", {}) or {})
    published = language.publish(event) if language is not None else None
    if published is None:
        published = contracts.Published(
            canonical_json(event_payload(event)), CONTENT_TYPE,
            int(getattr(type(event), "class_version", 1)),
        )
    return EventEnvelope(
        service=service,
        tenant_id=meta.get("tenant_id", ""),
        claim_id=meta.get("claim_id", ""),
        aggregate_type=aggregate_type_of(event),
        aggregate_id=str(event.originator_id),
        aggregate_version=int(event.originator_version),
        event_type=type(event).__name__,
        schema_version=published.schema_version,
        occurred_at=to_timestamp(event.timestamp),
        recorded_at=to_timestamp(recorded_at),
        actor=meta.get("actor", ""),
        request_id=meta.get("request_id", ""),
        correlation_id=meta.get("correlation_id", ""),
        causation_id=meta.get("causation_id", ""),
        traceparent=meta.get("traceparent", ""),
        tracestate=meta.get("tracestate", ""),
        payload=published.payload,
        payload_content_type=published.content_type,
    )


class StoredMessage(NamedTuple):
    subject: str
    traceparent: str
    body: bytes


def stored_message(
    service: str,
    prefix: str,
    event: Any,
    recorded_at: datetime,
    language: contracts.PublishedLanguage | None = None,
) -> StoredMessage:
    """An event's integration message as saved beside it: the envelope without its event id
    and notification id, which `with_ids` appends when it is published."""
    envelope = envelope_without_ids(service, event, recorded_at, language)
    return StoredMessage(subject_for(prefix, envelope), envelope.traceparent,
                         envelope.SerializeToString())


def with_ids(service: str, notification_id: int, stored: bytes) -> bytes:
    """The wire bytes of a stored message: its bytes followed by the encoded event id and
    notification id. Protobuf merges concatenated messages field by field and the stored bytes
    hold neither field, so this parses to exactly `build_envelope`'s envelope."""
    ids = EventEnvelope(event_id=event_id_of(service, notification_id),
                        notification_id=notification_id)
    return stored + ids.SerializeToString()


def published_fields(
    service: str, event_type: str, fields: dict[str, Any], *, strict: bool = False
) -> contracts.Published:
    """The wire payload of an event given as fields (test and synthetic upstreams): its contract
    message when it has one (a missing required fact fails here, as at the real producer),
    else canonical JSON."""
    if contracts.is_contracted(service, event_type):
        return contracts.publish_fields(service, event_type, fields, strict=strict)
    return contracts.Published(canonical_json(fields), CONTENT_TYPE, 1)


def subject_for(prefix: str, envelope: EventEnvelope) -> str:
    return f"{prefix}.{_snake(envelope.aggregate_type)}.{envelope.event_type}"


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
