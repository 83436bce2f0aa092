"""Assessing a claim's fee account when a payment, reversal, recoupment or IDR fee fact arrives.

The account keeps cumulative amounts; each fact recomputes the total fee under the schedule version
in force on the fact's date and records only the difference from what was already billed: a
positive difference is an invoice line, a negative one a credit memo. A fact already seen (same
upstream event id) produces nothing, which makes redelivery harmless.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NotRequired, TypedDict

from services.fees.domain.arithmetic import FeeComputation, compute_fee
from services.fees.domain.schedule import FeeBase, FeeTerms, ResolutionStage, ScheduleVersion

FEE_LINE_NAMESPACE = uuid.UUID("6f1c2a8e-5b7d-4f0e-9c33-2d8e4b1a7f60")


class PaymentKind(StrEnum):
    PAYMENT = "PAYMENT"
    REVERSAL = "REVERSAL"
    RECOUPMENT = "RECOUPMENT"
    INTEREST = "INTEREST"


class FeeCause(StrEnum):
    PAYMENT = "PAYMENT"
    REVERSAL = "REVERSAL"
    RECOUPMENT = "RECOUPMENT"
    IDR_FEE_PASS_THROUGH = "IDR_FEE_PASS_THROUGH"  # noqa: S105 (a cause, not a secret)
    INTEREST = "INTEREST"


class FeeLineKind(StrEnum):
    INVOICE_LINE = "INVOICE_LINE"
    CREDIT_MEMO = "CREDIT_MEMO"


@dataclass(frozen=True)
class PaymentFact:
    """A settlement fact, normalised: `amount_cents` is the signed change in cash the provider
    keeps (a reversal or recoupment is negative), `interest_cents` likewise."""

    source_event_id: str
    kind: PaymentKind
    amount_cents: int
    posting_date: dt.date
    remittance_trn: str
    interest_cents: int = 0
    payer_id: str = ""
    references: LineReferences | None = None
    """The deposit and claim the money fact names (what its fee line references)."""


@dataclass(frozen=True)
class LineReferences:
    """What a fee line ties to (DOMAIN.md §4 "Audit"): the deposit the money came in (the
    ERA's TRN02 is the line's `remittance_trn`, its BPR16 date `deposit_date`), the claim's
    CLP07/ICN and the PLB03-2 reference as keyed hash and sealed (never plain)."""

    deposit_date: dt.date | None = None
    payer_claim_control_number_index: str = ""
    payer_claim_control_number_sealed: str = ""
    plb_reference_index: str = ""
    plb_reference_sealed: str = ""


@dataclass(frozen=True)
class IdrFeeFact:
    """An IDR fee the client bore (positive) or got back (negative, e.g. a refund)."""

    source_event_id: str
    amount_cents: int
    fee_date: dt.date
    dispute_number: str = ""


@dataclass(frozen=True)
class FeeLine:
    line_id: str
    kind: FeeLineKind
    cause: FeeCause
    amount_cents: int
    line_date: dt.date
    claim_id: str
    client_id: str
    remittance_trn: str
    schedule_version: int
    source_event_id: str
    cumulative_recovered_cents: int
    cumulative_fee_cents: int
    references: LineReferences = LineReferences()
    # The formula's inputs besides the cumulative recovered amount: the stage whose tiers
    # applied, the base ("INCREMENTAL" / "FULL_AWARD") and whether interest counted.
    resolution_stage: str = ""
    fee_base: str = ""
    interest_included: bool = False


class LineRecord(TypedDict):
    """A FeeLine as events store it (enums as their values, the date as ISO text)."""

    line_id: str
    kind: str
    cause: str
    amount_cents: int
    line_date: str
    claim_id: str
    client_id: str
    remittance_trn: str
    schedule_version: int
    source_event_id: str
    cumulative_recovered_cents: int
    cumulative_fee_cents: int
    # Recorded since issue 16 (absent from older lines: empty).
    deposit_date: NotRequired[str]
    payer_claim_control_number_index: NotRequired[str]
    payer_claim_control_number_sealed: NotRequired[str]
    plb_reference_index: NotRequired[str]
    plb_reference_sealed: NotRequired[str]
    resolution_stage: NotRequired[str]
    fee_base: NotRequired[str]
    interest_included: NotRequired[bool]


def line_to_record(line: FeeLine) -> LineRecord:
    refs = line.references
    return LineRecord(
        line_id=line.line_id,
        kind=line.kind.value,
        cause=line.cause.value,
        amount_cents=line.amount_cents,
        line_date=line.line_date.isoformat(),
        claim_id=line.claim_id,
        client_id=line.client_id,
        remittance_trn=line.remittance_trn,
        schedule_version=line.schedule_version,
        source_event_id=line.source_event_id,
        cumulative_recovered_cents=line.cumulative_recovered_cents,
        cumulative_fee_cents=line.cumulative_fee_cents,
        deposit_date=refs.deposit_date.isoformat() if refs.deposit_date else "",
        payer_claim_control_number_index=refs.payer_claim_control_number_index,
        payer_claim_control_number_sealed=refs.payer_claim_control_number_sealed,
        plb_reference_index=refs.plb_reference_index,
        plb_reference_sealed=refs.plb_reference_sealed,
        resolution_stage=line.resolution_stage,
        fee_base=line.fee_base,
        interest_included=line.interest_included,
    )


def line_from_record(record: LineRecord) -> FeeLine:
    """The line of a stored record (the records of invoices closed before lines were typed
    also carry the read model's `invoice_id`, ignored here)."""
    return FeeLine(
        line_id=record["line_id"],
        kind=FeeLineKind(record["kind"]),
        cause=FeeCause(record["cause"]),
        amount_cents=int(record["amount_cents"]),
        line_date=dt.date.fromisoformat(record["line_date"]),
        claim_id=record["claim_id"],
        client_id=record["client_id"],
        remittance_trn=record["remittance_trn"],
        schedule_version=int(record["schedule_version"]),
        source_event_id=record["source_event_id"],
        cumulative_recovered_cents=int(record["cumulative_recovered_cents"]),
        cumulative_fee_cents=int(record["cumulative_fee_cents"]),
        references=LineReferences(
            deposit_date=(dt.date.fromisoformat(record["deposit_date"])
                          if record.get("deposit_date") else None),
            payer_claim_control_number_index=record.get("payer_claim_control_number_index", ""),
            payer_claim_control_number_sealed=record.get("payer_claim_control_number_sealed",
                                                         ""),
            plb_reference_index=record.get("plb_reference_index", ""),
            plb_reference_sealed=record.get("plb_reference_sealed", ""),
        ),
        resolution_stage=record.get("resolution_stage", ""),
        fee_base=record.get("fee_base", ""),
        interest_included=bool(record.get("interest_included", False)),
    )


@dataclass(frozen=True)
class AccountState:
    tenant_id: str
    claim_id: str
    client_id: str
    stage: ResolutionStage = ResolutionStage.UNSPECIFIED
    initial_payment_cents: int = 0
    paid_cents: int = 0
    """Net of payments and reversals, initial payment excluded."""
    recouped_cents: int = 0
    """Taken back by recoupment (positive)."""
    interest_cents: int = 0
    fee_billed_cents: int = 0
    pass_through_billed_cents: int = 0
    payer_id: str = ""
    service_code: str = ""
    processed: frozenset[str] = field(default_factory=frozenset)

    def recovered_cents(self, terms: FeeTerms) -> int:
        """The contract's base: net collected, plus interest if it counts, plus the initial
        payment when the percentage applies to the full award."""
        recovered = self.paid_cents - self.recouped_cents
        if terms.include_interest:
            recovered += self.interest_cents
        if terms.base is FeeBase.FULL_AWARD:
            recovered += self.initial_payment_cents
        return recovered

    @property
    def incremental_recovered_cents(self) -> int:
        """Collected above the initial payment, interest excluded (what ROI reports)."""
        return self.paid_cents - self.recouped_cents


@dataclass(frozen=True)
class PaymentAssessment:
    fact: PaymentFact
    schedule_version: int | None
    """None when no schedule version was in force: the cash is recorded, the fee waits for the
    next assessment (cumulative recomputation catches up)."""
    computation: FeeComputation | None
    fee_after_cents: int
    line: FeeLine | None


@dataclass(frozen=True)
class IdrFeeAssessment:
    fact: IdrFeeFact
    schedule_version: int | None
    line: FeeLine | None


def line_id_for(tenant_id: str, claim_id: str, source_event_id: str) -> str:
    return str(uuid.uuid5(FEE_LINE_NAMESPACE, f"{tenant_id}/{claim_id}/{source_event_id}"))


def _line(state: AccountState, *, cause: FeeCause, delta_cents: int, line_date: dt.date,
          trn: str, version: ScheduleVersion, source_event_id: str, recovered: int,
          cumulative_fee: int, references: LineReferences | None = None) -> FeeLine:
    return FeeLine(
        line_id=line_id_for(state.tenant_id, state.claim_id, source_event_id),
        kind=FeeLineKind.INVOICE_LINE if delta_cents > 0 else FeeLineKind.CREDIT_MEMO,
        cause=cause,
        amount_cents=delta_cents,
        line_date=line_date,
        claim_id=state.claim_id,
        client_id=state.client_id,
        remittance_trn=trn,
        schedule_version=version.version,
        source_event_id=source_event_id,
        cumulative_recovered_cents=recovered,
        cumulative_fee_cents=cumulative_fee,
        references=references or LineReferences(),
        resolution_stage=state.stage.value,
        fee_base=version.terms.base.value,
        interest_included=version.terms.include_interest,
    )


def with_payment(state: AccountState, fact: PaymentFact) -> AccountState:
    """The account's cash after `fact`, before any fee is considered."""
    if fact.kind is PaymentKind.RECOUPMENT:
        paid, recouped = state.paid_cents, state.recouped_cents - fact.amount_cents
    else:
        paid, recouped = state.paid_cents + fact.amount_cents, state.recouped_cents
    return replace(
        state,
        paid_cents=paid,
        recouped_cents=recouped,
        interest_cents=state.interest_cents + fact.interest_cents,
        payer_id=fact.payer_id or state.payer_id,
    )


def assess_payment(state: AccountState, fact: PaymentFact,
                   version: ScheduleVersion | None) -> PaymentAssessment:
    """Decide the fee effect of one settlement fact under the version in force on its date."""
    after = with_payment(state, fact)
    if version is None:
        return PaymentAssessment(fact, None, None, state.fee_billed_cents, None)
    recovered = after.recovered_cents(version.terms)
    computation = compute_fee(version.terms, state.stage, recovered)
    delta = computation.fee_cents - state.fee_billed_cents
    line = None
    if delta:
        line = _line(state, cause=FeeCause(fact.kind.value), delta_cents=delta,
                     line_date=fact.posting_date, trn=fact.remittance_trn,
                     version=version, source_event_id=fact.source_event_id,
                     recovered=recovered, cumulative_fee=computation.fee_cents,
                     references=fact.references)
    return PaymentAssessment(fact, version.version, computation, computation.fee_cents, line)


def apply_payment_assessment(state: AccountState, assessment: PaymentAssessment) -> AccountState:
    after = with_payment(state, assessment.fact)
    return replace(after, fee_billed_cents=assessment.fee_after_cents,
                   processed=state.processed | {assessment.fact.source_event_id})


def assess_idr_fee(state: AccountState, fact: IdrFeeFact,
                   version: ScheduleVersion | None) -> IdrFeeAssessment:
    """Pass an IDR fee through to the client when the contract in force says so; the total passed
    through never goes below zero."""
    if version is None or not version.terms.pass_through_idr_fees:
        return IdrFeeAssessment(fact, version.version if version else None, None)
    total_after = max(0, state.pass_through_billed_cents + fact.amount_cents)
    delta = total_after - state.pass_through_billed_cents
    line = None
    if delta:
        line = _line(state, cause=FeeCause.IDR_FEE_PASS_THROUGH, delta_cents=delta,
                     line_date=fact.fee_date, trn=fact.dispute_number, version=version,
                     source_event_id=fact.source_event_id,
                     recovered=state.recovered_cents(version.terms),
                     cumulative_fee=state.fee_billed_cents)
    return IdrFeeAssessment(fact, version.version, line)


def apply_idr_fee_assessment(state: AccountState, assessment: IdrFeeAssessment) -> AccountState:
    billed = state.pass_through_billed_cents + (assessment.line.amount_cents
                                                if assessment.line else 0)
    return replace(state, pass_through_billed_cents=billed,
                   processed=state.processed | {assessment.fact.source_event_id})
