"""Wire envelopes become ledger facts exactly; unusable messages are named as such."""

from __future__ import annotations

import pytest

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.ledger.adapters.mapping import (
    MalformedEnvelope,
    entry_from_message,
    entry_message,
    facts_from_wire,
)
from services.ledger.tests.factories import envelope_of, facts
from services.ledger.tests.memory_log import MemoryLog


def test_envelope_round_trips_into_facts() -> None:
    original = facts("tenant-a", "claim-1", payload={"amount_cents": 12345})
    assert facts_from_wire(envelope_of(original).SerializeToString()) == original


def test_nanoseconds_are_truncated_to_what_the_store_keeps() -> None:
    envelope = envelope_of(facts("tenant-a", "claim-1"))
    envelope.occurred_at.nanos = 123456789
    parsed = facts_from_wire(envelope.SerializeToString())
    assert parsed.occurred_at.microsecond == 123456


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xff\xff", "not an EventEnvelope"),
        (EventEnvelope(event_id="x").SerializeToString(), "lacks service, tenant_id"),
    ],
)
def test_unusable_messages_are_refused(data: bytes, expected: str) -> None:
    with pytest.raises(MalformedEnvelope, match=expected):
        facts_from_wire(data)


def test_missing_occurred_at_is_refused() -> None:
    envelope = envelope_of(facts("tenant-a", "claim-1"))
    envelope.ClearField("occurred_at")
    with pytest.raises(MalformedEnvelope, match="occurred_at"):
        facts_from_wire(envelope.SerializeToString())


def test_audit_entries_survive_the_proto() -> None:
    entry = MemoryLog().append([facts("tenant-a", "claim-1")])[0]
    assert entry_from_message(entry_message(entry)) == entry


def test_the_select_list_matches_the_column_order() -> None:
    from services.ledger.adapters.sql_rows import ENTRY_COLUMNS, SELECT_ENTRIES

    listed = SELECT_ENTRIES.removeprefix("SELECT ").split(" FROM ")[0].split(",")
    assert tuple(name.strip() for name in listed) == ENTRY_COLUMNS
