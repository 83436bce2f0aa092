"""Proto <-> domain conversion for the negotiation service: the only place its messages are built.

Requests become typed commands (application.py): dates through `services/common/fields.py` (a
bad date is a field violation before anything runs), proto enums to the domain's spelling ("" for
an unspecified value, which the domain refuses with the other field violations of the command).
"""

from __future__ import annotations

from datetime import date

from oonledger.negotiation.v1 import negotiation_pb2 as pb
from services.common.errors import Violations
from services.common.fields import parse_date
from services.negotiation.adapters import line_mapping as lines
from services.negotiation.adapters.projections import WorkItem
from services.negotiation.application import Case
from services.negotiation.commands import (
    ApproveDecision,
    AssignNegotiation,
    CloseWithoutOffers,
    ExtendDeadline,
    InitiateIdr,
    MakeOffer,
    ProposeDecision,
    RecordDetermination,
    RecordEligibility,
    RecordIdrFee,
    RecordPayerResponse,
    RejectDecision,
    SelectIdre,
    SendNotice,
    SetClientPolicy,
    SubmitIdrOffer,
    SuggestionQuery,
)
from services.negotiation.domain import (
    Deadline,
    DeadlineEngine,
    DisputedClaim,
    FederalIdrDispute,
    OpeningFacts,
    ProposedOffer,
)
from services.negotiation.domain.approval_rules import AutoApprovalRule
from services.negotiation.domain.benchmarks import OfferSuggestion
from services.negotiation.domain.idr_fees import FeeMovement, FeeSource, IdrFeeKind, PartyFees
from services.negotiation.domain.vocabulary import (
    Channel,
    DecisionAction,
    Party,
    SelectionMethod,
)

PARTIES = {pb.PARTY_PROVIDER: Party.PROVIDER, pb.PARTY_PAYER: Party.PAYER}
PARTY_TO_PROTO = {v.value: k for k, v in PARTIES.items()}
CHANNELS = {
    pb.CHANNEL_PORTAL: Channel.PORTAL,
    pb.CHANNEL_EMAIL: Channel.EMAIL,
    pb.CHANNEL_FAX: Channel.FAX,
    pb.CHANNEL_MAIL: Channel.MAIL,
    pb.CHANNEL_PHONE: Channel.PHONE,
}
ACTIONS = {
    pb.DECISION_ACTION_ACCEPT: DecisionAction.ACCEPT,
    pb.DECISION_ACTION_REJECT: DecisionAction.REJECT,
    pb.DECISION_ACTION_COUNTER: DecisionAction.COUNTER,
    pb.DECISION_ACTION_IDR: DecisionAction.IDR,
}
ACTION_TO_PROTO = {v.value: k for k, v in ACTIONS.items()}
METHODS = {
    pb.SELECTION_METHOD_JOINT: SelectionMethod.JOINT,
    pb.SELECTION_METHOD_OBJECTION: SelectionMethod.OBJECTION,
    pb.SELECTION_METHOD_DEFAULT: SelectionMethod.DEFAULT,
}
FEE_KINDS = {
    pb.IDR_FEE_KIND_ADMINISTRATIVE: IdrFeeKind.ADMINISTRATIVE,
    pb.IDR_FEE_KIND_IDRE: IdrFeeKind.IDRE,
}
FEE_MOVEMENTS = {
    pb.IDR_FEE_MOVEMENT_PAID: FeeMovement.PAID,
    pb.IDR_FEE_MOVEMENT_REFUNDED: FeeMovement.REFUNDED,
    pb.IDR_FEE_MOVEMENT_FORFEITED: FeeMovement.FORFEITED,
}
FEE_SOURCES = {
    pb.IDR_FEE_SOURCE_INVOICE: FeeSource.INVOICE,
    pb.IDR_FEE_SOURCE_PORTAL_RECEIPT: FeeSource.PORTAL_RECEIPT,
}
BASIS_FIELDS = (
    "qpa_cents",
    "percent_of_qpa_bp",
    "ucr_percentile",
    "medicare_multiple_bp",
    "prior_payments_cents",
    "plan_language",
    "law_cited",
)


