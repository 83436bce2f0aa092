"""JSON form of audit entries, as they travel in exported bundles and CLI files (bytes as
base64, see encoding.py)."""

from __future__ import annotations

from typing import Any

from services.ledger.domain.encoding import b64, unb64
from services.ledger.domain.entry import AuditEntry, EventFacts, format_instant, parse_instant


def entry_to_json(entry: AuditEntry) -> dict[str, Any]:
    f = entry.facts
    return {
        "log_index": entry.log_index,
        "chain": entry.chain,
        "chain_seq": entry.chain_seq,
        "prev_hash": b64(entry.prev_hash),
        "entry_hash": b64(entry.entry_hash),
        "event_id": f.event_id,
        "service": f.service,
        "notification_id": f.notification_id,
        "tenant_id": f.tenant_id,
        "claim_id": f.claim_id,
        "aggregate_type": f.aggregate_type,
        "aggregate_id": f.aggregate_id,
        "aggregate_version": f.aggregate_version,
        "event_type": f.event_type,
        "schema_version": f.schema_version,
        "occurred_at": format_instant(f.occurred_at),
        "recorded_at": format_instant(f.recorded_at),
        "actor": f.actor,
        "request_id": f.request_id,
        "correlation_id": f.correlation_id,
        "causation_id": f.causation_id,
        "traceparent": f.traceparent,
        "tracestate": f.tracestate,
        "payload": b64(f.payload),
        "payload_content_type": f.payload_content_type,
    }


def entry_from_json(data: dict[str, Any]) -> AuditEntry:
    """Inverse of entry_to_json; raises KeyError/ValueError/TypeError on malformed input."""
    facts = EventFacts(
        event_id=_text(data, "event_id"),
        service=_text(data, "service"),
        notification_id=_integer(data, "notification_id"),
        tenant_id=_text(data, "tenant_id"),
        claim_id=_text(data, "claim_id"),
        aggregate_type=_text(data, "aggregate_type"),
        aggregate_id=_text(data, "aggregate_id"),
        aggregate_version=_integer(data, "aggregate_version"),
        event_type=_text(data, "event_type"),
        schema_version=_integer(data, "schema_version"),
        occurred_at=parse_instant(_text(data, "occurred_at")),
        recorded_at=parse_instant(_text(data, "recorded_at")),
        actor=_text(data, "actor"),
        request_id=_text(data, "request_id"),
        correlation_id=_text(data, "correlation_id"),
        causation_id=_text(data, "causation_id"),
        traceparent=_text(data, "traceparent"),
        tracestate=_text(data, "tracestate"),
        payload=unb64(_text(data, "payload"), "payload"),
        payload_content_type=_text(data, "payload_content_type"),
    )
    return AuditEntry(
        facts=facts,
        log_index=_integer(data, "log_index"),
        chain=_text(data, "chain"),
        chain_seq=_integer(data, "chain_seq"),
        prev_hash=unb64(_text(data, "prev_hash"), "prev_hash"),
        entry_hash=unb64(_text(data, "entry_hash"), "entry_hash"),
    )


def _text(data: dict[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    return value


def _integer(data: dict[str, Any], name: str) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer")
    return value
