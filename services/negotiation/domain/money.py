"""Money arithmetic in integer cents: amount owed (its one home), shares of QPA, IDR fee halves.

Rounding is the platform's one half-up rule (services/common/money.py).
"""

from __future__ import annotations

from services.common.errors import InvalidArgument
from services.common.money import half_up_div

# Shares of QPA travel as proto int32 basis points: 214,748 times the QPA at most.
MAX_BASIS_POINTS = 2**31 - 1


def amount_owed_cents(
    total_rate_cents: int, patient_cost_sharing_cents: int, already_paid_cents: int
) -> int:
    """What the plan still owes on an agreed or awarded total OON rate (DOMAIN.md §0 item 4).

    Negative when the plan already paid more than the rate: the provider refunds the difference.
    """
    return total_rate_cents - patient_cost_sharing_cents - already_paid_cents


def basis_points_of(amount_cents: int, reference_cents: int) -> int:
    """amount as basis points of reference (38,300 = 383 % of QPA), half-up."""
    return half_up_div(amount_cents * 10_000, reference_cents)


def offer_basis_points(amount_cents: int, qpa_cents: int, field: str = "amount_cents") -> int:
    """An offer's share of QPA, refused (naming `field`) when no answer could carry it: an
    offer recorded with it could never be read back (GetNegotiation would fail for good)."""
    basis_points = basis_points_of(amount_cents, qpa_cents)
    if abs(basis_points) > MAX_BASIS_POINTS:
        raise InvalidArgument(
            f"is more than {MAX_BASIS_POINTS // 10_000:,} times the QPA ({qpa_cents} cents)",
            field=field,
        )
    return basis_points


def apply_basis_points(reference_cents: int, basis_points: int) -> int:
    """reference * basis_points / 10,000, half-up to the cent."""
    return half_up_div(reference_cents * basis_points, 10_000)


def half_of(cents: int) -> int:
    """Half a fee, half-up to the cent (the IDRE refund on settlement)."""
    return half_up_div(cents, 2)
