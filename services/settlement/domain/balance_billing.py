"""NSA balance-billing guard: a protected patient owes only the in-network cost sharing."""

from __future__ import annotations

from services.common.errors import FailedPrecondition
from services.common.money import format_usd

RULE_CITATION = (
    "No Surprises Act balance-billing protection (PHS Act 2799B-1/2799B-2; 45 CFR 149.410 and "
    "149.420): for an NSA-protected claim the patient owes only the in-network cost sharing"
)


def check_patient_balance(
    *, nsa_protected: bool, in_network_cost_sharing_cents: int, requested_cents: int
) -> None:
    """Refuse to record a patient balance above the in-network cost sharing on a protected claim."""
    if requested_cents < 0:
        raise FailedPrecondition("a patient balance cannot be negative")
    if nsa_protected and requested_cents > in_network_cost_sharing_cents:
        raise FailedPrecondition(
            f"{RULE_CITATION} ({format_usd(in_network_cost_sharing_cents)}); "
            f"refused a patient balance of {format_usd(requested_cents)}"
        )
