"""A fetched batch reads its claims' fee accounts at once: no query per account, whether the
accounts are new (claims registering) or not in the aggregate cache (a restart, an evicted
account), and every payment of the batch is billed exactly once."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.consumer import Delivery
from services.common.context import CommandContext
from services.common.settings import Settings
from services.common.wire import decode_payload
from services.fees.adapters.intake import FeeIntake
from services.fees.application import FeesApplication, PublishSchedule
from services.fees.tests.builders import JAN_1, flat_rate
from services.fees.tests.upstream import UpstreamPublisher

CLAIMS = 20
SETTINGS = Settings(service="fees", database_url="unused", nats_url="unused")


def no_lookup(*args: Any) -> None:
    raise AssertionError(f"an account was looked up alone: {args}")


def deliveries(tenant: str, events: list[tuple[str, str, str, dict[str, Any]]]
               ) -> list[Delivery]:
    publisher = UpstreamPublisher(js=None, settings=SETTINGS, tenant_id=tenant)  # type: ignore[arg-type]
    out = []
    for service, event_type, claim_id, payload in events:
        envelope = publisher.envelope(service, event_type, claim_id, payload)
        out.append(Delivery(envelope, decode_payload(envelope), datetime.now(UTC)))
    return out


@pytest.fixture(scope="module")
def make_app(make_settings):
    made: list[FeesApplication] = []

    def make() -> FeesApplication:
        made.append(FeesApplication(make_settings("fees")))
        return made[-1]

    yield make
    for app in made:
        app.close()


def test_a_batch_bills_each_payment_once_without_a_query_per_account(make_app) -> None:
    tenant, client = f"t-{uuid.uuid4().hex[:6]}", "client-b"
    claim_ids = [f"claim-{uuid.uuid4().hex[:8]}" for _ in range(CLAIMS)]
    app = make_app()
    ctx = CommandContext(tenant_id=tenant, actor="t", now=datetime.now(UTC),
                         roles=frozenset({"finance"}), request_id=uuid.uuid4().hex)
    app.publish_schedule(ctx, PublishSchedule(client, JAN_1, None, flat_rate(2500)))
    executor = ThreadPoolExecutor(1)
    app.find_account = no_lookup  # type: ignore[method-assign]
    registered = deliveries(tenant, [
        ("claims", "ClaimRegistered", c, {"claim": {
            "client_id": client, "payer": {"payer_id": "p1", "name": "p1"},
            "lines": [{"procedure_code": "99285", "billed_cents": 250_000}]}})
        for c in claim_ids])
    assert FeeIntake(app, executor).apply(registered, from_cache=True) == [True] * CLAIMS

    # Another replica (or this one after a restart): nothing of these accounts is cached.
    fresh = make_app()
    fresh.find_account = no_lookup  # type: ignore[method-assign]
    paid = deliveries(tenant, [
        event for c in claim_ids for event in (
            ("settlement", "SettlementOpened", c, {
                "claim_id": c, "source": "agreement", "already_paid_cents": 0,
                "payer_key": ""}),
            ("settlement", "PaymentPosted", c, {
                "payment_id": f"pay-{c}", "amount_cents": 60_000, "method": "eft",
                "reference": "EFT-1", "payer_claim_control_number": "ICN-1",
                "paid_on": dt.date(2026, 11, 20).isoformat(), "remittance_id": "era-1"}))])
    intake = FeeIntake(fresh, executor)
    assert all(intake.apply(paid, from_cache=True))
    assert intake.apply(paid, from_cache=True) == [False] * len(paid)  # redelivered: nothing
    for claim_id in claim_ids:
        account = fresh.account(tenant, claim_id)
        assert [line.amount_cents for line in account.lines] == [15_000]
    executor.shutdown()