class Reader:
    """Reads one request's fields, collecting every field violation before raising them."""

    def __init__(self) -> None:
        self.violations = Violations()

    def day(self, field: str, text: str, *, required: bool = True) -> date | None:
        return parse_date(self.violations, field, text, required=required)

    def done(self) -> None:
        self.violations.raise_if_any()


def _party(value: int) -> str:
    found = PARTIES.get(value)
    return found.value if found is not None else ""


def _channel(value: int) -> str:
    found = CHANNELS.get(value)
    return found.value if found is not None else ""


# -- requests -> commands ------------------------------------------------------------------


def opening_facts(request: pb.OpenNegotiationRequest) -> OpeningFacts:
    r = Reader()
    facts = OpeningFacts(
        claim_id=request.claim_id,
        provider_npi=request.provider_npi,
        provider_tin=request.provider_tin,
        payer_id=request.payer_id,
        plan_id=request.plan_id,
        plan_funding=request.plan_funding,
        service_code=request.service_code,
        service_date=r.day("service_on", request.service_on),
        billed_cents=request.billed_cents,
        qpa_cents=request.qpa_cents,
        patient_cost_sharing_cents=request.patient_cost_sharing_cents,
        already_paid_cents=request.already_paid_cents,
        bill_received_on=r.day("bill_received_on", request.bill_received_on, required=False),
        initial_payment_received_on=r.day(
            "initial_payment_received_on", request.initial_payment_received_on
        ),
        route=request.route,
        assignee=request.assignee,
    )
    r.done()
    return facts


def send_notice(request: pb.SendOpenNegotiationNoticeRequest) -> SendNotice:
    r = Reader()
    sent_on = r.day("sent_on", request.sent_on)
    r.done()
    return SendNotice(
        request.negotiation_id, sent_on, _channel(request.channel), request.portal_reference
    )


def payer_response(request: pb.RecordPayerResponseRequest) -> RecordPayerResponse:
    r = Reader()
    received_on = r.day("received_on", request.received_on)
    r.done()
    return RecordPayerResponse(
        request.negotiation_id, received_on, _channel(request.channel), request.summary
    )


def offer_basis(basis: pb.OfferBasis) -> dict[str, int | str]:
    """Only the cited (non-zero, non-empty) parts of the basis."""
    return {name: getattr(basis, name) for name in BASIS_FIELDS if getattr(basis, name)}


def make_offer(request: pb.MakeOfferRequest, request_id: str) -> MakeOffer:
    """An offer without its own id is named by the caller's request id (never invented)."""
    r = Reader()
    offer = ProposedOffer(
        offer_id=request.offer_id or request_id,
        party=_party(request.party),
        amount_cents=request.amount_cents,
        basis=offer_basis(request.basis),
        channel=_channel(request.channel),
        notes=request.notes,
        document_refs=tuple(request.document_refs),
        made_on=r.day("made_on", request.made_on),
    )
    r.done()
    return MakeOffer(request.negotiation_id, offer)


def propose_decision(request: pb.ProposeDecisionRequest, request_id: str) -> ProposeDecision:
    """A decision without its own id is named by the caller's request id (never invented)."""
    r = Reader()
    decided_on = r.day("decided_on", request.decided_on, required=False)
    r.done()
    action = ACTIONS.get(request.action)
    return ProposeDecision(
        negotiation_id=request.negotiation_id,
        decision_id=request.decision_id or request_id,
        action=action.value if action is not None else "",
        offer_id=request.offer_id,
        counter_amount_cents=request.counter_amount_cents,
        rationale=request.rationale,
        decided_on=decided_on,
    )


def approve_decision(request: pb.ApproveDecisionRequest) -> ApproveDecision:
    r = Reader()
    decided_on = r.day("decided_on", request.decided_on, required=False)
    r.done()
    return ApproveDecision(request.negotiation_id, request.decision_id, decided_on)


def reject_decision(request: pb.RejectDecisionRequest) -> RejectDecision:
    return RejectDecision(request.negotiation_id, request.decision_id, request.reason)


def assign(request: pb.AssignNegotiationRequest) -> AssignNegotiation:
    return AssignNegotiation(request.negotiation_id, request.assignee)


