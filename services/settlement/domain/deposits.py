"""The deposit a settlement money fact came in (DOMAIN.md §4: every fee line references the ERA's
TRN02 and its BPR16 date): how events recorded before they named it get it from what they knew.

An 835 payment, reversal, recoupment or interest was recorded with the remittance's TRN02 as
`reference` and its BPR16 date as the posting day, so the upcast names those same facts; what an
older event never knew (the CLP07 of a reversal, the PLB03-2 reference) stays empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def named_deposit(day_field: str, *unknown: str) -> Callable[[dict[str, Any]], None]:
    """An upcaster adding `trace_number` and `deposit_date` (and `unknown` fields as "")."""

    def upcast(state: dict[str, Any]) -> None:
        state["trace_number"] = state["reference"]
        state["deposit_date"] = state[day_field]
        for name in unknown:
            state[name] = ""

    return upcast
