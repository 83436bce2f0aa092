"""The exceptions queue: what an 835 could not post, kept until someone resolves it.

`UnmatchedClaimPayment` keeps a CLP that could not be posted (its money sits in unapplied cash);
`UnmatchedServiceLine` keeps an SVC of a posted CLP that names no single 837 line (rule 5).

A CLP item is resolved by hand (`resolve`, ResolveException) or, when it waited only for its
claim's settlement to open (reason `NO_SETTLEMENT`), automatically when that settlement opens
(`resolve_on_opening`, settlement_waitlist.py); its `UnmatchedClaimPaymentResolved` says which.
When a business rule refuses that automatic posting (a DomainError from the settlement), the item
records why (`AutomaticPostingRefused`, once per claim and reason) and stays open for a person.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.ids import deterministic_id
from services.settlement.domain.journal import Account
from services.settlement.domain.payments import PaymentRecord
from services.settlement.domain.remittance import ClaimPayment, Remittance, ServiceLine
from services.settlement.domain.remittance_posting import (
    NO_SETTLEMENT,
    LineException,
    PaymentException,
)
from services.settlement.domain.settlement import Settlement

# Why an UnmatchedClaimPaymentResolved was recorded (its `cause`).
RESOLVED_BY_HAND = "manual"  # ResolveException: someone attached it to a claim
RESOLVED_ON_SETTLEMENT_OPENING = "settlement_opened"  # its claim's settlement opened


def exception_id_for(tenant_id: str, remittance_id: UUID, ordinal: int) -> UUID:
    return deterministic_id(tenant_id, "payment-exception", f"{remittance_id}:{ordinal}")


def line_exception_id_for(tenant_id: str, remittance_id: UUID, ordinal: int, svc: int) -> UUID:
    return deterministic_id(tenant_id, "line-exception", f"{remittance_id}:{ordinal}:{svc}")


class UnmatchedClaimPayment(TenantAggregate):
    """An exceptions-queue item: a CLP kept for auditors and for later resolution."""

    class UnmatchedClaimPaymentQueued(TenantAggregate.Created):
        remittance_id: str
        trace_number: str
        payer_id: str
        payment_method: str
        payment_date: date | None
        ordinal: int
        patient_control_number: str
        payer_claim_control_number: str
        status_code: str
        charge_cents: int
        paid_cents: int
        patient_responsibility_cents: int
        first_service_date: date | None
        reason: str
        candidate_claim_id: str
        # v2: the CLP's SVCs and statement dates when it waits for its claim's settlement
        # (matched to the 837 lines, rule 5, when it posts); empty otherwise.
        class_version = 2
        service_lines: list[dict[str, Any]]
        statement_from: date | None
        statement_to: date | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["service_lines"] = []
            state["statement_from"] = None
            state["statement_to"] = None

    class UnmatchedClaimPaymentResolved(TenantAggregate.Event):
        class_version = 2
        claim_id: str
        cause: str  # RESOLVED_BY_HAND or RESOLVED_ON_SETTLEMENT_OPENING

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Recorded before the automatic re-match existed: only a person resolved items.
            state["cause"] = RESOLVED_BY_HAND

        def apply(self, aggregate: UnmatchedClaimPayment) -> None:
            aggregate.resolved_claim_id = self.claim_id
            aggregate.resolution_cause = self.cause

    class AutomaticPostingRefused(TenantAggregate.Event):
        """Posting this item when its claim's settlement opened was refused by a business rule:
        it stays queued (its money in unapplied cash) for a person to resolve."""

        claim_id: str  # the claim whose settlement refused it
        reason: str  # the rule's message (DomainError)
        refused_at: str  # ISO-8601 timestamp (UTC) of the refusal

        def apply(self, aggregate: UnmatchedClaimPayment) -> None:
            aggregate.refusal_claim_id = self.claim_id
            aggregate.refusal_reason = self.reason
            aggregate.refused_at = self.refused_at

    def __init__(  # the UnmatchedClaimPaymentQueued fields
        self,
        remittance_id: str,
        trace_number: str,
        payer_id: str,
        payment_method: str,
        payment_date: date | None,
        ordinal: int,
        patient_control_number: str,
        payer_claim_control_number: str,
        status_code: str,
        charge_cents: int,
        paid_cents: int,
        patient_responsibility_cents: int,
        first_service_date: date | None,
        reason: str,
        candidate_claim_id: str,
        service_lines: list[dict[str, Any]],
        statement_from: date | None,
        statement_to: date | None,
    ) -> None:
        self.remittance_id = remittance_id
        self.trace_number = trace_number
        self.payer_id = payer_id
        self.payment_method = payment_method
        self.payment_date = payment_date
        self.ordinal = ordinal
        self.patient_control_number = patient_control_number
        self.payer_claim_control_number = payer_claim_control_number
        self.status_code = status_code
        self.paid_cents = paid_cents
        self.patient_responsibility_cents = patient_responsibility_cents
        self.reason = reason
        self.candidate_claim_id = candidate_claim_id
        self.charge_cents = charge_cents
        self.service_lines = [dict(line) for line in service_lines]
        self.statement_from = statement_from
        self.statement_to = statement_to
        self.resolved_claim_id = ""
        self.resolution_cause = ""
        # The last refusal of its automatic posting (AutomaticPostingRefused), "" when none.
        self.refusal_claim_id = ""
        self.refusal_reason = ""
        self.refused_at = ""

    @classmethod
    def queue(
        cls,
        ctx: CommandContext,
        *,
        remittance_id: UUID,
        remittance: Remittance,
        item: PaymentException,
    ) -> UnmatchedClaimPayment:
        return cls._start(
            cls.UnmatchedClaimPaymentQueued,
            ctx,
            id=exception_id_for(ctx.tenant_id, remittance_id, item.ordinal),
            remittance_id=str(remittance_id),
            trace_number=remittance.trace_number,
            payer_id=remittance.payer_key,
            payment_method=remittance.payment_method,
            payment_date=remittance.payment_date,
            ordinal=item.ordinal,
            patient_control_number=item.patient_control_number,
            payer_claim_control_number=item.payer_claim_control_number,
            status_code=item.status_code,
            charge_cents=item.charge_cents,
            paid_cents=item.paid_cents,
            patient_responsibility_cents=item.patient_responsibility_cents,
            first_service_date=item.first_service_date,
            reason=item.reason,
            candidate_claim_id=item.candidate_claim_id,
            service_lines=[line.to_dict() for line in item.claim.service_lines] if item.claim
            else [],
            statement_from=item.claim.statement_from if item.claim else None,
            statement_to=item.claim.statement_to if item.claim else None,
        )

    def claim_payment(self) -> ClaimPayment:
        """The CLP as queued (with its SVCs when it waited for a settlement), for rule 5."""
        return ClaimPayment(
            ordinal=self.ordinal,
            patient_control_number=self.patient_control_number,
            status_code=self.status_code,
            charge_cents=self.charge_cents,
            paid_cents=self.paid_cents,
            patient_responsibility_cents=self.patient_responsibility_cents,
            payer_claim_control_number=self.payer_claim_control_number,
            statement_from=self.statement_from,
            statement_to=self.statement_to,
            service_lines=tuple(ServiceLine.from_dict(line) for line in self.service_lines),
        )

    def post_payment_on(
        self,
        ctx: CommandContext,
        settlement: Settlement,
        *,
        payment_id: str,
        line_matches: list[dict[str, Any]] | None = None,
    ) -> None:
        """Post this CLP's money (CLP04, positive) on `settlement` as `payment_id`, out of the
        unapplied cash it was queued into: the 835's payment method ("era" when it named none),
        trace number and payment date (else today). Both ways an item is attached post this way:
        by hand (`resolve`) and when its settlement opens (settlement_waitlist.py)."""
        settlement.post_payment(
            ctx,
            payment_id=payment_id,
            amount_cents=self.paid_cents,
            method=self.payment_method.lower() or "era",
            reference=self.trace_number,
            paid_on=self.payment_date or ctx.now.date(),
            payer_claim_control_number=self.payer_claim_control_number,
            remittance_id=self.remittance_id,
            cash_account=Account.UNAPPLIED_CASH,
            line_matches=line_matches,
        )

    def _resolved_to(self, claim_id: str) -> bool:
        """True when already resolved to `claim_id` (a retry); resolved elsewhere is refused."""
        if self.resolved_claim_id and self.resolved_claim_id != claim_id:
            raise FailedPrecondition(
                f"exception already resolved to claim {self.resolved_claim_id}"
            )
        return bool(self.resolved_claim_id)

    def resolve(self, ctx: CommandContext, claim_id: str) -> bool:
        """Attach to a claim; False when this exact resolution was already recorded."""
        if self._resolved_to(claim_id):
            return False
        if self.paid_cents < 0:
            raise InvalidArgument(
                "a negative remittance line reverses a payment: name it", "reversed_payment_id"
            )
        self._record(
            self.UnmatchedClaimPaymentResolved, ctx, claim_id=claim_id, cause=RESOLVED_BY_HAND
        )
        return True

    def resolve_reversal(self, ctx: CommandContext, settlement: Settlement,
                         payment_id: str) -> bool:  # fmt: skip
        """Attach this negative CLP to `settlement`'s claim by hand as the reversal of the
        payment a person named (`reverse_payment_on`); False when this exact resolution was
        already recorded. The payment must be the reversal's amount and not reversed yet."""
        claim_id = settlement.claim_id
        if self._resolved_to(claim_id):
            return False
        if self.paid_cents >= 0:
            raise InvalidArgument("only a negative remittance line reverses a payment",
                                  "reversed_payment_id")  # fmt: skip
        payment = settlement.payments.get(payment_id)
        if payment is None:
            raise NotFound(f"payment {payment_id} not found on the settlement of {claim_id}")
        if payment.amount_cents != -self.paid_cents:
            raise FailedPrecondition(
                f"payment {payment_id} is {payment.amount_cents} cents; this reversal takes back "
                f"{-self.paid_cents}"
            )
        self.reverse_payment_on(ctx.with_request(f"{ctx.request_id}|reversal"), settlement,
                                payment)  # fmt: skip
        self._record(
            self.UnmatchedClaimPaymentResolved, ctx, claim_id=claim_id, cause=RESOLVED_BY_HAND
        )
        return True

    def awaits_settlement_of(self, claim_id: str) -> bool:
        """Still queued, and only because `claim_id` (the claim it matched) had no open
        settlement: what opening that settlement posts (a reversal among them: it reverses the
        payment it names, if the settlement has it)."""
        return (
            not self.resolved_claim_id
            and self.reason == NO_SETTLEMENT
            and self.candidate_claim_id == claim_id
        )

    def reverse_payment_on(self, ctx: CommandContext, settlement: Settlement,
                           payment: PaymentRecord) -> None:  # fmt: skip
        """Post this queued reversal on `settlement`: `payment` (the one it names) reversed,
        with the money taken from the unapplied cash it was queued into, as the import would
        have reversed it from its deposit."""
        settlement.reverse_payment(
            ctx,
            payment_id=payment.payment_id,
            reason=f"CLP02 22 in TRN {self.trace_number}",
            reversed_on=self.payment_date or ctx.now.date(),
            remittance_id=self.remittance_id,
            reference=self.trace_number,
            payer_claim_control_number=self.payer_claim_control_number,
            cash_from=Account.UNAPPLIED_CASH,
        )

    def resolve_on_opening(self, ctx: CommandContext, claim_id: str) -> bool:
        """Attach to the claim whose settlement just opened; False when it no longer waits for
        it (resolved meanwhile, by hand or by an earlier delivery of the opening)."""
        if not self.awaits_settlement_of(claim_id):
            return False
        self._record(
            self.UnmatchedClaimPaymentResolved,
            ctx,
            claim_id=claim_id,
            cause=RESOLVED_ON_SETTLEMENT_OPENING,
        )
        return True


    def refuse_automatic_posting(self, ctx: CommandContext, claim_id: str, reason: str) -> bool:
        """Record that posting this item on `claim_id`'s settlement was refused, and why;
        False (nothing recorded) when that very refusal is the last one recorded (a
        redelivery, a later listing or opening refused again for the same reason)."""
        if (self.refusal_claim_id, self.refusal_reason) == (claim_id, reason):
            return False
        self._record(
            self.AutomaticPostingRefused,
            ctx,
            claim_id=claim_id,
            reason=reason,
            refused_at=ctx.now.isoformat(),
        )
        return True


