"""Reactions to other services' events: the claim's status follows negotiation and settlement;
a negotiation refused to open is recorded on the claim with its reason (work queue); the initial
adjudication settlement read from the payer's first 835 is recorded."""

from __future__ import annotations

from datetime import date

from oonledger.negotiation.v1 import events_pb2 as negotiation_v1
from oonledger.settlement.v1 import events_pb2 as settlement_v1
from services.claims.application import (
    ClaimsApplication,
    ReachStage,
    RecordNegotiationRefusal,
    RecordRemittedAdjudication,
)
from services.claims.domain import Adjudication, ClaimStatus
from services.common.aggregate import TenantAggregate
from services.common.consumer import Delivery, PermanentFailure
from services.common.phi import PhiKeys

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
SETTLEMENT_ADJUDICATIONS = ("InitialAdjudicationRemitted",)


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

def remitted_adjudication(
    message: settlement_v1.InitialAdjudicationRemitted, keys: PhiKeys
) -> Adjudication:
    """The contract's facts as the claim's Adjudication; the sealed ICN unsealed in memory."""
    sealed = message.payer_claim_control_number_sealed
    return Adjudication(
        received_date=date.fromisoformat(message.received_date),
        billed_cents=message.billed_cents,
        allowed_cents=message.allowed_cents,
        paid_cents=message.paid_cents,
        patient_responsibility_cents=message.patient_responsibility_cents,
        carc_codes=tuple(message.carc_codes),
        rarc_codes=tuple(message.rarc_codes),
        payer_claim_control_number=keys.unseal(sealed) if sealed else "",
        denied=message.denied,
    )


class RemittedAdjudicationReactions:
    """Settlement's InitialAdjudicationRemitted becomes the claim's adjudication (once: a claim
    already adjudicated, by hand or by an earlier 835, is left as it is)."""

    def __init__(self, app: ClaimsApplication, keys: PhiKeys) -> None:
        self.app = app
        self.keys = keys

    def __call__(self, delivery: Delivery) -> list[TenantAggregate | None]:
        if delivery.event_type not in SETTLEMENT_ADJUDICATIONS:
            return []
        message = delivery.message_as(settlement_v1.InitialAdjudicationRemitted)
        claim_id = message.claim_id or delivery.envelope.claim_id
        try:
            adjudication = remitted_adjudication(message, self.keys)
        except ValueError as exc:  # a date that is not ISO-8601
            raise PermanentFailure(f"malformed {delivery.event_type}: {exc}") from exc
        command = RecordRemittedAdjudication(claim_id, adjudication)
        return [self.app.record_remitted_adjudication(delivery.context(actor=ACTOR), command)]
