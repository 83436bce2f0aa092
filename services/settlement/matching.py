"""Match an 835 claim payment to one of the tenant's claims (ordered rules, DOMAIN.md §2.4)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from services.settlement.line_matching import ClaimLine
from services.settlement.remittance import ClaimPayment

RULE_PATIENT_CONTROL_NUMBER = "patient-control-number"
RULE_PAYER_CLAIM_CONTROL_NUMBER = "payer-claim-control-number"
RULE_ORIGINAL_REFERENCE = "original-reference"
RULE_TRUNCATED_PATIENT_CONTROL_NUMBER = "truncated-patient-control-number"


@dataclass(frozen=True, slots=True)
class ClaimReference:
    """What settlement knows about a claim for matching (kept from the claims service's events)."""

    claim_id: str
    patient_control_number: str
    payer_claim_control_numbers: frozenset[str] = frozenset()
    billing_npi: str = ""
    billing_tin: str = ""
    first_service_date: date | None = None
    charge_cents: int = 0
    lines: tuple[ClaimLine, ...] = ()  # the 837 service lines, for rule 5


@dataclass(frozen=True, slots=True)
class Match:
    claim_id: str
    rule: str


@dataclass(frozen=True, slots=True)
class NoMatch:
    reason: str


@dataclass
class ClaimIndex:
    """One tenant's claims indexed for the four claim-level rules (pure, in memory)."""

    by_patient_control_number: dict[str, list[ClaimReference]] = field(default_factory=dict)
    by_icn: dict[str, list[ClaimReference]] = field(default_factory=dict)
    sorted_numbers: list[str] = field(default_factory=list)
    by_claim_id: dict[str, ClaimReference] = field(default_factory=dict)

    @classmethod
    def build(cls, claims: Iterable[ClaimReference]) -> ClaimIndex:
        index = cls()
        for claim in claims:
            index.add(claim)
        return index

    def add(self, claim: ClaimReference) -> None:
        number = claim.patient_control_number
        self.by_claim_id[claim.claim_id] = claim
        if number not in self.by_patient_control_number:
            bisect.insort(self.sorted_numbers, number)
        self.by_patient_control_number.setdefault(number, []).append(claim)
        for icn in claim.payer_claim_control_numbers:
            self.by_icn.setdefault(icn, []).append(claim)

    def link_icn(self, claim_id: str, icn: str) -> None:
        """Remember an ICN seen on a posted payment so later reversals match by rule 2/3."""
        claim = self.by_claim_id.get(claim_id)
        if claim is None or not icn:
            return
        linked = self.by_icn.setdefault(icn, [])
        if claim not in linked:
            linked.append(claim)

    def _prefix_candidates(self, prefix: str) -> list[ClaimReference]:
        start = bisect.bisect_left(self.sorted_numbers, prefix)
        found: list[ClaimReference] = []
        for number in self.sorted_numbers[start:]:
            if not number.startswith(prefix):
                break
            if number != prefix:
                found.extend(self.by_patient_control_number[number])
        return found


def _unique(claims: list[ClaimReference]) -> ClaimReference | None:
    ids = {c.claim_id for c in claims}
    return claims[0] if len(ids) == 1 else None


def _same_claim_facts(
    claim: ClaimReference, payment: ClaimPayment, payee_npi: str, payee_tin: str
) -> bool:
    same_payee = (bool(payee_npi) and payee_npi == claim.billing_npi) or (
        bool(payee_tin) and payee_tin == claim.billing_tin
    )
    return (
        same_payee
        and claim.first_service_date is not None
        and claim.first_service_date == payment.first_service_date
        and claim.charge_cents == abs(payment.charge_cents)
    )


def match_claim(
    index: ClaimIndex, payment: ClaimPayment, *, payee_npi: str = "", payee_tin: str = ""
) -> Match | NoMatch:
    """Apply rules 1-4 in order; the first rule naming exactly one claim wins."""
    exact = index.by_patient_control_number.get(payment.patient_control_number, [])
    if (found := _unique(exact)) is not None:
        return Match(found.claim_id, RULE_PATIENT_CONTROL_NUMBER)
    if payment.payer_claim_control_number:
        by_icn = index.by_icn.get(payment.payer_claim_control_number, [])
        if (found := _unique(by_icn)) is not None:
            return Match(found.claim_id, RULE_PAYER_CLAIM_CONTROL_NUMBER)
    if payment.original_reference:
        by_ref = index.by_icn.get(payment.original_reference, [])
        if (found := _unique(by_ref)) is not None:
            return Match(found.claim_id, RULE_ORIGINAL_REFERENCE)
    if payment.patient_control_number:
        candidates = [
            claim
            for claim in index._prefix_candidates(payment.patient_control_number)
            if _same_claim_facts(claim, payment, payee_npi, payee_tin)
        ]
        if (found := _unique(candidates)) is not None:
            return Match(found.claim_id, RULE_TRUNCATED_PATIENT_CONTROL_NUMBER)
        if len({c.claim_id for c in candidates}) > 1:
            return NoMatch("truncated patient control number matches several claims")
    if len({c.claim_id for c in exact}) > 1:
        return NoMatch("patient control number names several claims")
    return NoMatch("no claim with this patient control number, payer claim number or F8 reference")
