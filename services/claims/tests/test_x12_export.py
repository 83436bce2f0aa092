"""The 837 export as a clearinghouse sees it (issue 22): the adopted HIPAA versions
(005010X222A1 / 005010X223A2), validated by pyx12 with zero errors for each claim type and
frequency, demographics with gender, the service facility, the emergency indicator, the
institutional segments, the control numbers, and the round trip back through the reader."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.claims.adapters.x12 import export_837, read_837
from services.claims.domain import Frequency, canonical
from services.claims.tests.factories import emergency_claim, institutional_claim
from services.x12.tests.pyx12_validation import pyx12_errors
from services.x12.writer_837 import ControlNumbers

CREATED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KINDS = {"professional": emergency_claim, "institutional": institutional_claim}
GUIDES = {"professional": "005010X222A1", "institutional": "005010X223A2"}


def export(data, frequency=Frequency.ORIGINAL, icn="", control=None):
    return export_837(
        data, frequency, icn, "SENDER", "RECEIVER", "Billing Office", "2155550100", CREATED,
        control=control,
    )


def segments(text: str) -> list[str]:
    return [s.strip() for s in text.split("~") if s.strip()]


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("frequency", list(Frequency))
def test_every_export_passes_pyx12_and_round_trips(kind, frequency):
    original = canonical(KINDS[kind]())
    icn = "" if frequency is Frequency.ORIGINAL else "ICN-778899"
    exported = export(original, frequency, icn)
    assert exported.implementation_guide == GUIDES[kind]
    assert f"ST*837*0001*{GUIDES[kind]}" in exported.text
    assert f"*X*{GUIDES[kind]}" in exported.text  # GS08
    assert pyx12_errors(exported.text) == []
    (back,) = read_837(exported.text, original.client_id, original.plan, original.facility)
    assert back.error is None
    assert back.data == original  # the institutional bill type stays 131 for a 7 or an 8 too
    if frequency is not Frequency.ORIGINAL:
        assert f"REF*F8*{icn}" in segments(exported.text)


def test_professional_demographics_facility_and_emergency():
    text = export(canonical(emergency_claim())).text
    lines = segments(text)
    assert "DMG*D8*19800402*F" in lines
    assert "NM1*77*2*Mercy General*****XX*1245319599" in lines
    assert "N3*1500 Spruce St" in lines and "N4*Philadelphia*PA*191024101" in lines
    sv1 = [s for s in lines if s.startswith("SV1*")]
    assert sv1 and all(s.endswith("*Y") and s.split("*")[9] == "Y" for s in sv1)  # SV109
    assert "HI*ABK:S0990XA*ABF:R519" in lines


def test_institutional_codes_in_their_segments():
    lines = segments(export(canonical(institutional_claim())).text)
    (clm,) = [s for s in lines if s.startswith("CLM*")]
    assert clm.split("*")[5] == "13:A:1" and clm.split("*")[6] == ""  # CLM06 not used
    assert "HI*ABK:S0990XA" in lines and "HI*ABF:R519" in lines  # secondary in its own HI
    assert "NM1*77*2*Mercy General*****XX*1245319599" in lines  # 2310E
    assert not any(s.startswith("SV2*") and s.endswith("*Y") for s in lines)


def test_unknown_gender_is_written_as_u():
    data = canonical(emergency_claim())
    data = replace(data, patient=replace(data.patient, gender=""))
    text = export(data).text
    assert "DMG*D8*19800402*U" in segments(text)
    assert pyx12_errors(text) == []


def test_no_facility_address_no_service_facility_loop():
    data = canonical(emergency_claim())
    data = replace(data, facility=replace(data.facility, address=type(data.facility.address)()))
    text = export(data).text
    assert not any(s.startswith("NM1*77*") for s in segments(text))
    assert pyx12_errors(text) == []


def test_control_numbers_are_the_callers():
    text = export(canonical(emergency_claim()), control=ControlNumbers(123, 45, 6789)).text
    lines = segments(text)
    assert lines[0].split("*")[13] == "000000123" and lines[-1] == "IEA*1*000000123"
    assert lines[1].split("*")[6] == "45" and "GE*1*45" in lines
    assert "ST*837*6789*005010X222A1" in lines and lines[-3].endswith("*6789")
    assert pyx12_errors(text) == []
    with pytest.raises(ValueError):
        ControlNumbers(0, 1, 1)
