"""835 matching (DOMAIN.md §2.4): which claim an 835 claim payment (CLP) pays, and which 837
line each of its service lines (SVC) paid. Pure: no I/O.

Claim level, rules 1-4 in order (`match_claim`): exact CLP01, CLP07 ICN, REF*F8, then a
truncated CLP01 prefix with the same payee NPI/TIN, first date of service and charge; the first
rule naming exactly one claim wins; ambiguity is never guessed (it is an exception).

Line level, rule 5 (`match_lines`), only after the CLP matched a claim. For each SVC, in order:

1. `REF*6R` equal to the stored 837 line control number (REF*6R of the 837 line) names the line.
2. Otherwise (no REF*6R, or one no stored line carries): the submitted procedure code (SVC06 when
   the payer re-coded the line, else SVC01), the modifiers (as a set), the date of service
   (line DTM*472/150, else a one-day claim statement period) and the line charge (SVC02, exact
   integer cents; a reversal's negated charge compares by magnitude).

Exactly one 837 line must qualify. None is `unmatched`, two or more is `ambiguous`: both are
kept with the reason and the candidate lines, never dropped and never resolved by a guess.
Several SVCs may name the same 837 line: a payer that unbundles a line repeats its REF*6R.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from services.common.phi import PATIENT_CONTROL_NUMBER, PAYER_CLAIM_NUMBER
from services.settlement.domain.remittance import ClaimPayment, ServiceLine

# -- claim level: rules 1-4 ------------------------------------------------------------------
RULE_PATIENT_CONTROL_NUMBER = "patient-control-number"
RULE_PAYER_CLAIM_CONTROL_NUMBER = "payer-claim-control-number"
RULE_ORIGINAL_REFERENCE = "original-reference"
RULE_TRUNCATED_PATIENT_CONTROL_NUMBER = "truncated-patient-control-number"


# How an identifier is looked up: (kind, value) -> its key. Outside the event store the claims
# are known by keyed hashes only (`PhiKeys.index` with the tenant, see adapters/sql.py), so the
# 835's CLP01/CLP07/REF*F8/PLB03-2 are turned into the same keys and looked up; the pure tests
# use the plain values (`plain_key`).
IdentifierKey = Callable[[str, str], str]


def plain_key(kind: str, value: str) -> str:
    return value


def prefixes_of(number: str) -> frozenset[str]:
    """The proper prefixes of a patient control number: what a payer may truncate it to."""
    return frozenset(number[:n] for n in range(1, len(number)))


@dataclass(frozen=True, slots=True)
class ClaimReference:
    """What settlement knows about a claim for matching (kept from the claims service's events).

    `patient_control_number` and `payer_claim_control_numbers` hold the identifiers' keys (their
    keyed hashes in the service); `patient_control_number_prefixes` the keys of the number's
    proper prefixes (rule 4), computed from the number when None (plain keys only).
    """

    claim_id: str
    patient_control_number: str
    payer_claim_control_numbers: frozenset[str] = frozenset()
    billing_npi: str = ""
    billing_tin: str = ""
    first_service_date: date | None = None
    charge_cents: int = 0
    lines: tuple[ClaimLine, ...] = ()  # the 837 service lines, for rule 5
    patient_control_number_prefixes: frozenset[str] | None = None
    # The claims service recorded the payer's adjudication (AdjudicationRecorded): a CLP for a
    # claim without one and without a settlement is its initial adjudication.
    adjudicated: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    claim_id: str
    rule: str


@dataclass(frozen=True, slots=True)
class NoMatch:
    reason: str


@dataclass
class ClaimIndex:
    """One tenant's claims indexed for the four claim-level rules (pure, in memory), by key."""

    key: IdentifierKey = plain_key
    by_patient_control_number: dict[str, list[ClaimReference]] = field(default_factory=dict)
    by_icn: dict[str, list[ClaimReference]] = field(default_factory=dict)
    by_prefix: dict[str, list[ClaimReference]] = field(default_factory=dict)
    by_claim_id: dict[str, ClaimReference] = field(default_factory=dict)

    @classmethod
    def build(
        cls, claims: Iterable[ClaimReference], key: IdentifierKey = plain_key
    ) -> ClaimIndex:
        index = cls(key)
        for claim in claims:
            index.add(claim)
        return index

    def add(self, claim: ClaimReference) -> None:
        number = claim.patient_control_number
        self.by_claim_id[claim.claim_id] = claim
        if number:
            self.by_patient_control_number.setdefault(number, []).append(claim)
        prefixes = claim.patient_control_number_prefixes
        if prefixes is None:
            prefixes = prefixes_of(number)
        for prefix in prefixes:
            self.by_prefix.setdefault(prefix, []).append(claim)
        for icn in claim.payer_claim_control_numbers:
            self.by_icn.setdefault(icn, []).append(claim)

    def pcn_key(self, value: str) -> str:
        return self.key(PATIENT_CONTROL_NUMBER, value) if value else ""

    def icn_key(self, value: str) -> str:
        return self.key(PAYER_CLAIM_NUMBER, value) if value else ""

    def with_pcn(self, value: str) -> list[ClaimReference]:
        return self.by_patient_control_number.get(self.pcn_key(value), []) if value else []

    def with_icn(self, value: str) -> list[ClaimReference]:
        return self.by_icn.get(self.icn_key(value), []) if value else []

    def link_icn(self, claim_id: str, icn: str) -> None:
        """Remember an ICN seen on a posted payment so later reversals match by rule 2/3."""
        claim = self.by_claim_id.get(claim_id)
        if claim is None or not icn:
            return
        linked = self.by_icn.setdefault(self.icn_key(icn), [])
        if claim not in linked:
            linked.append(claim)

    def _prefix_candidates(self, prefix: str) -> list[ClaimReference]:
        """Claims whose patient control number starts with `prefix` (and is longer)."""
        return list(self.by_prefix.get(self.pcn_key(prefix), [])) if prefix else []


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
    exact = index.with_pcn(payment.patient_control_number)
    if (found := _unique(exact)) is not None:
        return Match(found.claim_id, RULE_PATIENT_CONTROL_NUMBER)
    if payment.payer_claim_control_number:
        by_icn = index.with_icn(payment.payer_claim_control_number)
        if (found := _unique(by_icn)) is not None:
            return Match(found.claim_id, RULE_PAYER_CLAIM_CONTROL_NUMBER)
    if payment.original_reference:
        by_ref = index.with_icn(payment.original_reference)
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


