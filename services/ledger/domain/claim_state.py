"""A claim's negotiation state as of an instant, folded from its audit entries (pure).

The fold reads the wire payloads of the other services' events (claims, negotiation,
settlement, fees). Events it does not interpret are listed in `unfolded`, never dropped, so an
auditor sees that the summary left something out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.contracts import ContractViolation
from services.ledger.domain.compliance_view import ComplianceView, compliance_view
from services.ledger.domain.entry import AuditEntry
from services.ledger.domain.timeline import payload_of


@dataclass(frozen=True, slots=True)
class Happening:
    """Where a state item came from: the event, its time and who did it."""

    event_type: str
    event_id: str
    at: datetime
    actor: str


@dataclass(frozen=True, slots=True)
class OfferItem:
    party: str
    amount_cents: int
    source: Happening


@dataclass(frozen=True, slots=True)
class MoneyItem:
    """A payment or a fee; negative amounts are reversals, recoupments and credits."""

    label: str
    amount_cents: int
    source: Happening
    counts_toward_total: bool = True


@dataclass(frozen=True, slots=True)
class DeadlineItem:
    name: str
    due_date: str
    source: Happening


@dataclass(frozen=True, slots=True)
class StatedCompliance:
    """The case's compliance report as negotiation last stated it, and the event that did."""

    view: ComplianceView
    source: Happening


@dataclass
class ClaimState:
    claim_id: str
    as_of: datetime
    events_applied: int = 0
    status: str = ""
    billed_amount_cents: int = 0
    qpa_cents: int = 0
    initial_payment_cents: int = 0
    offers: list[OfferItem] = field(default_factory=list)
    agreed: bool = False
    agreed_amount_cents: int = 0
    agreed_via: str = ""
    payments: list[MoneyItem] = field(default_factory=list)
    fees: list[MoneyItem] = field(default_factory=list)
    deadlines: dict[str, DeadlineItem] = field(default_factory=dict)
    compliance: StatedCompliance | None = None
    unfolded: list[AuditEntry] = field(default_factory=list)
    first_event_at: datetime | None = None
    last_event_at: datetime | None = None

    @property
    def paid_total_cents(self) -> int:
        return sum(p.amount_cents for p in self.payments if p.counts_toward_total)

    @property
    def fees_total_cents(self) -> int:
        return sum(f.amount_cents for f in self.fees if f.counts_toward_total)


Fold = Callable[[ClaimState, dict[str, Any], Happening], None]


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected integer cents, got {value!r}")
    return value


def _set_deadline(state: ClaimState, name: str, due: Any, source: Happening) -> None:
    if due:
        state.deadlines[name] = DeadlineItem(name, str(due), source)


# -- claims -------------------------------------------------------------------------------


