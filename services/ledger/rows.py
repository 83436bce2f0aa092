"""Row ↔ entry conversion for the audit_entries table (the one place that knows its columns)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.ledger.entry import AuditEntry, EventFacts

ENTRY_COLUMNS = (
    "log_index",
    "event_id",
    "chain",
    "chain_seq",
    "tenant_id",
    "claim_id",
    "service",
    "notification_id",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "event_type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    "actor",
    "request_id",
    "correlation_id",
    "causation_id",
    "traceparent",
    "tracestate",
    "payload",
    "payload_content_type",
    "prev_hash",
    "entry_hash",
)
SELECT_ENTRIES = (
    "SELECT log_index, event_id, chain, chain_seq, tenant_id, claim_id, service, notification_id,"
    " aggregate_type, aggregate_id, aggregate_version, event_type, schema_version, occurred_at,"
    " recorded_at, actor, request_id, correlation_id, causation_id, traceparent, tracestate,"
    " payload, payload_content_type, prev_hash, entry_hash FROM audit_entries"
)
"""Every column of ENTRY_COLUMNS; append a WHERE/ORDER clause."""


def entry_record(entry: AuditEntry) -> tuple[Any, ...]:
    f = entry.facts
    return (
        entry.log_index,
        f.event_id,
        entry.chain,
        entry.chain_seq,
        f.tenant_id,
        f.claim_id,
        f.service,
        f.notification_id,
        f.aggregate_type,
        f.aggregate_id,
        f.aggregate_version,
        f.event_type,
        f.schema_version,
        f.occurred_at,
        f.recorded_at,
        f.actor,
        f.request_id,
        f.correlation_id,
        f.causation_id,
        f.traceparent,
        f.tracestate,
        f.payload,
        f.payload_content_type,
        entry.prev_hash,
        entry.entry_hash,
    )


def entry_from_row(row: Mapping[str, Any]) -> AuditEntry:
    facts = EventFacts(
        event_id=row["event_id"],
        service=row["service"],
        notification_id=row["notification_id"],
        tenant_id=row["tenant_id"],
        claim_id=row["claim_id"],
        aggregate_type=row["aggregate_type"],
        aggregate_id=row["aggregate_id"],
        aggregate_version=row["aggregate_version"],
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        occurred_at=row["occurred_at"],
        recorded_at=row["recorded_at"],
        actor=row["actor"],
        request_id=row["request_id"],
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
        traceparent=row["traceparent"],
        tracestate=row["tracestate"],
        payload=bytes(row["payload"]),
        payload_content_type=row["payload_content_type"],
    )
    return AuditEntry(
        facts=facts,
        log_index=row["log_index"],
        chain=row["chain"],
        chain_seq=row["chain_seq"],
        prev_hash=bytes(row["prev_hash"]),
        entry_hash=bytes(row["entry_hash"]),
    )
