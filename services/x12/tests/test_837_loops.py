"""The 837 loop shapes clearinghouses send (issue #15): several interchanges with their own
delimiters, dependents (HL 23), other payers (2320/2330/2430), attachments (PWK), the claim's
and lines' providers (2310/2420), institutional codes; and findings a clerk can act on."""

from __future__ import annotations

import re
from datetime import date

import pytest

from services.common.errors import InvalidArgument
from services.x12.claim_837 import ClaimKind
from services.x12.claim_837_loops import (
    Attachment,
    ClaimAdjustment,
    ClaimProvider,
    OccurrenceCode,
    ValueCode,
)
from services.x12.reader_837 import read_837, read_837_file

from .samples import DATA, needs_samples, sample_files

PROFESSIONAL = (DATA / "loops_professional.837").read_text(encoding="utf-8")
INSTITUTIONAL = (DATA / "loops_institutional.837").read_text(encoding="utf-8")
# What a clerk must never read: a library's or Python's own words.
INTERNALS = re.compile(
    r"Traceback|pydantic|NoneType|validation error|\b[A-Z][A-Za-z]*(Error|Exception)\b"
    r"|object has no attribute|not iterable|not subscriptable|unsupported operand"
)


def test_two_interchanges_with_their_own_delimiters_and_line_breaks() -> None:
    parsed = read_837(PROFESSIONAL)
    assert [p.location for p in parsed] == [
        "ST 0001 / CLM 1 / PCN DEP-1",
        "ST 0002 / CLM 1 / PCN SELF-1",
    ]
    second = parsed[1].claim
    assert second is not None
    assert second.lines[0].procedure_code == "99212" and second.lines[0].units == 2
    assert second.facility_code == "11" and second.diagnosis_codes == ("I10",)
    assert second.subscriber is None and second.patient.last_name == "DOE"


def test_dependent_patient_and_subscriber() -> None:
    claim = read_837(PROFESSIONAL)[0].claim
    assert claim is not None
    assert (claim.patient.first_name, claim.patient.birth_date) == ("TIM", date(2015, 6, 7))
    assert claim.patient.member_id == "W100"  # the subscriber's member id
    assert claim.subscriber is not None and claim.subscriber.first_name == "JANE"
    assert claim.subscriber.birth_date == date(1980, 1, 1)
    assert claim.relationship_code == "19" and claim.filing_indicator == "CI"
    assert claim.payer.payer_id == "60054"


def test_other_payer_loops_2320_2330_and_line_adjudication_2430() -> None:
    claim = read_837(PROFESSIONAL)[0].claim
    assert claim is not None
    (primary,) = claim.other_payers
    assert (primary.responsibility, primary.payer_id, primary.payer_name) == (
        "P",
        "87726",
        "FIRST PLAN",
    )
    assert primary.member_id == "P900" and primary.subscriber_first_name == "JANE"
    assert (primary.paid_cents, primary.remaining_liability_cents) == (20_000, 7_500)
    assert primary.adjustments == (
        ClaimAdjustment("PR", "1", 5_000, "1"),
        ClaimAdjustment("PR", "2", 2_500),
    )
    assert primary.adjudication_date == date(2026, 10, 15)
    (line_decision,) = claim.lines[0].adjudications
    assert (line_decision.payer_id, line_decision.paid_cents) == ("87726", 15_000)
    assert line_decision.procedure_code == "99213" and line_decision.units == "1"
    assert line_decision.adjustments == (ClaimAdjustment("CO", "45", 5_000),)
    assert line_decision.adjudication_date == date(2026, 10, 15)
    assert claim.lines[1].adjudications == ()


def test_attachments_and_providers() -> None:
    claim = read_837(PROFESSIONAL)[0].claim
    assert claim is not None
    assert claim.attachments == (
        Attachment("OZ", "EL", "ATT-001", 0),
        Attachment("OZ", "FX", "ATT-002", 1),
    )
    assert [(p.role, p.npi) for p in claim.providers] == [
        ("DN", "1234567893"),
        ("82", "1245319599"),
        ("DQ", "1679576722"),
    ]
    assert claim.lines[0].providers == (ClaimProvider("82", "SMITH", "ANNA", "1245319599"),)
    assert claim.lines[0].line_control_number == "LINE-1"
    assert claim.lines[0].modifiers == ("25",) and claim.lines[0].diagnosis_pointers == (1, 2)


