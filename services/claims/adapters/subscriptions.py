"""Reactions to other services' events: the claim's status follows negotiation and settlement."""

from __future__ import annotations

from services.claims.application import ClaimsApplication, ReachStage
from services.claims.domain import ClaimStatus
from services.common.aggregate import TenantAggregate
from services.common.consumer import Delivery

ACTOR = "system:claims"

NEGOTIATION_STAGES = {
    "Opened": ClaimStatus.IN_NEGOTIATION,
    "IdrInitiated": ClaimStatus.IN_IDR,
}
SETTLEMENT_STAGES = {
    "SettlementPaidInFull": ClaimStatus.SETTLED,
}


class ClaimStageReactions:
    """Moves a claim to the stage another service reports; unknown claims raise NotFound."""

    def __init__(self, app: ClaimsApplication, stages: dict[str, ClaimStatus]) -> None:
        self.app = app
        self.stages = stages

    def __call__(self, delivery: Delivery) -> list[TenantAggregate | None]:
        stage = self.stages.get(delivery.event_type)
        claim_id = delivery.envelope.claim_id or getattr(delivery.message, "claim_id", "")
        if stage is None or not claim_id:
            return []
        ctx = delivery.context(actor=ACTOR)
        command = ReachStage(claim_id, stage, delivery.envelope.event_id)
        return [self.app.reach_stage(ctx, command)]
