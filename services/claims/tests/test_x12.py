"""Claims ↔ 837 mapping (services/claims/adapters/x12.py): plan funding from SBR09, emergency,
bill type, the replacement rule, and the ClaimData export → import round trip. The format
level (envelope, x12sdk reading and writing) is tested in services/x12/tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.claims.adapters.x12 import ParsedClaim, export_837, read_837
from services.claims.domain import (
    ClaimType,
    Facility,
    Frequency,
    NetworkStatus,
    Plan,
    PlanFunding,
    canonical,
    validate_claim,
)
from services.claims.tests.factories import emergency_claim, institutional_claim
from services.common.errors import FailedPrecondition, InvalidArgument
from tests.support.plugin import x12_samples_dir

DATA = Path(__file__).parent / "data"
SAMPLES = x12_samples_dir()
CREATED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PLAN = Plan("Example PPO", PlanFunding.SELF_FUNDED_ERISA, "PA")
FACILITY = Facility("Mercy General", "", NetworkStatus.IN_NETWORK, "PA")


def export(data, frequency=Frequency.ORIGINAL, icn=""):
    return export_837(
        data, frequency, icn, "SENDER", "RECEIVER", "Billing Office", "2155550100", CREATED
    )


def test_realistic_multi_claim_batch():
    claims = read_837((DATA / "ed_group_batch.837").read_text(), "client-ed", PLAN, FACILITY)
    assert [c.location for c in claims] == [
        "ST 0001 / CLM 1 / PCN ED-2026-1001",
        "ST 0001 / CLM 2 / PCN ED-2026-1002",
        "ST 0001 / CLM 3 / PCN ED-2026-1003",
    ]
    first, dependent, medicare = (c.data for c in claims)
    assert first is not None and dependent is not None and medicare is not None
    assert first.billed_cents == 249_000
    assert first.lines[0].modifiers == ("25",)
    assert first.lines[0].diagnosis_pointers == (1, 2)
    assert first.lines[1].line_control_number == "L1001-2"
    assert first.emergency and first.patient.member_id == "W123456789"
    assert first.provider.address.postal_code == "19107"
    assert dependent.patient.first_name == "EMMA" and dependent.patient.member_id == "W987654321"
    assert dependent.patient.birth_date == date(2015, 6, 7)
    assert dependent.billed_cents == 127_550
    assert medicare.plan.funding is PlanFunding.MEDICARE  # SBR09 = MB overrides the plan facts
    assert validate_claim(first) == [] and validate_claim(dependent) == []
    # ICD-9 on the third claim: read, but refused by the intake rules, naming the field.
    assert [v.field for v in validate_claim(medicare)] == ["claim.diagnosis_codes[0]"]


def test_professional_round_trip():
    original = canonical(emergency_claim())
    exported = export(original)
    assert exported.implementation_guide == "005010X222A1"
    (back,) = read_837(exported.text, original.client_id, original.plan, original.facility)
    assert back.error is None
    assert back.data == original


def test_institutional_round_trip():
    original = canonical(institutional_claim())
    exported = export(original)
    assert exported.implementation_guide == "005010X223A2"
    assert "CL1*1**01~" in exported.text
    (back,) = read_837(exported.text, original.client_id, original.plan, original.facility)
    assert back.data == original
    assert back.data.claim_type is ClaimType.INSTITUTIONAL


@pytest.mark.parametrize(
    ("funding", "indicator"),
    [
        (PlanFunding.MEDICAID, "MC"),
        (PlanFunding.MEDICARE_ADVANTAGE, "16"),
        (PlanFunding.SELF_FUNDED_ERISA, "CI"),
    ],
)
def test_plan_funding_is_written_as_the_filing_indicator_and_read_back(funding, indicator):
    original = canonical(emergency_claim())
    original = replace(original, plan=replace(original.plan, funding=funding))
    text = export(original).text
    assert f"SBR*P*18*******{indicator}~" in text
    (back,) = read_837(text, original.client_id, original.plan, original.facility)
    assert back.data is not None and back.data.plan.funding is funding


def test_replacement_carries_frequency_and_original_claim_number():
    data = canonical(emergency_claim())
    text = export(data, Frequency.REPLACEMENT, "ICN-778899").text
    assert "*23:B:7*" in text and "REF*F8*ICN-778899~" in text
    with pytest.raises(FailedPrecondition):
        export(data, Frequency.VOID, "")






@pytest.mark.parametrize(
    ("text", "message"),
    [("hello", "must start with an ISA"), ("ISA*00*" + "x" * 120, "16 elements")],
)
def test_not_x12_is_invalid_argument(text, message):
    with pytest.raises(InvalidArgument, match=message):
        read_837(text, "c", PLAN, FACILITY)


def test_unreadable_transaction_reports_each_claim():
    text = (DATA / "ed_group_batch.837").read_text().replace("BHT*0019*", "BHT*9999*")
    claims = read_837(text, "c", PLAN, FACILITY)
    assert len(claims) == 3
    assert all(c.data is None and c.error is not None for c in claims)
    assert "segment 4 (BHT01): the hierarchical structure code must be 0019" in str(claims[0].error)
    assert claims[0].findings[0].value == "9999"


def test_non_837_transaction_is_refused():
    text = (DATA / "ed_group_batch.837").read_text().replace("005010X222A2", "005010X221A1")
    (only,) = read_837(text, "c", PLAN, FACILITY)
    assert only.error is not None and "not an 837" in str(only.error)




@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared X12 samples folder is absent")
def test_shared_samples_read_or_explained():
    """Every CLM of every 837 sample is either read or given a per-claim error."""
    files = sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix != ".md")
    total_read = total_errors = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if "*837*" not in text:
            continue
        claims = read_837(text, "c", PLAN, FACILITY)
        clm_count = text.count("CLM*") + text.count("CLM~")
        assert len(claims) == clm_count, path.name
        total_read += sum(1 for c in claims if c.data is not None)
        total_errors += sum(1 for c in claims if c.error is not None)
    assert total_read >= 9
    assert total_errors >= 1


def test_a_refused_top_level_field_is_placed_at_the_clm_and_never_loops():
    """A claims refusal naming a field the reader has no source for, and without a parent
    ("frequency": an imported 7/8 whose original was corrected already), is placed at the CLM
    (it looped forever, hanging the Import837 call)."""
    claim = ParsedClaim("ST 0001 / CLM 1 / PCN P1")
    finding = claim.finding("items[0].claim.frequency", "already replaced")
    assert (finding.segment, finding.field) == ("CLM", "frequency")