def test_institutional_codes_bom_and_no_line_breaks() -> None:
    read = read_837_file(INSTITUTIONAL)
    first = read.claims[0].claim
    assert first is not None and first.kind is ClaimKind.INSTITUTIONAL
    assert (first.facility_code, first.frequency_code) == ("13", "1")  # type of bill 131
    assert (first.admission_type_code, first.patient_status_code) == ("1", "01")
    assert [line.revenue_code for line in first.lines] == ["0450", "0300"]
    assert first.condition_codes == ("17", "39")
    assert first.occurrence_codes == (
        OccurrenceCode("11", date(2026, 10, 3)),
        OccurrenceCode("A1", date(2026, 10, 1)),
        OccurrenceCode("70", date(2026, 10, 3), date(2026, 10, 4)),
    )
    assert first.value_codes == (ValueCode("80", 200), ValueCode("A1", 15_050))
    assert first.attachments == (Attachment("09", "BM", "XRAY-7", 0),)
    assert [p.role for p in first.providers] == ["71", "72"]


def test_a_bad_claim_is_listed_and_the_good_ones_read() -> None:
    read = read_837_file(INSTITUTIONAL)
    by_location = {c.location: c for c in read.claims}
    bad = by_location["ST 0002 / CLM 1 / PCN INST-BAD"]
    good = by_location["ST 0002 / CLM 2 / PCN INST-GOOD"]
    assert good.claim is not None and good.claim.lines[0].service_date == date(2026, 10, 3)
    assert bad.claim is None and bad.error is not None
    texts = {(f.segment, f.element, f.value): f.rule for f in bad.findings}
    assert set(texts) == {
        ("SV2", "SV203", "ABC"),
        ("SV2", "SV205", "1.5"),
        ("DTP", "DTP03", "20261303"),
    }
    assert "at most two decimals" in texts[("SV2", "SV203", "ABC")]
    assert {v.field for v in bad.error.violations} == {
        "x12",
        "lines[0].billed_cents",
        "lines[0].units",
    }
    positions = {f.position for f in bad.findings}
    assert all(p > 0 for p in positions)


def test_a_transaction_without_claims_says_so() -> None:
    read = read_837_file(INSTITUTIONAL)
    empty = [c for c in read.claims if c.location == "ST 0003"]
    assert len(empty) == 1 and empty[0].error is not None
    assert "holds no CLM claim" in str(empty[0].error)


def test_envelope_counts_are_notes_that_reject_nothing() -> None:
    read = read_837_file(PROFESSIONAL)
    assert all(c.claim is not None for c in read.claims)
    assert read.notes and not any(n.blocking for n in read.notes)
    assert {n.segment for n in read.notes} <= {"SE", "GE", "IEA"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "the file is empty"),
        ("ST*837*0001*005010X222A1~BHT*0019~SE*2*0001~", "no ISA/GS envelope"),
        ("hello", "must start with an ISA"),
    ],
)
def test_a_file_that_is_no_interchange_says_why(text: str, says: str) -> None:
    with pytest.raises(InvalidArgument, match=says):
        read_837(text)


def test_an_envelope_without_transactions_says_why() -> None:
    isa = PROFESSIONAL.split("~")[0] + "~"
    (only,) = read_837(isa + "GS*HC*A*B*20261120*1200*1*X*005010X222A1~GE*0*1~IEA*1*000000101~")
    assert only.location == "file" and "no ST..SE transaction set" in str(only.error)


def _mangled(text: str) -> list[str]:
    """The file cut short at many places, and with elements dropped, doubled or emptied."""
    segments = text.split("~")
    out = ["~".join(segments[:n]) + "~" for n in range(3, len(segments), 2)]
    for n in range(3, len(segments) - 3):
        fields = segments[n].split("*")
        out.append("~".join([*segments[:n], "*".join(fields[:2]), *segments[n + 1 :]]))
        out.append("~".join([*segments[:n], segments[n] + "*X:Y:Z*", *segments[n + 1 :]]))
        out.append("~".join([*segments[:n], *segments[n + 1 :]]))
    return out


def _texts(text: str) -> list[str]:
    try:
        read = read_837_file(text)
    except InvalidArgument as exc:
        return [str(exc)]
    found = [f.text() for c in read.claims for f in c.findings]
    found += [n.text() for n in read.notes]
    found += [str(c.error) for c in read.claims if c.error is not None]
    return found


def test_no_finding_text_shows_program_internals() -> None:
    seen = 0
    for variant in _mangled(PROFESSIONAL.split("ISA|")[0]) + _mangled(INSTITUTIONAL):
        for text in _texts(variant):
            seen += 1
            assert not INTERNALS.search(text), text
    assert seen > 100


@needs_samples
def test_no_sample_finding_shows_program_internals() -> None:
    for path in sample_files():
        for text in _texts(path.read_text(encoding="utf-8", errors="replace")):
            assert not INTERNALS.search(text), (path.name, text)
