"""Reading and writing 835s at the format level: the public samples, what must be refused, and
the generator's output (read back exactly, and valid to pyx12, the maintained TR3 validator)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from services.x12.reader_835 import RemittanceFormatError, read_remittances
from services.x12.writer_835 import (
    ClaimSpec,
    LineSpec,
    ProviderAdjustmentSpec,
    RemittanceSpec,
    build_835,
    with_lines,
)

from .pyx12_validation import pyx12_errors
from .samples import needs_samples, sample

# (file, transactions, claims in the first, BPR02 cents of the first)
READABLE_SAMPLES = [
    ("LinuxForHealth-x12/medicare-part-a.835", 1, 2, 15_000_000),
    ("LinuxForHealth-x12/secondary-payment.835", 1, 2, 122_200),
    ("LinuxForHealth-x12/cob-contractural-adjustment.835", 1, 1, 3_400),
    ("keironstoddart-edi-835-parser/emedny_sample.txt", 1, 3, 4_575),
    ("keironstoddart-edi-835-parser/united_healthcare_legacy_sample.txt", 1, 2, 34_999),
    ("affect-therapeutics-edi-835-parser/nevada_medicaid.txt", 3, 1, 0),
    ("zentist-TigerShark/5010-835-example-1.txt", 1, 3, 179_000),
    ("zentist-TigerShark/5010-835-example-2.txt", 1, 2, 10_000),
    ("zentist-TigerShark/5010-835-example-3.txt", 1, 2, 5_744),
    ("azoner-pyx12/835_mult_loops.txt", 1, 1, 0),
]


@needs_samples
@pytest.mark.parametrize(("name", "transactions", "claims", "paid"), READABLE_SAMPLES)
def test_samples_read(name: str, transactions: int, claims: int, paid: int | None) -> None:
    remittances = read_remittances(sample(name))
    assert len(remittances) == transactions
    assert len(remittances[0].claims) == claims
    if paid is not None:
        assert remittances[0].total_paid_cents == paid
    for remittance in remittances:
        assert remittance.trace_number
        assert [c.ordinal for c in remittance.claims] == list(range(1, len(remittance.claims) + 1))


@needs_samples
def test_negative_plb_raises_the_payment() -> None:
    (remittance,) = read_remittances(sample("LinuxForHealth-x12/medicare-part-a.835"))
    (plb,) = remittance.provider_adjustments
    assert (plb.reason, plb.reference, plb.amount_cents) == ("CV", "CP", -127)


@needs_samples
def test_multi_triplet_cas_and_line_details() -> None:
    (remittance,) = read_remittances(sample("LinuxForHealth-x12/secondary-payment.835"))
    claim = remittance.claims[1]
    adjustments = [
        *claim.adjustments,
        *(a for line in claim.service_lines for a in line.adjustments),
    ]
    groups = [(a.group, a.reason, a.amount_cents) for a in adjustments]
    assert ("PR", "1", 15_000) in groups and ("PR", "2", 7_000) in groups
    # SVC composites use '>' although ISA16 is ':'.
    assert all(len(line.procedure) >= 2 for line in claim.service_lines)


@needs_samples
@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("LinuxForHealth-x12/managed-care.835", "does not exist"),  # BPR16 = 20002316
        ("Inteligenz-X12Parser/Example1.txt", "CLP03 is required"),  # truncated CLP
        # SVC*HC*24599.00*...: the procedure code split out of the SVC01 composite.
        ("LinuxForHealth-x12/tertiary-payment.835", r"\(SVC01\): SVC01 must be one composite"),
        ("LinuxForHealth-x12/demo.example1.837", "is not 835"),
        ("keironstoddart-edi-835-parser/blue_cross_nc_sample.txt", "no ISA/GS envelope"),
    ],
)
def test_untrustworthy_samples_are_refused_with_the_reason(name: str, fragment: str) -> None:
    with pytest.raises(RemittanceFormatError, match=fragment):
        read_remittances(sample(name))


def _spec(**changes: Any) -> RemittanceSpec:
    spec = RemittanceSpec(
        "T1", date(2026, 11, 2), (ClaimSpec("P1", 10_000, 5_000, date(2026, 9, 1)),)
    )
    return replace(spec, **changes)


def test_fractional_cents_are_refused() -> None:
    text = build_835(_spec()).replace("CLP*P1*1*100*50", "CLP*P1*1*100*50.001")
    with pytest.raises(RemittanceFormatError, match="fractional cents"):
        read_remittances(text)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("BPR*", "XXX*"), "no BPR segment"),
        (("TRN*1*T1*", "TRN*1**"), "no TRN trace number"),
        (("SE*", "XX*"), "no SE"),
        (("DTM*232*20260901", "DTM*232*20260931"), "does not exist"),
        (("DTM*232*20260901", "DTM*232*2026-09"), "is not CCYYMMDD"),
        (("ST*835*", "ST*837*"), "is not 835"),
    ],
)
def test_broken_transactions_are_refused(change: tuple[str, str], fragment: str) -> None:
    text = build_835(_spec())
    assert change[0] in text
    with pytest.raises(RemittanceFormatError, match=fragment):
        read_remittances(text.replace(*change, 1))


def test_what_the_writer_writes_reads_back() -> None:
    original = ClaimSpec(
        "PCN-1", 0, 60_000, date(2026, 9, 1), 4_000, payer_claim_control_number="ICN1"
    )
    lines = (
        LineSpec("99285", 90_000, 0, modifiers=("25",), line_control_number="L1"),
        LineSpec("96374", 30_000, 0, service_date=date(2026, 9, 2)),
    )
    paid = with_lines(original, lines)
    spec = _spec(
        claims=(
            replace(paid.reversed(), payer_claim_control_number="ICN1"),
            ClaimSpec("PCN-1", 120_000, 70_000, date(2026, 9, 1), 4_000, "1", "ICN2", "ICN1"),
        ),
        provider_adjustments=(ProviderAdjustmentSpec("WO", 1_000, "ICN1"),),
    )
    (remittance,) = read_remittances(build_835(spec))
    assert remittance.total_paid_cents == spec.total_paid_cents == -60_000 + 70_000 - 1_000
    reversal, corrected = remittance.claims
    assert reversal.status_code == "22" and reversal.paid_cents == -60_000
    assert [line.procedure for line in reversal.service_lines] == [
        ("HC", "99285", "25"),
        ("HC", "96374"),
    ]
    assert reversal.service_lines[0].line_control_number == "L1"
    assert reversal.service_lines[1].service_date == date(2026, 9, 2)
    assert sum(line.paid_cents for line in reversal.service_lines) == -60_000
    assert corrected.original_reference == "ICN1"
    (plb,) = remittance.provider_adjustments
    assert (plb.reason, plb.reference, plb.amount_cents) == ("WO", "ICN1", 1_000)


def test_written_835_passes_pyx12() -> None:
    lines = (LineSpec("99285", 90_000, 0, modifiers=("25",), line_control_number="L1"),)
    claim = with_lines(
        ClaimSpec("PCN-1", 0, 60_000, date(2026, 9, 1), 4_000, payer_claim_control_number="ICN1"),
        lines,
    )
    spec = _spec(
        claims=(claim.reversed(), claim),
        provider_adjustments=(ProviderAdjustmentSpec("L6", -250, "ICN1"),),
    )
    assert pyx12_errors(build_835(spec)) == []
    # The validator checks the TR3, not the money: a missing CLP07 is its business.
    without_icn = _spec(claims=(replace(claim, payer_claim_control_number=""),))
    assert any("CLP07" in error for error in pyx12_errors(build_835(without_icn)))


def test_pyx12_reports_a_broken_envelope() -> None:
    broken = build_835(_spec()).replace("SE*", "SE*9", 1)
    assert pyx12_errors(broken) != []
