"""The fees steps of the `make run` demo: publish the demo client's fee schedule, then print the
fee lines of the posted payments and the client's ROI summary.

    from deploy.local.demo import fees as demo
    await demo.publish_demo_schedule(fees_channel, tenant_id, "client-demo")
    ... post payments through settlement ...
    await demo.print_fees(fees_channel, tenant_id, "client-demo", claim_ids,
                          "2026-01-01", "2026-12-31")
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence

import grpc

from oonledger.fees.v1 import fees_pb2, fees_pb2_grpc
from services.common.money import format_usd

DEMO_TERMS = fees_pb2.FeeTerms(
    # 30% of the first $5,000 recovered per claim, 20% above; 35% when won in IDR.
    default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=3000),
                   fees_pb2.Tier(floor_cents=500_000, rate_bps=2000)],
    idr_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=3500)],
    minimum_cents=2_500,
    cap_cents=2_500_000,
    pass_through_idr_fees=True,
)
_KIND = {fees_pb2.FEE_LINE_KIND_INVOICE_LINE: "invoice line",
         fees_pb2.FEE_LINE_KIND_CREDIT_MEMO: "credit memo"}


def _metadata(tenant_id: str) -> tuple[tuple[str, str], ...]:
    return (("x-tenant-id", tenant_id), ("x-actor", "demo"), ("x-roles", "finance,admin"),
            ("x-request-id", uuid.uuid4().hex))


async def publish_demo_schedule(channel: grpc.aio.Channel, tenant_id: str, client_id: str,
                                effective_from: str = "2026-01-01") -> int:
    """Publish (idempotently, per tenant and client) the demo client's fee schedule."""
    stub = fees_pb2_grpc.FeesServiceStub(channel)
    response = await stub.PublishFeeSchedule(fees_pb2.PublishFeeScheduleRequest(
        request_id=f"demo-schedule-{client_id}", client_id=client_id,
        effective_from=effective_from, terms=DEMO_TERMS), metadata=_metadata(tenant_id))
    return response.version


async def print_fees(channel: grpc.aio.Channel, tenant_id: str, client_id: str,
                     claim_ids: Sequence[str], period_start: str, period_end: str, *,
                     wait_seconds: float = 20.0, out: Callable[[str], None] = print) -> None:
    """Print each claim's fee lines (waiting for fees still being assessed) and the ROI."""
    stub = fees_pb2_grpc.FeesServiceStub(channel)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    out(f"Fee lines for client {client_id}:")
    for claim_id in claim_ids:
        account = await _account_when_billed(stub, tenant_id, claim_id, deadline)
        if account is None:
            out(f"  claim {claim_id}: no fee account (no payment assessed yet)")
            continue
        out(f"  claim {claim_id}: recovered {format_usd(account.recovered_cents)} above the "
            f"initial {format_usd(account.initial_payment_cents)}, fee billed "
            f"{format_usd(account.fee_billed_cents)}")
        for line in account.lines:
            out(f"    {line.line_date}  {_KIND.get(line.kind, '?'):<12} "
                f"{format_usd(line.amount_cents):>12}  TRN {line.remittance_trn:<14} "
                f"schedule v{line.schedule_version}  cumulative fee "
                f"{format_usd(line.cumulative_fee_cents)}")
    report = await _roi_when_ready(stub, tenant_id, client_id, period_start, period_end, deadline)
    total = report.total
    out(f"ROI {client_id} {period_start}..{period_end}: {total.claims} claims, initial payments "
        f"{format_usd(total.initial_payments_cents)}, recovered {format_usd(total.recovered_cents)}"
        f" (+{total.uplift_bps / 100:.1f}%), fees {format_usd(total.fees_cents)}, IDR fees passed "
        f"through {format_usd(total.pass_through_cents)}, net to client "
        f"{format_usd(total.net_to_client_cents)}")
    for title, groups in (("payer", report.by_payer), ("service code", report.by_service_code)):
        for group in groups:
            out(f"  by {title} {group.key:<14} recovered "
                f"{format_usd(group.figures.recovered_cents)}"
                f", fees {format_usd(group.figures.fees_cents)}, net "
                f"{format_usd(group.figures.net_to_client_cents)}")


async def _account_when_billed(stub: fees_pb2_grpc.FeesServiceStub, tenant_id: str,
                               claim_id: str, deadline: float) -> fees_pb2.FeeAccount | None:
    loop = asyncio.get_running_loop()
    account = None
    while True:
        try:
            account = (await stub.GetFeeAccount(fees_pb2.GetFeeAccountRequest(claim_id=claim_id),
                                                metadata=_metadata(tenant_id))).account
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
        if (account is not None and account.lines) or loop.time() > deadline:
            return account
        await asyncio.sleep(0.2)  # fees are assessed asynchronously; poll until the deadline


async def _roi_when_ready(stub: fees_pb2_grpc.FeesServiceStub, tenant_id: str, client_id: str,
                          start: str, end: str, deadline: float) -> fees_pb2.GetRoiReportResponse:
    loop = asyncio.get_running_loop()
    request = fees_pb2.GetRoiReportRequest(client_id=client_id, period_start=start,
                                           period_end=end)
    while True:
        report = await stub.GetRoiReport(request, metadata=_metadata(tenant_id))
        if report.total.fees_cents or loop.time() > deadline:
            return report
        await asyncio.sleep(0.2)  # the ROI read model follows the fee events; poll briefly
