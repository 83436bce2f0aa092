"""Negotiations are snapshotted every 50 events: a snapshot must restore the same state.

The state is typed value objects (domain/values.py): the snapshot transcoder must give back the
same types, not dictionaries. Both aggregates of a case are checked.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from eventsourcing.domain import Snapshot

from services.negotiation.tests.builders import ENGINE, offer
from services.negotiation.tests.test_federal_idr import in_idr, negotiator

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_snapshot_of_a_case_in_idr_restores_exactly(runtime: Any) -> None:
    case = in_idr()
    case.submit_idr_offer(
        negotiator(), party="provider", amount_cents=160_000, submitted_on=date(2026, 8, 3)
    )
    offer(case, "payer", 110_000, "late-offer", made_on=date(2026, 8, 10))
    case.negotiation.extend_deadline(
        negotiator(),
        deadline_code="T7",
        new_due_on=date(2026, 12, 31),
        reason="IDRE asked for more time",
        reference="",
        engine=ENGINE,
        dispute=case.dispute,
    )
    case.dispute.record_fee(  # type: ignore[union-attr]
        negotiator(), claim=case.negotiation.disputed_claim, party="payer", fee_kind="idre",
        movement="paid", amount_cents=50_000, occurred_on=date(2026, 8, 4),
        source="portal_receipt", source_reference="R-1")
    mapper = runtime.parts.app.mapper
    assert case.dispute is not None and case.dispute.fee_ledger.entries
    assert case.negotiation.offers and case.negotiation.decisions and case.negotiation.extensions
    assert case.dispute is not None
    aggregates: tuple[Any, ...] = (case.negotiation, case.dispute)
    for aggregate in aggregates:
        snapshot = mapper.to_domain_event(mapper.to_stored_event(Snapshot.take(aggregate)))
        restored = snapshot.mutate(None)
        for name, value in vars(aggregate).items():
            if name == "_pending_events":
                continue  # not state: events not yet saved
            assert getattr(restored, name) == value, name
            assert type(getattr(restored, name)) is type(value), name
            if isinstance(value, list):
                assert [type(v) for v in getattr(restored, name)] == [type(v) for v in value]
            if isinstance(value, dict):
                restored_values = getattr(restored, name).values()
                assert [type(v) for v in restored_values] == [type(v) for v in value.values()]
