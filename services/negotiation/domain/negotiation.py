"""The Negotiation aggregate: notice, offers, provider decisions, agreement, and federal IDR.

Pure: every command receives a CommandContext (tenant, actor, roles, request id, now) and the
facts it needs (calendar, rule sets, cooling-off periods, the client's approval rules); nothing
here does I/O. A retried command (same request id) records nothing. A broken rule raises the
`services.common.errors` exception the gRPC layer maps to a status, before any event is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from services.common.aggregate import TenantAggregate
from services.common.calendar import BusinessCalendar
from services.common.context import CommandContext
from services.common.errors import FailedPrecondition, Violations
from services.negotiation.domain.approval_rules import AutoApprovalRule, deciding_rule
from services.negotiation.domain.case_progress import CaseProgress, actionable_deadlines
from services.negotiation.domain.deadlines import (
    CaseAnchors,
    CaseDeadlines,
    Deadline,
    DeadlineCode,
    DeadlineEngine,
    Extension,
)
from services.negotiation.domain.idr_fees import (
    IdrOutcome,
)
from services.negotiation.domain.idr_process import FederalIdrCommands
from services.negotiation.domain.money import amount_owed_cents, offer_basis_points
from services.negotiation.domain.rule_sets import rule_set_on
from services.negotiation.domain.validation import (
    check_cents,
    check_fact_date,
    eastern_date,
    enum_value,
    require_role,
)
from services.negotiation.domain.vocabulary import (
    BASIS_KEYS,
    DECIDER_ROLES,
    OFFER_ROLES,
    Channel,
    DecisionAction,
    DecisionStatus,
    NegotiationStatus,
    Party,
    Role,
    Route,
)

CLOSED_STATUSES = frozenset(
    {NegotiationStatus.AGREED, NegotiationStatus.DETERMINED, NegotiationStatus.CLOSED}
)


class Negotiation(FederalIdrCommands, TenantAggregate):
    """One out-of-network claim line being negotiated for the provider client."""

    # -- events ---------------------------------------------------------------------------

    class Opened(TenantAggregate.Created):
        claim_id: str
        provider_npi: str
        provider_tin: str
        payer_id: str
        plan_id: str
        plan_funding: str
        service_code: str
        service_date: date
        billed_cents: int
        qpa_cents: int
        patient_cost_sharing_cents: int
        already_paid_cents: int
        bill_received_on: date | None
        initial_payment_received_on: date
        route: str
        assignee: str

    class OpenNegotiationNoticeSent(TenantAggregate.Event):
        sent_on: date
        channel: str
        portal_reference: str

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.on_notice_sent_on = self.sent_on

    class PayerResponseReceived(TenantAggregate.Event):
        received_on: date
        channel: str
        summary: str

    class OfferMade(TenantAggregate.Event):
        offer_id: str
        party: str
        amount_cents: int
        percent_of_qpa_bp: int
        basis: dict[str, Any]
        channel: str
        notes: str
        document_refs: list[str]
        made_on: date

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.offers.append(self._as_offer("offer"))

        def _as_offer(self, kind: str) -> dict[str, Any]:
            return {
                "offer_id": self.offer_id,
                "kind": kind,
                "party": self.party,
                "amount_cents": self.amount_cents,
                "percent_of_qpa_bp": self.percent_of_qpa_bp,
                "made_on": self.made_on,
            }

    class CounterOfferMade(OfferMade):
        in_reply_to: str

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.offers.append(self._as_offer("counter"))

    class DecisionProposed(TenantAggregate.Event):
        decision_id: str
        action: str
        offer_id: str
        counter_amount_cents: int
        rationale: str

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.decisions[self.decision_id] = {
                "action": self.action,
                "offer_id": self.offer_id,
                "counter_amount_cents": self.counter_amount_cents,
                "status": DecisionStatus.PROPOSED.value,
                "proposed_by": self.meta.get("actor", ""),
            }

    class DecisionApproved(TenantAggregate.Event):
        decision_id: str
        approved_by: str
        auto_approval_rule_id: str  # "" when a provider_approver decided

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.decisions[self.decision_id]["status"] = DecisionStatus.APPROVED.value
            if aggregate.decisions[self.decision_id]["action"] == DecisionAction.IDR:
                aggregate.idr_approved = True

    class DecisionRejected(TenantAggregate.Event):
        decision_id: str
        rejected_by: str
        reason: str

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.decisions[self.decision_id]["status"] = DecisionStatus.REJECTED.value

    class SettlementAgreed(TenantAggregate.Event):
        # v2 adds `rule_set_version`: the rule set the payment due date (T8) was computed
        # under, so settlement uses the fact instead of recomputing it (docs/events.md).
        class_version = 2
        claim_id: str
        offer_id: str
        decision_id: str
        agreed_on: date
        agreed_total_cents: int
        patient_cost_sharing_cents: int
        already_paid_cents: int
        amount_owed_cents: int
        payment_due_on: date
        during_idr: bool
        dispute_number: str
        administrative_fee_cents: int
        idre_fee_paid_cents: int
        idre_fee_refund_cents: int
        report_due_on: date | None
        rule_set_version: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 computed the due date as 30 calendar days, which every rule set so far says.
            agreed_on = state["agreed_on"]
            if isinstance(agreed_on, str):
                agreed_on = date.fromisoformat(agreed_on)
            state["rule_set_version"] = rule_set_on(agreed_on).version

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.status = NegotiationStatus.AGREED.value
            aggregate.agreed_total_cents = self.agreed_total_cents
            if self.during_idr:
                aggregate.settled_after_initiation_on = self.agreed_on

    class AssigneeChanged(TenantAggregate.Event):
        assignee: str

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.assignee = self.assignee

    class EscalationRaised(TenantAggregate.Event):
        deadline_code: str
        due_on: date
        level: int
        escalated_to: str
        business_days_left: int
        as_of: date

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.escalations.append(
                {"deadline_code": self.deadline_code, "due_on": self.due_on, "level": self.level}
            )

    class DeadlineExtended(TenantAggregate.Event):
        deadline_code: str
        new_due_on: date
        reason: str
        reference: str

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.extensions.append(
                Extension(DeadlineCode(self.deadline_code), self.new_due_on, self.reason)
            )

    class IdrInitiated(TenantAggregate.Event):
        claim_id: str
        dispute_number: str
        initiated_on: date
        initiating_party: str
        rule_set_version: str
        administrative_fee_cents: int
        batched: bool
        bundled: bool
        batch_negotiation_ids: list[str]
        fee_bearing: bool  # the batch's lead item carries the per-dispute fees

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.status = NegotiationStatus.IN_IDR.value
            aggregate.idr = {
                "dispute_number": self.dispute_number,
                "initiated_on": self.initiated_on,
                "initiating_party": self.initiating_party,
                "rule_set_version": self.rule_set_version,
                "administrative_fee_cents": self.administrative_fee_cents,
                "batched": self.batched,
                # One negotiation is one item or service; a batch's line items are its members.
                "batch_line_items": max(1, len(self.batch_negotiation_ids)),
                "fee_bearing": self.fee_bearing,
                "idre_id": "",
                "idre_fee_cents": 0,
                "selected_on": None,
                "eligible": None,
                "offers": {},
            }

    class IdreSelected(TenantAggregate.Event):
        idre_id: str
        method: str
        selected_on: date
        idre_fee_cents: int

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.idr.update(
                idre_id=self.idre_id,
                idre_fee_cents=self.idre_fee_cents,
                selected_on=self.selected_on,
            )

    class IdrEligibilityDetermined(TenantAggregate.Event):
        eligible: bool
        decided_on: date
        reason: str

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.idr["eligible"] = self.eligible

    class IdrOfferSubmitted(TenantAggregate.Event):
        party: str
        amount_cents: int
        percent_of_qpa_bp: int
        submitted_on: date
        idre_fee_paid_cents: int

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.idr["offers"][self.party] = self.amount_cents

    class IdrDetermined(TenantAggregate.Event):
        claim_id: str
        dispute_number: str
        determined_on: date
        prevailing_party: str
        default_determination: bool
        award_total_cents: int
        patient_cost_sharing_cents: int
        already_paid_cents: int
        amount_owed_cents: int
        payment_due_on: date
        administrative_fee_cents: int
        idre_fee_paid_cents: int
        idre_fee_refund_cents: int
        fee_refund_due_on: date | None
        rule_set_version: str

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.status = NegotiationStatus.DETERMINED.value
            aggregate.determined_on = self.determined_on
            aggregate.award_total_cents = self.award_total_cents

    class CoolingOffStarted(TenantAggregate.Event):
        dispute_number: str
        initiating_party_key: str
        other_party_key: str
        service_family: str
        starts_on: date
        ends_on: date

    class IdrClosed(TenantAggregate.Event):
        claim_id: str
        dispute_number: str
        closed_on: date
        outcome: str
        reason: str
        administrative_fee_cents: int
        idre_fee_paid_cents: int
        idre_fee_refund_cents: int

        def apply(self, aggregate: Negotiation) -> None:
            aggregate.status = NegotiationStatus.CLOSED.value

    # -- state ----------------------------------------------------------------------------

    def __init__(
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
        qpa_cents: int,
        patient_cost_sharing_cents: int,
        already_paid_cents: int,
        bill_received_on: date | None,
        initial_payment_received_on: date,
        route: str,
        assignee: str,
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
        self.qpa_cents = qpa_cents
        self.patient_cost_sharing_cents = patient_cost_sharing_cents
        self.already_paid_cents = already_paid_cents
        self.bill_received_on = bill_received_on
        self.initial_payment_received_on = initial_payment_received_on
        self.route = route
        self.assignee = assignee
        self.status = NegotiationStatus.OPEN.value
        self.on_notice_sent_on: date | None = None
        self.offers: list[dict[str, Any]] = []
        self.decisions: dict[str, dict[str, Any]] = {}
        self.idr_approved = False
        self.idr: dict[str, Any] = {}
        self.extensions: list[Extension] = []
        self.escalations: list[dict[str, Any]] = []
        self.agreed_total_cents = 0
        self.award_total_cents = 0
        self.determined_on: date | None = None
        self.settled_after_initiation_on: date | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Negotiation:
        """Copy for the aggregate cache in O(state), not O(deepcopy of every offer).

        State holds mutable containers at most two levels deep (lists/dicts of records, the
        IDR dict with its offers dict); records below that are never mutated in place.
        """
        clone = object.__new__(type(self))
        for name, value in self.__dict__.items():
            if isinstance(value, list):
                value = list(value)
            elif isinstance(value, dict):
                value = {k: dict(v) if isinstance(v, dict) else v for k, v in value.items()}
            clone.__dict__[name] = value
        return clone

    # -- creation -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        ctx: CommandContext,
        *,
        negotiation_id: UUID,
        claim_id: str,
        provider_npi: str,
        provider_tin: str,
        payer_id: str,
        plan_id: str,
        plan_funding: str,
        service_code: str,
        service_date: date | None,
        billed_cents: int,
        qpa_cents: int,
        patient_cost_sharing_cents: int,
        already_paid_cents: int,
        bill_received_on: date | None,
        initial_payment_received_on: date | None,
        route: str,
        assignee: str,
    ) -> Negotiation:
        require_role(ctx, OFFER_ROLES, "opening a negotiation")
        today = eastern_date(ctx)
        v = Violations()
        v.check(bool(claim_id.strip()), "claim_id", "is required")
        v.check(
            bool(provider_npi.strip() or provider_tin.strip()),
            "provider_npi",
            "NPI or TIN is required",
        )
        v.check(bool(payer_id.strip()), "payer_id", "is required")
        v.check(bool(service_code.strip()), "service_code", "is required")
        check_cents(v, "billed_cents", billed_cents)
        check_cents(v, "qpa_cents", qpa_cents)
        check_cents(v, "patient_cost_sharing_cents", patient_cost_sharing_cents, allow_zero=True)
        check_cents(v, "already_paid_cents", already_paid_cents, allow_zero=True)
        check_fact_date(v, "service_date", service_date, today)
        check_fact_date(v, "initial_payment_received_on", initial_payment_received_on, today)
        if bill_received_on is not None:
            check_fact_date(v, "bill_received_on", bill_received_on, today)
        enum_value(v, "route", Route, route)
        v.raise_if_any()
        negotiation: Negotiation = cls._start(
            cls.Opened,
            ctx,
            id=negotiation_id,
            claim_id=claim_id,
            provider_npi=provider_npi,
            provider_tin=provider_tin,
            payer_id=payer_id,
            plan_id=plan_id or payer_id,
            plan_funding=plan_funding,
            service_code=service_code.strip().upper(),
            service_date=service_date,
            billed_cents=billed_cents,
            qpa_cents=qpa_cents,
            patient_cost_sharing_cents=patient_cost_sharing_cents,
            already_paid_cents=already_paid_cents,
            bill_received_on=bill_received_on,
            initial_payment_received_on=initial_payment_received_on,
            route=route,
            assignee=assignee or ctx.actor,
        )
        return negotiation

    # -- derived facts --------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    @property
    def anchors(self) -> CaseAnchors:
        return CaseAnchors(
            bill_received=self.bill_received_on,
            initial_payment_received=self.initial_payment_received_on,
            on_notice_sent=self.on_notice_sent_on,
            idr_initiated=self.idr.get("initiated_on"),
            idre_selected=self.idr.get("selected_on"),
            determination=self.determined_on,
            settled_after_initiation=self.settled_after_initiation_on,
            batched=bool(self.idr.get("batched")),
        )

    def deadlines(self, engine: DeadlineEngine) -> CaseDeadlines:
        return engine.for_case(self.anchors, self.extensions)

    @property
    def progress(self) -> CaseProgress:
        return CaseProgress(
            status=self.status,
            anchors=self.anchors,
            extensions=tuple(self.extensions),
            idre_selected=bool(self.idr.get("idre_id")),
            provider_idr_offer_submitted=Party.PROVIDER.value in self.idr.get("offers", {}),
        )

    def actionable_deadlines(self, engine: DeadlineEngine) -> list[Deadline]:
        """Deadlines the client still has to act on, given where the case stands."""
        return actionable_deadlines(self.progress, engine)

    def latest_offer(self) -> dict[str, Any] | None:
        return self.offers[-1] if self.offers else None

    def _offer(self, offer_id: str) -> dict[str, Any] | None:
        return next((o for o in self.offers if o["offer_id"] == offer_id), None)

    def _require_open(self, what: str) -> None:
        if self.is_closed:
            raise FailedPrecondition(f"cannot {what}: the negotiation is {self.status}")

    # -- open negotiation -----------------------------------------------------------------

    def send_open_negotiation_notice(
        self, ctx: CommandContext, *, sent_on: date | None, channel: str, portal_reference: str
    ) -> None:
        if self.has_handled(ctx):
            return
        require_role(ctx, OFFER_ROLES, "sending the open-negotiation notice")
        v = Violations()
        check_fact_date(v, "sent_on", sent_on, eastern_date(ctx))
        enum_value(v, "channel", Channel, channel)
        v.raise_if_any()
        assert sent_on is not None  # narrowed by the violations above
        self._require_open("send a notice")
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
        self, ctx: CommandContext, *, received_on: date | None, channel: str, summary: str
    ) -> None:
        if self.has_handled(ctx):
            return
        require_role(ctx, OFFER_ROLES, "recording the payer's response")
        v = Violations()
        check_fact_date(v, "received_on", received_on, eastern_date(ctx))
        enum_value(v, "channel", Channel, channel)
        v.raise_if_any()
        self._require_open("record a response")
        if self.on_notice_sent_on is None:
            raise FailedPrecondition("no open-negotiation notice has been sent yet")
        self._record(
            self.PayerResponseReceived,
            ctx,
            received_on=received_on,
            channel=channel,
            summary=summary,
        )

    def make_offer(self, ctx: CommandContext, **offer: Any) -> None:
        """Record an offer by either party; a reply to the other side's offer is a counter-offer.

        The provider's reply to a payer offer is a decision point: it comes through an approved
        COUNTER decision, never directly from the negotiator.
        """
        if self.has_handled(ctx):
            return
        self._checked_offer(ctx, **offer)

    def _checked_offer(
        self,
        ctx: CommandContext,
        *,
        offer_id: str,
        party: str,
        amount_cents: int,
        basis: Mapping[str, Any],
        channel: str,
        notes: str,
        document_refs: Sequence[str],
        made_on: date | None,
        via_decision: bool = False,
    ) -> None:
        require_role(ctx, OFFER_ROLES + DECIDER_ROLES if via_decision else OFFER_ROLES, "an offer")
        v = Violations()
        check_cents(v, "amount_cents", amount_cents)
        enum_value(v, "party", Party, party)
        enum_value(v, "channel", Channel, channel)
        check_fact_date(v, "made_on", made_on, eastern_date(ctx))
        unknown = sorted(set(basis) - BASIS_KEYS)
        v.check(not unknown, "basis", f"unknown basis keys: {', '.join(unknown)}")
        for key in ("qpa_cents", "prior_payments_cents"):
            if key in basis:
                check_cents(v, f"basis.{key}", basis[key])
        v.raise_if_any()
        self._require_open("make an offer")
        if self.on_notice_sent_on is None:
            raise FailedPrecondition("send the open-negotiation notice before exchanging offers")
        if any(o["offer_id"] == offer_id for o in self.offers):
            raise FailedPrecondition(f"offer {offer_id} was already recorded")
        latest = self.latest_offer()
        replying_to = latest if latest is not None and latest["party"] != party else None
        if replying_to is not None and party == Party.PROVIDER and not via_decision:
            raise FailedPrecondition(
                "the provider's reply to a payer offer is a decision point: propose COUNTER"
            )
        qpa = int(basis.get("qpa_cents") or self.qpa_cents)
        fields = dict(
            offer_id=offer_id,
            party=party,
            amount_cents=amount_cents,
            percent_of_qpa_bp=offer_basis_points(amount_cents, qpa),
            basis=dict(basis),
            channel=channel,
            notes=notes,
            document_refs=list(document_refs),
            made_on=made_on,
        )
        if replying_to is None:
            self._record(self.OfferMade, ctx, **fields)
        else:
            self._record(self.CounterOfferMade, ctx, in_reply_to=replying_to["offer_id"], **fields)

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
    ) -> None:
        """A negotiator proposes; a client auto-approval rule may decide an ACCEPT at once."""
        if self.has_handled(ctx):
            return
        require_role(ctx, (Role.NEGOTIATOR, Role.ADMIN), "proposing a decision")
        v = Violations()
        chosen = enum_value(v, "action", DecisionAction, action)
        if chosen is DecisionAction.COUNTER:
            check_cents(v, "counter_amount_cents", counter_amount_cents)
        elif counter_amount_cents:
            v.add("counter_amount_cents", "only a COUNTER carries an amount")
        v.check(bool(decision_id.strip()), "decision_id", "is required")
        v.raise_if_any()
        if chosen is DecisionAction.IDR:
            if self.status != NegotiationStatus.OPEN:
                raise FailedPrecondition(f"cannot propose IDR: the negotiation is {self.status}")
        else:
            self._require_open("propose a decision")
        if decision_id in self.decisions:
            raise FailedPrecondition(f"decision {decision_id} already exists")
        if any(d["status"] == DecisionStatus.PROPOSED for d in self.decisions.values()):
            raise FailedPrecondition("another decision is waiting for the provider")
        offer = self._offer(offer_id) if offer_id else None
        if chosen in (DecisionAction.ACCEPT, DecisionAction.REJECT, DecisionAction.COUNTER):
            if offer is None or offer["party"] != Party.PAYER:
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
            rule = deciding_rule(
                auto_rules, offer["amount_cents"], self.billed_cents, self.qpa_cents
            )
            if rule is not None:
                self._approve(ctx, decision_id, "auto-approval", rule.rule_id, decided_on, engine)

    def approve_decision(
        self,
        ctx: CommandContext,
        *,
        decision_id: str,
        engine: DeadlineEngine,
        decided_on: date | None = None,
    ) -> None:
        if self.has_handled(ctx):
            return
        require_role(ctx, DECIDER_ROLES, "deciding a provider decision point")
        self._pending(decision_id)
        self._approve(ctx, decision_id, ctx.actor, "", decided_on, engine)

    def reject_decision(self, ctx: CommandContext, *, decision_id: str, reason: str) -> None:
        if self.has_handled(ctx):
            return
        require_role(ctx, DECIDER_ROLES, "deciding a provider decision point")
        self._pending(decision_id)
        self._record(
            self.DecisionRejected,
            ctx,
            decision_id=decision_id,
            rejected_by=ctx.actor,
            reason=reason,
        )

    def _pending(self, decision_id: str) -> dict[str, Any]:
        decision = self.decisions.get(decision_id)
        if decision is None:
            raise FailedPrecondition(f"no decision {decision_id} on this negotiation")
        if decision["status"] != DecisionStatus.PROPOSED:
            raise FailedPrecondition(f"decision {decision_id} is already {decision['status']}")
        if decision["action"] != DecisionAction.IDR:
            self._require_open("decide")
        return decision

    def _approve(
        self,
        ctx: CommandContext,
        decision_id: str,
        approver: str,
        rule_id: str,
        decided_on: date | None,
        engine: DeadlineEngine,
    ) -> None:
        decision = self.decisions[decision_id]
        today = decided_on or eastern_date(ctx)
        self._record(
            self.DecisionApproved,
            ctx,
            decision_id=decision_id,
            approved_by=approver,
            auto_approval_rule_id=rule_id,
        )
        action = DecisionAction(decision["action"])
        if action is DecisionAction.ACCEPT:
            offer = self._offer(decision["offer_id"])
            assert offer is not None  # checked when proposed
            self._agree(ctx, offer, decision_id, today, engine.calendar)
        elif action is DecisionAction.COUNTER:
            self._checked_offer(
                ctx,
                offer_id=f"{decision_id}:counter",
                party=Party.PROVIDER.value,
                amount_cents=decision["counter_amount_cents"],
                basis={"qpa_cents": self.qpa_cents},
                channel=Channel.PORTAL.value,
                notes=f"counter-offer approved in decision {decision_id}",
                document_refs=[],
                made_on=today,
                via_decision=True,
            )

    def _agree(
        self,
        ctx: CommandContext,
        offer: dict[str, Any],
        decision_id: str,
        on: date,
        calendar: BusinessCalendar,
    ) -> None:
        during_idr = self.status == NegotiationStatus.IN_IDR
        fees = self._fee_facts(IdrOutcome.SETTLED) if during_idr else None
        rule_set = rule_set_on(on)
        report_due = None
        if during_idr:
            report_due = calendar.after(on, rule_set.settlement_report_business_days)
        total = offer["amount_cents"]
        self._record(
            self.SettlementAgreed,
            ctx,
            claim_id=self.claim_id,
            offer_id=offer["offer_id"],
            decision_id=decision_id,
            agreed_on=on,
            agreed_total_cents=total,
            patient_cost_sharing_cents=self.patient_cost_sharing_cents,
            already_paid_cents=self.already_paid_cents,
            amount_owed_cents=amount_owed_cents(
                total, self.patient_cost_sharing_cents, self.already_paid_cents
            ),
            payment_due_on=rule_set.payment_due_on(on),
            during_idr=during_idr,
            dispute_number=self.idr.get("dispute_number", ""),
            administrative_fee_cents=fees.administrative_fee_cents if fees else 0,
            idre_fee_paid_cents=fees.idre_fee_paid_cents if fees else 0,
            idre_fee_refund_cents=fees.idre_fee_refund_cents if fees else 0,
            report_due_on=report_due,
            rule_set_version=rule_set.version,
        )

    # -- work management ------------------------------------------------------------------

    def assign(self, ctx: CommandContext, *, assignee: str) -> None:
        if self.has_handled(ctx):
            return
        require_role(ctx, (Role.SUPERVISOR, Role.MANAGER, Role.ADMIN), "reassigning a case")
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
    ) -> None:
        """Record a granted extension; it overrides the computed deadline from now on."""
        if self.has_handled(ctx):
            return
        require_role(ctx, (Role.NEGOTIATOR, Role.SUPERVISOR, Role.ADMIN), "recording an extension")
        v = Violations()
        code = enum_value(v, "deadline_code", DeadlineCode, deadline_code)
        v.check(new_due_on is not None, "new_due_on", "is required")
        v.check(bool(reason.strip()), "reason", "is required")
        v.raise_if_any()
        assert new_due_on is not None
        current = self.deadlines(engine).get(code)
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
    ) -> bool:
        """Escalate along the client's chain [(role, business days left), ...] (widest first).

        Each level is raised once per deadline; returns True when an escalation was recorded.
        """
        if self.has_handled(ctx):
            return False
        calendar = engine.calendar
        for deadline in self.actionable_deadlines(engine):
            if deadline.due < as_of:
                continue
            days_left = calendar.business_days_between(as_of + timedelta(days=1), deadline.due)
            level = 0
            for index, (_role, threshold) in enumerate(chain, start=1):
                if days_left <= threshold:
                    level = index
            raised = max(
                (
                    e["level"]
                    for e in self.escalations
                    if e["deadline_code"] == deadline.code.value and e["due_on"] == deadline.due
                ),
                default=0,
            )
            if level > raised:
                self._record(
                    self.EscalationRaised,
                    ctx,
                    deadline_code=deadline.code.value,
                    due_on=deadline.due,
                    level=level,
                    escalated_to=chain[level - 1][0],
                    business_days_left=days_left,
                    as_of=as_of,
                )
                return True
        return False
