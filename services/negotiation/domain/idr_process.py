# mypy: disable-error-code="misc"
# (mixin methods annotate `self: Negotiation`, the class they are mixed into, for typing)
"""Federal IDR commands of the Negotiation aggregate (DOMAIN.md §1.3, §1.6-§1.8).

A mixin so the aggregate's module stays readable; the events stay nested in `Negotiation`.
Pure like the rest of the domain: calendars, rule sets and cooling-off periods are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from services.common.context import CommandContext
from services.common.errors import FailedPrecondition, Violations
from services.negotiation.domain.cooling_off import (
    CoolingOffPeriod,
    blocking_period,
    other_party_key,
    service_family,
)
from services.negotiation.domain.deadlines import DeadlineCode, DeadlineEngine, cooling_off_end
from services.negotiation.domain.idr_fees import (
    FeeOutOfRangeError,
    IdrOutcome,
    check_idre_fee,
    client_fee_facts,
)
from services.negotiation.domain.money import amount_owed_cents, offer_basis_points
from services.negotiation.domain.rule_sets import NoRuleSetError, rule_set_by_version, rule_set_on
from services.negotiation.domain.validation import (
    check_cents,
    check_fact_date,
    eastern_date,
    enum_value,
    require_role,
)
from services.negotiation.domain.vocabulary import (
    OFFER_ROLES,
    NegotiationStatus,
    Party,
    Route,
    SelectionMethod,
)

if TYPE_CHECKING:
    from services.negotiation.domain.negotiation import Negotiation


class FederalIdrCommands:
    """Initiation (window, routing, cooling-off), IDRE selection, offers, outcomes and fees."""

    def initiation_refusal(
        self: Negotiation,
        *,
        initiated_on: date,
        initiating_party: str,
        engine: DeadlineEngine,
        cooling_off: Iterable[CoolingOffPeriod],
    ) -> str | None:
        """Why federal IDR cannot be initiated on `initiated_on`; None when it can."""
        if self.status != NegotiationStatus.OPEN:
            return f"the negotiation is {self.status}"
        if self.route != Route.FEDERAL_IDR:
            return f"the claim is not eligible for federal IDR (route: {self.route})"
        if initiating_party == Party.PROVIDER and not self.idr_approved:
            return "the provider has not approved going to IDR (approve an IDR decision first)"
        window = self.deadlines(engine).get(DeadlineCode.T3)
        if window is None or window.opens is None:
            return "open negotiation has not started (no notice sent)"
        periods = list(cooling_off)
        keys = self.party_keys(initiating_party)
        family = service_family(self.service_code)
        blocking = blocking_period(periods, keys[0], keys[1], family, initiated_on)
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
            late_until = self._cooling_off_grace(periods, keys, family, window, engine)
            if late_until is None or initiated_on > late_until:
                return (
                    f"too late: the 4-business-day initiation window closed on "
                    f"{window.due.isoformat()}"
                )
        return None

    def _cooling_off_grace(
        self: Negotiation,
        periods: Sequence[CoolingOffPeriod],
        keys: tuple[str, str],
        family: str,
        window: Any,
        engine: DeadlineEngine,
    ) -> date | None:
        """T11: items blocked by cooling-off may be filed within 30 BD after it ends."""
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
        return engine.calendar.period_beginning(
            reopens, rule_set_on(reopens).blocked_items_business_days
        )

    def party_keys(self: Negotiation, initiating_party: str) -> tuple[str, str]:
        """(initiating party key, other party key) for cooling-off across cases."""
        provider = f"provider:{self.provider_tin or self.provider_npi}"
        payer = other_party_key(self.plan_funding, self.payer_id, self.plan_id)
        return (provider, payer) if initiating_party == Party.PROVIDER else (payer, provider)

    def initiate_idr(
        self: Negotiation,
        ctx: CommandContext,
        *,
        dispute_number: str,
        initiated_on: date | None,
        initiating_party: str,
        engine: DeadlineEngine,
        cooling_off: Iterable[CoolingOffPeriod],
        batch_negotiation_ids: Sequence[str] = (),
        bundled: bool = False,
        fee_bearing: bool = True,
    ) -> None:
        if self.has_handled(ctx):
            return
        require_role(ctx, OFFER_ROLES, "initiating federal IDR")
        v = Violations()
        v.check(bool(dispute_number.strip()), "dispute_number", "is required")
        check_fact_date(v, "initiated_on", initiated_on, eastern_date(ctx))
        enum_value(v, "initiating_party", Party, initiating_party)
        v.raise_if_any()
        assert initiated_on is not None
        refusal = self.initiation_refusal(
            initiated_on=initiated_on,
            initiating_party=initiating_party,
            engine=engine,
            cooling_off=cooling_off,
        )
        if refusal is not None:
            raise FailedPrecondition(f"federal IDR refused: {refusal}")
        try:
            rule_set = rule_set_on(initiated_on)
        except NoRuleSetError as exc:
            raise FailedPrecondition(str(exc)) from None
        self._record(
            self.IdrInitiated,
            ctx,
            claim_id=self.claim_id,
            dispute_number=dispute_number,
            initiated_on=initiated_on,
            initiating_party=initiating_party,
            rule_set_version=rule_set.version,
            administrative_fee_cents=rule_set.administrative_fee_cents if fee_bearing else 0,
            batched=bool(batch_negotiation_ids),
            bundled=bundled,
            batch_negotiation_ids=list(batch_negotiation_ids),
            fee_bearing=fee_bearing,
        )

    def _require_idr(self: Negotiation, what: str) -> None:
        if self.status != NegotiationStatus.IN_IDR:
            raise FailedPrecondition(f"cannot {what}: no federal IDR dispute is in progress")

    def select_idre(
        self: Negotiation,
        ctx: CommandContext,
        *,
        idre_id: str,
        method: str,
        selected_on: date | None,
        idre_fee_cents: int,
        engine: DeadlineEngine,
    ) -> None:
        if self.has_handled(ctx):
            return
        require_role(ctx, OFFER_ROLES, "recording the IDR entity")
        v = Violations()
        v.check(bool(idre_id.strip()), "idre_id", "is required")
        enum_value(v, "method", SelectionMethod, method)
        check_fact_date(v, "selected_on", selected_on, eastern_date(ctx))
        check_cents(v, "idre_fee_cents", idre_fee_cents)
        v.raise_if_any()
        assert selected_on is not None
        self._require_idr("select an IDR entity")
        if self.idr["idre_id"]:
            raise FailedPrecondition(f"IDR entity {self.idr['idre_id']} is already selected")
        if selected_on < self.idr["initiated_on"]:
            raise FailedPrecondition("the IDR entity cannot be selected before initiation")
        if method == SelectionMethod.DEFAULT:
            t4 = self.deadlines(engine).get(DeadlineCode.T4)
            if t4 is not None and selected_on <= t4.due:
                raise FailedPrecondition(
                    "the Departments assign an IDR entity only after the 3-business-day joint "
                    f"selection period ({t4.due.isoformat()})"
                )
        try:
            check_idre_fee(
                rule_set_by_version(self.idr["rule_set_version"]),
                idre_fee_cents,
                self.idr["batched"],
                self.idr.get("batch_line_items", 1),
            )
        except FeeOutOfRangeError as exc:
            v.add("idre_fee_cents", str(exc))
            v.raise_if_any()
        self._record(
            self.IdreSelected,
            ctx,
            idre_id=idre_id,
            method=method,
            selected_on=selected_on,
            idre_fee_cents=idre_fee_cents,
        )

    def record_eligibility(
        self: Negotiation,
        ctx: CommandContext,
        *,
        eligible: bool,
        decided_on: date | None,
        reason: str,
    ) -> None:
        if self.has_handled(ctx):
            return
        require_role(ctx, OFFER_ROLES, "recording the IDRE's eligibility outcome")
        v = Violations()
        check_fact_date(v, "decided_on", decided_on, eastern_date(ctx))
        v.check(eligible or bool(reason.strip()), "reason", "an ineligible outcome needs a reason")
        v.raise_if_any()
        self._require_idr("record eligibility")
        if not self.idr["idre_id"]:
            raise FailedPrecondition("no IDR entity has been selected yet")
        if self.idr["eligible"] is not None:
            raise FailedPrecondition("the eligibility outcome is already recorded")
        self._record(
            self.IdrEligibilityDetermined,
            ctx,
            eligible=eligible,
            decided_on=decided_on,
            reason=reason,
        )
        if not eligible:
            assert decided_on is not None
            self._close(ctx, IdrOutcome.INELIGIBLE, decided_on, reason)

    def submit_idr_offer(
        self: Negotiation,
        ctx: CommandContext,
        *,
        party: str,
        amount_cents: int,
        submitted_on: date | None,
    ) -> None:
        if self.has_handled(ctx):
            return
        require_role(ctx, OFFER_ROLES, "submitting an IDR offer")
        v = Violations()
        enum_value(v, "party", Party, party)
        check_cents(v, "amount_cents", amount_cents)
        check_fact_date(v, "submitted_on", submitted_on, eastern_date(ctx))
        v.raise_if_any()
        self._require_idr("submit an IDR offer")
        if not self.idr["idre_id"]:
            raise FailedPrecondition("offers go to the selected IDR entity: none selected yet")
        if self.idr["eligible"] is False:
            raise FailedPrecondition("the dispute was found ineligible")
        if party in self.idr["offers"]:
            raise FailedPrecondition(f"the {party} already submitted its IDR offer")
        self._record(
            self.IdrOfferSubmitted,
            ctx,
            party=party,
            amount_cents=amount_cents,
            percent_of_qpa_bp=offer_basis_points(amount_cents, self.qpa_cents),
            submitted_on=submitted_on,
            idre_fee_paid_cents=self.idr["idre_fee_cents"],
        )

    def record_determination(
        self: Negotiation,
        ctx: CommandContext,
        *,
        prevailing_party: str,
        determined_on: date | None,
        engine: DeadlineEngine,
    ) -> None:
        """The IDRE chose one submitted offer (never a midpoint); a lone offer wins by default."""
        if self.has_handled(ctx):
            return
        require_role(ctx, OFFER_ROLES, "recording the IDR determination")
        v = Violations()
        enum_value(v, "prevailing_party", Party, prevailing_party)
        check_fact_date(v, "determined_on", determined_on, eastern_date(ctx))
        v.raise_if_any()
        assert determined_on is not None
        self._require_idr("record a determination")
        if self.idr["eligible"] is not True:
            raise FailedPrecondition("the IDR entity has not found the dispute eligible")
        offers: dict[str, int] = self.idr["offers"]
        if not offers:
            raise FailedPrecondition("neither party submitted an offer: close the dispute instead")
        if prevailing_party not in offers:
            raise FailedPrecondition(
                f"the {prevailing_party} submitted no offer, so it cannot prevail"
            )
        if determined_on < self.idr["selected_on"]:
            raise FailedPrecondition("the determination cannot precede the IDRE selection")
        award = offers[prevailing_party]
        client_won = prevailing_party == Party.PROVIDER
        fees = self._fee_facts(IdrOutcome.WON if client_won else IdrOutcome.LOST)
        rule_set = rule_set_on(determined_on)
        calendar = engine.calendar
        self._record(
            self.IdrDetermined,
            ctx,
            claim_id=self.claim_id,
            dispute_number=self.idr["dispute_number"],
            determined_on=determined_on,
            prevailing_party=prevailing_party,
            default_determination=len(offers) == 1,
            award_total_cents=award,
            patient_cost_sharing_cents=self.patient_cost_sharing_cents,
            already_paid_cents=self.already_paid_cents,
            amount_owed_cents=amount_owed_cents(
                award, self.patient_cost_sharing_cents, self.already_paid_cents
            ),
            payment_due_on=rule_set.payment_due_on(determined_on),
            administrative_fee_cents=fees.administrative_fee_cents,
            idre_fee_paid_cents=fees.idre_fee_paid_cents,
            idre_fee_refund_cents=fees.idre_fee_refund_cents,
            fee_refund_due_on=(
                calendar.after(determined_on, rule_set.fee_refund_business_days)
                if fees.idre_fee_refund_cents
                else None
            ),
            rule_set_version=self.idr["rule_set_version"],
        )
        initiating, other = self.party_keys(self.idr["initiating_party"])
        self._record(
            self.CoolingOffStarted,
            ctx,
            dispute_number=self.idr["dispute_number"],
            initiating_party_key=initiating,
            other_party_key=other,
            service_family=service_family(self.service_code),
            starts_on=determined_on + timedelta(days=1),
            ends_on=cooling_off_end(calendar, rule_set, determined_on, bool(self.idr["batched"])),
        )

    def close_without_offers(
        self: Negotiation, ctx: CommandContext, *, closed_on: date | None
    ) -> None:
        """Neither party submitted by T6: the dispute is administratively closed."""
        if self.has_handled(ctx):
            return
        require_role(ctx, OFFER_ROLES, "closing an IDR dispute")
        v = Violations()
        check_fact_date(v, "closed_on", closed_on, eastern_date(ctx))
        v.raise_if_any()
        assert closed_on is not None
        self._require_idr("close a dispute")
        if self.idr["offers"]:
            raise FailedPrecondition("an offer was submitted: the IDRE must determine")
        self._close(ctx, IdrOutcome.CLOSED_WITHOUT_OFFERS, closed_on, "no offers submitted")

    def _close(
        self: Negotiation, ctx: CommandContext, outcome: IdrOutcome, on: date, reason: str
    ) -> None:
        fees = self._fee_facts(outcome)
        self._record(
            self.IdrClosed,
            ctx,
            claim_id=self.claim_id,
            dispute_number=self.idr["dispute_number"],
            closed_on=on,
            outcome=outcome.value,
            reason=reason,
            administrative_fee_cents=fees.administrative_fee_cents,
            idre_fee_paid_cents=fees.idre_fee_paid_cents,
            idre_fee_refund_cents=fees.idre_fee_refund_cents,
        )

    def _fee_facts(self: Negotiation, outcome: IdrOutcome) -> Any:
        fee_bearing = bool(self.idr.get("fee_bearing"))
        return client_fee_facts(
            outcome,
            self.idr.get("administrative_fee_cents", 0),
            self.idr.get("idre_fee_cents", 0) if fee_bearing else 0,
            client_paid_idre_fee=Party.PROVIDER.value in self.idr.get("offers", {}),
        )
