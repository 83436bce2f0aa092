"""Negotiations are snapshotted every 50 events: a snapshot must restore the same state."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from eventsourcing.domain import Snapshot

from services.negotiation.tests.test_federal_idr import in_idr, negotiator

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_snapshot_of_a_case_in_idr_restores_exactly(runtime: Any) -> None:
    negotiation = in_idr()
    negotiation.submit_idr_offer(
        negotiator(), party="provider", amount_cents=160_000, submitted_on=date(2026, 8, 3)
    )
    mapper = runtime.parts.app.mapper
    restored = mapper.to_domain_event(mapper.to_stored_event(Snapshot.take(negotiation))).mutate(
        None
    )
    for name, value in vars(negotiation).items():
        if name == "_pending_events":
            continue  # not state: events not yet saved
        assert getattr(restored, name) == value, name
        assert type(getattr(restored, name)) is type(value), name
