"""Batching rules: accepted and refused by rule, with the item cap from the rule set."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from services.common.calendar import federal_calendar
from services.negotiation.domain.batching import BatchItem, batch_refusals
from services.negotiation.domain.rule_sets import rule_set_on

CAL = federal_calendar()
OLD = rule_set_on(date(2026, 1, 5))
NEW = rule_set_on(date(2026, 9, 1))


def item(n: int, **kw: object) -> BatchItem:
    base = BatchItem(f"n{n}", "1234567893", "12-3456789", "plan-1", "70450", date(2026, 9, 1))
    return replace(base, **kw)  # type: ignore[arg-type]


def rules(refusals: list) -> set[str]:  # type: ignore[type-arg]
    return {r.rule for r in refusals}


def test_same_provider_plan_similar_service_inside_30_bd_is_accepted() -> None:
    items = [
        item(1),
        item(2, service_code="71250", provider_npi="other", service_date=date(2026, 10, 13)),
    ]
    assert batch_refusals(items, NEW, CAL) == []


def test_each_broken_rule_is_named() -> None:
    assert rules(batch_refusals([item(1), item(2, plan_id="plan-2")], NEW, CAL)) == {"same_plan"}
    assert rules(
        batch_refusals([item(1), item(2, provider_npi="x", provider_tin="y")], NEW, CAL)
    ) == {"same_provider"}
    assert rules(batch_refusals([item(1), item(2, service_code="99285")], NEW, CAL)) == {
        "similar_service"
    }
    # 30 BD after 2026-09-01 is 2026-10-15 (Labor Day and Columbus Day skipped).
    assert batch_refusals([item(1), item(2, service_date=date(2026, 10, 15))], NEW, CAL) == []
    assert rules(batch_refusals([item(1), item(2, service_date=date(2026, 10, 16))], NEW, CAL)) == {
        "thirty_business_days"
    }
    assert rules(batch_refusals([item(1)], NEW, CAL)) == {"min_items"}


def test_item_cap_comes_from_the_rule_set() -> None:
    many = [item(i) for i in range(51)]
    assert rules(batch_refusals(many, NEW, CAL)) == {"item_cap"}
    assert batch_refusals(many, OLD, CAL) == []  # no numeric cap before the 2026 rule
