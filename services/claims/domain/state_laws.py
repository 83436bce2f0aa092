"""Specified state surprise-billing laws, as data (DOMAIN.md §1.10: store routing as data).

Each entry says which plans and services a state's own payment-dispute process covers, from
when. The list is a product assumption to be maintained per state with counsel; triage records
the rule-set version it used so an auditor can replay why a claim was routed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.claims.domain.service_class import ServiceClass


@dataclass(frozen=True)
class StateLaw:
    state: str
    effective_from: date
    # Self-funded ERISA plans may opt in (where the state allows it).
    allows_self_funded_opt_in: bool
    # Service classes the state law does not reach (federal IDR applies to those).
    excluded_services: frozenset[ServiceClass] = frozenset()
    # Non-federal governmental and church plans the state regulates directly.
    covers_governmental_plans: bool = False


_AIR = frozenset({ServiceClass.AIR_AMBULANCE})

STATE_LAWS: dict[str, StateLaw] = {
    law.state: law
    for law in (
        StateLaw("CA", date(2017, 7, 1), False, _AIR, covers_governmental_plans=True),
        StateLaw("CO", date(2020, 1, 1), True, _AIR),
        StateLaw("CT", date(2016, 7, 1), False, _AIR),
        StateLaw("FL", date(2016, 7, 1), False, _AIR),
        StateLaw("GA", date(2021, 1, 1), True, _AIR),
        StateLaw("IL", date(2011, 1, 1), False, _AIR),
        StateLaw("ME", date(2020, 1, 1), False, _AIR),
        StateLaw("MI", date(2021, 1, 1), True, _AIR),
        StateLaw("NE", date(2021, 1, 1), True, _AIR),
        StateLaw("NH", date(2018, 7, 1), True, _AIR),
        StateLaw("NJ", date(2018, 8, 30), True, _AIR, covers_governmental_plans=True),
        StateLaw("NM", date(2020, 1, 1), True, _AIR),
        StateLaw("NV", date(2020, 1, 1), True, _AIR),
        StateLaw("NY", date(2015, 3, 31), False, _AIR, covers_governmental_plans=True),
        StateLaw("OH", date(2022, 1, 12), False, _AIR),
        StateLaw("TX", date(2020, 1, 1), True, _AIR, covers_governmental_plans=True),
        StateLaw("VA", date(2021, 1, 1), True, _AIR),
        StateLaw("WA", date(2020, 1, 1), True, _AIR),
    )
}

# Maryland's All-Payer Model Agreement sets hospital (facility) rates for every payer.
ALL_PAYER_MODEL_STATES = frozenset({"MD"})


def state_law_for(state: str, service_date: date) -> StateLaw | None:
    law = STATE_LAWS.get(state)
    if law is None or service_date < law.effective_from:
        return None
    return law