def extend_deadline(request: pb.ExtendDeadlineRequest) -> ExtendDeadline:
    r = Reader()
    new_due_on = r.day("new_due_on", request.new_due_on)
    r.done()
    return ExtendDeadline(
        request.negotiation_id,
        request.deadline_code,
        new_due_on,
        request.reason,
        request.reference,
    )


def initiate_idr(request: pb.InitiateIdrRequest) -> InitiateIdr:
    r = Reader()
    initiated_on = r.day("initiated_on", request.initiated_on)
    r.done()
    return InitiateIdr(
        negotiation_id=request.negotiation_id,
        dispute_number=request.dispute_number,
        initiated_on=initiated_on,
        initiating_party=_party(request.initiating_party),
        batch_negotiation_ids=tuple(request.batch_negotiation_ids),
        bundled=request.bundled,
        lines=lines.disputed_lines(request),
    )


def select_idre(request: pb.SelectIdreRequest) -> SelectIdre:
    r = Reader()
    selected_on = r.day("selected_on", request.selected_on)
    r.done()
    method = METHODS.get(request.method)
    return SelectIdre(
        request.negotiation_id,
        request.idre_id,
        method.value if method is not None else "",
        selected_on,
        request.idre_fee_cents,
    )


def record_eligibility(request: pb.RecordIdrEligibilityRequest) -> RecordEligibility:
    r = Reader()
    decided_on = r.day("decided_on", request.decided_on)
    r.done()
    return RecordEligibility(request.negotiation_id, request.eligible, decided_on, request.reason)


def submit_idr_offer(request: pb.SubmitIdrOfferRequest) -> SubmitIdrOffer:
    r = Reader()
    submitted_on = r.day("submitted_on", request.submitted_on)
    r.done()
    return SubmitIdrOffer(
        request.negotiation_id, _party(request.party), request.amount_cents, submitted_on,
        lines.line_offers(request),
    )


def record_idr_fee(request: pb.RecordIdrFeeRequest) -> RecordIdrFee:
    r = Reader()
    occurred_on = r.day("occurred_on", request.occurred_on)
    r.done()
    kind, movement = FEE_KINDS.get(request.fee_kind), FEE_MOVEMENTS.get(request.movement)
    source = FEE_SOURCES.get(request.source)
    return RecordIdrFee(
        request.negotiation_id,
        _party(request.party),
        kind.value if kind else "",
        movement.value if movement else "",
        request.amount_cents,
        occurred_on,
        source.value if source else "",
        request.source_reference,
    )


def record_determination(request: pb.RecordIdrDeterminationRequest) -> RecordDetermination:
    r = Reader()
    determined_on = r.day("determined_on", request.determined_on)
    r.done()
    return RecordDetermination(
        request.negotiation_id, _party(request.prevailing_party), determined_on,
        tuple((line.line_number, _party(line.prevailing_party)) for line in request.lines),
    )


def close_without_offers(request: pb.CloseIdrWithoutOffersRequest) -> CloseWithoutOffers:
    r = Reader()
    closed_on = r.day("closed_on", request.closed_on)
    r.done()
    return CloseWithoutOffers(request.negotiation_id, closed_on)


def client_policy(request: pb.SetClientPolicyRequest) -> SetClientPolicy:
    return SetClientPolicy(
        rules=tuple(
            AutoApprovalRule(
                r.rule_id, r.min_basis_points_of_billed or None, r.min_basis_points_of_qpa or None
            )
            for r in request.auto_approval_rules
        ),
        chain=tuple((level.role, level.business_days_left) for level in request.escalation_chain),
    )


def suggestion_query(request: pb.SuggestOfferRequest) -> SuggestionQuery:
    return SuggestionQuery(
        request.service_code, request.region, request.plan_type, request.qpa_cents
    )


def work_queue_due(request: pb.ListWorkQueueRequest) -> date | None:
    r = Reader()
    due = r.day("due_on_or_before", request.due_on_or_before, required=False)
    r.violations.check(0 <= request.page_size <= 1000, "page_size", "must be 0..1000")
    r.done()
    return due


