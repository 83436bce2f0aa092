"""Build realistic X12 835 files from a small specification, for tests, benchmarks and the demo.

Every generated claim balances by construction (CO-45 write-down plus PR-2 coinsurance), so a
test breaks balancing on purpose with `total_paid_override`, never by accident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from services.common.money import x12_amount

_SEGMENT = "~\n"


@dataclass(frozen=True)
class LineSpec:
    """One SVC of a multi-line claim (CO-45 write-down plus PR-2, like the single-line form)."""

    procedure: str
    charge_cents: int
    paid_cents: int
    patient_responsibility_cents: int = 0
    modifiers: tuple[str, ...] = ()
    line_control_number: str = ""  # REF*6R, omitted when empty
    service_date: date | None = None  # DTM*472, the claim's service date when None

    def negated(self) -> LineSpec:
        return replace(
            self,
            charge_cents=-self.charge_cents,
            paid_cents=-self.paid_cents,
            patient_responsibility_cents=-self.patient_responsibility_cents,
        )


@dataclass(frozen=True)
class ClaimSpec:
    patient_control_number: str
    charge_cents: int
    paid_cents: int
    service_date: date
    patient_responsibility_cents: int = 0
    status_code: str = "1"
    payer_claim_control_number: str = ""
    original_reference: str = ""
    procedure: str = "99285"
    line_control_number: str = ""
    interest_cents: int = 0
    filing_indicator: str = "12"
    # Several SVCs instead of the single one; their amounts must add up to the claim's.
    lines: tuple[LineSpec, ...] = ()

    def reversed(self) -> ClaimSpec:
        """The CLP02=22 reversal of this claim: every amount negated, same ICN (DOMAIN.md §2.3)."""
        return replace(
            self,
            status_code="22",
            charge_cents=-self.charge_cents,
            paid_cents=-self.paid_cents,
            patient_responsibility_cents=-self.patient_responsibility_cents,
            interest_cents=0,
            lines=tuple(line.negated() for line in self.lines),
        )


@dataclass(frozen=True)
class ProviderAdjustmentSpec:
    reason: str
    amount_cents: int
    reference: str = ""


@dataclass(frozen=True)
class RemittanceSpec:
    trace_number: str
    payment_date: date
    claims: tuple[ClaimSpec, ...]
    provider_adjustments: tuple[ProviderAdjustmentSpec, ...] = ()
    payer_id: str = "87726"
    payer_name: str = "EXAMPLE HEALTH PLAN"
    payer_ein: str = "1123456789"
    payee_npi: str = "1234567893"
    payee_name: str = "EXAMPLE EMERGENCY PHYSICIANS"
    payment_method: str = "ACH"
    total_paid_override: int | None = None
    interchange_control_number: int = 1
    fiscal_period_end: date | None = None
    extra_claim_segments: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def total_paid_cents(self) -> int:
        if self.total_paid_override is not None:
            return self.total_paid_override
        paid = sum(c.paid_cents for c in self.claims)
        return paid - sum(p.amount_cents for p in self.provider_adjustments)


def split_cents(total_cents: int, weights: Sequence[int]) -> list[int]:
    """`total_cents` shared in proportion to `weights` (largest remainder): integer cents that
    add up to the total exactly, each within one cent of its exact share."""
    whole = sum(weights)
    if not weights:
        return []
    if whole <= 0:
        raise ValueError("weights must add up to a positive number")
    sign = -1 if total_cents < 0 else 1
    amount = abs(total_cents)
    shares = [amount * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % whole), i))
    for i in remainders[: amount - sum(shares)]:
        shares[i] += 1
    return [sign * share for share in shares]


def with_lines(claim: ClaimSpec, lines: Sequence[LineSpec]) -> ClaimSpec:
    """The claim paid line by line: its charge becomes Σ line charges, and its payment and patient
    responsibility are shared across the lines in proportion to their charges (exact cents)."""
    weights = [line.charge_cents for line in lines]
    paid = split_cents(claim.paid_cents, weights)
    patient = split_cents(claim.patient_responsibility_cents, weights)
    return replace(
        claim,
        charge_cents=sum(weights),
        lines=tuple(
            replace(line, paid_cents=p, patient_responsibility_cents=r)
            for line, p, r in zip(lines, paid, patient, strict=True)
        ),
    )


def _d8(value: date) -> str:
    return value.strftime("%Y%m%d")


def _line_segments(claim: ClaimSpec, line: LineSpec) -> list[str]:
    write_down = line.charge_cents - line.paid_cents - line.patient_responsibility_cents
    units = "-1" if claim.status_code == "22" else "1"
    procedure = ":".join(("HC", line.procedure, *line.modifiers))
    segments = [
        f"SVC*{procedure}*{x12_amount(line.charge_cents)}*{x12_amount(line.paid_cents)}**{units}",
        f"DTM*472*{_d8(line.service_date or claim.service_date)}",
    ]
    if write_down:
        segments.append(f"CAS*CO*45*{x12_amount(write_down)}")
    if line.patient_responsibility_cents:
        segments.append(f"CAS*PR*2*{x12_amount(line.patient_responsibility_cents)}")
    if line.line_control_number:
        segments.append(f"REF*6R*{line.line_control_number}")
    return segments


def _claim_segments(claim: ClaimSpec) -> list[str]:
    lines = claim.lines or (
        LineSpec(
            claim.procedure,
            claim.charge_cents,
            claim.paid_cents,
            claim.patient_responsibility_cents,
            line_control_number=claim.line_control_number,
        ),
    )
    segments = [
        "*".join(
            (
                "CLP",
                claim.patient_control_number,
                claim.status_code,
                x12_amount(claim.charge_cents),
                x12_amount(claim.paid_cents),
                x12_amount(claim.patient_responsibility_cents),
                claim.filing_indicator,
                claim.payer_claim_control_number,
                "11",
                "1",
            )
        ),
        "NM1*QC*1*DOE*JANE****MI*W000000001",
    ]
    if claim.original_reference:
        segments.append(f"REF*F8*{claim.original_reference}")
    segments.append(f"DTM*232*{_d8(claim.service_date)}")
    if claim.interest_cents:
        segments.append(f"AMT*I*{x12_amount(claim.interest_cents)}")
    for line in lines:
        segments.extend(_line_segments(claim, line))
    return segments


def _plb_segments(spec: RemittanceSpec) -> list[str]:
    period_end = spec.fiscal_period_end or date(spec.payment_date.year, 12, 31)
    segments: list[str] = []
    adjustments = list(spec.provider_adjustments)
    for start in range(0, len(adjustments), 6):
        pairs = "".join(
            f"*{a.reason}:{a.reference}*{x12_amount(a.amount_cents)}"
            if a.reference
            else f"*{a.reason}*{x12_amount(a.amount_cents)}"
            for a in adjustments[start : start + 6]
        )
        segments.append(f"PLB*{spec.payee_npi}*{_d8(period_end)}{pairs}")
    return segments


def build_835(spec: RemittanceSpec) -> str:
    """The full interchange (ISA..IEA) for one 835 transaction."""
    control = f"{spec.interchange_control_number:09d}"
    paid = spec.total_paid_cents
    handling = "I" if paid > 0 else "H"
    method = spec.payment_method if paid > 0 else "NON"
    if method == "ACH":
        bpr = (
            f"BPR*{handling}*{x12_amount(paid)}*C*ACH*CCP*01*999999992*DA*123456*"
            f"{spec.payer_ein}**01*999988880*DA*98765*{_d8(spec.payment_date)}"
        )
    else:
        bpr = f"BPR*{handling}*{x12_amount(paid)}*C*{method}************{_d8(spec.payment_date)}"
    body = [
        "ST*835*0001",
        bpr,
        f"TRN*1*{spec.trace_number}*{spec.payer_ein}",
        f"DTM*405*{_d8(spec.payment_date)}",
        f"N1*PR*{spec.payer_name}*XV*{spec.payer_id}",
        "N3*1 PAYER WAY",
        "N4*HARTFORD*CT*06101",
        "PER*BL*PROVIDER SERVICES*TE*8005551212",
        f"N1*PE*{spec.payee_name}*XX*{spec.payee_npi}",
    ]
    if spec.claims:
        body.append("LX*1")
        for claim in spec.claims:
            body.extend(_claim_segments(claim))
    body.extend(_plb_segments(spec))
    body.append(f"SE*{len(body) + 1}*0001")
    stamp = spec.payment_date.strftime("%y%m%d")
    envelope_head = [
        f"ISA*00*          *00*          *ZZ*{spec.payer_id:<15}*ZZ*{spec.payee_npi:<15}*"
        f"{stamp}*1200*^*00501*{control}*0*P*:",
        f"GS*HP*{spec.payer_id}*{spec.payee_npi}*{_d8(spec.payment_date)}*1200*"
        f"{spec.interchange_control_number}*X*005010X221A1",
    ]
    envelope_tail = [f"GE*1*{spec.interchange_control_number}", f"IEA*1*{control}"]
    return _SEGMENT.join([*envelope_head, *body, *envelope_tail]) + _SEGMENT


def bulk_claims(
    count: int, *, service_date: date, prefix: str = "PCN", start: int = 0
) -> tuple[ClaimSpec, ...]:
    """`count` paid claims with varied, deterministic amounts (for benchmarks and load tests)."""
    claims = []
    for number in range(start, start + count):
        charge = 50_000 + (number * 7_919) % 450_000
        patient = 2_000 + (number * 31) % 8_000
        paid = charge // 2 + (number % 97)
        claims.append(
            ClaimSpec(
                patient_control_number=f"{prefix}{number:08d}",
                charge_cents=charge,
                paid_cents=paid,
                patient_responsibility_cents=patient,
                service_date=service_date,
                payer_claim_control_number=f"ICN{number:010d}",
            )
        )
    return tuple(claims)
