"""Proto <-> domain conversion for the negotiation service (the only place that does it)."""

from __future__ import annotations

from datetime import date
from typing import Any

from oonledger.negotiation.v1 import negotiation_pb2 as pb
from services.common.errors import Violations
from services.negotiation.domain.benchmarks import OfferSuggestion
from services.negotiation.domain.deadlines import Deadline, DeadlineEngine
from services.negotiation.domain.negotiation import Negotiation

PARTIES = {pb.PARTY_PROVIDER: "provider", pb.PARTY_PAYER: "payer"}
PARTY_TO_PROTO = {v: k for k, v in PARTIES.items()}
CHANNELS = {
    pb.CHANNEL_PORTAL: "portal",
    pb.CHANNEL_EMAIL: "email",
    pb.CHANNEL_FAX: "fax",
    pb.CHANNEL_MAIL: "mail",
    pb.CHANNEL_PHONE: "phone",
}
ACTIONS = {
    pb.DECISION_ACTION_ACCEPT: "accept",
    pb.DECISION_ACTION_REJECT: "reject",
    pb.DECISION_ACTION_COUNTER: "counter",
    pb.DECISION_ACTION_IDR: "idr",
}
ACTION_TO_PROTO = {v: k for k, v in ACTIONS.items()}
METHODS = {
    pb.SELECTION_METHOD_JOINT: "joint",
    pb.SELECTION_METHOD_OBJECTION: "objection",
    pb.SELECTION_METHOD_DEFAULT: "default",
}


class Parsed:
    """Collects field violations while converting one request."""

    def __init__(self) -> None:
        self.violations = Violations()

    def day(self, field: str, text: str, *, required: bool = True) -> date | None:
        if not text:
            if required:
                self.violations.add(field, "is required (YYYY-MM-DD)")
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.violations.add(field, "must be an ISO date (YYYY-MM-DD)")
            return None

    def done(self) -> None:
        self.violations.raise_if_any()


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


def open_fields(request: pb.OpenNegotiationRequest) -> dict[str, Any]:
    p = Parsed()
    fields = dict(
        claim_id=request.claim_id,
        provider_npi=request.provider_npi,
        provider_tin=request.provider_tin,
        payer_id=request.payer_id,
        plan_id=request.plan_id,
        plan_funding=request.plan_funding,
        service_code=request.service_code,
        service_date=p.day("service_on", request.service_on),
        billed_cents=request.billed_cents,
        qpa_cents=request.qpa_cents,
        patient_cost_sharing_cents=request.patient_cost_sharing_cents,
        already_paid_cents=request.already_paid_cents,
        bill_received_on=p.day("bill_received_on", request.bill_received_on, required=False),
        initial_payment_received_on=p.day(
            "initial_payment_received_on", request.initial_payment_received_on
        ),
        route=request.route,
        assignee=request.assignee,
    )
    p.done()
    return fields


def offer_basis(basis: pb.OfferBasis) -> dict[str, Any]:
    """Only the cited (non-zero, non-empty) parts of the basis."""
    cited: dict[str, Any] = {}
    for name in (
        "qpa_cents",
        "percent_of_qpa_bp",
        "ucr_percentile",
        "medicare_multiple_bp",
        "prior_payments_cents",
        "plan_language",
        "law_cited",
    ):
        value = getattr(basis, name)
        if value:
            cited[name] = value
    return cited


def offer_fields(request: pb.MakeOfferRequest, request_id: str) -> dict[str, Any]:
    p = Parsed()
    fields = dict(
        offer_id=request.offer_id or request_id,
        party=PARTIES.get(request.party, ""),
        amount_cents=request.amount_cents,
        basis=offer_basis(request.basis),
        channel=CHANNELS.get(request.channel, ""),
        notes=request.notes,
        document_refs=list(request.document_refs),
        made_on=p.day("made_on", request.made_on),
    )
    p.done()
    return fields


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


def _idr_to_proto(idr: dict[str, Any]) -> pb.IdrCase | None:
    if not idr:
        return None
    eligible = idr.get("eligible")
    offers = idr.get("offers", {})
    return pb.IdrCase(
        dispute_number=idr["dispute_number"],
        initiated_on=_iso(idr["initiated_on"]),
        initiating_party=PARTY_TO_PROTO.get(idr["initiating_party"], pb.PARTY_UNSPECIFIED),
        rule_set_version=idr["rule_set_version"],
        administrative_fee_cents=idr["administrative_fee_cents"],
        batched=idr["batched"],
        idre_id=idr["idre_id"],
        idre_fee_cents=idr["idre_fee_cents"],
        selected_on=_iso(idr["selected_on"]),
        eligibility="" if eligible is None else ("eligible" if eligible else "ineligible"),
        provider_offer_cents=offers.get("provider", 0),
        payer_offer_cents=offers.get("payer", 0),
    )


def negotiation_to_proto(
    n: Negotiation, engine: DeadlineEngine, alternate: DeadlineEngine | None = None
) -> pb.Negotiation:
    other = n.deadlines(alternate) if alternate is not None else None
    return pb.Negotiation(
        negotiation_id=str(n.id),
        claim_id=n.claim_id,
        status=n.status,
        assignee=n.assignee,
        route=n.route,
        service_code=n.service_code,
        billed_cents=n.billed_cents,
        qpa_cents=n.qpa_cents,
        patient_cost_sharing_cents=n.patient_cost_sharing_cents,
        already_paid_cents=n.already_paid_cents,
        on_notice_sent_on=_iso(n.on_notice_sent_on),
        offers=[
            pb.Offer(
                offer_id=o["offer_id"],
                kind=o["kind"],
                party=PARTY_TO_PROTO.get(o["party"], pb.PARTY_UNSPECIFIED),
                amount_cents=o["amount_cents"],
                percent_of_qpa_bp=o["percent_of_qpa_bp"],
                made_on=_iso(o["made_on"]),
            )
            for o in n.offers
        ],
        decisions=[
            pb.Decision(
                decision_id=decision_id,
                action=ACTION_TO_PROTO.get(d["action"], pb.DECISION_ACTION_UNSPECIFIED),
                offer_id=d["offer_id"],
                counter_amount_cents=d["counter_amount_cents"],
                status=d["status"],
                proposed_by=d["proposed_by"],
            )
            for decision_id, d in n.decisions.items()
        ],
        deadlines=[
            deadline_to_proto(d, other.get(d.code) if other else None)
            for d in n.deadlines(engine).deadlines
        ],
        idr=_idr_to_proto(n.idr),
        agreed_total_cents=n.agreed_total_cents,
        award_total_cents=n.award_total_cents,
        version=n.version,
    )


def policy_fields(
    request: pb.SetClientPolicyRequest,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rules = [
        {
            "rule_id": r.rule_id,
            "min_basis_points_of_billed": r.min_basis_points_of_billed or None,
            "min_basis_points_of_qpa": r.min_basis_points_of_qpa or None,
        }
        for r in request.auto_approval_rules
    ]
    chain = [
        {"role": level.role, "business_days_left": level.business_days_left}
        for level in request.escalation_chain
    ]
    return rules, chain


def suggestion_to_proto(s: OfferSuggestion) -> pb.SuggestOfferResponse:
    return pb.SuggestOfferResponse(
        opening_offer_cents=s.opening_offer_cents,
        walk_away_floor_cents=s.walk_away_floor_cents,
        opening_percent_of_qpa_bp=s.opening_bp,
        floor_percent_of_qpa_bp=s.floor_bp,
        evidence=list(s.evidence),
        benchmark_key=s.benchmark.key,
    )
