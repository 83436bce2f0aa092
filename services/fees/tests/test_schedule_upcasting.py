"""Schedule versions stored before tiers were recorded as {floor_cents, rate_bps} (v1: pairs)
still load with the same terms."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime

import pytest

from services.common.context import CommandContext
from services.fees.application import FeesApplication
from services.fees.domain.schedule import FeeSchedule, FeeTerms, Tier
from tests.support.plugin import stored_as_version_1


def ctx(request_id: str) -> CommandContext:
    return CommandContext(tenant_id="t1", actor="finance", now=datetime(2026, 5, 2, tzinfo=UTC),
                          roles=frozenset({"finance"}), request_id=request_id)


@pytest.fixture(scope="module")
def app(make_settings):
    application = FeesApplication(make_settings("fees"))
    yield application
    application.close()


def test_a_version_1_schedule_version_with_tiers_as_pairs_still_loads(app) -> None:
    terms = FeeTerms(default_tiers=(Tier(0, 3000), Tier(500_000, 2000)),
                     idr_tiers=(Tier(0, 3500),), cap_cents=2_500_000)
    schedule = FeeSchedule.create(ctx("create"), "client-old")
    schedule.publish_version(ctx("v1"), dt.date(2026, 1, 1), None, terms)
    created, published = schedule.collect_events()
    assert isinstance(published, FeeSchedule.FeeScheduleVersionPublished)
    old_terms = {**published.terms,
                 "default_tiers": [[0, 3000], [500_000, 2000]],
                 "open_negotiation_tiers": [],
                 "idr_tiers": [[0, 3500]]}
    old = stored_as_version_1(app, published, terms=old_terms)
    upcast = app.mapper.to_domain_event(old)
    replayed = upcast.mutate(created.mutate(None))
    assert replayed.in_force_on(dt.date(2026, 3, 1)).terms == terms
