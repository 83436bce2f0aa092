"""`make run` demo step: the payer pays the negotiated claims by 835, and the book shows it.

Call `await pay_negotiated_claims(channel, tenant_id, claims)` once the negotiation demo has
agreed the claims (their settlements open from SettlementAgreed / IdrDetermined).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import grpc

from oonledger.settlement.v1 import settlement_pb2 as pb
from oonledger.settlement.v1 import settlement_pb2_grpc
from services.common.money import format_usd
from services.x12.writer_835 import (
    ClaimSpec,
    LineSpec,
    RemittanceSpec,
    build_835,
    with_lines,
)


@dataclass(frozen=True)
class DemoClaim:
    """The 837 facts the payer echoes in its 835 (known to the demo from the claims it sent)."""

    claim_id: str
    patient_control_number: str
    charge_cents: int
    service_date: date
    payer_claim_control_number: str = ""
    billing_npi: str = "1234567893"
    # The 837 lines (procedure, modifiers, charge, REF*6R) the payer echoes line by line; the
    # 835 then carries one SVC per line and rule 5 matches each by its REF*6R.
    lines: tuple[LineSpec, ...] = ()


def _metadata(tenant_id: str) -> tuple[tuple[str, str], ...]:
    return (
        ("x-tenant-id", tenant_id),
        ("x-actor", "demo-payer-feed"),
        ("x-roles", "finance"),
        ("x-request-id", uuid.uuid4().hex),
    )


async def _open_settlement(
    stub: settlement_pb2_grpc.SettlementServiceStub, tenant_id: str, claim_id: str, wait_s: float
) -> pb.Settlement:
    """The settlement opens asynchronously from negotiation's event: poll with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        try:
            response = await stub.GetSettlement(
                pb.GetSettlementRequest(claim_id=claim_id), metadata=_metadata(tenant_id)
            )
            return response.settlement
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND or loop.time() > deadline:
                raise
        await asyncio.sleep(0.2)  # polling interval, bounded by the deadline


async def pay_negotiated_claims(
    channel: grpc.aio.Channel,
    tenant_id: str,
    claims: Sequence[DemoClaim],
    *,
    wait_s: float = 30.0,
    show: Callable[[str], None] = print,
) -> pb.ImportRemittanceResponse:
    """Build an 835 paying what each settlement still owes, import it, print the postings."""
    stub = settlement_pb2_grpc.SettlementServiceStub(channel)
    specs = []
    for claim in claims:
        settlement = await _open_settlement(stub, tenant_id, claim.claim_id, wait_s)
        spec = ClaimSpec(
            patient_control_number=claim.patient_control_number,
            charge_cents=claim.charge_cents,
            paid_cents=max(settlement.outstanding_cents, 0),
            service_date=claim.service_date,
            patient_responsibility_cents=settlement.patient_cost_sharing_cents,
            payer_claim_control_number=claim.payer_claim_control_number,
        )
        specs.append(with_lines(spec, claim.lines) if claim.lines else spec)
    today = datetime.now(UTC).date()
    remittance = RemittanceSpec(
        trace_number=f"DEMO{uuid.uuid4().hex[:10].upper()}",
        payment_date=today,
        claims=tuple(specs),
        payee_npi=claims[0].billing_npi if claims else "1234567893",
    )
    response = await stub.ImportRemittance(
        pb.ImportRemittanceRequest(
            request_id=remittance.trace_number,
            content=build_835(remittance).encode(),
            file_name=f"{remittance.trace_number}.835",
        ),
        metadata=_metadata(tenant_id),
    )
    show(f"835 {remittance.trace_number}: {pb.ImportStatus.Name(response.status)}")
    for summary in response.remittances:
        show(
            f"  paid {format_usd(summary.total_paid_cents)} on {summary.claim_count} claims, "
            f"{summary.matched_count} matched, {summary.exception_count} to the exceptions queue"
        )
    for reason in response.reasons:
        show(f"  quarantined: {reason}")
    for claim in claims:
        await _show_postings(stub, tenant_id, claim.claim_id, show, wait_s)
    return response


async def _show_postings(
    stub: settlement_pb2_grpc.SettlementServiceStub,
    tenant_id: str,
    claim_id: str,
    show: Callable[[str], None],
    wait_s: float,
) -> None:
    """Postings come from the read model, which follows the event log: wait for the payment."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        postings = await stub.ListPostings(
            pb.ListPostingsRequest(claim_id=claim_id), metadata=_metadata(tenant_id)
        )
        paid = any("payment" in t.transaction_id for t in postings.transactions)
        if paid or loop.time() > deadline:
            break
        await asyncio.sleep(0.2)  # polling interval, bounded by the deadline
    show(f"claim {claim_id}")
    for tx in postings.transactions:
        show(f"  {tx.description}")
        for posting in tx.postings:
            side = "Dr" if posting.amount_cents > 0 else "Cr"
            show(f"    {side} {posting.account:<24} {format_usd(abs(posting.amount_cents)):>14}")
    found = await stub.GetSettlement(
        pb.GetSettlementRequest(claim_id=claim_id), metadata=_metadata(tenant_id)
    )
    for payment in found.settlement.payments:
        for line in payment.lines:
            where = (
                f"837 line {line.claim_line} {line.claim_line_control_number} ({line.rule})"
                if line.outcome == pb.LINE_MATCH_OUTCOME_MATCHED
                else f"{pb.LineMatchOutcome.Name(line.outcome)}: {line.reason}"
            )
            show(
                f"  SVC {line.line_ordinal} {line.procedure_code} paid "
                f"{format_usd(line.paid_cents)} -> {where}"
            )
