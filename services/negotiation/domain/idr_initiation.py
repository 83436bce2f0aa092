"""When a negotiation may go to federal IDR (DOMAIN.md §1.3, §1.7): the rule, given the case.

The initiation window (T3: business days 31-34 of open negotiation), the provider's approval,
the claim's route, and cooling-off from earlier determinations between the same parties for a
similar service — with T11's grace for items that cooling-off blocked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta

from services.common.calendar import BusinessCalendar
from services.common.errors import FailedPrecondition, Violations
from services.negotiation.domain import dispute_lines as dl
from services.negotiation.domain.cooling_off import CoolingOffPeriod, blocking_period
from services.negotiation.domain.deadlines import Deadline
from services.negotiation.domain.rule_sets import NoRuleSetError, RuleSet, rule_set_on
from services.negotiation.domain.validation import check_fact_date, enum_value
from services.negotiation.domain.vocabulary import NegotiationStatus, Party, Route


def initiation_refusal(
    *,
    status: str,
    route: str,
    idr_approved: bool,
    window: Deadline | None,
    party_keys: tuple[str, str],
    family: str,
    initiated_on: date,
    initiating_party: str,
    cooling_off: Iterable[CoolingOffPeriod],
    calendar: BusinessCalendar,
) -> str | None:
    """Why federal IDR cannot be initiated on `initiated_on`; None when it can.

    `window` is the case's T3 deadline; `party_keys` are (initiating, other) party keys.
    """
    if status != NegotiationStatus.OPEN:
        return f"the negotiation is {status}"
    if route != Route.FEDERAL_IDR:
        return f"the claim is not eligible for federal IDR (route: {route})"
    if initiating_party == Party.PROVIDER and not idr_approved:
        return "the provider has not approved going to IDR (approve an IDR decision first)"
    if window is None or window.opens is None:
        return "open negotiation has not started (no notice sent)"
    periods = list(cooling_off)
    mine, theirs = party_keys
    blocking = blocking_period(periods, mine, theirs, family, initiated_on)
    if blocking is not None:
        return (
            f"cooling-off from dispute {blocking.dispute_number} blocks initiation until "
            f"{blocking.ends_on.isoformat()}"
        )
    if initiated_on < window.opens:
        return (
            f"too early: open negotiation runs until business day 30; the initiation "
            f"window is {window.opens.isoformat()}..{window.due.isoformat()}"
        )
    if initiated_on > window.due:
        late_until = _cooling_off_grace(periods, party_keys, family, window, calendar)
        if late_until is None or initiated_on > late_until:
            return (
                f"too late: the 4-business-day initiation window closed on "
                f"{window.due.isoformat()}"
            )
    return None


def _cooling_off_grace(
    periods: Sequence[CoolingOffPeriod],
    keys: tuple[str, str],
    family: str,
    window: Deadline,
    calendar: BusinessCalendar,
) -> date | None:
    """T11: items blocked by cooling-off may be filed within 30 BD after it ends."""
    assert window.opens is not None
    ends = [
        p.ends_on
        for p in periods
        if p.initiating_party_key == keys[0]
        and p.other_party_key == keys[1]
        and p.service_family == family
        and p.starts_on <= window.due
        and p.ends_on >= window.opens
    ]
    if not ends:
        return None
    reopens = max(ends) + timedelta(days=1)
    return calendar.period_beginning(reopens, rule_set_on(reopens).blocked_items_business_days)


# Why the negotiation cannot go to IDR on a date for an initiating party (None when it can).
InitiationCheck = Callable[[date, str], str | None]


def admitted_initiation(
    today: date,
    *,
    dispute_number: str,
    initiated_on: date | None,
    initiating_party: str,
    refusal: InitiationCheck,
    lines: Sequence[dl.DisputedLine],
    line_items: int,
) -> tuple[RuleSet, date, int]:
    """The rule set, day and line-item count of an initiation the rules admit; otherwise
    INVALID_ARGUMENT (malformed) or FAILED_PRECONDITION (refused, citing the rule)."""
    v = Violations()
    v.check(bool(dispute_number.strip()), "dispute_number", "is required")
    dl.check_disputed_lines(v, "lines", lines)
    check_fact_date(v, "initiated_on", initiated_on, today)
    enum_value(v, "initiating_party", Party, initiating_party)
    v.raise_if_any()
    assert initiated_on is not None
    reason = refusal(initiated_on, initiating_party)
    if reason is not None:
        raise FailedPrecondition(f"federal IDR refused: {reason}")
    try:
        rule_set = rule_set_on(initiated_on)
    except NoRuleSetError as exc:
        raise FailedPrecondition(str(exc)) from None
    cap = rule_set.batch_item_cap
    if cap is not None and line_items > cap:
        raise FailedPrecondition(f"DOMAIN §1.6: {line_items} line items exceed the cap of "
                                 f"{cap} per dispute under {rule_set.version}")
    return rule_set, initiated_on, line_items
