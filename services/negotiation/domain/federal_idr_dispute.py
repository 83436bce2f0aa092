"""The FederalIdrDispute aggregate: one negotiation's federal IDR dispute (DOMAIN.md §1.3,
§1.6-§1.8) — initiation, the IDR entity, eligibility, offers to the IDRE, the determination or
closure, and the fees each outcome leaves with the client.

Its own event stream, started by `InitiateIdr` once the negotiation allows it (the items of a
batch start theirs in one transaction). It knows its negotiation only through `DisputedClaim`
(the facts an IDR step needs: amounts for what is owed, parties for cooling-off, whether the
negotiation settled meanwhile), so this module never imports the negotiation aggregate. Pure
like the rest of the domain: calendars, rule sets and deadlines are passed in. A retried command
(same request id) records nothing.

Events keep the names and fields they had when they were recorded on the negotiation's stream
(the published language, docs/events.md); `stored_topics.py` maps their old topics here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.errors import FailedPrecondition, Violations
from services.common.ids import deterministic_id
from services.negotiation.domain import dispute_lines as dl
from services.negotiation.domain.cooling_off import service_family
from services.negotiation.domain.deadlines import (
    CaseDeadlines,
    DeadlineCode,
    DeadlineEngine,
    cooling_off_end,
)
from services.negotiation.domain.disputed_claim import DisputedClaim
from services.negotiation.domain.idr_fees import (
    FeeEntry,
    FeeFacts,
    FeeMovement,
    FeeOutOfRangeError,
    FeeRuleError,
    FeeSource,
    IdrFeeKind,
    IdrFeeLedger,
    IdrOutcome,
    PartyFees,
    check_fee_entry,
    check_idre_fee,
    client_fee_facts,
    fee_entry,
    outcome_for_party,
)
from services.negotiation.domain.idr_initiation import InitiationCheck, admitted_initiation
from services.negotiation.domain.money import amount_owed_cents, offer_basis_points
from services.negotiation.domain.rule_sets import (
    rule_set_by_version,
    rule_set_on,
)
from services.negotiation.domain.validation import check_cents, check_fact_date, enum_value
from services.negotiation.domain.values import IdreSelection
from services.negotiation.domain.vocabulary import NegotiationStatus, Party, SelectionMethod


def dispute_id_for(tenant_id: str, negotiation_id: str) -> UUID:
    """A negotiation goes to federal IDR at most once: its dispute's id follows from its own."""
    return deterministic_id(tenant_id, "federal-idr-dispute", negotiation_id)


