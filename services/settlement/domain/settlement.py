"""The Settlement aggregate: what the plan owes on one claim, what it paid, and the book entries.

Pure: no I/O and no clock; time, ids and the caller arrive in the `CommandContext` and arguments.
Every money event carries its balanced journal transactions (`journal`), so the book is part of
the system of record and the read model only mirrors it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.money import MAX_AMOUNT_CENTS, amount_out_of_range, require_amount
from services.settlement.domain.balance_billing import RULE_CITATION, check_patient_balance
from services.settlement.domain.deposits import named_deposit
from services.settlement.domain.journal import Account, JournalTransaction, Posting, transfer
from services.settlement.domain.matching import LineMatch
from services.settlement.domain.payments import (
    INITIAL_PAYMENT_ID,
    PaymentRecord,
    reversible_payment,
    settlement_id_for,
)
from services.settlement.domain.terms import SettlementSource, SettlementStatus, settlement_status


def _journal(*transactions: JournalTransaction) -> list[dict[str, Any]]:
    return [t.as_dict() for t in transactions]


class Settlement(TenantAggregate):
    class SettlementOpened(TenantAggregate.Created):
        # v2 adds `amount_owed_cents`: negotiation's fact, kept as stated (docs/events.md).
        class_version = 2
        claim_id: str
        source: str
        source_ref: str
        payer_key: str
        agreed_total_cents: int
        patient_cost_sharing_cents: int
        already_paid_cents: int
        amount_owed_cents: int
        initial_payment_icn: str  # as the claims service states it: its keyed hash (phi.py)
        decided_on: date
        due_date: date
        nsa_protected: bool
        journal: list[dict[str, Any]]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Opened before the fact travelled: what negotiation's rule said then (and now).
            state["amount_owed_cents"] = (
                state["agreed_total_cents"]
                - state["patient_cost_sharing_cents"]
                - state["already_paid_cents"]
            )

    def __init__(  # called by eventsourcing with the SettlementOpened fields
        self,
        claim_id: str,
        source: str,
        source_ref: str,
        payer_key: str,
        agreed_total_cents: int,
        patient_cost_sharing_cents: int,
        already_paid_cents: int,
        amount_owed_cents: int,
        initial_payment_icn: str,
        decided_on: date,
        due_date: date,
        nsa_protected: bool,
        journal: list[dict[str, Any]],
    ) -> None:
        self.claim_id = claim_id
        self.source = source
        self.source_ref = source_ref
        self.payer_key = payer_key
        self.agreed_total_cents = agreed_total_cents
        self.patient_cost_sharing_cents = patient_cost_sharing_cents
        self.patient_balance_cents = patient_cost_sharing_cents
        self.already_paid_cents = already_paid_cents
        self.amount_owed_cents = amount_owed_cents
        self.decided_on = decided_on
        self.due_date = due_date
        self.nsa_protected = nsa_protected
        self.payments: dict[str, PaymentRecord] = {}
        self.paid_cents = 0
        self.interest_cents = 0
        self.recouped_cents = 0
        self.last_variance: tuple[str, int] = ("", 0)
        self.overdue_flagged = False
        self.fee_line_ids: set[str] = set()
        self.fees_cents = 0
        if already_paid_cents:
            self.payments[INITIAL_PAYMENT_ID] = PaymentRecord(
                payment_id=INITIAL_PAYMENT_ID,
                amount_cents=already_paid_cents,
                method="initial_adjudication",
                reference="",
                payer_claim_control_number=initial_payment_icn,
                paid_on=decided_on,
                transaction=JournalTransaction.from_dict(journal[-1]),
            )
            self.paid_cents = already_paid_cents

    # -- events -------------------------------------------------------------------------------
    class PaymentPosted(TenantAggregate.Event):
        # v2 adds `line_matches`: for an 835 payment, which 837 line each SVC paid (DOMAIN.md
        # §2.4 rule 5), as `LineMatch.to_dict()`; empty for manual payments.
        # v3 adds the deposit (deposits.py): TRN02 / check number, BPR16 / the day paid.
        class_version = 3
        payment_id: str
        amount_cents: int
        method: str
        reference: str
        payer_claim_control_number: str
        paid_on: date
        remittance_id: str
        journal: list[dict[str, Any]]
        line_matches: list[dict[str, Any]]
        trace_number: str
        deposit_date: date

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Recorded before line matching existed: no line was matched, none is invented.
            state["line_matches"] = []
        upcast_v2_v3 = staticmethod(named_deposit("paid_on"))

        def apply(self, aggregate: Settlement) -> None:
            aggregate.payments[self.payment_id] = PaymentRecord(
                payment_id=self.payment_id,
                amount_cents=self.amount_cents,
                method=self.method,
                reference=self.reference,
                payer_claim_control_number=self.payer_claim_control_number,
                paid_on=self.paid_on,
                transaction=JournalTransaction.from_dict(self.journal[0]),
                line_matches=tuple(LineMatch.from_dict(m) for m in self.line_matches),
            )
            aggregate.paid_cents += self.amount_cents

    class PaymentReversed(TenantAggregate.Event):
        # v2 adds `line_matches`: the reversing CLP's SVCs matched to 837 lines (rule 5).
        # v3 adds the deposit (the reversing 835's, else the reversed payment's), its CLP07.
        class_version = 3
        payment_id: str
        amount_cents: int
        reason: str
        remittance_id: str
        reference: str
        reversed_on: date
        journal: list[dict[str, Any]]
        line_matches: list[dict[str, Any]]
        trace_number: str
        deposit_date: date
        payer_claim_control_number: str
        reversed_trace_number: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["line_matches"] = []
        upcast_v2_v3 = staticmethod(
            named_deposit("reversed_on", "payer_claim_control_number", "reversed_trace_number"))

        def apply(self, aggregate: Settlement) -> None:
            aggregate.payments[self.payment_id].reversed = True
            aggregate.paid_cents -= self.amount_cents

    class RecoupmentPosted(TenantAggregate.Event):
        # v2 adds the deposit (deposits.py) and the PLB03-2 reference (an ICN or PCN).
        class_version = 2
        recoupment_id: str
        amount_cents: int
        reference: str
        remittance_id: str
        posted_on: date
        journal: list[dict[str, Any]]
        trace_number: str
        deposit_date: date
        plb_reference: str
        upcast_v1_v2 = staticmethod(named_deposit("posted_on", "plb_reference"))

        def apply(self, aggregate: Settlement) -> None:
            aggregate.paid_cents -= self.amount_cents
            aggregate.recouped_cents += self.amount_cents

    class InterestPosted(TenantAggregate.Event):
        # v2 adds the deposit (deposits.py) and the PLB03-2 reference (an ICN or PCN).
        class_version = 2
        interest_id: str
        amount_cents: int
        reference: str
        remittance_id: str
        posted_on: date
        journal: list[dict[str, Any]]
        trace_number: str
        deposit_date: date
        plb_reference: str
        upcast_v1_v2 = staticmethod(named_deposit("posted_on", "plb_reference"))

        def apply(self, aggregate: Settlement) -> None:
            aggregate.interest_cents += self.amount_cents

    class SettlementUnderpaid(TenantAggregate.Event):
        plan_share_cents: int
        paid_cents: int
        shortfall_cents: int

        def apply(self, aggregate: Settlement) -> None:
            aggregate.last_variance = ("underpaid", self.shortfall_cents)

    class SettlementOverpaid(TenantAggregate.Event):
        plan_share_cents: int
        paid_cents: int
        excess_cents: int

        def apply(self, aggregate: Settlement) -> None:
            aggregate.last_variance = ("overpaid", self.excess_cents)

    class SettlementPaidInFull(TenantAggregate.Event):
        plan_share_cents: int
        paid_cents: int

        def apply(self, aggregate: Settlement) -> None:
            aggregate.last_variance = ("paid", 0)

    class SettlementOverdue(TenantAggregate.Event):
        due_date: date
        as_of: date
        outstanding_cents: int

        def apply(self, aggregate: Settlement) -> None:
            aggregate.overdue_flagged = True

    class FeePosted(TenantAggregate.Event):
        """The fees service assessed (or credited) the contingency fee on this claim's money."""

        fee_line_id: str
        kind: str
        amount_cents: int
        remittance_trn: str
        journal: list[dict[str, Any]]

        def apply(self, aggregate: Settlement) -> None:
            aggregate.fee_line_ids.add(self.fee_line_id)
            aggregate.fees_cents += self.amount_cents

    class BalanceBillingRiskFlagged(TenantAggregate.Event):
        """The payer told the patient to pay more than the NSA allows; the excess is not billed."""

        reported_cents: int
        allowed_cents: int
        rule: str
        remittance_id: str

    class PatientResponsibilityRecorded(TenantAggregate.Event):
        amount_cents: int
        previous_cents: int
        journal: list[dict[str, Any]]

        def apply(self, aggregate: Settlement) -> None:
            aggregate.patient_balance_cents = self.amount_cents

    # -- creation -----------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        ctx: CommandContext,
        *,
        claim_id: str,
        source: SettlementSource,
        source_ref: str,
        payer_key: str,
        agreed_total_cents: int,
        patient_cost_sharing_cents: int,
        already_paid_cents: int,
        decided_on: date,
        due_date: date,
        amount_owed_cents: int,
        nsa_protected: bool,
        initial_payment_icn: str = "",
    ) -> Settlement:
        """`due_date` (T8, under the rule set in force) and `amount_owed_cents` are
        negotiation's facts, kept as stated."""
        if agreed_total_cents <= 0:
            raise InvalidArgument("must be positive", field="agreed_total_cents")
        if not 0 <= patient_cost_sharing_cents <= agreed_total_cents:
            raise InvalidArgument(
                "must be between 0 and the agreed total", field="patient_cost_sharing_cents"
            )
        if already_paid_cents < 0:
            raise InvalidArgument("must not be negative", field="already_paid_cents")
        settlement_id = settlement_id_for(ctx.tenant_id, claim_id)
        opening = JournalTransaction(
            f"{settlement_id}/1/open",
            f"{source.value} {source_ref}: total out-of-network rate",
            (
                Posting(Account.PAYER_RECEIVABLE, agreed_total_cents - patient_cost_sharing_cents),
                Posting(Account.PATIENT_RESPONSIBILITY, patient_cost_sharing_cents),
                Posting(Account.SETTLEMENT_REVENUE, -agreed_total_cents),
            ),
        )
        transactions = [opening]
        if already_paid_cents:
            transactions.append(
                transfer(
                    f"{settlement_id}/1/initial",
                    "payer's initial payment before the agreement",
                    Account.PROVIDER_CASH,
                    Account.PAYER_RECEIVABLE,
                    already_paid_cents,
                )
            )
        settlement: Settlement = cls._start(
            cls.SettlementOpened,
            ctx,
            id=settlement_id,
            claim_id=claim_id,
            source=source.value,
            source_ref=source_ref,
            payer_key=payer_key,
            agreed_total_cents=agreed_total_cents,
            patient_cost_sharing_cents=patient_cost_sharing_cents,
            already_paid_cents=already_paid_cents,
            amount_owed_cents=amount_owed_cents,
            initial_payment_icn=initial_payment_icn,
            decided_on=decided_on,
            due_date=due_date,
            nsa_protected=nsa_protected,
            journal=_journal(*transactions),
        )
        return settlement

    # -- queries ------------------------------------------------------------------------------
    @property
    def plan_share_cents(self) -> int:
        """The plan's part of the award: total out-of-network rate minus patient cost sharing."""
        return self.agreed_total_cents - self.patient_cost_sharing_cents

    @property
    def outstanding_cents(self) -> int:
        return self.plan_share_cents - self.paid_cents

    def status(self, as_of: date) -> SettlementStatus:
        return settlement_status(
            plan_share_cents=self.plan_share_cents,
            paid_cents=self.paid_cents,
            already_paid_cents=self.already_paid_cents,
            due_date=self.due_date,
            as_of=as_of,
        )

    def find_reversible_payment(
        self, icn: str, amount_cents: int, *, icn_key: str = ""
    ) -> PaymentRecord | None:
        """The unreversed payment a CLP02=22 undoes (payments.py, `reversible_payment`)."""
        return reversible_payment(self.payments.values(), icn, amount_cents, icn_key=icn_key)

    def _tx_id(self, kind: str) -> str:
        return f"{self.id}/{self.version + 1}/{kind}"

    # -- commands -----------------------------------------------------------------------------
    def post_payment(
        self,
        ctx: CommandContext,
        *,
        payment_id: str,
        amount_cents: int,
        method: str,
        reference: str,
        paid_on: date,
        payer_claim_control_number: str = "",
        remittance_id: str = "",
        cash_account: Account = Account.PROVIDER_CASH,
        line_matches: list[dict[str, Any]] | None = None,
    ) -> None:
        if self.has_handled(ctx) or payment_id in self.payments:
            return
        if amount_cents <= 0:
            raise InvalidArgument("a payment must be a positive number of cents", "amount_cents")
        require_amount(amount_cents, "amount_cents")
        if amount_out_of_range(self.paid_cents + amount_cents):
            raise InvalidArgument(
                f"the claim's payments would total more than {MAX_AMOUNT_CENTS} cents",
                "amount_cents",
            )
        transaction = transfer(
            self._tx_id("payment"),
            f"payment {reference or payment_id} ({method})",
            cash_account,
            Account.PAYER_RECEIVABLE,
            amount_cents,
        )
        self._record(
            self.PaymentPosted,
            ctx,
            payment_id=payment_id,
            amount_cents=amount_cents,
            method=method,
            reference=reference,
            payer_claim_control_number=payer_claim_control_number,
            paid_on=paid_on,
            remittance_id=remittance_id,
            journal=_journal(transaction),
            line_matches=list(line_matches or []),
            trace_number=reference,
            deposit_date=paid_on,
        )

    def reverse_payment(
        self,
        ctx: CommandContext,
        *,
        payment_id: str,
        reason: str,
        reversed_on: date,
        remittance_id: str = "",
        reference: str = "",
        line_matches: list[dict[str, Any]] | None = None,
        payer_claim_control_number: str = "",
        cash_from: Account | None = None,
    ) -> None:
        """`cash_from`: where the reversal's money leaves from, if not where the payment took it
        from (payments.py `PaymentRecord.reversal`); a manual reversal un-applies it."""
        if self.has_handled(ctx):
            return
        payment = self.payments.get(payment_id)
        if payment is None:
            raise NotFound(f"payment {payment_id} not found on this settlement")
        if payment.reversed:
            raise FailedPrecondition(f"payment {payment_id} is already reversed")
        transactions = payment.reversal(self._tx_id, cash_from)
        self._record(
            self.PaymentReversed,
            ctx,
            payment_id=payment_id,
            amount_cents=payment.amount_cents,
            reason=reason,
            remittance_id=remittance_id,
            reference=reference,
            reversed_on=reversed_on,
            journal=_journal(*transactions),
            line_matches=list(line_matches or []),
            trace_number=reference or payment.reference,
            deposit_date=reversed_on if reference else payment.paid_on,
            payer_claim_control_number=(payer_claim_control_number
                                        or payment.payer_claim_control_number),
            reversed_trace_number=payment.reference,
        )

    def post_recoupment(self, ctx: CommandContext, *, recoupment_id: str, amount_cents: int,
                        reference: str, posted_on: date, remittance_id: str = "",
                        plb_reference: str = "") -> None:
        """A PLB WO taken back against this claim: positive means money returned to the payer."""
        transaction = transfer(self._tx_id("recoupment"), f"recoupment {recoupment_id}",
                               Account.PAYER_RECEIVABLE, Account.PROVIDER_CASH, amount_cents)
        self._record(self.RecoupmentPosted, ctx, recoupment_id=recoupment_id,
                     amount_cents=amount_cents, reference=reference, remittance_id=remittance_id,
                     posted_on=posted_on, journal=_journal(transaction), trace_number=reference,
                     deposit_date=posted_on, plb_reference=plb_reference)

    def post_interest(self, ctx: CommandContext, *, interest_id: str, amount_cents: int,
                      reference: str, posted_on: date, remittance_id: str = "",
                      plb_reference: str = "") -> None:
        """Prompt-pay interest (PLB L6) is income of its own, never part of the recovery."""
        transaction = transfer(self._tx_id("interest"), f"interest {interest_id}",
                               Account.PROVIDER_CASH, Account.INTEREST_INCOME, amount_cents)
        self._record(self.InterestPosted, ctx, interest_id=interest_id,
                     amount_cents=amount_cents, reference=reference, remittance_id=remittance_id,
                     posted_on=posted_on, journal=_journal(transaction), trace_number=reference,
                     deposit_date=posted_on, plb_reference=plb_reference)

    def assess_variance(self, ctx: CommandContext) -> None:
        """Record underpaid / overpaid / paid in full when the picture changed since last time."""
        outstanding = self.outstanding_cents
        if outstanding > 0:
            variance = ("underpaid", outstanding)
        elif outstanding < 0:
            variance = ("overpaid", -outstanding)
        else:
            variance = ("paid", 0)
        if variance == self.last_variance:
            return
        if variance[0] == "underpaid":
            self._record(
                self.SettlementUnderpaid,
                ctx,
                plan_share_cents=self.plan_share_cents,
                paid_cents=self.paid_cents,
                shortfall_cents=outstanding,
            )
        elif variance[0] == "overpaid":
            self._record(
                self.SettlementOverpaid,
                ctx,
                plan_share_cents=self.plan_share_cents,
                paid_cents=self.paid_cents,
                excess_cents=-outstanding,
            )
        else:
            self._record(
                self.SettlementPaidInFull,
                ctx,
                plan_share_cents=self.plan_share_cents,
                paid_cents=self.paid_cents,
            )

    def flag_overdue(self, ctx: CommandContext, as_of: date) -> bool:
        """Record `SettlementOverdue` once, when money is still owed after the due date."""
        if self.overdue_flagged or self.outstanding_cents <= 0 or as_of <= self.due_date:
            return False
        self._record(
            self.SettlementOverdue,
            ctx,
            due_date=self.due_date,
            as_of=as_of,
            outstanding_cents=self.outstanding_cents,
        )
        return True

    def post_fee(
        self,
        ctx: CommandContext,
        *,
        fee_line_id: str,
        kind: str,
        amount_cents: int,
        remittance_trn: str,
    ) -> None:
        """Book a fee line (positive) or credit memo (negative); each line once."""
        if fee_line_id in self.fee_line_ids or amount_cents == 0:
            return
        transaction = transfer(
            self._tx_id("fee"),
            f"contingency fee {kind.lower().replace('_', ' ')} {remittance_trn}".strip(),
            Account.FEE_EXPENSE,
            Account.FEE_PAYABLE,
            amount_cents,
        )
        self._record(
            self.FeePosted,
            ctx,
            fee_line_id=fee_line_id,
            kind=kind,
            amount_cents=amount_cents,
            remittance_trn=remittance_trn,
            journal=_journal(transaction),
        )

    def flag_balance_billing_risk(
        self, ctx: CommandContext, *, reported_cents: int, remittance_id: str
    ) -> bool:
        """A remittance's patient responsibility above the NSA cost sharing: record, never bill."""
        if not self.nsa_protected or reported_cents <= self.patient_cost_sharing_cents:
            return False
        self._record(
            self.BalanceBillingRiskFlagged,
            ctx,
            reported_cents=reported_cents,
            allowed_cents=self.patient_cost_sharing_cents,
            rule=RULE_CITATION,
            remittance_id=remittance_id,
        )
        return True

    def record_patient_responsibility(self, ctx: CommandContext, amount_cents: int) -> None:
        if self.has_handled(ctx):
            return
        check_patient_balance(
            nsa_protected=self.nsa_protected,
            in_network_cost_sharing_cents=self.patient_cost_sharing_cents,
            requested_cents=amount_cents,
        )
        delta = amount_cents - self.patient_balance_cents
        if delta == 0:
            return
        transaction = transfer(
            self._tx_id("patient"),
            "patient responsibility changed",
            Account.PATIENT_RESPONSIBILITY,
            Account.SETTLEMENT_REVENUE,
            delta,
        )
        self._record(
            self.PatientResponsibilityRecorded,
            ctx,
            amount_cents=amount_cents,
            previous_cents=self.patient_balance_cents,
            journal=_journal(transaction),
        )