# -- line level: rule 5 ----------------------------------------------------------------------
RULE_LINE_CONTROL_NUMBER = "line-control-number"
RULE_PROCEDURE_DATE_CHARGE = "procedure-modifiers-date-charge"

MATCHED = "matched"
UNMATCHED = "unmatched"
AMBIGUOUS = "ambiguous"

# SVC01-1 qualifier of a revenue code (institutional lines without a HCPCS code).
_REVENUE_QUALIFIER = "NU"


@dataclass(frozen=True, slots=True)
class ClaimLine:
    """One 837 service line as settlement keeps it (from the claims service's ClaimRegistered)."""

    number: int  # 1-based position in the 837 claim (LX)
    line_control_number: str
    procedure_code: str
    modifiers: tuple[str, ...]
    service_date: date | None
    charge_cents: int
    revenue_code: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "line_control_number": self.line_control_number,
            "procedure_code": self.procedure_code,
            "modifiers": list(self.modifiers),
            "service_date": self.service_date.isoformat() if self.service_date else "",
            "charge_cents": self.charge_cents,
            "revenue_code": self.revenue_code,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClaimLine:
        service_date = d.get("service_date") or ""
        return cls(
            number=int(d["number"]),
            line_control_number=str(d.get("line_control_number") or ""),
            procedure_code=str(d.get("procedure_code") or ""),
            modifiers=tuple(str(m) for m in d.get("modifiers") or ()),
            service_date=date.fromisoformat(service_date) if service_date else None,
            charge_cents=int(d.get("charge_cents") or 0),
            revenue_code=str(d.get("revenue_code") or ""),
        )


