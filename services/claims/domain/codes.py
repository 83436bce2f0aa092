"""Shape checks for a claim's identifiers and codes (NPI, TIN, CPT/HCPCS, ICD-10-CM, ...).

These check *form*, not existence in the licensed code lists (CPT is AMA-licensed); a code that
passes here can still be rejected by a payer's edits.
"""

from __future__ import annotations

import re

# The NPI check digit is a Luhn digit computed over "80840" + the first nine digits
# (80840 = the ISO health-industry prefix); CMS publishes the constant 24 for that prefix.
_NPI_PREFIX_SUM = 24

_TIN = re.compile(r"^(\d{2})-?(\d{7})$")
# CPT Category I: 5 digits; Category II: 4 digits + F; Category III: 4 digits + T;
# PLA codes: 4 digits + U. HCPCS Level II: a letter A-V + 4 digits.
_CPT = re.compile(r"^\d{4}[0-9FTU]$")
_HCPCS = re.compile(r"^[A-V]\d{4}$")
# ICD-10-CM: letter, digit, alphanumeric, then optionally up to four more alphanumerics
# (stored without the dot). U is reserved for special use (U07.1 COVID-19), so allowed.
_ICD10CM = re.compile(r"^[A-TV-Z][0-9][0-9A-Z]([0-9A-Z]{1,4})?$|^U0[0-9][0-9A-Z]{0,4}$")
_MODIFIER = re.compile(r"^[0-9A-Z]{2}$")
_POS = re.compile(r"^\d{2}$")
_REVENUE = re.compile(r"^\d{4}$")
_BILL_TYPE = re.compile(r"^[1-8][1-9][0-9A-Z]$")
_POSTAL = re.compile(r"^\d{5}(\d{4})?$")
_PATIENT_STATUS = re.compile(r"^\d{2}$")
# UB-04 FL14 admission types: emergency, urgent, elective, newborn, trauma, unknown.
ADMISSION_TYPES = frozenset({"1", "2", "3", "4", "5", "9"})

US_STATES: frozenset[str] = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP".split()
)

# CMS place-of-service code set (the assigned codes; unassigned numbers are rejected).
PLACES_OF_SERVICE: frozenset[str] = frozenset(
    [f"{n:02d}" for n in range(1, 28)]
    + ["31", "32", "33", "34", "41", "42", "49", "50", "51", "52", "53", "54", "55", "56", "57"]
    + ["58", "60", "61", "62", "65", "66", "71", "72", "81", "99"]
)
POS_EMERGENCY_ROOM = "23"


def npi_check_digit(first_nine: str) -> int:
    """Luhn check digit for an NPI's first nine digits (with the 80840 prefix folded in)."""
    total = _NPI_PREFIX_SUM
    for index, char in enumerate(reversed(first_nine)):
        digit = int(char)
        if index % 2 == 0:  # doubled positions, counted from the right of the payload
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_valid_npi(npi: str) -> bool:
    return (
        len(npi) == 10
        and npi.isascii()
        and npi.isdigit()
        and npi[0] in "12"
        and npi_check_digit(npi[:9]) == int(npi[9])
    )


def normalize_tin(tin: str) -> str | None:
    """The nine TIN digits, or None when the value is not a well-formed EIN/SSN-shaped TIN."""
    match = _TIN.match(tin.strip())
    if not match:
        return None
    digits = match.group(1) + match.group(2)
    if len(set(digits)) == 1 or match.group(1) in {
        "00",
        "07",
        "08",
        "09",
        "17",
        "18",
        "19",
        "28",
        "29",
        "49",
        "69",
        "70",
        "78",
        "79",
        "89",
    }:
        return None  # EIN prefixes the IRS never assigns, and repeated-digit placeholders
    return digits


def is_procedure_code(code: str) -> bool:
    return bool(_CPT.match(code) or _HCPCS.match(code))


def is_icd10cm(code: str) -> bool:
    return bool(_ICD10CM.match(normalize_icd10(code)))


def normalize_icd10(code: str) -> str:
    return code.replace(".", "").strip().upper()


def is_modifier(code: str) -> bool:
    return bool(_MODIFIER.match(code))


def is_pos_shape(code: str) -> bool:
    return bool(_POS.match(code))


def is_revenue_code(code: str) -> bool:
    return bool(_REVENUE.match(code))


def is_bill_type(code: str) -> bool:
    return bool(_BILL_TYPE.match(code))


def is_state(code: str) -> bool:
    return code in US_STATES


def is_postal_code(code: str) -> bool:
    return bool(_POSTAL.match(code))


def is_patient_status(code: str) -> bool:
    return bool(_PATIENT_STATUS.match(code))
