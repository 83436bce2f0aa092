"""What the negotiation service learned about a claim from the claims service's events.

Kept as our own small aggregate (never read from the claims service's tables), so a triaged claim
can be opened for negotiation with its provider, plan, billed amount, QPA and initial payment.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.ids import deterministic_id
from services.negotiation.domain.values import Adjudication


def facts_id(tenant_id: str, claim_id: str) -> Any:
    return deterministic_id(tenant_id, "claim-facts", claim_id)


class ClaimFacts(TenantAggregate):
    class ClaimFactsNoted(TenantAggregate.Created):
        """v2: `line_count`, how many service lines the claim has (line-level IDR disputes name
        lines 1..line_count); v1 events upcast to 0, unknown."""

        class_version = 2
        claim_id: str
        provider_npi: str
        provider_tin: str
        payer_id: str
        plan_id: str
        plan_funding: str
        service_code: str
        service_date: date
        billed_cents: int
        line_count: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["line_count"] = 0  # noted before the claim's lines were counted: unknown

    class AdjudicationNoted(TenantAggregate.Event):
        received_on: date
        paid_cents: int
        patient_responsibility_cents: int
        qpa_cents: int
        denied: bool

        def apply(self, aggregate: ClaimFacts) -> None:
            aggregate.adjudication = Adjudication(
                received_on=self.received_on,
                paid_cents=self.paid_cents,
                patient_responsibility_cents=self.patient_responsibility_cents,
                qpa_cents=self.qpa_cents,
                denied=self.denied,
            )

    class AppealPaymentNoted(TenantAggregate.Event):
        """An appeal decision changed what the payer paid (claims' AppealDecisionRecorded)."""

        paid_cents: int
        denied: bool

        def apply(self, aggregate: ClaimFacts) -> None:
            if aggregate.adjudication is not None:
                aggregate.adjudication = replace(
                    aggregate.adjudication, paid_cents=self.paid_cents, denied=self.denied
                )

    class NegotiationRefused(TenantAggregate.Event):
        """A triaged claim whose facts fail an opening rule: no negotiation was opened."""

        claim_id: str
        reason: str
        fields: list[str]
        route: str
        notice_due_on: date | None
        rule_set_version: str

        def apply(self, aggregate: ClaimFacts) -> None:
            aggregate.refusal = self.reason

    def __init__(  # the creation event's fields
        self,
        claim_id: str,
        provider_npi: str,
        provider_tin: str,
        payer_id: str,
        plan_id: str,
        plan_funding: str,
        service_code: str,
        service_date: date,
        billed_cents: int,
        line_count: int,
    ) -> None:
        self.claim_id = claim_id
        self.provider_npi = provider_npi
        self.provider_tin = provider_tin
        self.payer_id = payer_id
        self.plan_id = plan_id
        self.plan_funding = plan_funding
        self.service_code = service_code
        self.service_date = service_date
        self.billed_cents = billed_cents
        self.line_count = line_count  # 0: unknown (noted before lines were counted)
        self.adjudication: Adjudication | None = None
        self.refusal = ""

    @classmethod
    def note(cls, ctx: CommandContext, **fields: Any) -> ClaimFacts:
        facts: ClaimFacts = cls._start(
            cls.ClaimFactsNoted, ctx, id=facts_id(ctx.tenant_id, fields["claim_id"]), **fields
        )
        return facts

    def note_adjudication(self, ctx: CommandContext, **fields: Any) -> None:
        if self.has_handled(ctx):
            return
        self._record(self.AdjudicationNoted, ctx, **fields)

    def note_appeal_payment(self, ctx: CommandContext, paid_cents: int, denied: bool) -> None:
        if self.has_handled(ctx) or self.adjudication is None:
            return
        self._record(self.AppealPaymentNoted, ctx, paid_cents=paid_cents, denied=denied)

    def refuse_negotiation(
        self, ctx: CommandContext, reason: str, fields: list[str], route: str,
        notice_due_on: date | None, rule_set_version: str,
    ) -> None:
        if self.has_handled(ctx) or self.refusal == reason:
            return
        self._record(
            self.NegotiationRefused, ctx, claim_id=self.claim_id, reason=reason, fields=fields,
            route=route, notice_due_on=notice_due_on, rule_set_version=rule_set_version,
        )