@dataclass(frozen=True, slots=True)
class LineMatch:
    """What one SVC was matched to; stored on the payment event as `to_dict()`."""

    svc: int  # 1-based position of the SVC in its CLP
    procedure_code: str
    modifiers: tuple[str, ...]
    service_date: date | None
    charge_cents: int
    paid_cents: int
    reported_line_control_number: str  # the 835's REF*6R ("" when absent)
    outcome: str  # matched / unmatched / ambiguous
    rule: str = ""
    claim_line: int = 0  # the 837 line number (0 when not matched)
    claim_line_control_number: str = ""
    candidates: tuple[int, ...] = ()  # 837 line numbers that qualified (ambiguous)
    reason: str = ""

    @property
    def matched(self) -> bool:
        return self.outcome == MATCHED

    def to_dict(self) -> dict[str, Any]:
        return {
            "svc": self.svc,
            "procedure_code": self.procedure_code,
            "modifiers": list(self.modifiers),
            "service_date": self.service_date.isoformat() if self.service_date else "",
            "charge_cents": self.charge_cents,
            "paid_cents": self.paid_cents,
            "reported_line_control_number": self.reported_line_control_number,
            "outcome": self.outcome,
            "rule": self.rule,
            "claim_line": self.claim_line,
            "claim_line_control_number": self.claim_line_control_number,
            "candidates": list(self.candidates),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LineMatch:
        """The inverse of `to_dict` (a payment event's stored line match)."""
        service_date = d.get("service_date") or ""
        return cls(
            svc=int(d["svc"]),
            procedure_code=str(d["procedure_code"]),
            modifiers=tuple(d.get("modifiers") or ()),
            service_date=date.fromisoformat(service_date) if service_date else None,
            charge_cents=int(d["charge_cents"]),
            paid_cents=int(d["paid_cents"]),
            reported_line_control_number=str(d.get("reported_line_control_number") or ""),
            outcome=str(d["outcome"]),
            rule=str(d.get("rule") or ""),
            claim_line=int(d.get("claim_line") or 0),
            claim_line_control_number=str(d.get("claim_line_control_number") or ""),
            candidates=tuple(int(c) for c in d.get("candidates") or ()),
            reason=str(d.get("reason") or ""),
        )


def submitted_procedure(line: ServiceLine) -> tuple[str, str, tuple[str, ...]]:
    """(qualifier, code, modifiers) as the provider billed it: SVC06 when present, else SVC01."""
    composite = line.submitted_procedure or line.procedure
    qualifier = composite[0] if composite else ""
    code = composite[1] if len(composite) > 1 else ""
    modifiers = tuple(m for m in composite[2:6] if m)
    return qualifier, code, modifiers


def service_date_of(line: ServiceLine, claim: ClaimPayment) -> date | None:
    """The line's DTM*472/150, else the claim's statement period when it is a single day."""
    if line.service_date is not None:
        return line.service_date
    if claim.statement_from is not None and claim.statement_to in (None, claim.statement_from):
        return claim.statement_from
    return None


def _same_service(
    candidate: ClaimLine,
    qualifier: str,
    code: str,
    modifiers: tuple[str, ...],
    service_date: date | None,
    charge_cents: int,
) -> bool:
    revenue = qualifier == _REVENUE_QUALIFIER
    billed_code = candidate.revenue_code if revenue else candidate.procedure_code
    return (
        bool(code)
        and code == billed_code
        and sorted(modifiers) == sorted(m for m in candidate.modifiers if m)
        and service_date is not None
        and candidate.service_date == service_date
        and candidate.charge_cents == abs(charge_cents)
    )


def match_line(
    svc: int, line: ServiceLine, claim: ClaimPayment, claim_lines: Sequence[ClaimLine]
) -> LineMatch:
    qualifier, code, modifiers = submitted_procedure(line)
    service_date = service_date_of(line, claim)
    base = LineMatch(
        svc=svc,
        procedure_code=code,
        modifiers=modifiers,
        service_date=service_date,
        charge_cents=line.charge_cents,
        paid_cents=line.paid_cents,
        reported_line_control_number=line.line_control_number,
        outcome=UNMATCHED,
    )
    if not claim_lines:
        return _with(base, UNMATCHED, reason="settlement knows no 837 lines for this claim")
    echoed = line.line_control_number
    if echoed:
        by_control = [c for c in claim_lines if c.line_control_number == echoed]
        if len(by_control) == 1:
            return _matched(base, RULE_LINE_CONTROL_NUMBER, by_control[0])
        if len(by_control) > 1:
            return _with(
                base,
                AMBIGUOUS,
                candidates=tuple(c.number for c in by_control),
                reason=f"REF*6R {echoed} names several lines of the claim",
            )
    by_service = [
        c
        for c in claim_lines
        if _same_service(c, qualifier, code, modifiers, service_date, line.charge_cents)
    ]
    if len(by_service) == 1:
        return _matched(base, RULE_PROCEDURE_DATE_CHARGE, by_service[0])
    not_echoed = f"REF*6R {echoed} is on no line of the claim; " if echoed else ""
    if by_service:
        return _with(
            base,
            AMBIGUOUS,
            candidates=tuple(c.number for c in by_service),
            reason=f"{not_echoed}procedure, modifiers, date and charge fit several lines",
        )
    return _with(
        base,
        UNMATCHED,
        reason=f"{not_echoed}no line with this procedure, modifiers, date and charge",
    )


def _matched(base: LineMatch, rule: str, line: ClaimLine) -> LineMatch:
    return _with(
        base,
        MATCHED,
        rule=rule,
        claim_line=line.number,
        claim_line_control_number=line.line_control_number,
    )


def _with(base: LineMatch, outcome: str, **changes: Any) -> LineMatch:
    return replace(base, outcome=outcome, **changes)


def match_lines(claim: ClaimPayment, claim_lines: Sequence[ClaimLine]) -> tuple[LineMatch, ...]:
    """One result per SVC of the CLP, in file order."""
    return tuple(
        match_line(number, line, claim, claim_lines)
        for number, line in enumerate(claim.service_lines, start=1)
    )
