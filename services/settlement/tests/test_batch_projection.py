"""Settlement's batches: its read models projected a batch at a time (`batch_projector`, what the
service runs for its own events) equal the one-at-a-time projection, row for row; a
redelivered batch changes nothing and an event before its predecessor is refused (the consumer
then falls back to one at a time). A batch of fee lines reads its settlements at once, and a
batch of openings its claims' waitlists."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from oonledger.fees.v1 import events_pb2 as fees_v1
from services.common.consumer import Delivery, PermanentFailure
from services.common.context import CommandContext
from services.common.processors import ApplicationProcessor, ProjectionProcessor
from services.common.tests.stored_deliveries import deliveries_since
from services.common.wire import decode_payload, published_fields, to_timestamp
from services.settlement.adapters import projections
from services.settlement.adapters.read_model_schema import statements
from services.settlement.adapters.remittance_intake import prepare_import
from services.settlement.adapters.subscriptions import (
    WAITLIST_EVENTS,
    fees_prefetch,
    fees_reaction,
    waitlist_prefetch,
    waitlist_reaction,
)
from services.settlement.application import (
    ImportRemittance,
    OpeningTerms,
    SettlementApplication,
)
from services.settlement.domain import (
    NO_SETTLEMENT,
    ClaimIndex,
    ClaimReference,
    PaymentException,
    Remittance,
    Settlement,
    SettlementSource,
    SettlementWaitlist,
    UnmatchedClaimPayment,
    settlement_id_for,
    waitlist_id_for,
)
from services.x12.writer_835 import ProviderAdjustmentSpec, RemittanceSpec, build_835, bulk_claims

DOS = date(2026, 9, 1)


def ctx(tenant: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="poster", now=datetime.now(UTC),
                          roles=frozenset({"finance"}), request_id=uuid.uuid4().hex)


@pytest.fixture(scope="module")
def app(make_settings):
    application = SettlementApplication(make_settings("settlement"))
    yield application
    application.close()


def posted_events(app: SettlementApplication) -> list[Delivery]:
    """A tenant's settlements opened and an 835 posted on them (matched claims, unmatched
    ones, a provider adjustment), as the deliveries the read-model consumer would get."""
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    start = int(app.recorder.max_notification_id() or 0)
    claims = bulk_claims(30, service_date=DOS, prefix=f"B{tenant[-6:]}")
    app.save_all(*(app.open_settlement(ctx(tenant), OpeningTerms(
        claim_id=f"claim-{c.patient_control_number}", source=SettlementSource.AGREEMENT,
        source_ref="test", decided_on=date(2026, 10, 1), due_date=date(2026, 10, 31),
        amount_owed_cents=c.paid_cents,
        agreed_total_cents=c.paid_cents + c.patient_responsibility_cents,
        patient_cost_sharing_cents=c.patient_responsibility_cents, already_paid_cents=0,
        payer_id="87726")) for c in claims[:20]))
    index = ClaimIndex.build(
        ClaimReference(f"claim-{c.patient_control_number}", c.patient_control_number,
                       frozenset({c.payer_claim_control_number}), "1234567893", "", DOS,
                       c.charge_cents, adjudicated=True)
        for c in claims)
    content = build_835(RemittanceSpec(f"TRN{tenant}", date(2026, 11, 2), claims,
                                       provider_adjustments=(ProviderAdjustmentSpec("L6", -99),)))
    result = app.import_remittance(ctx(tenant), ImportRemittance(
        prepare_import(content.encode(), "batch.835"), index))
    assert result.outcome == "posted"
    return deliveries_since(app, "settlement", start, tenant)


async def read_model(pool: asyncpg.Pool, schema: str) -> dict[str, list[Any]]:
    async with pool.acquire() as conn:
        tables = [r[0] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 "
            "AND table_name <> 'projection_tracking' ORDER BY table_name", schema)]
        out = {}
        for table in tables:
            rows = await conn.fetch(f'SELECT * FROM "{schema}"."{table}"')
            out[table] = sorted(tuple(str(v) for v in row.values()) for row in rows)
        return out


async def processors(pool: asyncpg.Pool, app: SettlementApplication
                     ) -> tuple[ProjectionProcessor, ProjectionProcessor, str, str]:
    made = []
    for kind in ("one", "batch"):
        schema = f"proj_{kind}_{uuid.uuid4().hex[:8]}"
        async with pool.acquire() as conn:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
            for statement in statements(schema):
                await conn.execute(statement)
        handlers = projections.settlement_handlers(app.phi_keys)
        processor = ProjectionProcessor(
            pool, schema, "settlement-read-models",
            projections.projector(schema, handlers, in_version_order=True),
            batch_handler=projections.batch_projector(schema, handlers))
        await processor.migrate()
        made.append((processor, schema))
    return made[0][0], made[1][0], made[0][1], made[1][1]


async def test_a_batch_projects_exactly_what_one_at_a_time_does(app, infra_urls) -> None:
    deliveries = posted_events(app)
    journaled = [d for d in deliveries if d.payload.get("journal")]
    assert len(deliveries) > 40 and len(journaled) > 20
    pool = await asyncpg.create_pool(infra_urls.database_url, min_size=1, max_size=2)
    try:
        one, batch, one_schema, batch_schema = await processors(pool, app)
        for delivery in deliveries:
            assert await one.process(delivery)
        assert await batch.process_batch(deliveries) == [True] * len(deliveries)
        expected = await read_model(pool, one_schema)
        assert len(expected["journal_postings"]) >= 2 * len(journaled)
        assert len(expected["payments"]) == 20
        assert await read_model(pool, batch_schema) == expected

        # Redelivered (the tracking rows were lost, say): nothing applies twice.
        async with pool.acquire() as conn:
            await conn.execute(f'DELETE FROM "{batch_schema}".projection_tracking')
        await batch.process_batch(deliveries)
        assert await read_model(pool, batch_schema) == expected
    finally:
        await pool.close()


async def test_an_event_before_its_predecessor_fails_the_batch(app, infra_urls) -> None:
    deliveries = posted_events(app)
    # The second event of an aggregate without its first: the whole batch is refused.
    first_versions = {d.envelope.aggregate_id for d in deliveries
                      if d.envelope.aggregate_version == 1}
    later = [d for d in deliveries if d.envelope.aggregate_version == 2
             and d.envelope.aggregate_id in first_versions]
    assert later
    pool = await asyncpg.create_pool(infra_urls.database_url, min_size=1, max_size=2)
    try:
        _, batch, _, batch_schema = await processors(pool, app)
        with pytest.raises(projections.ProjectionOutOfOrder):
            await batch.process_batch(later[:1])
        model = await read_model(pool, batch_schema)
        assert model["journal_transactions"] == [] and model["projected_versions"] == []
    finally:
        await pool.close()


def fee_lines(tenant: str, claim_ids: list[str], cause: str = "PAYMENT") -> list[Delivery]:
    """Fees' FeeAssessed for each claim, as its relay publishes them."""
    out = []
    for n, claim_id in enumerate(claim_ids):
        published = published_fields("fees", "FeeAssessed", {
            "source_event_id": f"settlement:{n}", "payment_kind": "PAYMENT",
            "line": {"line_id": f"fee-{uuid.uuid4().hex[:8]}", "kind": "INVOICE_LINE",
                     "cause": cause, "amount_cents": 15_000, "claim_id": claim_id,
                     "remittance_trn": "EFT-1"}})
        nid = 10**12 + uuid.uuid4().int % 10**11
        envelope = EventEnvelope(
            event_id=f"fees:{nid}", service="fees", notification_id=nid, tenant_id=tenant,
            claim_id=claim_id, aggregate_type="FeeAccount", aggregate_id=claim_id,
            aggregate_version=1, event_type="FeeAssessed",
            schema_version=published.schema_version, occurred_at=to_timestamp(datetime.now(UTC)),
            recorded_at=to_timestamp(datetime.now(UTC)), payload=published.payload,
            payload_content_type=published.content_type)
        out.append(Delivery(envelope, decode_payload(envelope), datetime.now(UTC)))
    return out


