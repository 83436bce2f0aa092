"""A settlement's payments as the aggregate keeps them, and how money may be posted manually."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from services.common.ids import deterministic_id

INITIAL_PAYMENT_ID = "initial"


class PaymentMethod:
    """Manual posting methods, plus the 835 BPR04 values an ERA payment carries."""

    CHECK = "check"
    EFT = "eft"
    VIRTUAL_CARD = "virtual_card"
    MANUAL = frozenset({CHECK, EFT, VIRTUAL_CARD})


@dataclass
class PaymentRecord:
    payment_id: str
    amount_cents: int
    method: str
    reference: str
    payer_claim_control_number: str
    paid_on: date
    transaction: dict[str, Any]
    reversed: bool = False
    line_matches: tuple[dict[str, Any], ...] = ()  # rule 5: which 837 line each SVC paid


def settlement_id_for(tenant_id: str, claim_id: str) -> UUID:
    """One settlement per claim (or per IDR dispute line, which names its own claim)."""
    return deterministic_id(tenant_id, "settlement", claim_id)
