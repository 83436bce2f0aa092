"""Per-claim hash chains: recomputation names the exact entry that was altered, removed or moved."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from services.ledger.domain.chain_verification import BreakKind, verify_chain
from services.ledger.domain.entry import (
    CANONICAL_VERSION,
    GENESIS_HASH,
    EventFacts,
    canonical_bytes,
    chain_hash,
    format_instant,
    parse_instant,
)
from services.ledger.tests.factories import claim_history, facts, with_payload
from services.ledger.tests.memory_log import MemoryLog

TENANT, CLAIM = "tenant-a", "claim-1"


def logged(count: int) -> tuple[MemoryLog, str]:
    log = MemoryLog()
    history = claim_history(TENANT, CLAIM, count)
    # Another claim and a claim-less aggregate interleave: chains must stay separate.
    log.append(
        [
            *history[:2],
            facts(TENANT, "claim-2"),
            *history[2:],
            facts(
                TENANT,
                "",
                "FeeScheduleVersioned",
                aggregate_type="FeeSchedule",
                aggregate_id="fs-1",
                service="fees",
            ),
        ]
    )
    return log, history[0].chain


def test_each_entry_hash_is_sha256_of_prev_hash_and_canonical_bytes() -> None:
    log, chain = logged(3)
    entries = log.chain(chain)
    assert entries[0].prev_hash == GENESIS_HASH
    for previous, entry in itertools.pairwise(entries):
        assert entry.prev_hash == previous.entry_hash
    for entry in entries:
        canonical = canonical_bytes(entry.facts, entry.log_index, entry.chain, entry.chain_seq)
        assert entry.entry_hash == chain_hash(entry.prev_hash, canonical)
    assert [e.chain_seq for e in entries] == [1, 2, 3]
    assert [e.log_index for e in entries] == [0, 1, 3]


def test_canonical_bytes_are_sorted_compact_json() -> None:
    log, chain = logged(1)
    raw = log.chain(chain)[0].canonical_bytes()
    document = json.loads(raw)
    assert list(document) == sorted(document)
    assert raw == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def test_events_without_a_claim_chain_per_aggregate() -> None:
    log, _ = logged(2)
    fee_entries = [e for e in log.entries if not e.facts.claim_id]
    assert [e.chain for e in fee_entries] == ["aggregate/tenant-a/FeeSchedule/fs-1"]
    assert verify_chain(fee_entries[0].chain, fee_entries).ok


def test_intact_chain_verifies() -> None:
    log, chain = logged(5)
    verdict = verify_chain(chain, log.chain(chain))
    assert verdict.ok and verdict.entries_checked == 5 and verdict.head_seq == 5


def test_altered_payload_is_named() -> None:
    log, chain = logged(5)
    entries = log.chain(chain)
    entries[2] = with_payload(entries[2], b'{"amount_cents":999999}')
    verdict = verify_chain(chain, entries)
    assert [(b.kind, b.chain_seq) for b in verdict.breaks] == [(BreakKind.CONTENT_ALTERED, 3)]
    assert entries[2].facts.event_id in verdict.breaks[0].describe()


def test_deleted_entry_is_named_at_the_gap() -> None:
    log, chain = logged(5)
    entries = log.chain(chain)
    del entries[1]
    verdict = verify_chain(chain, entries)
    kinds = {(b.kind, b.chain_seq) for b in verdict.breaks}
    assert kinds == {(BreakKind.MISSING_ENTRY, 3), (BreakKind.LINK_BROKEN, 3)}
    assert "entry #2 is missing" in verdict.breaks[0].detail


def test_reordered_entries_are_detected() -> None:
    log, chain = logged(5)
    entries = log.chain(chain)
    entries[1], entries[2] = entries[2], entries[1]
    verdict = verify_chain(chain, entries)
    assert not verdict.ok
    assert verdict.breaks[0].chain_seq == 3
    assert (BreakKind.OUT_OF_ORDER, 2) in {(b.kind, b.chain_seq) for b in verdict.breaks}


def test_renumbered_sequence_is_detected_as_content_change() -> None:
    log, chain = logged(3)
    entries = log.chain(chain)
    entries[2] = entries[2]._replace(chain_seq=7)
    verdict = verify_chain(chain, entries)
    assert BreakKind.CONTENT_ALTERED in {b.kind for b in verdict.breaks}


def test_entry_of_another_chain_is_refused() -> None:
    log, chain = logged(2)
    intruder = next(e for e in log.entries if e.facts.claim_id == "claim-2")
    verdict = verify_chain(chain, [*log.chain(chain), intruder])
    assert BreakKind.WRONG_CHAIN in {b.kind for b in verdict.breaks}


@given(count=st.integers(1, 12), data=st.data())
def test_any_single_byte_change_in_any_entry_is_named(count: int, data: st.DataObject) -> None:
    log, chain = logged(count)
    entries = log.chain(chain)
    victim = data.draw(st.integers(0, count - 1))
    payload = bytearray(entries[victim].facts.payload)
    position = data.draw(st.integers(0, len(payload) - 1))
    payload[position] ^= data.draw(st.integers(1, 255))
    entries[victim] = with_payload(entries[victim], bytes(payload))
    verdict = verify_chain(chain, entries)
    assert [(b.kind, b.chain_seq) for b in verdict.breaks] == [
        (BreakKind.CONTENT_ALTERED, victim + 1)
    ]


text = st.text(max_size=40)


@given(
    actor=text,
    claim_id=text,
    tenant=text,
    event_type=text,
    payload=st.binary(max_size=64),
    version=st.integers(0, 2**62),
    seq=st.integers(1, 2**62),
    index=st.integers(0, 2**62),
)
def test_handwritten_canonical_form_equals_json_dumps(
    actor: str,
    claim_id: str,
    tenant: str,
    event_type: str,
    payload: bytes,
    version: int,
    seq: int,
    index: int,
) -> None:
    f = facts("t", "c")._replace(
        actor=actor,
        claim_id=claim_id,
        tenant_id=tenant,
        event_type=event_type,
        payload=payload,
        aggregate_version=version,
    )
    assert canonical_bytes(f, index, f.chain, seq) == canonical_document(f, index, f.chain, seq)


@given(
    moment=st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(9000, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
        ),
    )
)
def test_instants_have_one_canonical_utc_spelling(moment: datetime) -> None:
    text = format_instant(moment)
    assert len(text) == 27 and text.endswith("Z")
    assert parse_instant(text) == moment
    assert format_instant(moment.astimezone(UTC)) == text


def test_chain_keys_cannot_collide_across_tenants() -> None:
    from services.ledger.domain.entry import claim_chain

    assert claim_chain("a/b", "c") != claim_chain("a", "b/c")
    assert claim_chain("tenant-1", "0b7c-uuid_x.y") == "claim/tenant-1/0b7c-uuid_x.y"


def canonical_document(facts: EventFacts, log_index: int, chain: str, chain_seq: int) -> bytes:
    """The same bytes through json.dumps: the reference canonical_bytes is tested against."""
    document = {
        "actor": facts.actor,
        "aggregate_id": facts.aggregate_id,
        "aggregate_type": facts.aggregate_type,
        "aggregate_version": facts.aggregate_version,
        "causation_id": facts.causation_id,
        "chain": chain,
        "chain_seq": chain_seq,
        "claim_id": facts.claim_id,
        "correlation_id": facts.correlation_id,
        "event_id": facts.event_id,
        "event_type": facts.event_type,
        "format": CANONICAL_VERSION,
        "log_index": log_index,
        "notification_id": facts.notification_id,
        "occurred_at": format_instant(facts.occurred_at),
        "payload": base64.b64encode(facts.payload).decode("ascii"),
        "payload_content_type": facts.payload_content_type,
        "recorded_at": format_instant(facts.recorded_at),
        "request_id": facts.request_id,
        "schema_version": facts.schema_version,
        "service": facts.service,
        "tenant_id": facts.tenant_id,
        "traceparent": facts.traceparent,
        "tracestate": facts.tracestate,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