class UnmatchedServiceLine(TenantAggregate):
    """An exceptions-queue item for one SVC whose CLP was posted on a claim (DOMAIN.md §2.4
    rule 5) but which names no single line of that claim: unmatched or ambiguous.

    The claim payment is posted regardless; this item only says which 837 line the money paid
    is unknown, until someone names it (`resolve`). No money moves on resolution.
    """

    class UnmatchedServiceLineQueued(TenantAggregate.Created):
        claim_id: str
        payment_id: str
        remittance_id: str
        trace_number: str
        ordinal: int
        patient_control_number: str
        payer_claim_control_number: str
        status_code: str
        line_ordinal: int
        procedure_code: str
        modifiers: list[str]
        service_date: date | None
        charge_cents: int
        paid_cents: int
        line_control_number: str  # the 835's REF*6R, "" when absent
        outcome: str  # unmatched / ambiguous
        candidate_lines: list[int]  # 837 line numbers that fit equally (ambiguous)
        reason: str

    class UnmatchedServiceLineResolved(TenantAggregate.Event):
        claim_id: str
        line_control_number: str

        def apply(self, aggregate: UnmatchedServiceLine) -> None:
            aggregate.resolved_line_control_number = self.line_control_number

    def __init__(  # the UnmatchedServiceLineQueued fields
        self,
        claim_id: str,
        payment_id: str,
        remittance_id: str,
        trace_number: str,
        ordinal: int,
        patient_control_number: str,
        payer_claim_control_number: str,
        status_code: str,
        line_ordinal: int,
        procedure_code: str,
        modifiers: list[str],
        service_date: date | None,
        charge_cents: int,
        paid_cents: int,
        line_control_number: str,
        outcome: str,
        candidate_lines: list[int],
        reason: str,
    ) -> None:
        self.claim_id = claim_id  # puts the item on the claim's audit chain
        self.payment_id = payment_id
        self.remittance_id = remittance_id
        self.trace_number = trace_number
        self.ordinal = ordinal
        self.patient_control_number = patient_control_number
        self.payer_claim_control_number = payer_claim_control_number
        self.status_code = status_code
        self.line_ordinal = line_ordinal
        self.procedure_code = procedure_code
        self.service_date = service_date
        self.charge_cents = charge_cents
        self.paid_cents = paid_cents
        self.line_control_number = line_control_number
        self.outcome = outcome
        self.candidate_lines = list(candidate_lines)
        self.reason = reason
        self.resolved_line_control_number = ""

    @classmethod
    def queue(
        cls,
        ctx: CommandContext,
        *,
        remittance_id: UUID,
        trace_number: str,
        item: LineException,
    ) -> UnmatchedServiceLine:
        line = item.line
        return cls._start(
            cls.UnmatchedServiceLineQueued,
            ctx,
            id=line_exception_id_for(ctx.tenant_id, remittance_id, item.ordinal, line.svc),
            claim_id=item.claim_id,
            payment_id=item.payment_id,
            remittance_id=str(remittance_id),
            trace_number=trace_number,
            ordinal=item.ordinal,
            patient_control_number=item.patient_control_number,
            payer_claim_control_number=item.payer_claim_control_number,
            status_code=item.status_code,
            line_ordinal=line.svc,
            procedure_code=line.procedure_code,
            modifiers=list(line.modifiers),
            service_date=line.service_date,
            charge_cents=line.charge_cents,
            paid_cents=line.paid_cents,
            line_control_number=line.reported_line_control_number,
            outcome=line.outcome,
            candidate_lines=list(line.candidates),
            reason=line.reason,
        )

    def resolve(self, ctx: CommandContext, claim_id: str, line_control_number: str) -> bool:
        """Name the 837 line this SVC paid; False when this exact resolution was recorded."""
        if claim_id != self.claim_id:
            raise FailedPrecondition(
                f"this service line was paid on claim {self.claim_id}; it cannot move to "
                f"{claim_id} (reverse the payment instead)"
            )
        if not line_control_number:
            raise InvalidArgument(
                "name the 837 line control number this service line paid",
                field="line_control_number",
            )
        if self.resolved_line_control_number == line_control_number:
            return False
        if self.resolved_line_control_number:
            raise FailedPrecondition(
                f"service line already attributed to line {self.resolved_line_control_number}"
            )
        self._record(
            self.UnmatchedServiceLineResolved,
            ctx,
            claim_id=claim_id,
            line_control_number=line_control_number,
        )
        return True
