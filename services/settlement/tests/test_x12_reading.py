"""835 samples through settlement's adapter (services/settlement/adapters/x12.py) into the
remittance domain, and its balancing rules. Reading itself (delimiters, refusals, the
generator) is tested at the format level in services/x12/tests."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from services.settlement.adapters.x12 import RemittanceFormatError, read_remittances
from services.settlement.domain import check_remittance
from services.settlement.domain.remittance import Remittance
from services.x12 import reader_835 as x12_reader
from tests.support.plugin import x12_samples_dir

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
def test_multi_triplet_cas_and_line_details() -> None:
    (remittance,) = read_remittances(_sample("LinuxForHealth-x12/secondary-payment.835"))
    adjustments = remittance.claims[1].all_adjustments()
    groups = [(a.group, a.reason, a.amount_cents) for a in adjustments]
    assert ("PR", "1", 15_000) in groups and ("PR", "2", 7_000) in groups


@needs_samples
def test_sample_with_a_broken_line_is_refused_naming_the_split_composite() -> None:
    # SVC*HC*24599.00*...: before balancing could complain, the reader names the real defect.
    with pytest.raises(RemittanceFormatError, match=r"segment 20 \(SVC01\).*'24599.00'"):
        read_remittances(_sample("LinuxForHealth-x12/tertiary-payment.835"))


@needs_samples
@pytest.mark.parametrize("name", [name for name, *_ in BALANCED_SAMPLES])
def test_the_adapter_keeps_every_value_the_reader_read(name: str) -> None:
    read = x12_reader.read_remittances(_sample(name))
    mapped = read_remittances(_sample(name))
    # TS3/TS2 provider summaries are read (services/x12) but settlement does not hold them.
    neutral = [{k: v for k, v in asdict(r).items() if k != "provider_summaries"} for r in read]
    assert [asdict(r) for r in mapped] == neutral
    assert all(isinstance(r, Remittance) for r in mapped)
