"""Events stored before the domain became a package (and before federal IDR became its own
aggregate) still load: their old topics resolve to today's classes (domain/stored_topics.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from services.negotiation.domain import FederalIdrDispute, Negotiation
from services.negotiation.domain.claim_facts import ClaimFacts
from services.negotiation.tests.builders import offer, pending, with_notice
from services.negotiation.tests.test_federal_idr import in_idr, negotiator

pytestmark = pytest.mark.asyncio(loop_scope="session")

OLD = "services.negotiation.domain:Negotiation"


def _reloaded(mapper: Any, event: Any, old_topic: str) -> Any:
    stored = replace(mapper.to_stored_event(event), topic=old_topic)
    return mapper.to_domain_event(stored)


async def test_an_idr_event_stored_on_the_negotiation_loads_as_the_disputes(runtime: Any) -> None:
    case = in_idr()
    case.submit_idr_offer(
        negotiator(), party="provider", amount_cents=160_000, submitted_on=date(2026, 8, 3)
    )
    (submitted,) = pending(case)
    loaded = _reloaded(runtime.parts.app.mapper, submitted, f"{OLD}.IdrOfferSubmitted")
    assert type(loaded) is FederalIdrDispute.IdrOfferSubmitted
    assert (loaded.party, loaded.amount_cents) == ("provider", 160_000)


async def test_a_negotiation_event_under_its_old_module_loads(runtime: Any) -> None:
    n = with_notice()
    offer(n, "payer", 45_000, "p1")
    (made,) = pending(n)
    loaded = _reloaded(runtime.parts.app.mapper, made, f"{OLD}.OfferMade")
    assert type(loaded) is Negotiation.OfferMade and loaded.offer_id == "p1"


async def test_moved_modules_resolve(runtime: Any) -> None:
    from eventsourcing.utils import resolve_topic

    assert resolve_topic("services.negotiation.claim_facts:ClaimFacts") is ClaimFacts
    assert resolve_topic(OLD) is Negotiation
