"""The auditor's as-of view of a claim through the gateway, and the compliance report in it
(issue 16: negotiation states the report after each act; the ledger folds it)."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from oonledger.ledger.v1 import ledger_pb2
from tests.e2e.journey import Vendor
from tests.support.plugin import eventually


async def as_of_view(vendor: Vendor, claim_id: str, at: datetime | None = None
                     ) -> ledger_pb2.ClaimState:
    request = ledger_pb2.GetClaimAsOfRequest(claim_id=claim_id)
    if at is not None:
        stamp = Timestamp()
        stamp.FromDatetime(at)
        request.as_of.CopyFrom(stamp)
    reply = await vendor.audit.GetClaimAsOf(request, metadata=vendor.md("auditor"), timeout=15)
    return reply.state


async def ledger_after(vendor: Vendor, claim_id: str, act: str) -> ledger_pb2.ClaimState:
    """The auditor's view once the report negotiation stated after `act` reached the ledger."""
    async def folded() -> ledger_pb2.ClaimState | None:
        state = await as_of_view(vendor, claim_id)
        return state if state.compliance.act_event_type == act else None

    return await eventually(folded, timeout=60)  # type: ignore[arg-type]


async def ledger_with_fees(vendor: Vendor, claim_id: str) -> ledger_pb2.ClaimState:
    """The auditor's view once a fee on the claim reached the ledger."""
    async def folded() -> ledger_pb2.ClaimState | None:
        state = await as_of_view(vendor, claim_id)
        return state if state.fees else None

    return await eventually(folded, timeout=30)  # type: ignore[arg-type]


def items(state: ledger_pb2.ClaimState) -> dict[str, tuple[str, str, str, int]]:
    return {x.code: (x.status, x.due_on, x.act_on, x.day_number) for x in state.compliance.lines}