class FederalIdrDispute(TenantAggregate):
    """A federal IDR dispute over one negotiation's item or service (a batch: one per item)."""

    settled_on: date | None = None  # IdrSettled (a class default: older snapshots lack it)

    # -- events ---------------------------------------------------------------------------

    class IdrInitiated(TenantAggregate.Created):
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
        lines: list[dl.DisputedLineRecord]  # the claim lines in dispute; [] = the whole claim
        line_items: int  # the whole dispute's line items (all its claims), for the fee tier
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 disputed whole claims, one line item each.
            state["lines"] = []
            state["line_items"] = max(1, len(state.get("batch_negotiation_ids") or ()))

    class IdreSelected(TenantAggregate.Event):
        idre_id: str
        method: str
        selected_on: date
        idre_fee_cents: int

        def apply(self, aggregate: FederalIdrDispute) -> None:
            aggregate.idre = IdreSelection(
                self.idre_id, self.method, self.selected_on, self.idre_fee_cents
            )

    class IdrEligibilityDetermined(TenantAggregate.Event):
        eligible: bool
        decided_on: date
        reason: str

        def apply(self, aggregate: FederalIdrDispute) -> None:
            aggregate.eligible = self.eligible

    class IdrOfferSubmitted(TenantAggregate.Event):
        party: str
        amount_cents: int
        percent_of_qpa_bp: int
        submitted_on: date
        idre_fee_paid_cents: int
        line_offers: list[dl.LineOfferRecord]  # per disputed line; [] for a whole-claim dispute
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["line_offers"] = []

        def apply(self, aggregate: FederalIdrDispute) -> None:
            aggregate.offers_cents = {**aggregate.offers_cents, self.party: self.amount_cents}
            aggregate.line_offers = {**aggregate.line_offers,
                                     self.party: dl.line_offers_of(self.line_offers)}

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
        line_awards: list[dl.LineAwardRecord]  # per disputed line; [] for a whole-claim dispute
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["line_awards"] = []

        def apply(self, aggregate: FederalIdrDispute) -> None:
            aggregate.line_awards = dl.line_awards_of(self.line_awards)
            aggregate.status = NegotiationStatus.DETERMINED.value
            aggregate.determined_on = self.determined_on
            aggregate.prevailing_party = self.prevailing_party
            aggregate.award_total_cents = self.award_total_cents
            aggregate.amount_owed_cents = self.amount_owed_cents

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

        def apply(self, aggregate: FederalIdrDispute) -> None:
            aggregate.status = NegotiationStatus.CLOSED.value
            aggregate.closed_outcome = self.outcome

    class IdrSettled(TenantAggregate.Event):
        """The parties settled while the dispute ran (the negotiation's SettlementAgreed,
        during_idr, carries the money). Recorded on the dispute in the agreement's transaction,
        so a determination decided on the same version of the dispute conflicts with it: a case
        is never both settled and determined. The outcome is still read from the negotiation
        (DisputedClaim.settled); the dispute keeps the day, so it is recorded once."""

        claim_id: str
        dispute_number: str
        settled_on: date

        def apply(self, aggregate: FederalIdrDispute) -> None:
            aggregate.settled_on = self.settled_on

    class IdrFeeRecorded(TenantAggregate.Event):
        """A party paid, got back or forfeited an administrative or IDRE fee (§1.8)."""

        claim_id: str
        dispute_number: str
        party: str
        fee_kind: str
        movement: str
        amount_cents: int
        occurred_on: date
        source: str
        source_reference: str

        def apply(self, aggregate: FederalIdrDispute) -> None:
            aggregate.fee_ledger = aggregate.fee_ledger.with_entry(FeeEntry(
                self.party, IdrFeeKind(self.fee_kind), FeeMovement(self.movement),
                self.amount_cents, self.occurred_on, FeeSource(self.source),
                self.source_reference))

    # -- state ----------------------------------------------------------------------------

    def __init__(
        self,
        claim_id: str,
        dispute_number: str,
        initiated_on: date,
        initiating_party: str,
        rule_set_version: str,
        administrative_fee_cents: int,
        batched: bool,
        bundled: bool,
        batch_negotiation_ids: list[str],
        fee_bearing: bool,
        lines: list[dl.DisputedLineRecord],
        line_items: int,
    ) -> None:
        self.claim_id = claim_id
        self.dispute_number = dispute_number
        self.initiated_on = initiated_on
        self.initiating_party = initiating_party
        self.rule_set_version = rule_set_version
        self.administrative_fee_cents = administrative_fee_cents
        self.batched = batched
        self.bundled = bundled
        self.lines: list[dl.DisputedLine] = dl.disputed_lines_of(lines)
        self.batch_line_items = line_items  # the IDRE fee tier (dispute_lines.line_items)
        self.fee_bearing = fee_bearing
        self.status = NegotiationStatus.IN_IDR.value
        self.idre: IdreSelection | None = None
        self.eligible: bool | None = None
        self.offers_cents: dict[str, int] = {}  # party -> the offer it submitted to the IDRE
        self.line_offers: dict[str, list[dl.LineOffer]] = {}  # party -> its offer per line
        self.line_awards: list[dl.LineAward] = []
        self.determined_on: date | None = None
        self.award_total_cents = 0
        self.amount_owed_cents = 0
        self.prevailing_party = ""
        self.closed_outcome = ""
        self.fee_ledger = IdrFeeLedger()  # what each party paid, got back, forfeited

    # -- initiation -----------------------------------------------------------------------

    @classmethod
    def initiate(
        cls,
        ctx: CommandContext,
        *,
        negotiation_id: str,
        claim: DisputedClaim,
        dispute_number: str,
        initiated_on: date | None,
        initiating_party: str,
        refusal: InitiationCheck,
        batch_negotiation_ids: Sequence[str] = (),
        bundled: bool = False,
        fee_bearing: bool = True,
        lines: Sequence[dl.DisputedLine] = (),
        line_items: int = 0,
    ) -> FederalIdrDispute:
        """Start the dispute once the negotiation allows it (`refusal` says why it does not).
        `lines`: the claim lines in dispute (none: the whole claim); `line_items`: the whole
        dispute's (a multi-line or multi-claim dispute is batched, DOMAIN §1.6/§1.8)."""
        rule_set, initiated_on, line_items = admitted_initiation(
            ctx.eastern_today, dispute_number=dispute_number, initiated_on=initiated_on,
            initiating_party=initiating_party, refusal=refusal, lines=lines,
            line_items=line_items or max(len(batch_negotiation_ids), dl.line_items(lines)))
        dispute: FederalIdrDispute = cls._start(
            cls.IdrInitiated,
            ctx,
            id=dispute_id_for(ctx.tenant_id, negotiation_id),
            claim_id=claim.claim_id,
            dispute_number=dispute_number,
            initiated_on=initiated_on,
            initiating_party=initiating_party,
            rule_set_version=rule_set.version,
            administrative_fee_cents=rule_set.administrative_fee_cents if fee_bearing else 0,
            batched=bool(batch_negotiation_ids) or (line_items > 1 and not bundled),
            bundled=bundled,
            batch_negotiation_ids=list(batch_negotiation_ids),
            fee_bearing=fee_bearing,
            lines=dl.disputed_line_records(lines),
            line_items=line_items,
        )
        return dispute

    def record_settlement(self, ctx: CommandContext, *, claim_id: str, settled_on: date) -> None:
        """The negotiation agreed while this dispute was in progress (see IdrSettled)."""
        if self.in_progress and not self.prevailing_party and self.settled_on is None:
            self._record(self.IdrSettled, ctx, claim_id=claim_id,
                         dispute_number=self.dispute_number, settled_on=settled_on)

    # -- derived facts --------------------------------------------------------------------

    @property
    def in_progress(self) -> bool:
        return self.status == NegotiationStatus.IN_IDR

    @property
    def selected_on(self) -> date | None:
        return self.idre.selected_on if self.idre else None

    @property
    def provider_offer_submitted(self) -> bool:
        return Party.PROVIDER.value in self.offers_cents

    def fee_facts(self, outcome: IdrOutcome) -> FeeFacts:
        """The client's fee position if the dispute ended now with `outcome`: from the fees it
        recorded as paid when any were, else inferred from its IDRE offer."""
        if self.fee_ledger.recorded:
            fees = self.fee_ledger.party_fees(Party.PROVIDER.value, outcome)
            return FeeFacts(fees.administrative_paid_cents, fees.idre_paid_cents,
                            fees.idre_refund_entitled_cents)
        idre_fee = self.idre.idre_fee_cents if self.idre and self.fee_bearing else 0
        return client_fee_facts(
            outcome,
            self.administrative_fee_cents,
            idre_fee,
            client_paid_idre_fee=self.provider_offer_submitted,
        )

    def outcome_for(self, party: str, claim: DisputedClaim) -> IdrOutcome | None:
        """The party's outcome (None while the dispute runs)."""
        if self.closed_outcome:
            return IdrOutcome(self.closed_outcome)
        if self.prevailing_party:
            return outcome_for_party(party, IdrOutcome.WON, self.prevailing_party)
        return IdrOutcome.SETTLED if claim.settled else None

    def party_fees(self, party: str, claim: DisputedClaim) -> PartyFees:
        return self.fee_ledger.party_fees(party, self.outcome_for(party, claim))

    def record_fee(
        self,
        ctx: CommandContext,
        *,
        claim: DisputedClaim,
        party: str,
        fee_kind: str,
        movement: str,
        amount_cents: int,
        occurred_on: date | None,
        source: str,
        source_reference: str,
    ) -> None:
        """Record what a party paid, got back or forfeited; refused (nothing stored) when §1.8
        does not allow it: more than the published fee, a refund of nothing, of the
        administrative fee or beyond what the outcome returns."""
        if self.has_handled(ctx):
            return
        v = Violations()
        entry = fee_entry(v, party, fee_kind, movement, amount_cents, occurred_on, source,
                          source_reference, ctx.eastern_today)
        v.raise_if_any()
        assert entry is not None
        if entry.occurred_on < self.initiated_on:
            raise FailedPrecondition("an IDR fee cannot move before the dispute was initiated")
        if not self.fee_bearing:
            raise FailedPrecondition("DOMAIN §1.8: a batch pays per dispute, on its lead item")
        try:
            check_fee_entry(
                self.fee_ledger, entry, outcome=self.outcome_for(entry.party, claim),
                rule_set=rule_set_by_version(self.rule_set_version),
                idre_fee_cents=self.idre.idre_fee_cents if self.idre else None,
                batched=self.batched, line_items=self.batch_line_items)
        except FeeRuleError as exc:
            raise FailedPrecondition(str(exc)) from None
        self._record(
            self.IdrFeeRecorded, ctx, claim_id=claim.claim_id,
            dispute_number=self.dispute_number, party=entry.party, fee_kind=entry.kind.value,
            movement=entry.movement.value, amount_cents=entry.amount_cents,
            occurred_on=entry.occurred_on, source=entry.source.value,
            source_reference=entry.source_reference)

    def _require_in_progress(self, claim: DisputedClaim, what: str) -> None:
        if not self.in_progress or claim.settled:
            raise FailedPrecondition(f"cannot {what}: no federal IDR dispute is in progress")

    # -- the IDR entity and eligibility ---------------------------------------------------

    def select_idre(
        self,
        ctx: CommandContext,
        *,
        claim: DisputedClaim,
        idre_id: str,
        method: str,
        selected_on: date | None,
        idre_fee_cents: int,
        deadlines: CaseDeadlines,
    ) -> None:
        if self.has_handled(ctx):
            return
        v = Violations()
        v.check(bool(idre_id.strip()), "idre_id", "is required")
        enum_value(v, "method", SelectionMethod, method)
        check_fact_date(v, "selected_on", selected_on, ctx.eastern_today)
        check_cents(v, "idre_fee_cents", idre_fee_cents)
        v.raise_if_any()
        assert selected_on is not None
        self._require_in_progress(claim, "select an IDR entity")
        if self.idre is not None:
            raise FailedPrecondition(f"IDR entity {self.idre.idre_id} is already selected")
        if selected_on < self.initiated_on:
            raise FailedPrecondition("the IDR entity cannot be selected before initiation")
        if method == SelectionMethod.DEFAULT:
            t4 = deadlines.get(DeadlineCode.T4)
            if t4 is not None and selected_on <= t4.due:
                raise FailedPrecondition(
                    "the Departments assign an IDR entity only after the 3-business-day joint "
                    f"selection period ({t4.due.isoformat()})"
                )
        try:
            check_idre_fee(rule_set_by_version(self.rule_set_version), idre_fee_cents,
                           self.batched, self.batch_line_items)
        except FeeOutOfRangeError as exc:
            v.add("idre_fee_cents", str(exc))
            v.raise_if_any()
        self._record(self.IdreSelected, ctx, idre_id=idre_id, method=method,
                     selected_on=selected_on, idre_fee_cents=idre_fee_cents)

    def record_eligibility(
        self,
        ctx: CommandContext,
        *,
        claim: DisputedClaim,
        eligible: bool,
        decided_on: date | None,
        reason: str,
    ) -> None:
        if self.has_handled(ctx):
            return
        v = Violations()
        check_fact_date(v, "decided_on", decided_on, ctx.eastern_today)
        v.check(eligible or bool(reason.strip()), "reason", "an ineligible outcome needs a reason")
        v.raise_if_any()
        self._require_in_progress(claim, "record eligibility")
        if self.idre is None:
            raise FailedPrecondition("no IDR entity has been selected yet")
        if self.eligible is not None:
            raise FailedPrecondition("the eligibility outcome is already recorded")
        self._record(self.IdrEligibilityDetermined, ctx, eligible=eligible,
                     decided_on=decided_on, reason=reason)
        if not eligible:
            assert decided_on is not None
            self._close(ctx, claim, IdrOutcome.INELIGIBLE, decided_on, reason)

    # -- offers to the IDRE and the outcome -----------------------------------------------

    def submit_offer(
        self,
        ctx: CommandContext,
        *,
        claim: DisputedClaim,
        party: str,
        amount_cents: int,
        submitted_on: date | None,
        line_offers: Sequence[dl.LineOffer] = (),
    ) -> None:
        """An offer to the IDRE: the claim's total, or (a line-level dispute) one per line."""
        if self.has_handled(ctx):
            return
        v = Violations()
        enum_value(v, "party", Party, party)
        check_cents(v, "amount_cents", amount_cents, allow_zero=bool(line_offers))
        check_fact_date(v, "submitted_on", submitted_on, ctx.eastern_today)
        v.raise_if_any()
        self._require_in_progress(claim, "submit an IDR offer")
        if self.idre is None:
            raise FailedPrecondition("offers go to the selected IDR entity: none selected yet")
        if self.eligible is False:
            raise FailedPrecondition("the dispute was found ineligible")
        if party in self.offers_cents:
            raise FailedPrecondition(f"the {party} already submitted its IDR offer")
        qpa_cents = claim.qpa_cents
        if self.lines or line_offers:
            for i, o in enumerate(line_offers):
                check_cents(v, f"line_offers[{i}].amount_cents", o.amount_cents)
            v.raise_if_any()
            amount_cents = dl.offer_total(self.dispute_number, self.lines, line_offers,
                                          amount_cents)
            qpa_cents = sum(line.qpa_cents for line in self.lines)
        self._record(
            self.IdrOfferSubmitted, ctx, party=party, amount_cents=amount_cents,
            percent_of_qpa_bp=offer_basis_points(amount_cents, qpa_cents),
            submitted_on=submitted_on, idre_fee_paid_cents=self.idre.idre_fee_cents,
            line_offers=dl.line_offer_records(line_offers))

    def record_determination(
        self,
        ctx: CommandContext,
        *,
        claim: DisputedClaim,
        prevailing_party: str,
        determined_on: date | None,
        engine: DeadlineEngine,
        line_parties: Mapping[int, str] | None = None,
    ) -> None:
        """The IDRE chose one submitted offer (never a midpoint); a lone offer wins by default.
        A line-level dispute is determined per line (`line_parties`; unnamed lines go to
        `prevailing_party`); the dispute's prevailing party is then the one with more lines."""
        if self.has_handled(ctx):
            return
        v = Violations()
        if prevailing_party or not line_parties:
            enum_value(v, "prevailing_party", Party, prevailing_party)
        check_fact_date(v, "determined_on", determined_on, ctx.eastern_today)
        v.raise_if_any()
        assert determined_on is not None
        self._require_in_progress(claim, "record a determination")
        if self.eligible is not True:
            raise FailedPrecondition("the IDR entity has not found the dispute eligible")
        offers = self.offers_cents
        if not offers:
            raise FailedPrecondition("neither party submitted an offer: close the dispute instead")
        awards: list[dl.LineAward] = []
        if self.lines or line_parties:
            awards, prevailing_party = dl.determine_lines(
                self.dispute_number, self.lines, self.line_offers, line_parties or {},
                prevailing_party)
        elif prevailing_party not in offers:
            raise FailedPrecondition(
                f"the {prevailing_party} submitted no offer, so it cannot prevail"
            )
        assert self.idre is not None  # eligibility needs a selected entity
        if determined_on < self.idre.selected_on:
            raise FailedPrecondition("the determination cannot precede the IDRE selection")
        owed = [(a.award_cents, a.patient_cost_sharing_cents, a.already_paid_cents)
                for a in awards] or [(offers[prevailing_party], claim.patient_cost_sharing_cents,
                                      claim.already_paid_cents)]
        award, cost_sharing, paid = (sum(column) for column in zip(*owed, strict=True))
        fees = self.fee_facts(outcome_for_party(Party.PROVIDER.value, IdrOutcome.WON,
                                                prevailing_party) or IdrOutcome.LOST)
        rule_set = rule_set_on(determined_on)
        calendar = engine.calendar
        refund_due = calendar.after(determined_on, rule_set.fee_refund_business_days)
        self._record(
            self.IdrDetermined, ctx, claim_id=claim.claim_id,
            dispute_number=self.dispute_number, determined_on=determined_on,
            prevailing_party=prevailing_party, default_determination=len(offers) == 1,
            award_total_cents=award, patient_cost_sharing_cents=cost_sharing,
            already_paid_cents=paid,
            amount_owed_cents=sum(amount_owed_cents(*line) for line in owed),
            payment_due_on=rule_set.payment_due_on(determined_on),
            administrative_fee_cents=fees.administrative_fee_cents,
            idre_fee_paid_cents=fees.idre_fee_paid_cents,
            idre_fee_refund_cents=fees.idre_fee_refund_cents,
            fee_refund_due_on=refund_due if fees.idre_fee_refund_cents else None,
            rule_set_version=self.rule_set_version, line_awards=dl.line_award_records(awards))
        initiating, other = claim.party_keys(self.initiating_party)
        self._record(
            self.CoolingOffStarted, ctx, dispute_number=self.dispute_number,
            initiating_party_key=initiating, other_party_key=other,
            service_family=service_family(claim.service_code),
            starts_on=determined_on + timedelta(days=1),
            ends_on=cooling_off_end(calendar, rule_set, determined_on, self.batched))

    def close_without_offers(
        self, ctx: CommandContext, *, claim: DisputedClaim, closed_on: date | None
    ) -> None:
        """Neither party submitted by T6: the dispute is administratively closed."""
        if self.has_handled(ctx):
            return
        v = Violations()
        check_fact_date(v, "closed_on", closed_on, ctx.eastern_today)
        v.raise_if_any()
        assert closed_on is not None
        self._require_in_progress(claim, "close a dispute")
        if self.offers_cents:
            raise FailedPrecondition("an offer was submitted: the IDRE must determine")
        self._close(ctx, claim, IdrOutcome.CLOSED_WITHOUT_OFFERS, closed_on, "no offers submitted")

    def _close(self, ctx: CommandContext, claim: DisputedClaim, outcome: IdrOutcome, on: date,
               reason: str) -> None:
        fees = self.fee_facts(outcome)
        self._record(
            self.IdrClosed, ctx, claim_id=claim.claim_id, dispute_number=self.dispute_number,
            closed_on=on, outcome=outcome.value, reason=reason,
            administrative_fee_cents=fees.administrative_fee_cents,
            idre_fee_paid_cents=fees.idre_fee_paid_cents,
            idre_fee_refund_cents=fees.idre_fee_refund_cents)
