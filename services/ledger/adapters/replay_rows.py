"""ReplayClaim's read path: rows selected in the shape of the AuditEntry message and built
into messages with no domain objects in between (issue 18: the conversion to `AuditEntry`
values and the per-entry timestamp and leaf-hash work were half of a replay's CPU).

Every value comes from the columns as they are stored now, read by the replay itself: a
tampered row replays as tampered (services/ledger/tests/test_auditor_gateway_tamper.py).
PostgreSQL only derives the two timestamps' seconds and nanos and the RFC 9162 leaf hash
SHA-256(0x00 ‖ entry_hash) from those columns, the same values mapping.entry_message gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oonledger.ledger.v1 import ledger_pb2

ReplayRow = Sequence[Any]
"""One row of REPLAY_SELECT (an asyncpg Record)."""

REPLAY_SELECT = (
    "SELECT log_index, chain, chain_seq, prev_hash, entry_hash,"
    " sha256('\\x00'::bytea || entry_hash), event_id, service, notification_id, tenant_id,"
    " claim_id, aggregate_type, aggregate_id, aggregate_version, event_type, schema_version,"
    " actor, request_id, correlation_id, causation_id, traceparent, tracestate, payload,"
    " payload_content_type,"
    " floor(extract(epoch FROM occurred_at))::bigint,"
    " (extract(microseconds FROM occurred_at)::bigint % 1000000)::int * 1000,"
    " floor(extract(epoch FROM recorded_at))::bigint,"
    " (extract(microseconds FROM recorded_at)::bigint % 1000000)::int * 1000"
    " FROM audit_entries"
)
"""The columns replay_chunk unpacks, in its order; append a WHERE/ORDER clause."""


def replay_chunk(rows: Sequence[ReplayRow]) -> ledger_pb2.ReplayClaimResponse:
    """Entries added in place (building them apart and copying in costs twice as much), each
    field set by attribute: with the upb runtime that measured 10-20% faster than passing the
    same 24 fields as keyword arguments to `add` (and 2x faster than `AuditEntry(...)` +
    extend)."""
    response = ledger_pb2.ReplayClaimResponse()
    add = response.entries.add
    for (
        log_index, chain, chain_seq, prev_hash, entry_hash, leaf_hash, event_id, service,
        notification_id, tenant_id, claim_id, aggregate_type, aggregate_id, aggregate_version,
        event_type, schema_version, actor, request_id, correlation_id, causation_id,
        traceparent, tracestate, payload, payload_content_type,
        occurred_s, occurred_ns, recorded_s, recorded_ns,
    ) in rows:
        m = add()
        m.log_index = log_index
        m.chain = chain
        m.chain_seq = chain_seq
        m.prev_hash = prev_hash
        m.entry_hash = entry_hash
        m.leaf_hash = leaf_hash
        m.event_id = event_id
        m.service = service
        m.notification_id = notification_id
        m.tenant_id = tenant_id
        m.claim_id = claim_id
        m.aggregate_type = aggregate_type
        m.aggregate_id = aggregate_id
        m.aggregate_version = aggregate_version
        m.event_type = event_type
        m.schema_version = schema_version
        m.actor = actor
        m.request_id = request_id
        m.correlation_id = correlation_id
        m.causation_id = causation_id
        m.traceparent = traceparent
        m.tracestate = tracestate
        m.payload = payload
        m.payload_content_type = payload_content_type
        stamp = m.occurred_at
        stamp.seconds = occurred_s
        stamp.nanos = occurred_ns
        stamp = m.recorded_at
        stamp.seconds = recorded_s
        stamp.nanos = recorded_ns
    return response
