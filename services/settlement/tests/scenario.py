"""A realistic remittance scenario: what DOMAIN.md §2 says payers actually send.

Claims A..D are known to the tenant (settlements open for A, B, C); the 835 carries
  A  paid in full, interest (PLB L6) attributed to its ICN,
  B  reversal of the initial payment (CLP02=22) and the corrected claim (new ICN, REF*F8),
  C  a truncated patient control number (the payer kept 20 characters),
  D  known claim, no settlement yet -> exception,
  X  a claim nobody knows -> exception,
plus PLB WO recouping against B's original ICN, and an FB forward balance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from services.settlement.domain import ClaimReference
from services.x12.writer_835 import (
    ClaimSpec,
    ProviderAdjustmentSpec,
    RemittanceSpec,
    build_835,
)

PAYEE_NPI = "1234567893"
DOS = date(2026, 8, 14)
LONG_PCN = "C-2026-08-14-EMERGENCY-000042-XYZ"  # 33 chars; the payer truncates to 20


@dataclass(frozen=True)
class ClaimFacts:
    key: str
    patient_control_number: str
    icn: str
    charge_cents: int
    agreed_cents: int
    cost_sharing_cents: int
    initial_paid_cents: int


def claim_facts(tag: str) -> dict[str, ClaimFacts]:
    """Claims with ids unique to `tag` so tests never see each other's data."""
    return {
        "A": ClaimFacts("A", f"A{tag}", f"ICNA{tag}", 250_000, 180_000, 20_000, 60_000),
        "B": ClaimFacts("B", f"B{tag}", f"ICNB{tag}", 300_000, 210_000, 15_000, 50_000),
        "C": ClaimFacts("C", f"{LONG_PCN}{tag}", f"ICNC{tag}", 120_000, 90_000, 5_000, 30_000),
        "D": ClaimFacts("D", f"D{tag}", f"ICND{tag}", 80_000, 0, 0, 0),
    }


def claim_reference(claim_id: str, facts: ClaimFacts) -> ClaimReference:
    return ClaimReference(
        claim_id=claim_id,
        patient_control_number=facts.patient_control_number,
        payer_claim_control_numbers=frozenset({facts.icn}),
        billing_npi=PAYEE_NPI,
        first_service_date=DOS,
        charge_cents=facts.charge_cents,
        adjudicated=True,  # its adjudication (with the ICN) was recorded before the 835
    )


def plan_share(f: ClaimFacts) -> int:
    return f.agreed_cents - f.cost_sharing_cents


def scenario_spec(tag: str, *, trace: str | None = None) -> RemittanceSpec:
    facts = claim_facts(tag)
    a, b, c, d = facts["A"], facts["B"], facts["C"], facts["D"]
    # A: the plan pays the rest of its share.
    clp_a = ClaimSpec(
        a.patient_control_number,
        a.charge_cents,
        plan_share(a) - a.initial_paid_cents,
        DOS,
        patient_responsibility_cents=a.cost_sharing_cents,
        payer_claim_control_number=a.icn,
        interest_cents=1_234,
    )
    # B: reverse the initial adjudication, then pay the corrected (agreed) amount.
    original_b = ClaimSpec(
        b.patient_control_number,
        b.charge_cents,
        b.initial_paid_cents,
        DOS,
        patient_responsibility_cents=b.cost_sharing_cents,
        payer_claim_control_number=b.icn,
    )
    corrected_b = replace(
        original_b,
        paid_cents=plan_share(b),
        payer_claim_control_number=f"{b.icn}R",
        original_reference=b.icn,
    )
    # C: truncated patient control number, pays 10,000 less than owed (underpaid).
    clp_c = ClaimSpec(
        c.patient_control_number[:20],
        c.charge_cents,
        plan_share(c) - c.initial_paid_cents - 10_000,
        DOS,
        patient_responsibility_cents=c.cost_sharing_cents,
        payer_claim_control_number=f"{c.icn}N",
    )
    clp_d = ClaimSpec(d.patient_control_number, d.charge_cents, 40_000, DOS, 0, "1", d.icn)
    clp_x = ClaimSpec(f"UNKNOWN{tag}", 55_000, 20_000, DOS, 0, "1", f"ICNX{tag}")
    return RemittanceSpec(
        trace_number=trace or f"EFT{tag}",
        payment_date=date(2026, 11, 2),
        payee_npi=PAYEE_NPI,
        claims=(clp_a, original_b.reversed(), corrected_b, clp_c, clp_d, clp_x),
        provider_adjustments=(
            ProviderAdjustmentSpec("WO", 7_500, b.icn),  # recoup against B's original ICN
            ProviderAdjustmentSpec("L6", -1_234, a.icn),  # interest paid on A
            ProviderAdjustmentSpec("FB", -2_000, f"FB{tag}"),  # forward balance carried
        ),
    )


def scenario_835(tag: str, **kwargs: object) -> str:
    return build_835(scenario_spec(tag, **kwargs))  # type: ignore[arg-type]


def unbalanced_835(tag: str) -> str:
    spec = scenario_spec(tag)
    return build_835(replace(spec, total_paid_override=spec.total_paid_cents + 1))
