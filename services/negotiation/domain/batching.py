"""Batching several claims into one federal IDR dispute (DOMAIN.md §1.6).

Batch criteria: same provider (NPI or TIN), same plan, every item furnished within the
30-business-day period following the first item's date, similar service, and at most the rule
set's item cap. Each refusal names the rule it breaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from services.common.calendar import BusinessCalendar
from services.negotiation.domain.cooling_off import service_family
from services.negotiation.domain.rule_sets import RuleSet


@dataclass(frozen=True)
class BatchItem:
    negotiation_id: str
    provider_npi: str
    provider_tin: str
    plan_id: str
    service_code: str
    service_date: date


@dataclass(frozen=True)
class BatchRefusal:
    rule: str
    negotiation_id: str
    detail: str


def batch_refusals(
    items: Sequence[BatchItem], rule_set: RuleSet, calendar: BusinessCalendar,
    line_items: int = 0,
) -> list[BatchRefusal]:
    """Why these items cannot form one batched dispute; empty when they can. `line_items`:
    the dispute's line items when some items dispute several lines (default: one each)."""
    if len(items) < 2:
        return [BatchRefusal("min_items", "", "a batch needs at least two items")]
    refusals: list[BatchRefusal] = []
    cap = rule_set.batch_item_cap
    count = max(line_items, len(items))
    if cap is not None and count > cap:
        refusals.append(BatchRefusal("item_cap", "", f"{count} items exceed the cap of {cap}"))
    first = min(items, key=lambda i: i.service_date)
    window_end = calendar.after(first.service_date, rule_set.batch_window_business_days)
    family = service_family(first.service_code)
    for item in items:
        same_provider = (
            item.provider_npi == first.provider_npi or item.provider_tin == first.provider_tin
        )
        if not same_provider:
            refusals.append(
                BatchRefusal("same_provider", item.negotiation_id, "NPI and TIN differ")
            )
        if item.plan_id != first.plan_id:
            refusals.append(BatchRefusal("same_plan", item.negotiation_id, "different plan"))
        if item.service_date > window_end:
            refusals.append(
                BatchRefusal(
                    "thirty_business_days",
                    item.negotiation_id,
                    f"furnished {item.service_date.isoformat()}, after "
                    f"{window_end.isoformat()} (30 business days after the first item)",
                )
            )
        if service_family(item.service_code) != family:
            refusals.append(
                BatchRefusal(
                    "similar_service",
                    item.negotiation_id,
                    f"{item.service_code} is not similar to {first.service_code}",
                )
            )
    if len({i.negotiation_id for i in items}) != len(items):
        refusals.append(BatchRefusal("distinct_items", "", "an item appears twice"))
    return refusals
