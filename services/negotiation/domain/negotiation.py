"""The Negotiation aggregate: notice, offers, provider decisions and agreement (open negotiation).

Federal IDR is its own aggregate (federal_idr_dispute.py); commands whose rules depend on where
the dispute stands receive it (`dispute`, None before initiation). Pure: every command receives a
CommandContext (tenant, actor, roles, request id, now) and the facts it needs (calendar, rule
sets, cooling-off periods, the client's approval rules); nothing here does I/O. A retried command
(same request id) records nothing. A broken rule raises the `services.common.errors` exception
the gRPC layer maps to a status, before any event is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from datetime import date
from uuid import UUID

from services.common.auth import require_role
from services.common.calendar import BusinessCalendar
from services.common.context import CommandContext
from services.common.errors import FailedPrecondition, Violations
from services.negotiation.domain.approval_rules import AutoApprovalRule, deciding_rule
from services.negotiation.domain.cooling_off import CoolingOffPeriod, service_family
from services.negotiation.domain.deadlines import DeadlineCode, DeadlineEngine
from services.negotiation.domain.escalation import due_escalation
from services.negotiation.domain.federal_idr_dispute import FederalIdrDispute
from services.negotiation.domain.idr_fees import IdrOutcome
from services.negotiation.domain.idr_initiation import initiation_refusal
from services.negotiation.domain.money import amount_owed_cents, offer_basis_points
from services.negotiation.domain.negotiation_state import NegotiationState
from services.negotiation.domain.rule_sets import rule_set_on
from services.negotiation.domain.validation import check_cents, check_fact_date, enum_value
from services.negotiation.domain.values import (
    Decision,
    Offer,
    OpeningFacts,
    ProposedOffer,
)
from services.negotiation.domain.vocabulary import (
    BASIS_KEYS,
    DECIDER_ROLES,
    OFFER_ROLES,
    PROPOSER_ROLES,
    Channel,
    DecisionAction,
    NegotiationStatus,
    Party,
    Route,
)


class Negotiation(NegotiationState):
    """One out-of-network claim line being negotiated for the provider client: its commands."""

    # -- creation -------------------------------------------------------------------------

    @classmethod
    def open(cls, ctx: CommandContext, *, negotiation_id: UUID, facts: OpeningFacts) -> Negotiation:
        today = ctx.eastern_today
        v = Violations()
        v.check(bool(facts.claim_id.strip()), "claim_id", "is required")
        v.check(
            bool(facts.provider_npi.strip() or facts.provider_tin.strip()),
            "provider_npi",
            "NPI or TIN is required",
        )
        v.check(bool(facts.payer_id.strip()), "payer_id", "is required")
        v.check(bool(facts.service_code.strip()), "service_code", "is required")
        check_cents(v, "billed_cents", facts.billed_cents)
        check_cents(v, "qpa_cents", facts.qpa_cents)
        for name in ("patient_cost_sharing_cents", "already_paid_cents"):
            check_cents(v, name, getattr(facts, name), allow_zero=True)
        check_fact_date(v, "service_date", facts.service_date, today)
        check_fact_date(
            v, "initial_payment_received_on", facts.initial_payment_received_on, today
        )
        if facts.bill_received_on is not None:
            check_fact_date(v, "bill_received_on", facts.bill_received_on, today)
        enum_value(v, "route", Route, facts.route)
        v.raise_if_any()
        opened = replace(
            facts,
            plan_id=facts.plan_id or facts.payer_id,
            service_code=facts.service_code.strip().upper(),
            assignee=facts.assignee or ctx.actor,
        )
        negotiation: Negotiation = cls._start(
            cls.Opened, ctx, id=negotiation_id, **asdict(opened)
        )
        return negotiation

    # -- open negotiation -----------------------------------------------------------------

    def send_open_negotiation_notice(
        self,
        ctx: CommandContext,
        *,
        sent_on: date | None,
        channel: str,
        portal_reference: str,
        dispute: FederalIdrDispute | None = None,
    ) -> None:
        if self.has_handled(ctx):
            return
        v = Violations()
        check_fact_date(v, "sent_on", sent_on, ctx.eastern_today)
        enum_value(v, "channel", Channel, channel)
        v.raise_if_any()
        assert sent_on is not None  # narrowed by the violations above
        self._require_open("send a notice", dispute)
        if self.on_notice_sent_on is not None:
            raise FailedPrecondition(
                f"the open-negotiation notice was already sent on {self.on_notice_sent_on}"
            )
        if sent_on < self.initial_payment_received_on:
            raise FailedPrecondition("the notice cannot precede the initial payment or denial")
        self._record(
            self.OpenNegotiationNoticeSent,
            ctx,
            sent_on=sent_on,
            channel=channel,
            portal_reference=portal_reference,
        )

    def record_payer_response(
        self,
        ctx: CommandContext,
        *,
        received_on: date | None,
        channel: str,
        summary: str,
        dispute: FederalIdrDispute | None = None,
    ) -> None:
        if self.has_handled(ctx):
            return
        v = Violations()
        check_fact_date(v, "received_on", received_on, ctx.eastern_today)
        enum_value(v, "channel", Channel, channel)
        v.raise_if_any()
        self._require_open("record a response", dispute)
        if self.on_notice_sent_on is None:
            raise FailedPrecondition("no open-negotiation notice has been sent yet")
        self._record(
            self.PayerResponseReceived,
            ctx,
            received_on=received_on,
            channel=channel,
            summary=summary,
        )

    def make_offer(
        self, ctx: CommandContext, offer: ProposedOffer, dispute: FederalIdrDispute | None = None
    ) -> None:
        """Record an offer by either party; a reply to the other side's offer is a counter-offer.

        The provider's reply to a payer offer is a decision point: it comes through an approved
        COUNTER decision, never directly from the negotiator.
        """
        if self.has_handled(ctx):
            return
        self._checked_offer(ctx, offer, dispute)

    def _checked_offer(
        self,
        ctx: CommandContext,
        offer: ProposedOffer,
        dispute: FederalIdrDispute | None,
        via_decision: bool = False,
    ) -> None:
        # The approver's counter-offer comes only from a decision it approved (a data rule).
        require_role(ctx, OFFER_ROLES + DECIDER_ROLES if via_decision else OFFER_ROLES, "an offer")
        v = Violations()
        check_cents(v, "amount_cents", offer.amount_cents)
        enum_value(v, "party", Party, offer.party)
        enum_value(v, "channel", Channel, offer.channel)
        check_fact_date(v, "made_on", offer.made_on, ctx.eastern_today)
        unknown = sorted(set(offer.basis) - BASIS_KEYS)
        v.check(not unknown, "basis", f"unknown basis keys: {', '.join(unknown)}")
        for key in ("qpa_cents", "prior_payments_cents"):
            if key in offer.basis:
                check_cents(v, f"basis.{key}", offer.basis[key])
        v.raise_if_any()
        self._require_open("make an offer", dispute)
        if self.on_notice_sent_on is None:
            raise FailedPrecondition("send the open-negotiation notice before exchanging offers")
        if any(o.offer_id == offer.offer_id for o in self.offers):
            raise FailedPrecondition(f"offer {offer.offer_id} was already recorded")
        latest = self.latest_offer()
        replying_to = latest if latest is not None and latest.party != offer.party else None
        if replying_to is not None and offer.party == Party.PROVIDER and not via_decision:
            raise FailedPrecondition(
                "the provider's reply to a payer offer is a decision point: propose COUNTER"
            )
        qpa = int(offer.basis.get("qpa_cents") or self.qpa_cents)
        recorded = dict(
            offer_id=offer.offer_id,
            party=offer.party,
            amount_cents=offer.amount_cents,
            percent_of_qpa_bp=offer_basis_points(offer.amount_cents, qpa),
            basis=dict(offer.basis),
            channel=offer.channel,
            notes=offer.notes,
            document_refs=list(offer.document_refs),
            made_on=offer.made_on,
        )
        if replying_to is None:
            self._record(self.OfferMade, ctx, **recorded)
        else:
            self._record(self.CounterOfferMade, ctx, in_reply_to=replying_to.offer_id, **recorded)

    # -- provider decision points --------------------------------------------------------

    def propose_decision(
        self,
        ctx: CommandContext,
        *,
        decision_id: str,
        action: str,
        offer_id: str,
        counter_amount_cents: int,
        rationale: str,
        engine: DeadlineEngine,
        auto_rules: Iterable[AutoApprovalRule] = (),
        decided_on: date | None = None,
        dispute: FederalIdrDispute | None = None,
    ) -> None:
        """A negotiator proposes; a client auto-approval rule may decide an ACCEPT at once."""
        if self.has_handled(ctx):
            return
        require_role(ctx, PROPOSER_ROLES, "proposing a decision")
        v = Violations()
        chosen = enum_value(v, "action", DecisionAction, action)
        if chosen is DecisionAction.COUNTER:
            check_cents(v, "counter_amount_cents", counter_amount_cents)
        elif counter_amount_cents:
            v.add("counter_amount_cents", "only a COUNTER carries an amount")
        v.check(bool(decision_id.strip()), "decision_id", "is required")
        v.raise_if_any()
        if chosen is DecisionAction.IDR:
            status = self.case_status(dispute)
            if status != NegotiationStatus.OPEN:
                raise FailedPrecondition(f"cannot propose IDR: the negotiation is {status}")
        else:
            self._require_open("propose a decision", dispute)
        if decision_id in self.decisions:
            raise FailedPrecondition(f"decision {decision_id} already exists")
        if any(d.is_pending for d in self.decisions.values()):
            raise FailedPrecondition("another decision is waiting for the provider")
        offer = self.offer(offer_id) if offer_id else None
        if chosen in (DecisionAction.ACCEPT, DecisionAction.REJECT, DecisionAction.COUNTER):
            if offer is None or offer.party != Party.PAYER:
                raise FailedPrecondition(f"{action} needs a payer offer to decide on")
        self._record(
            self.DecisionProposed,
            ctx,
            decision_id=decision_id,
            action=action,
            offer_id=offer_id,
            counter_amount_cents=counter_amount_cents,
            rationale=rationale,
        )
        if chosen is DecisionAction.ACCEPT and offer is not None:
            rule = deciding_rule(auto_rules, offer.amount_cents, self.billed_cents, self.qpa_cents)
            if rule is not None:
                self._approve(
                    ctx, decision_id, "auto-approval", rule.rule_id, decided_on, engine, dispute
                )

    def approve_decision(
        self,
        ctx: CommandContext,
        *,
        decision_id: str,
        engine: DeadlineEngine,
        decided_on: date | None = None,
        dispute: FederalIdrDispute | None = None,
    ) -> None:
        if self.has_handled(ctx):
            return
        # Only the provider decides its decision points (never delegated, not even to admin).
        require_role(ctx, DECIDER_ROLES, "deciding a provider decision point")
        self._pending(decision_id, dispute)
        self._approve(ctx, decision_id, ctx.actor, "", decided_on, engine, dispute)

    def reject_decision(
        self,
        ctx: CommandContext,
        *,
        decision_id: str,
        reason: str,
        dispute: FederalIdrDispute | None = None,
    ) -> None:
        if self.has_handled(ctx):
            return
        require_role(ctx, DECIDER_ROLES, "deciding a provider decision point")
        self._pending(decision_id, dispute)
        self._record(
            self.DecisionRejected,
            ctx,
            decision_id=decision_id,
            rejected_by=ctx.actor,
            reason=reason,
        )

    def _pending(self, decision_id: str, dispute: FederalIdrDispute | None) -> Decision:
        decision = self.decisions.get(decision_id)
        if decision is None:
            raise FailedPrecondition(f"no decision {decision_id} on this negotiation")
        if not decision.is_pending:
            raise FailedPrecondition(f"decision {decision_id} is already {decision.status}")
        if not decision.is_idr:
            self._require_open("decide", dispute)
        return decision

    def _approve(
        self,
        ctx: CommandContext,
        decision_id: str,
        approver: str,
        rule_id: str,
        decided_on: date | None,
        engine: DeadlineEngine,
        dispute: FederalIdrDispute | None,
    ) -> None:
        decision = self.decisions[decision_id]
        today = decided_on or ctx.eastern_today
        self._record(
            self.DecisionApproved,
            ctx,
            decision_id=decision_id,
            approved_by=approver,
            auto_approval_rule_id=rule_id,
        )
        action = DecisionAction(decision.action)
        if action is DecisionAction.ACCEPT:
            offer = self.offer(decision.offer_id)
            assert offer is not None  # checked when proposed
            self._agree(ctx, offer, decision_id, today, engine.calendar, dispute)
        elif action is DecisionAction.COUNTER:
            counter = ProposedOffer(
                offer_id=f"{decision_id}:counter",
                party=Party.PROVIDER.value,
                amount_cents=decision.counter_amount_cents,
                basis={"qpa_cents": self.qpa_cents},
                channel=Channel.PORTAL.value,
                notes=f"counter-offer approved in decision {decision_id}",
                document_refs=(),
                made_on=today,
            )
            self._checked_offer(ctx, counter, dispute, via_decision=True)

    def _agree(
        self,
        ctx: CommandContext,
        offer: Offer,
        decision_id: str,
        on: date,
        calendar: BusinessCalendar,
        dispute: FederalIdrDispute | None,
    ) -> None:
        during = dispute if dispute is not None and dispute.in_progress else None
        fees = during.fee_facts(IdrOutcome.SETTLED) if during else None
        rule_set = rule_set_on(on)
        report_due = None
        if during:
            report_due = calendar.after(on, rule_set.settlement_report_business_days)
        total = offer.amount_cents
        self._record(
            self.SettlementAgreed,
            ctx,
            claim_id=self.claim_id,
            offer_id=offer.offer_id,
            decision_id=decision_id,
            agreed_on=on,
            agreed_total_cents=total,
            patient_cost_sharing_cents=self.patient_cost_sharing_cents,
            already_paid_cents=self.already_paid_cents,
            amount_owed_cents=amount_owed_cents(
                total, self.patient_cost_sharing_cents, self.already_paid_cents
            ),
            payment_due_on=rule_set.payment_due_on(on),
            during_idr=during is not None,
            dispute_number=dispute.dispute_number if dispute is not None else "",
            administrative_fee_cents=fees.administrative_fee_cents if fees else 0,
            idre_fee_paid_cents=fees.idre_fee_paid_cents if fees else 0,
            idre_fee_refund_cents=fees.idre_fee_refund_cents if fees else 0,
            report_due_on=report_due,
            rule_set_version=rule_set.version,
        )

    # -- going to federal IDR -------------------------------------------------------------

    def initiation_refusal(
        self,
        *,
        initiated_on: date,
        initiating_party: str,
        engine: DeadlineEngine,
        cooling_off: Iterable[CoolingOffPeriod],
        dispute: FederalIdrDispute | None = None,
    ) -> str | None:
        """Why federal IDR cannot be initiated on `initiated_on`; None when it can."""
        return initiation_refusal(
            status=self.case_status(dispute),
            route=self.route,
            idr_approved=self.idr_approved,
            window=self.deadlines(engine).get(DeadlineCode.T3),
            party_keys=self.party_keys(initiating_party),
            family=service_family(self.service_code),
            initiated_on=initiated_on,
            initiating_party=initiating_party,
            cooling_off=cooling_off,
            calendar=engine.calendar,
        )

    # -- work management ------------------------------------------------------------------

    def follow_payment(
        self,
        ctx: CommandContext,
        *,
        paid_cents: int,
        source: str,
        dispute: FederalIdrDispute | None = None,
    ) -> None:
        """The payer's payment on the claim changed after the case opened (an appeal overturn):
        the already-paid amount and what is in dispute follow. When nothing is left in dispute
        and no IDR was initiated, negotiation is no longer warranted: the case closes, saying
        why. A closed case, or the same payment again, records nothing."""
        if self.has_handled(ctx) or self.is_closed(dispute):
            return
        if paid_cents != self.already_paid_cents:
            v = Violations()
            check_cents(v, "paid_cents", paid_cents, allow_zero=True)
            v.raise_if_any()
            previous = self.already_paid_cents
            self._record(
                self.AlreadyPaidUpdated, ctx, claim_id=self.claim_id,
                already_paid_cents=paid_cents, previous_already_paid_cents=previous,
                amount_in_dispute_cents=max(
                    0, self.billed_cents - self.patient_cost_sharing_cents - paid_cents),
                source=source,
            )
        if self.amount_in_dispute_cents == 0 and dispute is None:
            self._record(
                self.NegotiationClosed, ctx, claim_id=self.claim_id,
                reason=f"no longer warranted: after the {source} the payer has paid "
                f"{self.already_paid_cents} cents, which with the patient's cost sharing "
                f"({self.patient_cost_sharing_cents} cents) covers the billed "
                f"{self.billed_cents} cents",
                closed_on=ctx.eastern_today,
            )

    def assign(self, ctx: CommandContext, *, assignee: str) -> None:
        if self.has_handled(ctx):
            return
        v = Violations()
        v.check(bool(assignee.strip()), "assignee", "is required")
        v.raise_if_any()
        self._record(self.AssigneeChanged, ctx, assignee=assignee)

    def extend_deadline(
        self,
        ctx: CommandContext,
        *,
        deadline_code: str,
        new_due_on: date | None,
        reason: str,
        reference: str,
        engine: DeadlineEngine,
        dispute: FederalIdrDispute | None = None,
    ) -> None:
        """Record a granted extension; it overrides the computed deadline from now on."""
        if self.has_handled(ctx):
            return
        v = Violations()
        code = enum_value(v, "deadline_code", DeadlineCode, deadline_code)
        v.check(new_due_on is not None, "new_due_on", "is required")
        v.check(bool(reason.strip()), "reason", "is required")
        v.raise_if_any()
        assert new_due_on is not None
        current = self.deadlines(engine, dispute).get(code)
        if current is None:
            raise FailedPrecondition(f"{deadline_code} has no computed deadline on this case yet")
        if new_due_on <= current.due:
            raise FailedPrecondition(
                f"an extension must move {deadline_code} past {current.due.isoformat()}"
            )
        self._record(
            self.DeadlineExtended,
            ctx,
            deadline_code=code.value,
            new_due_on=new_due_on,
            reason=reason,
            reference=reference,
        )

    def escalate_if_due(
        self,
        ctx: CommandContext,
        *,
        as_of: date,
        chain: Sequence[tuple[str, int]],
        engine: DeadlineEngine,
        dispute: FederalIdrDispute | None = None,
    ) -> bool:
        """Escalate along the client's chain [(role, business days left), ...] (widest first).

        Each level is raised once per deadline; returns True when an escalation was recorded.
        """
        if self.has_handled(ctx):
            return False
        due = due_escalation(
            self.actionable_deadlines(engine, dispute),
            self.escalations,
            as_of=as_of,
            chain=chain,
            calendar=engine.calendar,
        )
        if due is None:
            return False
        self._record(
            self.EscalationRaised,
            ctx,
            deadline_code=due.deadline.code.value,
            due_on=due.deadline.due,
            level=due.level,
            escalated_to=due.escalated_to,
            business_days_left=due.business_days_left,
            as_of=as_of,
        )
        return True
