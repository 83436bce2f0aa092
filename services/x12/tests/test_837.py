"""Reading and writing 837P/837I at the format level (x12sdk models), neutral values both ways."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.common.errors import InvalidArgument
from services.x12.claim_837 import (
    Address,
    BillingProvider,
    Claim837,
    ClaimKind,
    Patient,
    Payer,
    ServiceLine,
)
from services.x12.envelope import check_envelope
from services.x12.reader_837 import read_837
from services.x12.writer_837 import write_837

from .samples import DATA, needs_samples, sample, sample_files

CREATED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BATCH = (DATA / "ed_group_batch.837").read_text()


def write(claim: Claim837) -> str:
    written = write_837(
        claim,
        sender_id="SENDER",
        receiver_id="RECEIVER",
        contact_name="Billing Office",
        contact_phone="2155550100",
        created=CREATED,
    )
    assert written.implementation_guide == claim.implementation_guide
    return written.text


def institutional_claim() -> Claim837:
    return Claim837(
        kind=ClaimKind.INSTITUTIONAL,
        patient_control_number="INST-1",
        billing_provider=BillingProvider(
            "MERCY GENERAL", "1234567893", "123456789", Address("1 MAIN ST", "ERIE", "PA", "16501")
        ),
        payer=Payer("87726", "EXAMPLE HEALTH PLAN"),
        patient=Patient("JOHN", "ROE", date(1970, 1, 2), "W1", "M"),
        lines=(
            ServiceLine("99285", 150_000, date(2026, 10, 3), revenue_code="0450"),
            ServiceLine("", 20_000, date(2026, 10, 4), units=2, revenue_code="0300"),
        ),
        total_billed_cents=170_000,
        facility_code="13",
        diagnosis_codes=("R0789",),
        filing_indicator="CI",
        admission_type_code="1",
        patient_status_code="01",
    )


def test_realistic_multi_claim_batch() -> None:
    parsed = read_837(BATCH)
    assert [c.location for c in parsed] == [
        "ST 0001 / CLM 1 / PCN ED-2026-1001",
        "ST 0001 / CLM 2 / PCN ED-2026-1002",
        "ST 0001 / CLM 3 / PCN ED-2026-1003",
    ]
    first, dependent, medicare = (c.claim for c in parsed)
    assert first is not None and dependent is not None and medicare is not None
    assert first.kind is ClaimKind.PROFESSIONAL and first.total_billed_cents == 249_000
    assert first.lines[0].modifiers == ("25",) and first.lines[0].diagnosis_pointers == (1, 2)
    assert first.lines[1].line_control_number == "L1001-2"
    assert first.lines[0].place_of_service == first.facility_code == "23"
    assert first.patient.member_id == "W123456789"
    assert first.billing_provider.address.postal_code == "19107"
    assert first.billing_provider.tin == "123456789"
    assert first.diagnosis_codes == ("S0990XA", "R519")
    assert dependent.patient.first_name == "EMMA" and dependent.patient.member_id == "W987654321"
    assert dependent.patient.birth_date == date(2015, 6, 7)
    assert dependent.total_billed_cents == 127_550
    assert (first.filing_indicator, dependent.filing_indicator) == ("CI", "12")
    assert medicare.filing_indicator == "MB" and medicare.payer.name == "MEDICARE PART B"
    assert medicare.diagnosis_codes == ("4019",)  # ICD-9: read; refusing it is claims' rule


def test_professional_round_trip() -> None:
    for parsed in read_837(BATCH):
        assert parsed.claim is not None
        text = write(parsed.claim)
        assert check_envelope(text) == []
        (back,) = read_837(text)
        # The writer writes the patient as the subscriber; the dependent's subscriber is read only.
        assert back.error is None
        assert back.claim == replace(parsed.claim, subscriber=None, relationship_code="")


def test_institutional_round_trip() -> None:
    original = institutional_claim()
    text = write(original)
    assert "CL1*1**01~" in text and "DTP*434*RD8*20261003-20261004~" in text
    assert "*13:A:1*" in text
    (back,) = read_837(text)
    assert back.claim == original


def test_replacement_carries_frequency_and_original_claim_number() -> None:
    claim = read_837(BATCH)[0].claim
    assert claim is not None
    replacement = replace(claim, frequency_code="7", original_reference="ICN-778899")
    text = write(replacement)
    assert "*23:B:7*" in text and "REF*F8*ICN-778899~" in text
    (back,) = read_837(text)
    assert back.claim == replacement


def test_library_rejects_an_unwritable_claim() -> None:
    claim = read_837(BATCH)[0].claim
    assert claim is not None
    broken = replace(claim, billing_provider=replace(claim.billing_provider, name=""))
    with pytest.raises(Exception):  # noqa: B017 - pydantic validation error from x12sdk
        write(broken)


def test_crlf_indentation_and_bom_are_tolerated() -> None:
    messy = "\ufeff" + BATCH.replace("~\n", "~\r\n    ")
    assert read_837(messy) == read_837(BATCH)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", "not an X12 interchange: it must start with an ISA"),
        ("ISA*00*" + "x" * 120, "16 elements"),
    ],
)
def test_not_x12_is_invalid_argument(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as raised:
        read_837(text)
    assert raised.value.violations[0].field == "x12"


def test_unreadable_transaction_reports_each_claim() -> None:
    parsed = read_837(BATCH.replace("BHT*0019*", "BHT*9999*"))
    assert len(parsed) == 3
    assert all(c.claim is None and c.error is not None for c in parsed)
    assert "segment 4 (BHT01): the hierarchical structure code must be 0019" in str(parsed[0].error)
    assert parsed[0].findings[0].value == "9999" and parsed[0].findings[0].segment == "BHT"
    assert parsed[2].location == "ST 0001 / CLM 3 / PCN ED-2026-1003"


def test_non_837_transaction_is_refused() -> None:
    (only,) = read_837(BATCH.replace("005010X222A2", "005010X221A1"))
    assert only.error is not None and "not an 837" in str(only.error)


def test_bad_amounts_and_units_name_the_field() -> None:
    text = BATCH.replace("SV1*HC:12002*640*UN*1*", "SV1*HC:12002*640*UN*1.5*")
    first = read_837(text)[0]
    assert first.claim is None and first.error is not None
    assert [v.field for v in first.error.violations] == ["lines[1].units"]


@needs_samples
def test_shared_samples_read_or_explained() -> None:
    """Every CLM of every 837 sample is either read or given a per-claim error."""
    total_read = total_errors = 0
    for path in sample_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        if "*837*" not in text:
            continue
        parsed = read_837(text)
        clm_count = text.count("CLM*") + text.count("CLM~")
        assert len(parsed) == clm_count, path.name
        total_read += sum(1 for c in parsed if c.claim is not None)
        total_errors += sum(1 for c in parsed if c.error is not None)
    assert total_read >= 9
    assert total_errors >= 1


@needs_samples
def test_institutional_sample_values() -> None:
    parsed = read_837(sample("LinuxForHealth-x12/two-claims-single-provider.837i"))
    claims = [c.claim for c in parsed if c.claim is not None]
    assert len(claims) == 2
    assert all(c.kind is ClaimKind.INSTITUTIONAL for c in claims)
    assert sum(len(c.lines) for c in claims) == 3
    assert all(line.revenue_code for c in claims for line in c.lines)
