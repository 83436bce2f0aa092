"""The FeeAccount aggregate: one per claim; every settlement fact it saw and the fee it produced.

The account is the exactly-once guard: an upstream event id it already recorded is ignored, so a
redelivered or replayed payment never bills twice, whatever the transport did.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import replace
from typing import Any
from uuid import UUID

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.ids import deterministic_id
from services.fees.domain.arithmetic import FeeComputation
from services.fees.domain.assessment import (
    AccountState,
    FeeLine,
    IdrFeeAssessment,
    IdrFeeFact,
    LineRecord,
    PaymentAssessment,
    PaymentFact,
    PaymentKind,
    apply_idr_fee_assessment,
    apply_payment_assessment,
    assess_idr_fee,
    assess_payment,
    line_from_record,
    line_to_record,
)
from services.fees.domain.schedule import ResolutionStage, ScheduleVersion


def account_id_for(tenant_id: str, claim_id: str) -> UUID:
    return deterministic_id(tenant_id, "fee-account", claim_id)


class FeeAccount(TenantAggregate):
    class FeeAccountOpened(TenantAggregate.Created):
        claim_id: str
        client_id: str

        def mutate(self, aggregate: Any) -> Any:
            account = super().mutate(aggregate)
            account.state = replace(account.state, tenant_id=self.tenant_id)
            return account

    class ClaimFactsRecorded(TenantAggregate.Event):
        """What the fee needs to know about the claim besides its cash."""

        source_event_id: str
        stage: str | None
        initial_payment_cents: int | None
        payer_id: str | None
        service_code: str | None

        def apply(self, aggregate: FeeAccount) -> None:
            state = aggregate.state
            aggregate.state = replace(
                state,
                stage=ResolutionStage(self.stage) if self.stage else state.stage,
                initial_payment_cents=(state.initial_payment_cents
                                       if self.initial_payment_cents is None
                                       else self.initial_payment_cents),
                payer_id=self.payer_id or state.payer_id,
                service_code=self.service_code or state.service_code,
                processed=state.processed | {self.source_event_id},
            )

    class FeeAssessed(TenantAggregate.Event):
        """A settlement fact and its fee effect; `line` is the invoice line or credit memo."""

        source_event_id: str
        payment_kind: str
        amount_cents: int
        interest_cents: int
        posting_date: dt.date
        remittance_trn: str
        payer_id: str
        schedule_version: int | None
        recovered_cents: int | None
        fee_after_cents: int
        line: LineRecord | None

        def assessment(self) -> PaymentAssessment:
            fact = PaymentFact(self.source_event_id, PaymentKind(self.payment_kind),
                               self.amount_cents, self.posting_date, self.remittance_trn,
                               self.interest_cents, self.payer_id)
            computation = (None if self.recovered_cents is None
                           else FeeComputation(self.recovered_cents, self.fee_after_cents))
            line = line_from_record(self.line) if self.line else None
            return PaymentAssessment(fact, self.schedule_version, computation,
                                     self.fee_after_cents, line)

        def apply(self, aggregate: FeeAccount) -> None:
            aggregate.state = apply_payment_assessment(aggregate.state, self.assessment())
            if self.line:
                aggregate.lines.append(line_from_record(self.line))

    class IdrFeePassedThrough(TenantAggregate.Event):
        source_event_id: str
        amount_cents: int
        fee_date: dt.date
        dispute_number: str
        schedule_version: int | None
        line: LineRecord | None

        def apply(self, aggregate: FeeAccount) -> None:
            fact = IdrFeeFact(self.source_event_id, self.amount_cents, self.fee_date,
                              self.dispute_number)
            line = line_from_record(self.line) if self.line else None
            aggregate.state = apply_idr_fee_assessment(
                aggregate.state, IdrFeeAssessment(fact, self.schedule_version, line))
            if line:
                aggregate.lines.append(line)

    def __init__(self, claim_id: str, client_id: str) -> None:
        self.claim_id = claim_id
        self.client_id = client_id
        self.state = AccountState(tenant_id="", claim_id=claim_id, client_id=client_id)
        self.lines: list[FeeLine] = []

    def __deepcopy__(self, memo: dict[int, Any]) -> FeeAccount:
        # State and lines are immutable values; only the containers need copying. Every load
        # from the aggregate cache copies the account, so this keeps intake cheap.
        clone = copy.copy(self)
        clone.lines = list(self.lines)
        clone._pending_events = list(self._pending_events)
        if "request_ids" in self.__dict__:
            clone.request_ids = dict(self.request_ids)
        if "request_fingerprints" in self.__dict__:
            clone.request_fingerprints = dict(self.request_fingerprints)
        return clone

    @classmethod
    def open(cls, ctx: CommandContext, claim_id: str, client_id: str) -> FeeAccount:
        return cls._start(cls.FeeAccountOpened, ctx.with_request(""),
                          id=account_id_for(ctx.tenant_id, claim_id),
                          claim_id=claim_id, client_id=client_id)

    def has_seen(self, source_event_id: str) -> bool:
        return source_event_id in self.state.processed

    def record_claim_facts(self, ctx: CommandContext, source_event_id: str, *,
                           stage: ResolutionStage | None = None,
                           initial_payment_cents: int | None = None,
                           payer_id: str | None = None,
                           service_code: str | None = None) -> None:
        if self.has_seen(source_event_id):
            return
        self._record(self.ClaimFactsRecorded, ctx, source_event_id=source_event_id,
                     stage=stage.value if stage else None,
                     initial_payment_cents=initial_payment_cents,
                     payer_id=payer_id, service_code=service_code)

    def assess_payment(self, ctx: CommandContext, fact: PaymentFact,
                       version: ScheduleVersion | None) -> PaymentAssessment | None:
        """Record the fact and its fee effect; None when the fact was already assessed."""
        if self.has_seen(fact.source_event_id):
            return None
        assessment = assess_payment(self.state, fact, version)
        self._record(
            self.FeeAssessed, ctx,
            source_event_id=fact.source_event_id,
            payment_kind=fact.kind.value,
            amount_cents=fact.amount_cents,
            interest_cents=fact.interest_cents,
            posting_date=fact.posting_date,
            remittance_trn=fact.remittance_trn,
            payer_id=fact.payer_id,
            schedule_version=assessment.schedule_version,
            recovered_cents=(assessment.computation.recovered_cents
                             if assessment.computation else None),
            fee_after_cents=assessment.fee_after_cents,
            line=line_to_record(assessment.line) if assessment.line else None,
        )
        return assessment

    def pass_through_idr_fee(self, ctx: CommandContext, fact: IdrFeeFact,
                             version: ScheduleVersion | None) -> IdrFeeAssessment | None:
        if self.has_seen(fact.source_event_id):
            return None
        assessment = assess_idr_fee(self.state, fact, version)
        self._record(
            self.IdrFeePassedThrough, ctx,
            source_event_id=fact.source_event_id,
            amount_cents=fact.amount_cents,
            fee_date=fact.fee_date,
            dispute_number=fact.dispute_number,
            schedule_version=assessment.schedule_version,
            line=line_to_record(assessment.line) if assessment.line else None,
        )
        return assessment
