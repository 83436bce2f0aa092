"""Reading 835s: the public sample files, delimiters, and what must be refused."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.testing import x12_samples_dir
from services.settlement.domain import check_remittance
from services.settlement.era_reader import RemittanceFormatError, read_remittances
from services.settlement.x12_tokenizer import NotX12Error, read_delimiters, tokenize

SAMPLES = x12_samples_dir()
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"shared X12 sample folder {SAMPLES} is absent"
)

# (file, transactions, claims in the first, BPR02 cents of the first)
BALANCED_SAMPLES = [
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


def _sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


@needs_samples
@pytest.mark.parametrize(("name", "transactions", "claims", "paid"), BALANCED_SAMPLES)
def test_balanced_samples_read_and_balance(
    name: str, transactions: int, claims: int, paid: int
) -> None:
    remittances = read_remittances(_sample(name))
    assert len(remittances) == transactions
    assert len(remittances[0].claims) == claims
    assert remittances[0].total_paid_cents == paid
    for remittance in remittances:
        assert check_remittance(remittance) == []


@needs_samples
def test_negative_plb_raises_the_payment() -> None:
    (remittance,) = read_remittances(_sample("LinuxForHealth-x12/medicare-part-a.835"))
    (plb,) = remittance.provider_adjustments
    assert (plb.reason, plb.reference, plb.amount_cents) == ("CV", "CP", -127)


@needs_samples
def test_multi_triplet_cas_and_line_details() -> None:
    (remittance,) = read_remittances(_sample("LinuxForHealth-x12/secondary-payment.835"))
    adjustments = remittance.claims[1].all_adjustments()
    groups = [(a.group, a.reason, a.amount_cents) for a in adjustments]
    assert ("PR", "1", 15_000) in groups and ("PR", "2", 7_000) in groups


@needs_samples
def test_sample_with_a_broken_line_is_caught_by_balancing() -> None:
    (remittance,) = read_remittances(_sample("LinuxForHealth-x12/tertiary-payment.835"))
    rules = {issue.rule for issue in check_remittance(remittance)}
    assert rules == {"line-balance", "claim-lines-balance"}


@needs_samples
@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("LinuxForHealth-x12/managed-care.835", "does not exist"),  # BPR16 = 20002316
        ("Inteligenz-X12Parser/Example1.txt", "CLP03 is required"),  # truncated CLP
        ("LinuxForHealth-x12/demo.example1.837", "is not 835"),
        ("keironstoddart-edi-835-parser/blue_cross_nc_sample.txt", "not an X12 interchange"),
    ],
)
def test_untrustworthy_samples_are_refused_with_the_reason(name: str, fragment: str) -> None:
    with pytest.raises(RemittanceFormatError, match=fragment):
        read_remittances(_sample(name))


def test_delimiters_from_fixed_width_isa() -> None:
    isa = (
        "ISA*00*          *00*          *ZZ*A              *ZZ*B              "
        "*261102*1200*^*00501*000000001*0*P*>~"
    )
    assert read_delimiters(isa).component == ">"
    assert read_delimiters(isa).segment == "~"


def test_delimiters_from_collapsed_isa_and_bom() -> None:
    text = "\ufeffISA|00||00||ZZ|A|ZZ|B|261102|1200|^|00501|1|0|P|:\nGS|HP\n"
    delimiters, segments = tokenize(text)
    assert (delimiters.element, delimiters.component, delimiters.segment) == ("|", ":", "\n")
    assert segments[1] == ["GS", "HP"]


def test_not_x12_is_refused() -> None:
    with pytest.raises(NotX12Error):
        read_delimiters("hello world")


def test_fractional_cents_are_refused() -> None:
    from services.settlement.era_generator import ClaimSpec, RemittanceSpec, build_835

    spec = RemittanceSpec(
        "T1", date(2026, 11, 2), (ClaimSpec("P1", 10_000, 5_000, date(2026, 9, 1)),)
    )
    text = build_835(spec).replace("CLP*P1*1*100*50", "CLP*P1*1*100*50.001")
    with pytest.raises(RemittanceFormatError, match="fractional cents"):
        read_remittances(text)