def _claim_registered(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    claim = p.get("claim") or {}
    state.status = "registered"
    state.billed_amount_cents = _int(
        claim.get("billed_cents") or claim.get("total_billed_cents") or 0
    )


def _adjudication_recorded(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    adjudication = p.get("adjudication") or {}
    state.status = str(p.get("status") or state.status)
    state.initial_payment_cents = _int(adjudication.get("paid_cents", 0))
    if adjudication.get("qpa_cents"):
        state.qpa_cents = _int(adjudication["qpa_cents"])


def _status_from_payload(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    if p.get("status"):
        state.status = str(p["status"])


def _status(value: str) -> Fold:
    def fold(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
        state.status = value

    return fold


def _appeal_decided(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    _status_from_payload(state, p, h)
    extra = _int(p.get("additional_paid_cents", 0))
    if extra:
        state.payments.append(MoneyItem(f"appeal {p.get('appeal_id', '')}", extra, h))


# -- negotiation ---------------------------------------------------------------------------


def _negotiation_opened(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    state.status = "in_negotiation"
    state.billed_amount_cents = _int(p.get("billed_cents", state.billed_amount_cents))
    state.qpa_cents = _int(p.get("qpa_cents", state.qpa_cents))
    if p.get("already_paid_cents") is not None and not state.initial_payment_cents:
        state.initial_payment_cents = _int(p["already_paid_cents"])


def _claim_facts_noted(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    if p.get("billed_cents") is not None:
        state.billed_amount_cents = _int(p["billed_cents"])


def _adjudication_noted(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    paid = _int(p.get("paid_cents", 0))
    qpa = _int(p.get("qpa_cents", 0))
    state.initial_payment_cents = paid
    if qpa:
        state.qpa_cents = qpa


def _notice_sent(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    _set_deadline(state, "open_negotiation_started", p.get("sent_on"), h)


def _offer(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    state.offers.append(OfferItem(str(p.get("party", "")), _int(p["amount_cents"]), h))


def _settlement_agreed(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    amount = _int(p["agreed_total_cents"])
    state.status = "agreed"
    state.agreed = True
    state.agreed_amount_cents = amount
    state.agreed_via = "settlement during IDR" if p.get("during_idr") else "open negotiation"
    _set_deadline(state, "payment_due", p.get("payment_due_on"), h)
    _set_deadline(state, "settlement_report_due", p.get("report_due_on"), h)


def _escalation(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    _set_deadline(state, str(p.get("deadline_code", "deadline")), p.get("due_on"), h)


def _extension(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    _set_deadline(state, str(p.get("deadline_code", "deadline")), p.get("new_due_on"), h)


def _idr_initiated(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    state.status = "in_idr"


def _idr_offer(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    state.offers.append(OfferItem(f"{p.get('party', '')} (IDR)", _int(p["amount_cents"]), h))


def _idr_determined(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    award = _int(p["award_total_cents"])
    state.status = "determined"
    state.agreed = True
    state.agreed_amount_cents = award
    state.agreed_via = f"IDR determination ({p.get('prevailing_party', '')} prevailed)"
    _set_deadline(state, "payment_due", p.get("payment_due_on"), h)
    _set_deadline(state, "idre_fee_refund_due", p.get("fee_refund_due_on"), h)


def _cooling_off(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    _set_deadline(state, "cooling_off_ends", p.get("ends_on"), h)


def _idr_closed(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    state.status = f"idr_closed ({p.get('outcome', '')})"


# -- settlement -----------------------------------------------------------------------------


def _settlement_opened(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    if not state.agreed and p.get("agreed_total_cents") is not None:
        state.agreed = True
        state.agreed_amount_cents = _int(p["agreed_total_cents"])
        state.agreed_via = str(p.get("source", "settlement"))
    _set_deadline(state, "payment_due", p.get("due_date"), h)


def _money(label_key: str, sign: int, counts: bool = True) -> Fold:
    def fold(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
        label = str(p.get(label_key) or p.get("reference") or h.event_type)
        state.payments.append(MoneyItem(label, sign * _int(p["amount_cents"]), h, counts))

    return fold


def _overdue(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    state.status = "payment_overdue"


# -- fees ------------------------------------------------------------------------------------


def _fee_assessed(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    line = p.get("line")
    if line:
        state.fees.append(MoneyItem(str(line.get("kind", "fee")), _int(line["amount_cents"]), h))


def _idr_fee_passed_through(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    line = p.get("line")
    amount = _int(line["amount_cents"]) if line else _int(p["amount_cents"])
    state.fees.append(MoneyItem("idr fee pass-through", amount, h))


def _compliance_stated(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    """Negotiation's report as it stood after an act; the one stated for the latest act wins
    (a consumer that lags may append an earlier act's report after a later one)."""
    view = compliance_view(p)
    if state.compliance is None or view.source_occurred_at >= (
            state.compliance.view.source_occurred_at):
        state.compliance = StatedCompliance(view, h)


def _recorded_only(state: ClaimState, p: dict[str, Any], h: Happening) -> None:
    """A fact that belongs in the timeline but does not change the summarised state."""


FOLDS: dict[str, Fold] = {
    # claims
    "ClaimRegistered": _claim_registered,
    "AdjudicationRecorded": _adjudication_recorded,
    "DocumentAttached": _recorded_only,
    "ClaimTriaged": _recorded_only,
    "CleanClaimChecked": _status_from_payload,
    "ClaimReplaced": _status("replaced"),
    "ClaimVoided": _status("voided"),
    "AppealFiled": _status("in_appeal"),
    "AppealDecisionRecorded": _appeal_decided,
    "ClaimStageReached": _status_from_payload,
    "ClaimUpdated": _claim_registered,  # completed before adjudication: the whole claim again
    "ClaimWithdrawn": _status("withdrawn"),
    "NegotiationRefusalRecorded": _recorded_only,
    # negotiation
    "Opened": _negotiation_opened,
    "NegotiationOpened": _negotiation_opened,
    "ClaimFactsNoted": _claim_facts_noted,
    "AdjudicationNoted": _adjudication_noted,
    "NegotiationRefused": _recorded_only,
    "AppealPaymentNoted": _recorded_only,
    "AlreadyPaidUpdated": _recorded_only,
    "NegotiationClosed": _status("negotiation_closed"),
    "OpenNegotiationNoticeSent": _notice_sent,
    "PayerResponseReceived": _recorded_only,
    "OfferMade": _offer,
    "CounterOfferMade": _offer,
    "DecisionProposed": _recorded_only,
    "DecisionApproved": _recorded_only,
    "DecisionRejected": _recorded_only,
    "SettlementAgreed": _settlement_agreed,
    "AssigneeChanged": _recorded_only,
    "EscalationRaised": _escalation,
    "DeadlineExtended": _extension,
    "IdrInitiated": _idr_initiated,
    "IdreSelected": _recorded_only,
    "IdrEligibilityDetermined": _recorded_only,
    "IdrOfferSubmitted": _idr_offer,
    "IdrDetermined": _idr_determined,
    "CoolingOffStarted": _cooling_off,
    "IdrClosed": _idr_closed,
    "IdrFeeRecorded": _recorded_only,  # a party's IDR fee paid / refunded / forfeited
    "IdrSettled": _recorded_only,  # the dispute's copy; SettlementAgreed (during_idr) counts
    "ComplianceRecordOpened": _recorded_only,
    "ComplianceReportStated": _compliance_stated,
    # settlement
    "SettlementOpened": _settlement_opened,
    "PaymentPosted": _money("payment_id", +1),
    "PaymentReversed": _money("payment_id", -1),
    "RecoupmentPosted": _money("recoupment_id", -1),
    "InterestPosted": _money("interest_id", +1, counts=False),
    "SettlementUnderpaid": _status("underpaid"),
    "SettlementOverpaid": _status("overpaid"),
    "SettlementPaidInFull": _status("paid_in_full"),
    "SettlementOverdue": _overdue,
    "PatientResponsibilityRecorded": _recorded_only,
    "BalanceBillingRiskFlagged": _recorded_only,
    "FeePosted": _recorded_only,  # the book's copy of a fee FeeAssessed already counts
    # The claim's adjudication comes from claims' AdjudicationRecorded, which this leads to.
    "InitialAdjudicationRemitted": _recorded_only,
    "UnmatchedClaimPaymentQueued": _recorded_only,
    "UnmatchedClaimPaymentResolved": _recorded_only,
    "UnmatchedServiceLineQueued": _recorded_only,
    "UnmatchedServiceLineResolved": _recorded_only,
    "SettlementWaitlistStarted": _recorded_only,
    "ClaimPaymentWaitlisted": _recorded_only,
    "FeeLineWaitlisted": _recorded_only,
    "AutomaticPostingRefused": _recorded_only,
    # fees
    "FeeAccountOpened": _recorded_only,
    "ClaimFactsRecorded": _recorded_only,
    "FeeAssessed": _fee_assessed,
    "IdrFeePassedThrough": _idr_fee_passed_through,
    # fees events on no claim's chain (a client's schedule and invoices): recorded only
    "FeeScheduleCreated": _recorded_only,
    "FeeScheduleVersionPublished": _recorded_only,
    "ClientBillingOpened": _recorded_only,
    "InvoiceIssued": _recorded_only,
    "InvoiceLinesRecorded": _recorded_only,
}


def fold_claim(claim_id: str, entries: Iterable[AuditEntry], as_of: datetime) -> ClaimState:
    """Apply, in chain order, every entry that occurred at or before `as_of`."""
    state = ClaimState(claim_id=claim_id, as_of=as_of)
    for entry in entries:
        facts = entry.facts
        if facts.occurred_at > as_of:
            continue
        state.first_event_at = state.first_event_at or facts.occurred_at
        state.last_event_at = facts.occurred_at
        fold = FOLDS.get(facts.event_type)
        if fold is None:
            state.unfolded.append(entry)
            continue
        happening = Happening(facts.event_type, facts.event_id, facts.occurred_at, facts.actor)
        try:
            fold(state, payload_of(facts), happening)
        except (ValueError, TypeError, KeyError, AttributeError, ContractViolation):
            # A payload this fold cannot read (an unknown schema version): list it, do not guess.
            state.unfolded.append(entry)
            continue
        state.events_applied += 1
    return state
