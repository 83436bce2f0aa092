"""Every public 837 sample (/work/shared/x12-samples) through Import837, as a clearinghouse
would send it: each claim is stored or rejected with plain findings (issue #15, items 1-3).
The results table lives in docs/x12.md."""

from __future__ import annotations

import re

import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from services.claims.tests.service_calls import md, tenant
from tests.support.plugin import x12_samples_dir

pytestmark = pytest.mark.asyncio(loop_scope="session")

SAMPLES = x12_samples_dir()
INTERNALS = re.compile(
    r"Traceback|pydantic|NoneType|validation error|\b[A-Z][A-Za-z]*(Error|Exception)\b"
)


def _837_files() -> list[str]:
    if not SAMPLES.is_dir():
        return []
    return sorted(
        str(p.relative_to(SAMPLES))
        for p in SAMPLES.rglob("*")
        if (p.is_file() and p.suffix != ".md" and "ST*837" in p.read_text(errors="replace"))
        or (p.is_file() and p.name == "x12_valid_different_separators.txt")
    )


# What each sample yields (stored, rejected) and a word every rejection must name.
EXPECTED = {
    # Masked file: BHT01 9999 and fractional units 99.99 in SV104.
    "Inteligenz-X12Parser/MedicaidExample.txt": (0, 5, "BHT01"),
    # TR3 examples: ICD-9 diagnoses (the ledger takes ICD-10-CM) and made-up NPIs.
    "LinuxForHealth-x12/demo.cob.example3.C.837": (0, 1, "ICD-10"),
    "LinuxForHealth-x12/demo.drug.example10.2.837": (0, 1, "ICD-10"),
    "LinuxForHealth-x12/demo.example1.837": (0, 1, "ICD-10"),
    "LinuxForHealth-x12/institutional-claim.837i": (0, 1, "ICD-10"),
    "LinuxForHealth-x12/ppo-repriced-claim.837i": (0, 1, "ICD-10"),
    "LinuxForHealth-x12/two-claims-single-provider.837i": (0, 2, "ICD-10"),
    # Parser test files: HI qualifier and code in separate elements (HI*BK*8901*...).
    "imsweb-x12-parser/x12_complex.txt": (0, 6, "HI01"),
    "imsweb-x12-parser/x12_multiple_gs.txt": (0, 6, "HI01"),
    "imsweb-x12-parser/x12_valid_different_separators.txt": (0, 2, "HI01"),
    # CLM05 composite written into CLM04 (one element separator missing).
    "zentist-TigerShark/5010-837-institutional-example.txt": (0, 2, "CLM05"),
    # REF*EI tax id is not 9 digits.
    "zentist-TigerShark/5010-837-professional-example.txt": (0, 2, "TIN"),
}


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"shared X12 sample folder {SAMPLES} absent")
@pytest.mark.parametrize("name", _837_files() or ["(none)"])
async def test_sample_imports_or_is_rejected_plainly(stub, name):
    text = (SAMPLES / name).read_text(encoding="utf-8")
    response = await stub.Import837(
        pb.Import837Request(
            request_id=f"sample-{name}",
            client_id="client-samples",
            x12=text,
            plan=pb.Plan(funding=pb.PLAN_FUNDING_SELF_FUNDED_ERISA, situs_state="TX"),
            facility=pb.Facility(network_status=pb.NETWORK_STATUS_OUT_OF_NETWORK),
        ),
        metadata=md(tenant()),
    )
    result = getattr(response, "import")
    texts = [e.description for r in result.results for e in r.errors]
    texts += [f"{f.rule} {f.value}" for f in response.findings]
    report = "\n".join(
        f"{loc}: {[e.description for e in r.errors]}"
        for loc, r in zip(response.locations, result.results, strict=True)
    )
    print(f"\n{name}: created {result.created_count} rejected {result.rejected_count}\n{report}")
    assert not [t for t in texts if INTERNALS.search(t)], texts
    clm_count = len(re.findall(r"(^|[~_\n])\s*CLM[*~|]", text))
    assert result.created_count + result.existing_count + result.rejected_count == clm_count
    assert all(r.claim_id or r.errors for r in result.results)
    created, rejected, named = EXPECTED[name]
    assert (result.created_count, result.rejected_count) == (created, rejected), report
    for location, r in zip(response.locations, result.results, strict=True):
        if r.errors:  # each rejected claim has findings that name a segment and its position
            placed = [f for f in response.findings if f.location == location and f.blocking]
            assert placed and all(f.segment and f.position > 0 for f in placed), location
    if named:
        assert all(
            any(named in e.description for e in r.errors) for r in result.results if r.errors
        ), report


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"shared X12 sample folder {SAMPLES} absent")
async def test_a_sample_with_its_defect_fixed_imports_completely(stub):
    """The TR3 dependent example is refused only for its ICD-9 diagnoses: with ICD-10 codes in
    their place it is stored, the patient being the dependent (HL 23), not the subscriber."""
    text = (SAMPLES / "LinuxForHealth-x12/demo.example1.837").read_text(encoding="utf-8")
    assert "HI*BK:0340*BF:V7389~" in text
    fixed = text.replace("HI*BK:0340*BF:V7389~", "HI*ABK:J029*ABF:Z0000~")
    t = tenant()
    response = await stub.Import837(
        pb.Import837Request(
            request_id="sample-fixed",
            client_id="client-samples",
            x12=fixed,
            plan=pb.Plan(funding=pb.PLAN_FUNDING_SELF_FUNDED_ERISA, situs_state="TX"),
            facility=pb.Facility(network_status=pb.NETWORK_STATUS_OUT_OF_NETWORK),
        ),
        metadata=md(t),
    )
    result = getattr(response, "import")
    assert (result.created_count, result.rejected_count) == (1, 0), response
    assert not [f for f in response.findings if f.blocking]
    got = await stub.GetClaim(
        pb.GetClaimRequest(claim_id=result.results[0].claim_id), metadata=md(t)
    )
    assert got.claim.input.patient.first_name == "TED"
    assert got.claim.input.diagnosis_codes == ["J029", "Z0000"]
