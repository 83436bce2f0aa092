"""Test builders for negotiation domain tests: contexts, an opened negotiation, dates."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from services.common.calendar import federal_calendar
from services.common.context import CommandContext
from services.negotiation.domain.deadlines import DeadlineEngine
from services.negotiation.domain.negotiation import Negotiation

TENANT = "tenant-a"
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ENGINE = DeadlineEngine(federal_calendar())
_requests = itertools.count()


def ctx(*roles: str, tenant: str = TENANT, request_id: str | None = None) -> CommandContext:
    return CommandContext(
        tenant_id=tenant,
        actor=f"{roles[0] if roles else 'nobody'}@example.test",
        now=NOW,
        roles=frozenset(roles),
        request_id=request_id or f"req-{next(_requests)}",
    )


def negotiator(**kw: Any) -> CommandContext:
    return ctx("negotiator", **kw)


def approver(**kw: Any) -> CommandContext:
    return ctx("provider_approver", **kw)


def open_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        negotiation_id=uuid4(),
        claim_id=f"claim-{uuid4().hex[:8]}",
        provider_npi="1234567893",
        provider_tin="12-3456789",
        payer_id="payer-acme",
        plan_id="plan-acme-ppo",
        plan_funding="fully_insured",
        service_code="70450",
        service_date=date(2026, 4, 20),
        billed_cents=250_000,
        qpa_cents=40_000,
        patient_cost_sharing_cents=5_000,
        already_paid_cents=35_000,
        bill_received_on=date(2026, 5, 1),
        initial_payment_received_on=date(2026, 6, 1),
        route="federal_idr",
        assignee="neg@example.test",
    )
    fields.update(overrides)
    return fields


def opened(**overrides: Any) -> Negotiation:
    negotiation = Negotiation.open(negotiator(), **open_fields(**overrides))
    negotiation.collect_events()
    return negotiation


def with_notice(sent_on: date = date(2026, 6, 2), **overrides: Any) -> Negotiation:
    negotiation = opened(**overrides)
    negotiation.send_open_negotiation_notice(
        negotiator(), sent_on=sent_on, channel="portal", portal_reference="ON-1"
    )
    negotiation.collect_events()
    return negotiation


def offer(n: Negotiation, party: str, cents: int, offer_id: str | None = None, **kw: Any) -> None:
    n.make_offer(
        kw.pop("context", negotiator()),
        offer_id=offer_id or f"o-{uuid4().hex[:6]}",
        party=party,
        amount_cents=cents,
        basis=kw.pop("basis", {"qpa_cents": 40_000}),
        channel="email",
        notes="",
        document_refs=[],
        made_on=kw.pop("made_on", date(2026, 6, 10)),
        **kw,
    )


def event_names(n: Negotiation) -> list[str]:
    return [type(e).__name__ for e in n.collect_events()]


def pending(n: Negotiation) -> list[Any]:
    """The events recorded since the last collect (typed loosely: tests read their fields)."""
    return list(n.collect_events())
