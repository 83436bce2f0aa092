"""Row ↔ entry conversion for the audit_entries table (the one place that knows its columns).

Columns are read and written in the field order of EventFacts followed by the entry's own
fields, so conversion is positional (replays and verification convert thousands of rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.ledger.domain.entry import AuditEntry, EventFacts

FACT_COLUMNS = EventFacts._fields
ENTRY_COLUMNS = (*FACT_COLUMNS, "log_index", "chain", "chain_seq", "prev_hash", "entry_hash")
SELECT_ENTRIES = (
    "SELECT event_id, service, notification_id, tenant_id, claim_id, aggregate_type,"
    " aggregate_id, aggregate_version, event_type, schema_version, occurred_at, recorded_at,"
    " actor, request_id, correlation_id, causation_id, traceparent, tracestate, payload,"
    " payload_content_type, log_index, chain, chain_seq, prev_hash, entry_hash FROM audit_entries"
)
"""Every column of ENTRY_COLUMNS, in that order; append a WHERE/ORDER clause."""

_FACTS = len(FACT_COLUMNS)


def entry_record(entry: AuditEntry) -> tuple[Any, ...]:
    return (
        *entry.facts,
        entry.log_index,
        entry.chain,
        entry.chain_seq,
        entry.prev_hash,
        entry.entry_hash,
    )


def entry_from_row(row: Sequence[Any]) -> AuditEntry:
    return AuditEntry(EventFacts(*row[:_FACTS]), *row[_FACTS:])
