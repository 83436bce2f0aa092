"""Duplicate claims: what makes two claims the same claim, and which claims are still open.

A claim is a duplicate of an open claim of the same client when the provider (billing NPI),
the patient control number, the patient (name, birth date, member id) and the service dates
(first and last line date) match. A corrected claim (frequency 7 replacement or 8 void) is
never a duplicate: it is meant to repeat its original.

The application turns `key_text` into a keyed token (services/common/phi.py: the patient control
number and the patient's identifiers never leave the encrypted event store in plain text) and
reserves it when the claim is saved, in the same statement (`reservation`); a withdrawn or
voided claim, or one whose data no longer has the key, holds it no more, and the next claim
with the key takes the reservation that follows it (`reservation(token, after=holder)`).
Pure: no I/O.
"""

from __future__ import annotations

from services.claims.domain.claim_data import ClaimData, ClaimStatus, Frequency
from services.common.phi import normalized

# What the keyed token is computed for (services.common.phi.PhiKeys.index's `kind`).
KEY_KIND = "claim_duplicate_key"
# Statuses of a claim that no longer stands: its key is free for a new claim.
NOT_OPEN = frozenset({ClaimStatus.WITHDRAWN, ClaimStatus.VOIDED})
# How many closed holders one key may have had before a new claim gives up (a loop guard).
MAX_GENERATIONS = 100
# Reservation keys contain a space, which no request id may (services/common/requests.py).
_PREFIX = "duplicate-key "


def key_text(data: ClaimData) -> str:
    """The fields that make two claims the same claim, in one comparable text."""
    patient = data.patient
    parts = (
        data.client_id,
        data.provider.npi,
        data.patient_control_number,
        patient.last_name,
        patient.first_name,
        patient.birth_date.isoformat() if patient.birth_date else "",
        patient.member_id,
        data.first_service_date.isoformat() if data.lines else "",
        data.last_service_date.isoformat() if data.lines else "",
    )
    return "\x1f".join(normalized(part) for part in parts)


def is_checked(frequency: Frequency) -> bool:
    """Whether a claim of this frequency may not duplicate an open claim (corrections may)."""
    return frequency is Frequency.ORIGINAL


def reservation(token: str, after: str = "") -> str:
    """The reservation key of a duplicate key's token: the first, or the one taken after the
    claim `after` (which held the previous one and is no longer open)."""
    return _PREFIX + token + (f" after {after}" if after else "")


def is_open(status: ClaimStatus, frequency: Frequency) -> bool:
    """Whether a claim in this state still stands (a void claim never does)."""
    return status not in NOT_OPEN and frequency is not Frequency.VOID


def duplicate_message(claim_id: str) -> str:
    return (
        f"duplicate of open claim {claim_id}: same provider, patient control number, patient "
        "and service dates; send a corrected claim (frequency 7) to change it, or withdraw it "
        "first"
    )
