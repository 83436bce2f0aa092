"""Identifier and code-shape checks (NPI Luhn with 80840, TIN, CPT/HCPCS, ICD-10-CM)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.claims.domain import codes


def luhn_valid(number: str) -> bool:
    """Textbook Luhn over the full number (independent of the implementation under test)."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "1679576722", "1122334455"])
def test_known_valid_npis(npi):
    assert codes.is_valid_npi(npi)


@pytest.mark.parametrize(
    "npi", ["1234567890", "123456789", "12345678931", "3234567893", "abcdefghij", "\uff11234567893"]
)
def test_invalid_npis(npi):
    assert not codes.is_valid_npi(npi)


@given(st.sampled_from("12"), st.text("0123456789", min_size=8, max_size=8))
def test_npi_check_digit_matches_luhn_with_prefix(first, rest):
    payload = first + rest
    npi = payload + str(codes.npi_check_digit(payload))
    assert codes.is_valid_npi(npi)
    assert luhn_valid("80840" + npi)
    wrong = npi[:9] + str((int(npi[9]) + 1) % 10)
    assert not codes.is_valid_npi(wrong)


@pytest.mark.parametrize(
    ("tin", "digits"), [("12-3456789", "123456789"), ("123456789", "123456789")]
)
def test_tin_formats(tin, digits):
    assert codes.normalize_tin(tin) == digits


@pytest.mark.parametrize(
    "tin", ["", "12345678", "1234567890", "00-1234567", "11-1111111", "12_3456789"]
)
def test_bad_tins(tin):
    assert codes.normalize_tin(tin) is None


@pytest.mark.parametrize("code", ["99285", "0001F", "0042T", "0001U", "A0431", "J1885", "G0378"])
def test_procedure_codes(code):
    assert codes.is_procedure_code(code)


@pytest.mark.parametrize("code", ["9928", "992851", "W1234", "ABCDE", "", "99285 "])
def test_bad_procedure_codes(code):
    assert not codes.is_procedure_code(code)


@pytest.mark.parametrize("code", ["I10", "S09.90XA", "R519", "U07.1", "Z23", "O09.529"])
def test_icd10cm(code):
    assert codes.is_icd10cm(code)


@pytest.mark.parametrize("code", ["8901", "1I0", "I1", "S0990XAXX", ""])
def test_bad_icd10cm(code):
    assert not codes.is_icd10cm(code)


def test_places_of_service_and_modifiers():
    assert codes.POS_EMERGENCY_ROOM in codes.PLACES_OF_SERVICE
    assert "30" not in codes.PLACES_OF_SERVICE
    assert codes.is_modifier("25") and codes.is_modifier("QK") and not codes.is_modifier("255")
    assert codes.is_bill_type("131") and not codes.is_bill_type("13")