def test_a_batch_of_fee_lines_reads_its_settlements_at_once(app, monkeypatch) -> None:
    """The fee-postings reaction's settlements are read for the whole batch (fees_prefetch),
    not one query each; every fee posts once, and a redelivered batch posts nothing."""
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    claim_ids = [f"claim-{uuid.uuid4().hex[:8]}" for _ in range(15)]
    app.save_all(*(app.open_settlement(ctx(tenant), OpeningTerms(
        claim_id=claim_id, source=SettlementSource.AGREEMENT, source_ref="t",
        decided_on=date(2026, 10, 1), due_date=date(2026, 10, 31), amount_owed_cents=60_000,
        agreed_total_cents=60_000, patient_cost_sharing_cents=0, already_paid_cents=0,
        payer_id="87726")) for claim_id in claim_ids))
    deliveries = fee_lines(tenant, claim_ids)
    processor = ApplicationProcessor(app, "fee-postings", fees_reaction(app), None,
                                     prefetch=fees_prefetch)

    def alone(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a settlement was read alone")

    with monkeypatch.context() as patched:
        patched.setattr(app.repository, "get", alone)
        assert processor._process_batch_sync(deliveries) == [True] * len(deliveries)
    assert processor._process_batch_sync(deliveries) == [False] * len(deliveries)
    for claim_id in claim_ids:
        settlement = app.load(settlement_id_for(tenant, claim_id), tenant, Settlement)
        posted = [e for e in app.events.get(settlement.id) if type(e).__name__ == "FeePosted"]
        assert len(posted) == 1


def opening(tenant: str, claim_id: str) -> OpeningTerms:
    return OpeningTerms(
        claim_id=claim_id, source=SettlementSource.AGREEMENT, source_ref="t",
        decided_on=date(2026, 10, 1), due_date=date(2026, 10, 31), amount_owed_cents=60_000,
        agreed_total_cents=60_000, patient_cost_sharing_cents=0, already_paid_cents=0,
        payer_id="87726")


def waiting_payment(context: CommandContext, claim_id: str) -> UnmatchedClaimPayment:
    """A CLP of 10,000 cents queued because `claim_id` had no settlement (as the import does)."""
    remittance = Remittance(
        control_number="0001", handling_code="I", total_paid_cents=10_000, credit_debit="C",
        payment_method="ACH", payment_date=date(2026, 11, 3), trace_number="EFT-W",
        payer_identifier="1877261234", payer_id="87726")
    return UnmatchedClaimPayment.queue(
        context, remittance_id=uuid.uuid4(), remittance=remittance, item=PaymentException(
            ordinal=1, patient_control_number="PCN-W", payer_claim_control_number="",
            status_code="1", charge_cents=80_000, paid_cents=10_000,
            patient_responsibility_cents=0, first_service_date=DOS, reason=NO_SETTLEMENT,
            candidate_claim_id=claim_id))


def test_a_batch_of_openings_reads_the_claims_waitlists_at_once(app, monkeypatch) -> None:
    """The awaiting-settlement reaction reads a batch's waitlists with one query per tenant
    (waitlist_prefetch): an opening whose claim has nothing waiting (most of them) reads nothing
    alone; the payment waiting for a claim in the same batch posts, once."""
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    claim_ids = [f"claim-{uuid.uuid4().hex[:8]}" for _ in range(15)]
    waiting_claim = claim_ids[-1]
    start = int(app.recorder.max_notification_id() or 0)
    item = waiting_payment(ctx(tenant), waiting_claim)
    app.save_all(item, *app.list_on_waitlists(ctx(tenant), [(waiting_claim, item)]))
    app.save_all(*(app.open_settlement(ctx(tenant), opening(tenant, c)) for c in claim_ids))
    deliveries = [d for d in deliveries_since(app, "settlement", start, tenant)
                  if d.event_type in WAITLIST_EVENTS]
    nothing_waits = [d for d in deliveries if d.envelope.claim_id != waiting_claim]
    assert len(nothing_waits) == 14 and len(deliveries) == 16
    processor = ApplicationProcessor(app, "awaiting-settlement",
                                     waitlist_reaction(app, lambda tenant, claim: ()), None,
                                     prefetch=waitlist_prefetch)

    def alone(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an aggregate was read alone")

    with monkeypatch.context() as patched:
        patched.setattr(app.repository, "get", alone)
        patched.setattr(app.recorder, "select_events", alone)
        assert processor._process_batch_sync(nothing_waits) == [True] * 14
    # The listing (first) posts it; the waiting claim's opening (last) finds it posted.
    assert processor._process_batch_sync(deliveries) == [True] + [False] * 14 + [True]
    assert processor._process_batch_sync(deliveries) == [False] * 16
    settlement = app.load(settlement_id_for(tenant, waiting_claim), tenant, Settlement)
    assert [p.amount_cents for p in settlement.payments.values()] == [10_000]
    assert app.load(item.id, tenant, UnmatchedClaimPayment).resolved_claim_id == waiting_claim


def test_a_fee_line_before_its_settlement_waits_for_it_and_a_payments_without_one_is_refused(
    app
) -> None:
    """An IDR fee passed through on the outcome that opens the settlement can be read before
    the opening: it is listed on the claim's waitlist and posted, once, when the settlement
    opens (the awaiting-settlement reaction). A payment's fee line names a settlement that
    recorded the payment: none means something is wrong, and it is dead-lettered with the
    reason."""
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    fees = ApplicationProcessor(app, "fee-postings", fees_reaction(app), None,
                                prefetch=fees_prefetch)
    (payment_line,) = fee_lines(tenant, ["claim-never-opened"])
    (outcome,) = fees._process_batch_sync([payment_line])
    assert isinstance(outcome, PermanentFailure)
    assert "a PAYMENT line for claim claim-never-opened, which has no settlement" in str(outcome)

    claim_id = f"claim-{uuid.uuid4().hex[:8]}"
    start = int(app.recorder.max_notification_id() or 0)
    (idr_fee,) = fee_lines(tenant, [claim_id], cause="IDR_FEE_PASS_THROUGH")
    assert fees._process_batch_sync([idr_fee]) == [True]
    waitlist = app.load(waitlist_id_for(tenant, claim_id), tenant, SettlementWaitlist)
    (waiting,) = waitlist.fee_lines
    assessed = idr_fee.message_as(fees_v1.FeeAssessed)
    assert (waiting.line_id, waiting.amount_cents) == (assessed.line.line_id, 15_000)
    assert fees._process_batch_sync([idr_fee]) == [False]  # redelivered: listed once
    app.save_all(app.open_settlement(ctx(tenant), opening(tenant, claim_id)))
    awaiting = ApplicationProcessor(app, "awaiting-settlement",
                                    waitlist_reaction(app, lambda tenant, claim: ()), None,
                                    prefetch=waitlist_prefetch)
    deliveries = [d for d in deliveries_since(app, "settlement", start, tenant)
                  if d.event_type in WAITLIST_EVENTS]
    assert [d.event_type for d in deliveries] == ["FeeLineWaitlisted", "SettlementOpened"]
    assert awaiting._process_batch_sync(deliveries) == [True, True]
    settlement = app.load(settlement_id_for(tenant, claim_id), tenant, Settlement)
    assert settlement.fee_line_ids == {waiting.line_id} and settlement.fees_cents == 15_000
    posted = [e for e in app.events.get(settlement.id) if type(e).__name__ == "FeePosted"]
    assert len(posted) == 1
