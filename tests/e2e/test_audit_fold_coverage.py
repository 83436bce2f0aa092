"""Contract between the services and the auditor's claim view: every event a service records
on a claim's audit chain is known to the ledger's fold (`GetClaimAsOf`), so a new event type
cannot silently end up in `unfolded`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from services.common.aggregate import TenantAggregate
from services.ledger.claim_state import FOLDS

SERVICES = ("claims", "negotiation", "settlement", "fees")


def _aggregates() -> set[type[TenantAggregate]]:
    found: set[type[TenantAggregate]] = set()
    for service in SERVICES:
        package = importlib.import_module(f"services.{service}")
        # Every module, packages included (services/<svc>/domain/...).
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            parts = module.name.split(".")
            if {"tests", "main", "demo"} & set(parts[2:]):
                continue
            for _, value in inspect.getmembers(importlib.import_module(module.name)):
                if inspect.isclass(value) and issubclass(value, TenantAggregate):
                    if value is not TenantAggregate and value.__module__ == module.name:
                        found.add(value)
    return found


def _on_a_claims_chain(aggregate: type[TenantAggregate]) -> bool:
    if getattr(aggregate, "IS_CLAIM_ROOT", False):
        return True
    if "claim_id" in inspect.signature(aggregate.__init__).parameters:
        return True
    created = [
        event
        for _, event in inspect.getmembers(aggregate, inspect.isclass)
        if issubclass(event, TenantAggregate.Created)
    ]
    return any("claim_id" in inspect.get_annotations(event) for event in created)


def test_every_claim_event_of_every_service_is_folded_by_the_ledger() -> None:
    aggregates = [a for a in _aggregates() if _on_a_claims_chain(a)]
    assert len(aggregates) >= 6, sorted(a.__name__ for a in aggregates)  # the scan found them
    events = {
        f"{aggregate.__name__}.{name}": name
        for aggregate in aggregates
        for name, event in inspect.getmembers(aggregate, inspect.isclass)
        if issubclass(event, TenantAggregate.Event)
        and name not in ("Event", "Created")  # each aggregate's own bases
    }
    assert "Settlement.PaymentPosted" in events
    assert {qualified for qualified, name in events.items() if name not in FOLDS} == set()
