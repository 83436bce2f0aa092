"""Small builders shared by the settlement tests (contexts, opened settlements)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import count

from services.common.context import CommandContext
from services.settlement.domain import Settlement, SettlementSource

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
_requests = count(1)


def ctx(tenant: str = "tenant-a", request_id: str | None = None) -> CommandContext:
    return CommandContext(
        tenant_id=tenant,
        actor="poster@example.test",
        now=NOW,
        roles=frozenset({"finance"}),
        request_id=request_id or f"req-{next(_requests)}",
    )


def opened_settlement(
    *,
    tenant: str = "tenant-a",
    claim_id: str = "claim-1",
    agreed: int = 120_000,
    cost_sharing: int = 10_000,
    already_paid: int = 40_000,
    nsa_protected: bool = True,
    icn: str = "ICN-1",
) -> Settlement:
    return Settlement.open(
        ctx(tenant),
        claim_id=claim_id,
        source=SettlementSource.IDR_DETERMINATION,
        source_ref="DISP-1",
        payer_key="87726",
        agreed_total_cents=agreed,
        patient_cost_sharing_cents=cost_sharing,
        already_paid_cents=already_paid,
        decided_on=date(2026, 10, 1),
        due_date=date(2026, 10, 31),
        amount_owed_cents=agreed - cost_sharing - already_paid,
        nsa_protected=nsa_protected,
        initial_payment_icn=icn,
    )
