"""Reactions to other services' events: the claim's status follows negotiation and settlement;
a negotiation refused to open is recorded on the claim with its reason (work queue)."""

from __future__ import annotations

from oonledger.negotiation.v1 import events_pb2 as negotiation_v1
from services.claims.application import (
    ClaimsApplication,
    ReachStage,
    RecordNegotiationRefusal,
)
from services.claims.domain import ClaimStatus
from services.common.aggregate import TenantAggregate
from services.common.consumer import Delivery

ACTOR = "system:claims"

NEGOTIATION_STAGES = {
    "Opened": ClaimStatus.IN_NEGOTIATION,
    "IdrInitiated": ClaimStatus.IN_IDR,
}
# Negotiation's events that are not a stage but a fact the claim records.
NEGOTIATION_FACTS = ("NegotiationRefused",)
SETTLEMENT_STAGES = {
    "SettlementPaidInFull": ClaimStatus.SETTLED,
}


class ClaimStageReactions:
    """Moves a claim to the stage another service reports; unknown claims raise NotFound."""

    def __init__(self, app: ClaimsApplication, stages: dict[str, ClaimStatus]) -> None:
        self.app = app
        self.stages = stages

    def __call__(self, delivery: Delivery) -> list[TenantAggregate | None]:
        if delivery.event_type == "NegotiationRefused":
            return self._refused(delivery)
        stage = self.stages.get(delivery.event_type)
        claim_id = delivery.envelope.claim_id or getattr(delivery.message, "claim_id", "")
        if stage is None or not claim_id:
            return []
        ctx = delivery.context(actor=ACTOR)
        command = ReachStage(claim_id, stage, delivery.envelope.event_id)
        return [self.app.reach_stage(ctx, command)]

    def _refused(self, delivery: Delivery) -> list[TenantAggregate | None]:
        refused = delivery.message_as(negotiation_v1.NegotiationRefused)
        claim_id = delivery.envelope.claim_id or refused.claim_id
        ctx = delivery.context(actor=ACTOR)
        command = RecordNegotiationRefusal(
            claim_id, refused.reason, delivery.envelope.event_id, refused.notice_due_on,
            refused.rule_set_version,
        )
        return [self.app.record_negotiation_refusal(ctx, command)]
