# The shared `eventually` helper is typed so that async probes infer `Never`; see the report.
# mypy: disable-error-code="arg-type,var-annotated,return-value"
"""The fees service end to end on real PostgreSQL and NATS: upstream events in, fees out."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
import pytest

from oonledger.fees.v1 import fees_pb2
from services.fees.tests.conftest import FeesHarness, found
from tests.support.plugin import channel_to, eventually, field_violations

pytestmark = pytest.mark.asyncio(loop_scope="session")

TWENTY_FIVE_PERCENT = fees_pb2.FeeTerms(default_tiers=[fees_pb2.Tier(floor_cents=0,
                                                                     rate_bps=2500)])


async def account(fees: FeesHarness, tenant: str, claim_id: str) -> fees_pb2.FeeAccount:
    response = await fees.stub.GetFeeAccount(fees_pb2.GetFeeAccountRequest(claim_id=claim_id),
                                             metadata=fees.md(tenant))
    return response.account


async def registered_claim(fees: FeesHarness, tenant: str, client_id: str,
                           initial_cents: int = 40_000, payer: str = "payer-1") -> str:
    claim_id = str(uuid.uuid4())
    upstream = fees.upstream(tenant)
    await upstream.claim_registered(claim_id, client_id, payer_id=payer)
    await upstream.adjudication_recorded(claim_id, client_id, initial_cents)

    async def opened() -> bool:
        try:
            return (await account(fees, tenant, claim_id)).initial_payment_cents == initial_cents
        except grpc.aio.AioRpcError:
            return False

    await eventually(opened)
    return claim_id


async def test_bad_schedule_is_refused_with_field_violations_and_nothing_stored(
        fees: FeesHarness) -> None:
    tenant = fees.tenant()
    terms = fees_pb2.FeeTerms(
        default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=-100),
                       fees_pb2.Tier(floor_cents=500_000, rate_bps=2000),
                       fees_pb2.Tier(floor_cents=100_000, rate_bps=1000)],
        minimum_cents=10_000, cap_cents=5_000)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await fees.publish_schedule(tenant, "client-a", "2026-01-01", terms)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(raised.value) == {
        "terms.default_tiers[0].rate_bps", "terms.default_tiers[2].floor_cents",
        "terms.cap_cents"}
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await fees.stub.GetFeeSchedule(fees_pb2.GetFeeScheduleRequest(client_id="client-a"),
                                       metadata=fees.md(tenant))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_overlapping_versions_are_refused(fees: FeesHarness) -> None:
    tenant = fees.tenant()
    await fees.publish_schedule(tenant, "client-a", "2026-01-01", TWENTY_FIVE_PERCENT,
                                effective_until="2026-06-30")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await fees.publish_schedule(tenant, "client-a", "2026-06-01", TWENTY_FIVE_PERCENT)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(raised.value) == {"effective_from"}
    schedule = await fees.stub.GetFeeSchedule(
        fees_pb2.GetFeeScheduleRequest(client_id="client-a"), metadata=fees.md(tenant))
    assert [v.version for v in schedule.schedule.versions] == [1]


async def test_publishing_needs_a_billing_role_and_retries_are_idempotent(
        fees: FeesHarness) -> None:
    tenant = fees.tenant()
    request = fees_pb2.PublishFeeScheduleRequest(
        request_id="same-request", client_id="client-a", effective_from="2026-01-01",
        terms=TWENTY_FIVE_PERCENT)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await fees.stub.PublishFeeSchedule(request, metadata=fees.md(tenant, roles=["auditor"]))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    first = await fees.stub.PublishFeeSchedule(request, metadata=fees.md(tenant))
    again = await fees.stub.PublishFeeSchedule(request, metadata=fees.md(tenant))
    assert first.version == again.version == 1
    assert len(again.schedule.versions) == 1


async def test_payments_bill_deltas_and_a_redelivered_payment_bills_nothing(
        fees: FeesHarness) -> None:
    tenant = fees.tenant()
    await fees.publish_schedule(tenant, "client-a", "2026-01-01", TWENTY_FIVE_PERCENT)
    claim_id = await registered_claim(fees, tenant, "client-a")
    upstream = fees.upstream(tenant)
    await upstream.settlement_opened(claim_id, 40_000)
    posted = await upstream.payment_posted(claim_id, 60_000, dt.date(2026, 3, 2), "EFT-100")
    await upstream.publish(posted, msg_id=f"{posted.event_id}:redelivered")
    await upstream.payment_posted(claim_id, 20_000, dt.date(2026, 3, 9), "EFT-101")

    async def both_paid() -> fees_pb2.FeeAccount | None:
        state = await account(fees, tenant, claim_id)
        return state if state.paid_cents == 80_000 else None

    state = await eventually(both_paid)
    assert state.fee_billed_cents == 20_000
    assert [(line.amount_cents, line.remittance_trn, line.line_date, line.schedule_version,
             line.kind) for line in state.lines] == [
        (15_000, "EFT-100", "2026-03-02", 1, fees_pb2.FEE_LINE_KIND_INVOICE_LINE),
        (5_000, "EFT-101", "2026-03-09", 1, fees_pb2.FEE_LINE_KIND_INVOICE_LINE),
    ]
    assert state.lines[0].source_event_id == posted.event_id
    # The redelivered copy may still be waiting (it arrived before the claim was known, and
    # its retry can come after the second payment's): it is counted once it comes, and
    # changes nothing. An early arrival waits out the subscription's backoff (0.5, 1, 2, 5,
    # 10, 30 s: up to about 50 s before it is seen again).
    consumer = fees.consumer("settlement-payments")
    await eventually(lambda: consumer.duplicates >= 1, timeout=90)
    assert (await account(fees, tenant, claim_id)).fee_billed_cents == 20_000


async def test_reversal_and_recoupment_produce_credit_memos(fees: FeesHarness) -> None:
    tenant = fees.tenant()
    await fees.publish_schedule(tenant, "client-a", "2026-01-01", TWENTY_FIVE_PERCENT)
    claim_id = await registered_claim(fees, tenant, "client-a")
    upstream = fees.upstream(tenant)
    await upstream.payment_posted(claim_id, 100_000, dt.date(2026, 4, 1), "EFT-1")
    await upstream.recoupment_posted(claim_id, 20_000, dt.date(2026, 4, 15), "WO-1")
    await upstream.payment_reversed(claim_id, 100_000, "EFT-1", dt.date(2026, 4, 20))

    async def three_lines() -> fees_pb2.FeeAccount | None:
        state = await account(fees, tenant, claim_id)
        return state if len(state.lines) == 3 else None

    state = await eventually(three_lines)
    assert [(line.kind, line.cause, line.amount_cents) for line in state.lines] == [
        (fees_pb2.FEE_LINE_KIND_INVOICE_LINE, fees_pb2.FEE_CAUSE_PAYMENT, 25_000),
        (fees_pb2.FEE_LINE_KIND_CREDIT_MEMO, fees_pb2.FEE_CAUSE_RECOUPMENT, -5_000),
        (fees_pb2.FEE_LINE_KIND_CREDIT_MEMO, fees_pb2.FEE_CAUSE_REVERSAL, -20_000),
    ]
    assert state.fee_billed_cents == 0
    assert [line.line_date for line in state.lines] == ["2026-04-01", "2026-04-15", "2026-04-20"]


async def test_each_payment_is_billed_under_the_version_in_force_on_its_date(
        fees: FeesHarness) -> None:
    tenant = fees.tenant()
    await fees.publish_schedule(tenant, "client-a", "2026-01-01", TWENTY_FIVE_PERCENT)
    await fees.publish_schedule(tenant, "client-a", "2026-07-01", fees_pb2.FeeTerms(
        default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=3000)]))
    claim_id = await registered_claim(fees, tenant, "client-a")
    upstream = fees.upstream(tenant)
    await upstream.payment_posted(claim_id, 10_000, dt.date(2026, 6, 30), "EFT-J")
    await upstream.payment_posted(claim_id, 10_000, dt.date(2026, 7, 1), "EFT-K")

    async def two_lines() -> fees_pb2.FeeAccount | None:
        state = await account(fees, tenant, claim_id)
        return state if len(state.lines) == 2 else None

    state = await eventually(two_lines)
    # 25% of 100.00 under v1; then 30% of the cumulative 200.00 under v2, minus the 25.00 billed
    assert [(line.schedule_version, line.amount_cents) for line in state.lines] == [
        (1, 2_500), (2, 3_500)]


async def test_payment_for_an_unknown_claim_stores_nothing_until_the_claim_is_known(
        fees: FeesHarness) -> None:
    tenant = fees.tenant()
    await fees.publish_schedule(tenant, "client-a", "2026-01-01", TWENTY_FIVE_PERCENT)
    claim_id = str(uuid.uuid4())
    upstream = fees.upstream(tenant)
    await upstream.payment_posted(claim_id, 10_000, dt.date(2026, 3, 2), "EFT-early")
    consumer = fees.consumer("settlement-payments")
    assert fees.runtime.infra is not None
    js, settings = fees.runtime.infra.js, fees.runtime.settings

    async def refused_and_retried() -> bool:
        info = await js.consumer_info(settings.stream_for("settlement"), consumer.durable)
        return info.num_redelivered >= 1

    await eventually(refused_and_retried)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await account(fees, tenant, claim_id)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    await upstream.claim_registered(claim_id, "client-a")

    async def billed() -> bool:
        try:
            return (await account(fees, tenant, claim_id)).fee_billed_cents == 2_500
        except grpc.aio.AioRpcError:
            return False

    await eventually(billed, timeout=20)


async def test_idr_fees_pass_through_when_the_contract_says_so(fees: FeesHarness) -> None:
    tenant = fees.tenant()
    terms = fees_pb2.FeeTerms(default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=2000)],
                              idr_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=3000)],
                              pass_through_idr_fees=True)
    await fees.publish_schedule(tenant, "client-a", "2026-01-01", terms)
    claim_id = await registered_claim(fees, tenant, "client-a")
    upstream = fees.upstream(tenant)
    await upstream.idr_determined(claim_id, dt.date(2026, 8, 3), 1_500, 60_000, 60_000)

    async def staged() -> fees_pb2.FeeAccount | None:
        state = await account(fees, tenant, claim_id)
        return state if state.stage == fees_pb2.RESOLUTION_STAGE_IDR else None

    state = await eventually(staged)
    assert state.pass_through_billed_cents == 1_500
    await upstream.payment_posted(claim_id, 100_000, dt.date(2026, 8, 20), "EFT-IDR")

    async def paid() -> fees_pb2.FeeAccount | None:
        state = await account(fees, tenant, claim_id)
        return state if state.paid_cents else None

    assert (await eventually(paid)).fee_billed_cents == 30_000


async def test_invoices_are_immutable_and_late_corrections_become_credit_memos(
        fees: FeesHarness) -> None:
    tenant = fees.tenant()
    await fees.publish_schedule(tenant, "client-a", "2026-01-01", TWENTY_FIVE_PERCENT)
    claim_id = await registered_claim(fees, tenant, "client-a")
    upstream = fees.upstream(tenant)
    await upstream.payment_posted(claim_id, 80_000, dt.date(2026, 3, 2), "EFT-M")

    async def listed(count: int) -> list[fees_pb2.FeeLine] | None:
        response = await fees.stub.ListFeeLines(
            fees_pb2.ListFeeLinesRequest(client_id="client-a"), metadata=fees.md(tenant))
        return list(response.lines) if len(response.lines) == count else None

    await eventually(lambda: listed(1))
    close = fees_pb2.CloseInvoicePeriodRequest(client_id="client-a", period_start="2026-03-01",
                                               period_end="2026-03-31")
    march = (await fees.stub.CloseInvoicePeriod(close, metadata=fees.md(tenant))).invoice
    assert (march.total_cents, len(march.lines)) == (20_000, 1)

    await upstream.recoupment_posted(claim_id, 80_000, dt.date(2026, 3, 20), "WO-LATE")
    await eventually(lambda: listed(2))
    again = (await fees.stub.CloseInvoicePeriod(close, metadata=fees.md(tenant))).invoice
    assert again == march  # closing again changes nothing

    april = (await fees.stub.CloseInvoicePeriod(
        fees_pb2.CloseInvoicePeriodRequest(client_id="client-a", period_start="2026-04-01",
                                           period_end="2026-04-30"),
        metadata=fees.md(tenant))).invoice
    assert [(line.kind, line.amount_cents, line.line_date) for line in april.lines] == [
        (fees_pb2.FEE_LINE_KIND_CREDIT_MEMO, -20_000, "2026-03-20")]
    assert (april.charges_cents, april.credits_cents, april.total_cents) == (0, -20_000, -20_000)

    fetched = await eventually(lambda: found(lambda: fees.stub.GetInvoice(
        fees_pb2.GetInvoiceRequest(invoice_id=march.invoice_id), metadata=fees.md(tenant))))
    assert fetched.invoice == march
    listed_invoices = await fees.stub.ListInvoices(
        fees_pb2.ListInvoicesRequest(client_id="client-a"), metadata=fees.md(tenant))
    assert [i.invoice_id for i in listed_invoices.invoices] == [march.invoice_id,
                                                                april.invoice_id]


async def test_closing_a_period_that_has_not_ended_is_refused(fees: FeesHarness) -> None:
    tenant = fees.tenant()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await fees.stub.CloseInvoicePeriod(
            fees_pb2.CloseInvoicePeriodRequest(client_id="c", period_start="2026-01-01",
                                               period_end="2099-01-31"),
            metadata=fees.md(tenant))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(raised.value) == {"period_end"}


async def test_preview_records_nothing(fees: FeesHarness) -> None:
    tenant = fees.tenant()
    await fees.publish_schedule(tenant, "client-a", "2026-01-01", fees_pb2.FeeTerms(
        default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=2500)], minimum_cents=5_000,
        cap_cents=50_000))
    claim_id = await registered_claim(fees, tenant, "client-a")
    preview = await fees.stub.PreviewFee(
        fees_pb2.PreviewFeeRequest(claim_id=claim_id, amount_cents=10_000,
                                   posting_date="2026-05-01"), metadata=fees.md(tenant))
    assert (preview.fee_cents, preview.delta_cents, preview.minimum_applied) == (
        5_000, 5_000, True)
    capped = await fees.stub.PreviewFee(
        fees_pb2.PreviewFeeRequest(client_id="client-a", amount_cents=1_000_000,
                                   posting_date="2026-05-01"), metadata=fees.md(tenant))
    assert (capped.fee_cents, capped.cap_applied) == (50_000, True)
    state = await account(fees, tenant, claim_id)
    assert (state.paid_cents, len(state.lines)) == (0, 0)
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await fees.stub.PreviewFee(
            fees_pb2.PreviewFeeRequest(claim_id=str(uuid.uuid4()), amount_cents=1,
                                       posting_date="2026-05-01"), metadata=fees.md(tenant))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await fees.stub.PreviewFee(fees_pb2.PreviewFeeRequest(posting_date="May 1"),
                                   metadata=fees.md(tenant))
    assert field_violations(bad.value) == {"posting_date", "claim_id"}


async def test_roi_report_by_payer_and_service_code(fees: FeesHarness) -> None:
    tenant = fees.tenant()
    await fees.publish_schedule(tenant, "client-a", "2026-01-01", TWENTY_FIVE_PERCENT)
    first = await registered_claim(fees, tenant, "client-a", 40_000, payer="aetna")
    second = await registered_claim(fees, tenant, "client-a", 10_000, payer="cigna")
    upstream = fees.upstream(tenant)
    await upstream.payment_posted(first, 60_000, dt.date(2026, 5, 4), "EFT-R1")
    await upstream.payment_posted(second, 20_000, dt.date(2026, 5, 5), "EFT-R2")
    request = fees_pb2.GetRoiReportRequest(client_id="client-a", period_start="2026-05-01",
                                           period_end="2026-05-31")

    async def report() -> fees_pb2.GetRoiReportResponse | None:
        response = await fees.stub.GetRoiReport(request, metadata=fees.md(tenant))
        return response if response.total.claims == 2 else None

    response = await eventually(report)
    total = response.total
    assert (total.initial_payments_cents, total.recovered_cents, total.fees_cents,
            total.net_to_client_cents, total.uplift_bps) == (50_000, 80_000, 20_000, 60_000,
                                                            16_000)
    assert {g.key: g.figures.recovered_cents for g in response.by_payer} == {
        "aetna": 60_000, "cigna": 20_000}
    assert [g.key for g in response.by_service_code] == ["99285"]


async def test_a_tenant_never_sees_another_tenants_fees(fees: FeesHarness) -> None:
    owner, intruder = fees.tenant(), fees.tenant()
    await fees.publish_schedule(owner, "client-a", "2026-01-01", TWENTY_FIVE_PERCENT)
    claim_id = await registered_claim(fees, owner, "client-a")
    await fees.upstream(owner).payment_posted(claim_id, 40_000, dt.date(2026, 2, 2), "EFT-T")

    async def owner_lines() -> bool:
        response = await fees.stub.ListFeeLines(
            fees_pb2.ListFeeLinesRequest(client_id="client-a"), metadata=fees.md(owner))
        return len(response.lines) == 1

    await eventually(owner_lines)
    invoice = (await fees.stub.CloseInvoicePeriod(
        fees_pb2.CloseInvoicePeriodRequest(client_id="client-a", period_start="2026-02-01",
                                           period_end="2026-02-28"),
        metadata=fees.md(owner))).invoice
    for call in (
        fees.stub.GetFeeAccount(fees_pb2.GetFeeAccountRequest(claim_id=claim_id),
                                metadata=fees.md(intruder)),
        fees.stub.GetFeeSchedule(fees_pb2.GetFeeScheduleRequest(client_id="client-a"),
                                 metadata=fees.md(intruder)),
        fees.stub.PreviewFee(fees_pb2.PreviewFeeRequest(claim_id=claim_id, amount_cents=1,
                                                        posting_date="2026-02-03"),
                             metadata=fees.md(intruder)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    await eventually(lambda: found(lambda: fees.stub.GetInvoice(
        fees_pb2.GetInvoiceRequest(invoice_id=invoice.invoice_id), metadata=fees.md(owner))))
    with pytest.raises(grpc.aio.AioRpcError) as hidden_invoice:
        await fees.stub.GetInvoice(fees_pb2.GetInvoiceRequest(invoice_id=invoice.invoice_id),
                                   metadata=fees.md(intruder))
    assert hidden_invoice.value.code() == grpc.StatusCode.NOT_FOUND
    lines = await fees.stub.ListFeeLines(fees_pb2.ListFeeLinesRequest(client_id="client-a"),
                                         metadata=fees.md(intruder))
    assert list(lines.lines) == []
    invoices = await fees.stub.ListInvoices(fees_pb2.ListInvoicesRequest(client_id="client-a"),
                                            metadata=fees.md(intruder))
    assert list(invoices.invoices) == []
    # The same claim id under the intruder's tenant is a different account altogether.
    await fees.publish_schedule(intruder, "client-a", "2026-01-01", TWENTY_FIVE_PERCENT)
    await fees.upstream(intruder).claim_registered(claim_id, "client-a")
    await fees.upstream(intruder).payment_posted(claim_id, 999_996, dt.date(2026, 2, 3), "X")

    async def intruder_billed() -> bool:
        found_account = await found(lambda: account(fees, intruder, claim_id))
        return found_account is not None and found_account.paid_cents == 999_996

    await eventually(intruder_billed)
    owners = await account(fees, owner, claim_id)
    assert (owners.paid_cents, owners.fee_billed_cents, len(owners.lines)) == (40_000, 10_000, 1)


async def test_demo_prints_fee_lines_and_roi(fees: FeesHarness) -> None:
    from deploy.local.demo import fees as demo

    tenant = fees.tenant()
    channel = channel_to(fees.runtime)
    assert await demo.publish_demo_schedule(channel, tenant, "client-demo") == 1
    assert await demo.publish_demo_schedule(channel, tenant, "client-demo") == 1  # idempotent
    claim_id = await registered_claim(fees, tenant, "client-demo", 30_000)
    await fees.upstream(tenant).payment_posted(claim_id, 70_000, dt.date(2026, 9, 1), "EFT-D")
    printed: list[str] = []
    await demo.print_fees(channel, tenant, "client-demo", [claim_id], "2026-01-01",
                          "2026-12-31", out=printed.append)
    await channel.close()
    text = "\n".join(printed)
    assert "invoice line" in text and "$210.00" in text and "EFT-D" in text
    assert "ROI client-demo" in text and "net to client $490.00" in text
