"""The Negotiation aggregate's events and the state they fold into (no commands).

`Negotiation` (negotiation.py) adds the commands; eventsourcing defines each event here again
as `Negotiation.<Event>`, so stored topics, envelopes and the published language name them as
before. Federal IDR is its own aggregate (federal_idr_dispute.py): the facts that depend on where
a dispute stands take it (`dispute`, None before initiation).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.common.aggregate import TenantAggregate
from services.common.errors import FailedPrecondition
from services.negotiation.domain.case_progress import CaseProgress, actionable_deadlines
from services.negotiation.domain.cooling_off import other_party_key
from services.negotiation.domain.deadlines import (
    CaseAnchors,
    CaseDeadlines,
    Deadline,
    DeadlineCode,
    DeadlineEngine,
    Extension,
)
from services.negotiation.domain.federal_idr_dispute import DisputedClaim, FederalIdrDispute
from services.negotiation.domain.rule_sets import rule_set_on
from services.negotiation.domain.values import Decision, Escalation, Offer
from services.negotiation.domain.vocabulary import DecisionStatus, NegotiationStatus

CLOSED_STATUSES = frozenset(
    {NegotiationStatus.AGREED, NegotiationStatus.DETERMINED, NegotiationStatus.CLOSED}
)


class NegotiationState(TenantAggregate):
    """One out-of-network claim line being negotiated for the provider client: its history."""

    # Read from a snapshot taken before the field existed: not closed by NegotiationClosed.
    closed_reason = ""

    # -- events ---------------------------------------------------------------------------

    class Opened(TenantAggregate.Created):
        claim_id: str
        provider_npi: str
        provider_tin: str
        payer_id: str
        plan_id: str
        plan_funding: str
        service_code: str
        service_date: date
        billed_cents: int
        qpa_cents: int
        patient_cost_sharing_cents: int
        already_paid_cents: int
        bill_received_on: date | None
        initial_payment_received_on: date
        route: str
        assignee: str

    class OpenNegotiationNoticeSent(TenantAggregate.Event):
        sent_on: date
        channel: str
        portal_reference: str

        def apply(self, aggregate: NegotiationState) -> None:
            aggregate.on_notice_sent_on = self.sent_on

    class PayerResponseReceived(TenantAggregate.Event):
        received_on: date
        channel: str
        summary: str

    class OfferMade(TenantAggregate.Event):
        offer_id: str
        party: str
        amount_cents: int
        percent_of_qpa_bp: int
        basis: dict[str, int | str]
        channel: str
        notes: str
        document_refs: list[str]
        made_on: date

        def apply(self, aggregate: NegotiationState) -> None:
            aggregate.offers.append(self._as_offer("offer"))

        def _as_offer(self, kind: str) -> Offer:
            return Offer(
                offer_id=self.offer_id,
                kind=kind,
                party=self.party,
                amount_cents=self.amount_cents,
                percent_of_qpa_bp=self.percent_of_qpa_bp,
                made_on=self.made_on,
                notes=self.notes,
                medicare_multiple_bp=int(self.basis.get("medicare_multiple_bp") or 0),
            )

    class CounterOfferMade(OfferMade):
        in_reply_to: str

        def apply(self, aggregate: NegotiationState) -> None:
            aggregate.offers.append(self._as_offer("counter"))

    class DecisionProposed(TenantAggregate.Event):
        decision_id: str
        action: str
        offer_id: str
        counter_amount_cents: int
        rationale: str

        def apply(self, aggregate: NegotiationState) -> None:
            aggregate.decisions[self.decision_id] = Decision(
                decision_id=self.decision_id,
                action=self.action,
                offer_id=self.offer_id,
                counter_amount_cents=self.counter_amount_cents,
                status=DecisionStatus.PROPOSED.value,
                proposed_by=self.meta.get("actor", ""),
                rationale=self.rationale,
            )

    class DecisionApproved(TenantAggregate.Event):
        decision_id: str
        approved_by: str
        auto_approval_rule_id: str  # "" when a provider_approver decided

        def apply(self, aggregate: NegotiationState) -> None:
            decision = aggregate.decisions[self.decision_id].decided(DecisionStatus.APPROVED)
            aggregate.decisions[self.decision_id] = decision
            if decision.is_idr:
                aggregate.idr_approved = True

    class DecisionRejected(TenantAggregate.Event):
        decision_id: str
        rejected_by: str
        reason: str

        def apply(self, aggregate: NegotiationState) -> None:
            aggregate.decisions[self.decision_id] = aggregate.decisions[
                self.decision_id
            ].decided(DecisionStatus.REJECTED)

    class SettlementAgreed(TenantAggregate.Event):
        # v2 adds `rule_set_version`: the rule set the payment due date (T8) was computed
        # under, so settlement uses the fact instead of recomputing it (docs/events.md).
        class_version = 2
        claim_id: str
        offer_id: str
        decision_id: str
        agreed_on: date
        agreed_total_cents: int
        patient_cost_sharing_cents: int
        already_paid_cents: int
        amount_owed_cents: int
        payment_due_on: date
        during_idr: bool
        dispute_number: str
        administrative_fee_cents: int
        idre_fee_paid_cents: int
        idre_fee_refund_cents: int
        report_due_on: date | None
        rule_set_version: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 computed the due date as 30 calendar days, which every rule set so far says.
            agreed_on = state["agreed_on"]
            if isinstance(agreed_on, str):
                agreed_on = date.fromisoformat(agreed_on)
            state["rule_set_version"] = rule_set_on(agreed_on).version

        def apply(self, aggregate: NegotiationState) -> None:
            aggregate.status = NegotiationStatus.AGREED.value
            aggregate.agreed_total_cents = self.agreed_total_cents
            if self.during_idr:
                aggregate.settled_after_initiation_on = self.agreed_on

    class AssigneeChanged(TenantAggregate.Event):
        assignee: str

        def apply(self, aggregate: NegotiationState) -> None:
            aggregate.assignee = self.assignee

    class EscalationRaised(TenantAggregate.Event):
        deadline_code: str
        due_on: date
        level: int
        escalated_to: str
        business_days_left: int
        as_of: date

        def apply(self, aggregate: NegotiationState) -> None:
            aggregate.escalations.append(Escalation(self.deadline_code, self.due_on, self.level))

    class DeadlineExtended(TenantAggregate.Event):
        deadline_code: str
        new_due_on: date
        reason: str
        reference: str

        def apply(self, aggregate: NegotiationState) -> None:
            aggregate.extensions.append(
                Extension(DeadlineCode(self.deadline_code), self.new_due_on, self.reason)
            )

    class AlreadyPaidUpdated(TenantAggregate.Event):
        """The payer paid more after the case opened (an appeal overturn): the case follows."""

        claim_id: str
        already_paid_cents: int
        previous_already_paid_cents: int
        amount_in_dispute_cents: int
        source: str

        def apply(self, aggregate: NegotiationState) -> None:
            aggregate.already_paid_cents = self.already_paid_cents

    class NegotiationClosed(TenantAggregate.Event):
        """Closed without agreement: negotiation is no longer warranted (the reason says why)."""

        claim_id: str
        reason: str
        closed_on: date

        def apply(self, aggregate: NegotiationState) -> None:
            aggregate.status = NegotiationStatus.CLOSED.value
            aggregate.closed_reason = self.reason

    # -- state ----------------------------------------------------------------------------

    def __init__(
        self,
        claim_id: str,
        provider_npi: str,
        provider_tin: str,
        payer_id: str,
        plan_id: str,
        plan_funding: str,
        service_code: str,
        service_date: date,
        billed_cents: int,
        qpa_cents: int,
        patient_cost_sharing_cents: int,
        already_paid_cents: int,
        bill_received_on: date | None,
        initial_payment_received_on: date,
        route: str,
        assignee: str,
    ) -> None:
        self.claim_id = claim_id
        self.provider_npi = provider_npi
        self.provider_tin = provider_tin
        self.payer_id = payer_id
        self.plan_id = plan_id
        self.plan_funding = plan_funding
        self.service_code = service_code
        self.service_date = service_date
        self.billed_cents = billed_cents
        self.qpa_cents = qpa_cents
        self.patient_cost_sharing_cents = patient_cost_sharing_cents
        self.already_paid_cents = already_paid_cents
        self.bill_received_on = bill_received_on
        self.initial_payment_received_on = initial_payment_received_on
        self.route = route
        self.assignee = assignee
        self.status = NegotiationStatus.OPEN.value
        self.on_notice_sent_on: date | None = None
        self.offers: list[Offer] = []
        self.decisions: dict[str, Decision] = {}
        self.idr_approved = False
        self.extensions: list[Extension] = []
        self.escalations: list[Escalation] = []
        self.agreed_total_cents = 0
        self.settled_after_initiation_on: date | None = None
        self.closed_reason = ""

    def __deepcopy__(self, memo: dict[int, Any]) -> NegotiationState:
        """Copy for the aggregate cache in O(state), not O(deepcopy of every offer).

        State holds lists and dicts of immutable value objects (values.py): copying the
        containers is enough.
        """
        clone = object.__new__(type(self))
        for name, value in self.__dict__.items():
            if isinstance(value, list | dict):
                value = value.copy()
            clone.__dict__[name] = value
        return clone

    # -- derived facts --------------------------------------------------------------------

    def case_status(self, dispute: FederalIdrDispute | None) -> str:
        """Where the case stands: agreed, or its dispute's status once initiated, else open."""
        if self.status == NegotiationStatus.AGREED or dispute is None:
            return self.status
        return dispute.status

    def is_closed(self, dispute: FederalIdrDispute | None) -> bool:
        return self.case_status(dispute) in CLOSED_STATUSES

    def anchors(self, dispute: FederalIdrDispute | None) -> CaseAnchors:
        return CaseAnchors(
            bill_received=self.bill_received_on,
            initial_payment_received=self.initial_payment_received_on,
            on_notice_sent=self.on_notice_sent_on,
            idr_initiated=dispute.initiated_on if dispute else None,
            idre_selected=dispute.selected_on if dispute else None,
            determination=dispute.determined_on if dispute else None,
            settled_after_initiation=self.settled_after_initiation_on,
            batched=dispute.batched if dispute else False,
        )

    def deadlines(
        self, engine: DeadlineEngine, dispute: FederalIdrDispute | None = None
    ) -> CaseDeadlines:
        return engine.for_case(self.anchors(dispute), self.extensions)

    def progress(self, dispute: FederalIdrDispute | None) -> CaseProgress:
        return CaseProgress(
            status=self.case_status(dispute),
            anchors=self.anchors(dispute),
            extensions=tuple(self.extensions),
            idre_selected=dispute is not None and dispute.idre is not None,
            provider_idr_offer_submitted=dispute is not None and dispute.provider_offer_submitted,
        )

    def actionable_deadlines(
        self, engine: DeadlineEngine, dispute: FederalIdrDispute | None = None
    ) -> list[Deadline]:
        """Deadlines the client still has to act on, given where the case stands."""
        return actionable_deadlines(self.progress(dispute), engine)

    @property
    def amount_in_dispute_cents(self) -> int:
        """What is left to dispute: billed - patient cost sharing - already paid, at least 0."""
        return max(
            0, self.billed_cents - self.patient_cost_sharing_cents - self.already_paid_cents
        )

    def latest_offer(self) -> Offer | None:
        return self.offers[-1] if self.offers else None

    def offer(self, offer_id: str) -> Offer | None:
        return next((o for o in self.offers if o.offer_id == offer_id), None)

    def _require_open(self, what: str, dispute: FederalIdrDispute | None) -> None:
        if self.is_closed(dispute):
            raise FailedPrecondition(
                f"cannot {what}: the negotiation is {self.case_status(dispute)}"
            )

    @property
    def disputed_claim(self) -> DisputedClaim:
        """The facts of this negotiation its federal IDR dispute works with."""
        return DisputedClaim(
            claim_id=self.claim_id,
            qpa_cents=self.qpa_cents,
            patient_cost_sharing_cents=self.patient_cost_sharing_cents,
            already_paid_cents=self.already_paid_cents,
            service_code=self.service_code,
            provider_key=f"provider:{self.provider_tin or self.provider_npi}",
            payer_key=other_party_key(self.plan_funding, self.payer_id, self.plan_id),
            settled=self.status == NegotiationStatus.AGREED,
        )

    def party_keys(self, initiating_party: str) -> tuple[str, str]:
        """(initiating party key, other party key) for cooling-off across cases."""
        return self.disputed_claim.party_keys(initiating_party)