def escalation_as_of(request: pb.EscalateDueDeadlinesRequest, today: date) -> date:
    r = Reader()
    as_of = r.day("as_of", request.as_of, required=False)
    r.done()
    return as_of or today


# -- domain -> responses -------------------------------------------------------------------


def iso_or_blank(value: date | None) -> str:
    return value.isoformat() if value else ""


_iso = iso_or_blank  # the short name the builders below use


def deadline_to_proto(d: Deadline, alternate: Deadline | None = None) -> pb.Deadline:
    """`alternate`: the same deadline under the other reading of executive-order closures."""
    return pb.Deadline(
        alternate_due_on=alternate.due.isoformat() if alternate and alternate.due != d.due else "",
        code=d.code.value,
        title=d.title,
        due_on=d.due.isoformat(),
        opens_on=_iso(d.opens),
        counting=d.counting.value,
        anchor_on=d.anchor.isoformat(),
        rule_set_version=d.rule_set_version,
        extended_from=_iso(d.extended_from),
        extension_reason=d.extension_reason,
    )


def _party_fees_to_proto(fees: PartyFees) -> pb.IdrPartyFees:
    return pb.IdrPartyFees(
        administrative_paid_cents=fees.administrative_paid_cents,
        administrative_forfeited_cents=fees.administrative_forfeited_cents,
        idre_paid_cents=fees.idre_paid_cents,
        idre_refunded_cents=fees.idre_refunded_cents,
        idre_forfeited_cents=fees.idre_forfeited_cents,
        idre_refund_entitled_cents=fees.idre_refund_entitled_cents,
        idre_refund_outstanding_cents=fees.refund_outstanding_cents,
        net_cost_cents=fees.net_cost_cents,
    )


def _fee_entries_to_proto(dispute: FederalIdrDispute) -> list[pb.IdrFeeEntry]:
    kinds = {v: k for k, v in FEE_KINDS.items()}
    movements = {v: k for k, v in FEE_MOVEMENTS.items()}
    sources = {v: k for k, v in FEE_SOURCES.items()}
    return [
        pb.IdrFeeEntry(
            party=PARTY_TO_PROTO.get(e.party, pb.PARTY_UNSPECIFIED),
            fee_kind=kinds[e.kind],
            movement=movements[e.movement],
            amount_cents=e.amount_cents,
            occurred_on=e.occurred_on.isoformat(),
            source=sources[e.source],
            source_reference=e.source_reference,
        )
        for e in dispute.fee_ledger.entries
    ]


def _idr_to_proto(
    dispute: FederalIdrDispute | None, claim: DisputedClaim
) -> pb.IdrCase | None:
    if dispute is None:
        return None
    eligible = dispute.eligible
    idre = dispute.idre
    return pb.IdrCase(
        dispute_number=dispute.dispute_number,
        initiated_on=_iso(dispute.initiated_on),
        initiating_party=PARTY_TO_PROTO.get(dispute.initiating_party, pb.PARTY_UNSPECIFIED),
        rule_set_version=dispute.rule_set_version,
        administrative_fee_cents=dispute.administrative_fee_cents,
        batched=dispute.batched,
        idre_id=idre.idre_id if idre else "",
        idre_fee_cents=idre.idre_fee_cents if idre else 0,
        selected_on=_iso(idre.selected_on if idre else None),
        eligibility="" if eligible is None else ("eligible" if eligible else "ineligible"),
        provider_offer_cents=dispute.offers_cents.get(Party.PROVIDER.value, 0),
        payer_offer_cents=dispute.offers_cents.get(Party.PAYER.value, 0),
        provider_fees=_party_fees_to_proto(
            dispute.party_fees(Party.PROVIDER.value, claim)),
        payer_fees=_party_fees_to_proto(
            dispute.party_fees(Party.PAYER.value, claim)),
        fee_entries=_fee_entries_to_proto(dispute),
        lines=lines.case_lines(dispute),
        line_items=dispute.batch_line_items,
        prevailing_party=dispute.prevailing_party,
        amount_owed_cents=dispute.amount_owed_cents,
    )


