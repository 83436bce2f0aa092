"""When each act of a case happened: the negotiation's and its federal IDR dispute's state,
plus the dates their recorded events carry that the state does not keep (an aggregate's state
holds only what its rules need). Read-only input of the compliance report (compliance.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from services.negotiation.domain.deadlines import CaseAnchors, Extension
from services.negotiation.domain.federal_idr_dispute import FederalIdrDispute
from services.negotiation.domain.negotiation_state import NegotiationState
from services.negotiation.domain.vocabulary import Party


@dataclass(frozen=True)
class CaseActs:
    """When each act of the case happened (`None`: not, or not yet)."""

    service_on: date
    bill_received_on: date | None
    initial_payment_received_on: date
    on_notice_sent_on: date | None = None
    payer_response_on: date | None = None
    agreed_on: date | None = None
    agreed_during_idr: bool = False
    idr_initiated_on: date | None = None
    initiating_party: str = ""
    dispute_number: str = ""
    dispute_rule_set_version: str = ""
    batched: bool = False
    idre_selected_on: date | None = None
    selection_method: str = ""
    eligibility_decided_on: date | None = None
    eligible: bool | None = None
    provider_offer_on: date | None = None
    determined_on: date | None = None
    closed_on: date | None = None
    extensions: tuple[Extension, ...] = ()
    batch_negotiation_ids: tuple[str, ...] = ()

    @property
    def anchors(self) -> CaseAnchors:
        return CaseAnchors(
            bill_received=self.bill_received_on,
            initial_payment_received=self.initial_payment_received_on,
            on_notice_sent=self.on_notice_sent_on,
            idr_initiated=self.idr_initiated_on,
            idre_selected=self.idre_selected_on,
            determination=self.determined_on,
            settled_after_initiation=self.agreed_on if self.agreed_during_idr else None,
            batched=self.batched,
        )

    @property
    def ended_on(self) -> date | None:
        """The day the case stopped moving: agreement, determination or closure."""
        ends = [d for d in (self.agreed_on, self.determined_on, self.closed_on) if d]
        return min(ends) if ends else None


def acts_of(
    negotiation: NegotiationState,
    dispute: FederalIdrDispute | None,
    negotiation_events: Iterable[object],
    dispute_events: Iterable[object] = (),
) -> CaseActs:
    """The acts of a case from its aggregates and the events they recorded (read-only)."""
    payer_response: date | None = None
    agreed: NegotiationState.SettlementAgreed | None = None
    for event in negotiation_events:
        if isinstance(event, NegotiationState.PayerResponseReceived) and payer_response is None:
            payer_response = event.received_on
        elif isinstance(event, NegotiationState.SettlementAgreed):
            agreed = event
    eligibility: date | None = None
    provider_offer: date | None = None
    method = ""
    closed: date | None = None
    batch: tuple[str, ...] = ()
    for event in dispute_events:
        if isinstance(event, FederalIdrDispute.IdrInitiated):
            batch = tuple(event.batch_negotiation_ids)
        elif isinstance(event, FederalIdrDispute.IdrEligibilityDetermined):
            eligibility = event.decided_on
        elif isinstance(event, FederalIdrDispute.IdrOfferSubmitted):
            if event.party == Party.PROVIDER:
                provider_offer = event.submitted_on
        elif isinstance(event, FederalIdrDispute.IdreSelected):
            method = event.method
        elif isinstance(event, FederalIdrDispute.IdrClosed):
            closed = event.closed_on
    return CaseActs(
        service_on=negotiation.service_date,
        bill_received_on=negotiation.bill_received_on,
        initial_payment_received_on=negotiation.initial_payment_received_on,
        on_notice_sent_on=negotiation.on_notice_sent_on,
        payer_response_on=payer_response,
        agreed_on=agreed.agreed_on if agreed else None,
        agreed_during_idr=bool(agreed and agreed.during_idr),
        idr_initiated_on=dispute.initiated_on if dispute else None,
        initiating_party=dispute.initiating_party if dispute else "",
        dispute_number=dispute.dispute_number if dispute else "",
        dispute_rule_set_version=dispute.rule_set_version if dispute else "",
        batched=dispute.batched if dispute else False,
        idre_selected_on=dispute.selected_on if dispute else None,
        selection_method=method,
        eligibility_decided_on=eligibility,
        eligible=dispute.eligible if dispute else None,
        provider_offer_on=provider_offer,
        determined_on=dispute.determined_on if dispute else None,
        closed_on=closed,
        extensions=tuple(negotiation.extensions),
        batch_negotiation_ids=batch,
    )
