"""Every public 835 sample (/work/shared/x12-samples) through ImportRemittance's intake: it is
posted whole, or quarantined / refused with reasons that name the real defect, never vanishes,
and no reason shows program internals (issue #15). The results table is in docs/x12.md."""

from __future__ import annotations

import re

import pytest

from services.common.errors import InvalidArgument
from services.settlement.adapters.remittance_intake import prepare_import
from tests.support.plugin import x12_samples_dir

SAMPLES = x12_samples_dir()
INTERNALS = re.compile(
    r"Traceback|pydantic|NoneType|validation error|\b[A-Z][A-Za-z]*(Error|Exception)\b"
)
# name: (transactions posted, claims, a fragment every reason must contain; "" = none)
EXPECTED = {
    "Inteligenz-X12Parser/Example1.txt": (0, 0, "segment 98 (CLP03): CLP03 is required"),
    "LinuxForHealth-x12/cob-contractural-adjustment.835": (1, 1, ""),
    "LinuxForHealth-x12/managed-care.835": (0, 0, "(BPR16): date '20002316' does not exist"),
    "LinuxForHealth-x12/medicare-part-a.835": (1, 2, ""),
    "LinuxForHealth-x12/secondary-payment.835": (1, 2, ""),
    "LinuxForHealth-x12/tertiary-payment.835": (0, 0, "(SVC01): SVC01 must be one composite"),
    "affect-therapeutics-edi-835-parser/nevada_medicaid.txt": (3, 3, ""),
    "azoner-pyx12/835_mult_loops.txt": (1, 1, ""),
    "keironstoddart-edi-835-parser/blue_cross_nc_sample.txt": (0, 0, "no ISA/GS envelope"),
    "keironstoddart-edi-835-parser/emedny_sample.txt": (1, 3, ""),
    "keironstoddart-edi-835-parser/united_healthcare_legacy_sample.txt": (1, 2, ""),
    "zentist-TigerShark/5010-835-example-1.txt": (1, 3, ""),
    "zentist-TigerShark/5010-835-example-2.txt": (1, 2, ""),
    "zentist-TigerShark/5010-835-example-3.txt": (1, 2, ""),
}


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"shared X12 sample folder {SAMPLES} is absent")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_posts_whole_or_says_why(name: str) -> None:
    content = (SAMPLES / name).read_bytes()
    transactions, claims, named = EXPECTED[name]
    try:
        prepared = prepare_import(content, name)
    except InvalidArgument as exc:  # not X12 at all: refused, nothing stored
        reasons: tuple[str, ...] = tuple(v.description for v in exc.violations)
        warnings: tuple[str, ...] = ()
    else:
        reasons, warnings = prepared.reasons, prepared.warnings
        read = (len(prepared.remittances), sum(len(r.claims) for r in prepared.remittances))
        if not reasons:
            assert read == (transactions, claims)
    assert not [r for r in reasons + warnings if INTERNALS.search(r)]
    if named:
        assert reasons and all(named in r for r in reasons), reasons
    else:
        assert not reasons, reasons
