"""Test builders for negotiation domain tests: contexts, an opened negotiation, dates."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from services.common.calendar import federal_calendar
from services.common.context import CommandContext
from services.negotiation.domain import (
    FederalIdrDispute,
    Negotiation,
    OpeningFacts,
    ProposedOffer,
)
from services.negotiation.domain.cooling_off import CoolingOffPeriod
from services.negotiation.domain.deadlines import CaseDeadlines, DeadlineEngine

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


def open_negotiation(context: CommandContext, **fields: Any) -> Negotiation:
    """`Negotiation.open` with the fields of `open_fields` (its id among them)."""
    negotiation_id = fields.pop("negotiation_id")
    return Negotiation.open(context, negotiation_id=negotiation_id, facts=OpeningFacts(**fields))


def opened(**overrides: Any) -> Negotiation:
    negotiation = open_negotiation(negotiator(), **open_fields(**overrides))
    negotiation.collect_events()
    return negotiation


def with_notice(sent_on: date = date(2026, 6, 2), **overrides: Any) -> Negotiation:
    negotiation = opened(**overrides)
    negotiation.send_open_negotiation_notice(
        negotiator(), sent_on=sent_on, channel="portal", portal_reference="ON-1"
    )
    negotiation.collect_events()
    return negotiation


def offer(
    n: Negotiation | Case, party: str, cents: int, offer_id: str | None = None, **kw: Any
) -> None:
    n.make_offer(
        kw.pop("context", negotiator()),
        ProposedOffer(
            offer_id=offer_id or f"o-{uuid4().hex[:6]}",
            party=party,
            amount_cents=cents,
            basis=kw.pop("basis", {"qpa_cents": 40_000}),
            channel="email",
            notes="",
            document_refs=(),
            made_on=kw.pop("made_on", date(2026, 6, 10)),
        ),
        **kw,
    )


def event_names(n: Negotiation) -> list[str]:
    return [type(e).__name__ for e in n.collect_events()]


def pending(n: Negotiation | Case) -> list[Any]:
    """The events recorded since the last collect (typed loosely: tests read their fields)."""
    return list(n.collect_events())


class Case:
    """A negotiation and its federal IDR dispute, wired the way the application wires them
    (NegotiationApplication): the dispute's commands get the negotiation's facts and deadlines."""

    def __init__(self, negotiation: Negotiation) -> None:
        self.negotiation = negotiation
        self.dispute: FederalIdrDispute | None = None

    @property
    def status(self) -> str:
        return self.negotiation.case_status(self.dispute)

    def deadlines(self, engine: DeadlineEngine) -> CaseDeadlines:
        return self.negotiation.deadlines(engine, self.dispute)

    def initiate_idr(
        self,
        context: CommandContext,
        *,
        engine: DeadlineEngine,
        cooling_off: Sequence[CoolingOffPeriod],
        **fields: Any,
    ) -> None:
        n = self.negotiation
        self.dispute = FederalIdrDispute.initiate(
            context,
            negotiation_id=str(n.id),
            claim=n.disputed_claim,
            refusal=lambda on, party: n.initiation_refusal(
                initiated_on=on,
                initiating_party=party,
                engine=engine,
                cooling_off=cooling_off,
                dispute=self.dispute,
            ),
            **fields,
        )

    def _dispute(self) -> FederalIdrDispute:
        assert self.dispute is not None, "initiate federal IDR first"
        return self.dispute

    def select_idre(self, context: CommandContext, *, engine: DeadlineEngine, **kw: Any) -> None:
        dispute = self._dispute()
        dispute.select_idre(
            context,
            claim=self.negotiation.disputed_claim,
            deadlines=self.deadlines(engine),
            **kw,
        )

    def record_eligibility(self, context: CommandContext, **kw: Any) -> None:
        self._dispute().record_eligibility(context, claim=self.negotiation.disputed_claim, **kw)

    def submit_idr_offer(self, context: CommandContext, **kw: Any) -> None:
        self._dispute().submit_offer(context, claim=self.negotiation.disputed_claim, **kw)

    def record_determination(self, context: CommandContext, **kw: Any) -> None:
        self._dispute().record_determination(context, claim=self.negotiation.disputed_claim, **kw)

    def close_without_offers(self, context: CommandContext, **kw: Any) -> None:
        self._dispute().close_without_offers(context, claim=self.negotiation.disputed_claim, **kw)

    def party_keys(self, initiating_party: str) -> tuple[str, str]:
        return self.negotiation.party_keys(initiating_party)

    def make_offer(self, context: CommandContext, offer: ProposedOffer) -> None:
        self.negotiation.make_offer(context, offer, dispute=self.dispute)

    def propose_decision(self, context: CommandContext, **kw: Any) -> None:
        self.negotiation.propose_decision(context, dispute=self.dispute, **kw)

    def approve_decision(self, context: CommandContext, **kw: Any) -> None:
        self.negotiation.approve_decision(context, dispute=self.dispute, **kw)

    def collect_events(self) -> list[Any]:
        """New events of both aggregates: the negotiation's, then the dispute's."""
        events: list[Any] = list(self.negotiation.collect_events())
        if self.dispute is not None:
            events.extend(self.dispute.collect_events())
        return events
