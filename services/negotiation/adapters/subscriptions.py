"""Reactions to the claims service's events: learn the claim, open a negotiation once triaged.

ClaimRegistered, AdjudicationRecorded and AppealDecisionRecorded (what an appeal made the payer
pay) are noted as our own ClaimFacts (we never read the claims service's tables); an open case
follows an appeal's payment (`Negotiation.follow_payment`: already paid, amount in dispute, or
closed with the reason when nothing is left in dispute). A ClaimTriaged
opens the claim's negotiation only when triage says the claim is worth negotiating (the claims
service decides that once, e.g. never for a coverage denial), with the claim's provider, plan,
billed amount, QPA and what the payer has paid. A claim whose facts fail an opening rule (no QPA,
...) is refused in the open: ClaimFacts records NegotiationRefused, which claims shows.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from oonledger.claims.v1 import events_pb2 as claims_v1
from services.common.aggregate import TenantAggregate
from services.common.consumer import ArrivedEarly, Delivery, PermanentFailure
from services.common.contracts import enum_text
from services.common.errors import InvalidArgument
from services.negotiation.application import NegotiationApplication, negotiation_id_for
from services.negotiation.domain import ClaimFacts, Negotiation, OpeningFacts, facts_id
from services.negotiation.domain.deadlines import DeadlineCode
from services.negotiation.domain.vocabulary import Route

log = logging.getLogger(__name__)
ACTOR = "system:negotiation"
CLAIM_EVENTS = (
    "ClaimRegistered", "AdjudicationRecorded", "AppealDecisionRecorded", "ClaimTriaged",
)


def _claim_facts_fields(claim_id: str, claim: claims_v1.ClaimRegistered.Claim) -> dict[str, Any]:
    if not claim.lines:
        raise PermanentFailure(f"claim {claim_id} has no service lines")
    first = min(claim.lines, key=lambda line: line.service_date)
    payer_id = claim.payer.payer_id
    return dict(
        claim_id=claim_id,
        provider_npi=claim.provider.npi,
        provider_tin=claim.provider.tin,
        payer_id=payer_id,
        plan_id=f"{payer_id}:{claim.plan.name}",
        plan_funding=claim.plan.funding,
        service_code=first.procedure_code,
        service_date=date.fromisoformat(first.service_date),
        billed_cents=claim.billed_cents or sum(line.billed_cents for line in claim.lines),
        line_count=len(claim.lines),
    )


class ClaimReactions:
    def __init__(self, app: NegotiationApplication) -> None:
        self.app = app

    def __call__(self, delivery: Delivery) -> list[TenantAggregate | None]:
        claim_id = delivery.envelope.claim_id or delivery.envelope.aggregate_id
        ctx = delivery.context(actor=ACTOR)
        facts = self.app.find(facts_id(ctx.tenant_id, claim_id), ctx.tenant_id, ClaimFacts)
        kind, message = delivery.event_type, delivery.message
        if isinstance(message, claims_v1.ClaimRegistered):
            if facts is not None:
                return []
            return [ClaimFacts.note(ctx, **_claim_facts_fields(claim_id, message.claim))]
        if facts is None:
            # ClaimRegistered always comes first on the claims stream; it is still in flight.
            raise ArrivedEarly(f"{kind} for claim {claim_id} before its ClaimRegistered")
        if isinstance(message, claims_v1.AdjudicationRecorded):
            a = message.adjudication
            facts.note_adjudication(
                ctx,
                received_on=date.fromisoformat(a.received_date),
                paid_cents=a.paid_cents,
                patient_responsibility_cents=a.patient_responsibility_cents,
                qpa_cents=a.qpa_cents,
                denied=a.denied,
            )
            return [facts]
        if isinstance(message, claims_v1.AppealDecisionRecorded):
            if facts.adjudication is None:
                raise ArrivedEarly(f"claim {claim_id} appeal decision before its adjudication")
            facts.note_appeal_payment(ctx, paid_cents=message.paid_cents, denied=message.denied)
            return [facts, self._follow_payment(ctx, facts.claim_id, message.paid_cents)]
        if isinstance(message, claims_v1.ClaimTriaged):
            return [self._open_if_worth_it(ctx, facts, message)]
        return []

    def _follow_payment(self, ctx: Any, claim_id: str, paid_cents: int) -> Negotiation | None:
        """An open case follows what the payer paid after an appeal (or closes, nothing left)."""
        negotiation = self.app.find(
            negotiation_id_for(ctx.tenant_id, claim_id), ctx.tenant_id, Negotiation)
        if negotiation is None:
            return None  # not opened: a later triage opens it with the noted payment
        negotiation.follow_payment(ctx, paid_cents=paid_cents, source="appeal decision",
                                   dispute=self.app.dispute_of(ctx, negotiation))
        return negotiation

    def _open_if_worth_it(
        self, ctx: Any, facts: ClaimFacts, triage: claims_v1.ClaimTriaged
    ) -> Any:
        route = enum_text(claims_v1.ClaimTriaged.Route.DESCRIPTOR, triage.route)
        if not triage.worth_negotiating:
            # The claims service's triage decided it (coverage denial, paid in full, ...): a
            # federal route alone is no reason to open a negotiation.
            return None
        adjudication = facts.adjudication
        if adjudication is None:
            if triage.adjudicated:
                # Triaged after an adjudication we have not processed yet (replicas, retries).
                raise ArrivedEarly(f"claim {facts.claim_id} triage before its adjudication")
            log.info("claim %s triaged without an adjudication: not opened", facts.claim_id)
            return None
        negotiation_id = negotiation_id_for(ctx.tenant_id, facts.claim_id)
        if self.app.find(negotiation_id, ctx.tenant_id, Negotiation) is not None:
            return None
        opening = OpeningFacts(
            claim_id=facts.claim_id,
            provider_npi=facts.provider_npi,
            provider_tin=facts.provider_tin,
            payer_id=facts.payer_id,
            plan_id=facts.plan_id,
            plan_funding=facts.plan_funding,
            service_code=facts.service_code,
            service_date=facts.service_date,
            billed_cents=facts.billed_cents,
            qpa_cents=adjudication.qpa_cents,
            patient_cost_sharing_cents=adjudication.patient_responsibility_cents,
            already_paid_cents=adjudication.paid_cents,
            bill_received_on=None,
            initial_payment_received_on=adjudication.received_on,
            route=route if route in set(Route) else Route.NOT_ELIGIBLE.value,
            assignee="",
        )
        try:
            return Negotiation.open(ctx, negotiation_id=negotiation_id, facts=opening)
        except InvalidArgument as refused:
            # The notice deadline (T1) is ours to compute: it travels in the event.
            t1 = next(d for d in self.app.engine.for_anchor(
                "initial_payment_received", adjudication.received_on)
                if d.code is DeadlineCode.T1)
            facts.refuse_negotiation(
                ctx, str(refused), [v.field for v in refused.violations], route,
                notice_due_on=t1.due, rule_set_version=t1.rule_set_version)
            return facts