def negotiation_to_proto(
    case: Case, engine: DeadlineEngine, alternate: DeadlineEngine | None = None
) -> pb.Negotiation:
    n, dispute = case.negotiation, case.dispute
    other = n.deadlines(alternate, dispute) if alternate is not None else None
    return pb.Negotiation(
        negotiation_id=str(n.id),
        claim_id=n.claim_id,
        status=case.status,
        assignee=n.assignee,
        route=n.route,
        service_code=n.service_code,
        billed_cents=n.billed_cents,
        qpa_cents=n.qpa_cents,
        patient_cost_sharing_cents=n.patient_cost_sharing_cents,
        already_paid_cents=n.already_paid_cents,
        amount_in_dispute_cents=n.amount_in_dispute_cents,
        closed_reason=n.closed_reason,
        on_notice_sent_on=_iso(n.on_notice_sent_on),
        offers=[
            pb.Offer(
                offer_id=o.offer_id,
                kind=o.kind,
                party=PARTY_TO_PROTO.get(o.party, pb.PARTY_UNSPECIFIED),
                amount_cents=o.amount_cents,
                percent_of_qpa_bp=o.percent_of_qpa_bp,
                made_on=_iso(o.made_on),
                notes=o.notes,
                medicare_multiple_bp=o.medicare_multiple_bp,
            )
            for o in n.offers
        ],
        decisions=[
            pb.Decision(
                decision_id=d.decision_id,
                action=ACTION_TO_PROTO.get(d.action, pb.DECISION_ACTION_UNSPECIFIED),
                offer_id=d.offer_id,
                counter_amount_cents=d.counter_amount_cents,
                status=d.status,
                proposed_by=d.proposed_by,
                rationale=d.rationale,
            )
            for d in n.decisions.values()
        ],
        deadlines=[
            deadline_to_proto(d, other.get(d.code) if other else None)
            for d in n.deadlines(engine, dispute).deadlines
        ],
        idr=_idr_to_proto(dispute, n.disputed_claim),
        agreed_total_cents=n.agreed_total_cents,
        award_total_cents=dispute.award_total_cents if dispute else 0,
        version=n.version,
    )


def negotiation_response(
    case: Case, engine: DeadlineEngine, alternate: DeadlineEngine
) -> pb.NegotiationResponse:
    return pb.NegotiationResponse(negotiation=negotiation_to_proto(case, engine, alternate))


def initiate_idr_response(
    case: Case, engine: DeadlineEngine, alternate: DeadlineEngine
) -> pb.InitiateIdrResponse:
    cases = [case, *case.batch]
    return pb.InitiateIdrResponse(
        negotiations=[negotiation_to_proto(c, engine, alternate) for c in cases]
    )


def make_offer_response(case: Case, offer_id: str) -> pb.MakeOfferResponse:
    made = case.negotiation.offer(offer_id)
    return pb.MakeOfferResponse(
        offer_id=offer_id, kind=made.kind if made else "", version=case.negotiation.version
    )


def work_queue_to_proto(items: list[WorkItem]) -> pb.ListWorkQueueResponse:
    return pb.ListWorkQueueResponse(
        items=[
            pb.WorkItem(
                negotiation_id=i.negotiation_id,
                claim_id=i.claim_id,
                status=i.status,
                assignee=i.assignee,
                next_deadline_code=i.next_deadline_code,
                next_deadline_on=_iso(i.next_deadline_on),
                last_offer_cents=i.last_offer_cents,
            )
            for i in items
        ]
    )


def suggestion_to_proto(s: OfferSuggestion) -> pb.SuggestOfferResponse:
    return pb.SuggestOfferResponse(
        opening_offer_cents=s.opening_offer_cents,
        walk_away_floor_cents=s.walk_away_floor_cents,
        opening_percent_of_qpa_bp=s.opening_bp,
        floor_percent_of_qpa_bp=s.floor_bp,
        evidence=list(s.evidence),
        benchmark_key=s.benchmark.key,
    )


def policy_response(version: int) -> pb.SetClientPolicyResponse:
    return pb.SetClientPolicyResponse(version=version)


def escalation_response(raised: int) -> pb.EscalateDueDeadlinesResponse:
    return pb.EscalateDueDeadlinesResponse(escalations_raised=raised)
