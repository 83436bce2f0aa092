"""Negotiation use cases on the event store: typed commands in, aggregates loaded, decided by
the pure domain, saved atomically. Role checks live here (services/common/auth.py); rules that
depend on the data (who decides a given decision point) stay in the domain.

A case is a `Negotiation` and, once initiated, its `FederalIdrDispute`: every use case loads
both, and a step that changes both (initiation of a batch, a determination and the cooling-off
it starts) saves them in one transaction. Synchronous (the eventsourcing library is); the gRPC
layer runs these in the worker pool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial, reduce
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder

from services.common import auth
from services.common.auth import require_role
from services.common.calendar import federal_calendar
from services.common.context import CommandContext
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Violations,
)
from services.common.eventstore import ServiceApplication
from services.common.ids import deterministic_id
from services.common.settings import Settings
from services.negotiation.commands import (
    ApproveDecision,
    AssignNegotiation,
    CloseWithoutOffers,
    ExtendDeadline,
    InitiateIdr,
    MakeOffer,
    ProposeDecision,
    RecordDetermination,
    RecordEligibility,
    RecordIdrFee,
    RecordPayerResponse,
    RejectDecision,
    SelectIdre,
    SendNotice,
    SetClientPolicy,
    SubmitIdrOffer,
    SuggestionQuery,
)
from services.negotiation.domain import (
    ClaimFacts,
    ClientPolicy,
    CoolingOffRegister,
    DeadlineEngine,
    FederalIdrDispute,
    Negotiation,
    OpeningFacts,
    dispute_id_for,
    facts_id,
    policy_id,
    register_id,
)
from services.negotiation.domain.batching import BatchItem, batch_refusals
from services.negotiation.domain.benchmarks import (
    BenchmarkRow,
    OfferSuggestion,
    best_match,
    parse_benchmarks,
    suggest_offer,
)
from services.negotiation.domain.case_acts import acts_of
from services.negotiation.domain.compliance import ComplianceReport, compliance_report
from services.negotiation.domain.cooling_off import CoolingOffPeriod, service_family
from services.negotiation.domain.dispute_lines import line_items, lines_by_negotiation
from services.negotiation.domain.rule_sets import rule_set_on
from services.negotiation.domain.vocabulary import OFFER_ROLES, Party
from services.negotiation.published import LANGUAGE
from services.negotiation.snapshots import register_snapshot_values

SAMPLE_BENCHMARKS = Path(__file__).parent / "data" / "idr_benchmarks_sample.csv"
TYPICAL_IDRE_FEE_CENTS = 50_000  # mid-range single-dispute IDRE fee (DOMAIN.md §1.8)

ASSIGN_ROLES = (auth.SUPERVISOR, auth.MANAGER, auth.ADMIN)
EXTENSION_ROLES = (auth.NEGOTIATOR, auth.SUPERVISOR, auth.ADMIN)
POLICY_ROLES = (auth.ADMIN, auth.MANAGER)
ESCALATION_ROLES = (auth.ADMIN, auth.MANAGER, auth.SUPERVISOR, auth.SYSTEM)


def parse_id(value: str, field: str = "negotiation_id") -> UUID:
    try:
        return UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise InvalidArgument("must be a UUID", field=field) from None


def replayed(events: Sequence[Any]) -> Any:
    """The aggregate its events (in order) make; None for none."""
    return reduce(lambda aggregate, event: event.mutate(aggregate), events, None)


def negotiation_id_for(tenant_id: str, claim_id: str) -> UUID:
    """One negotiation per claim: the command and the claims-event reaction converge on it."""
    return deterministic_id(tenant_id, "negotiation", claim_id)


@dataclass(frozen=True)
class Case:
    """A negotiation and, once initiated, its federal IDR dispute (what a reader is shown)."""

    negotiation: Negotiation
    dispute: FederalIdrDispute | None = None
    batch: tuple[Case, ...] = field(default=())

    @property
    def status(self) -> str:
        return self.negotiation.case_status(self.dispute)


class NegotiationApplication(ServiceApplication):
    published_language = LANGUAGE  # its integration events leave as contracts (published.py)
    snapshotting_intervals = {Negotiation: 50}

    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        super().__init__(settings, env)
        exclude_eo = settings.extra.get("NEGOTIATION_EXCLUDE_EO_CLOSURES", "0") in ("1", "true")
        self.engine = DeadlineEngine(federal_calendar(exclude_eo_closures=exclude_eo))
        # The other reading of executive-order closures, shown beside each due date it moves.
        self.alternate_engine = DeadlineEngine(federal_calendar(exclude_eo_closures=not exclude_eo))
        table = settings.extra.get("NEGOTIATION_BENCHMARKS_CSV") or str(SAMPLE_BENCHMARKS)
        self.benchmarks: list[BenchmarkRow] = parse_benchmarks(Path(table).read_text())

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_snapshot_values(transcoder)

    # -- loading --------------------------------------------------------------------------

    def negotiation(self, ctx: CommandContext, negotiation_id: str) -> Negotiation:
        return self.load(parse_id(negotiation_id), ctx.tenant_id, Negotiation)

    def dispute_of(self, ctx: CommandContext, negotiation: Negotiation) -> FederalIdrDispute | None:
        dispute_id = dispute_id_for(ctx.tenant_id, str(negotiation.id))
        return self.find(dispute_id, ctx.tenant_id, FederalIdrDispute)

    def case(self, ctx: CommandContext, negotiation_id: str) -> Case:
        negotiation = self.negotiation(ctx, negotiation_id)
        return Case(negotiation, self.dispute_of(ctx, negotiation))

    def _change(
        self,
        ctx: CommandContext,
        negotiation_id: str,
        change: Callable[[Negotiation, FederalIdrDispute | None], None],
    ) -> Case:
        case = self.case(ctx, negotiation_id)
        change(case.negotiation, case.dispute)
        if case.dispute is not None:
            for event in case.negotiation.pending_events:
                if isinstance(event, Negotiation.SettlementAgreed) and event.during_idr:
                    case.dispute.record_settlement(ctx, claim_id=event.claim_id,
                                                   settled_on=event.agreed_on)
        self.save_all(case.negotiation, case.dispute)
        return case

    def _dispute_change(
        self,
        ctx: CommandContext,
        negotiation_id: str,
        change: Callable[[FederalIdrDispute, Negotiation], None],
    ) -> Case:
        case = self.case(ctx, negotiation_id)
        if case.dispute is None:
            raise FailedPrecondition("no federal IDR dispute is in progress on this negotiation")
        change(case.dispute, case.negotiation)
        self.save_all(case.dispute)
        return case

    def policy(self, ctx: CommandContext) -> ClientPolicy | None:
        return self.find(policy_id(ctx.tenant_id), ctx.tenant_id, ClientPolicy)

    # -- open negotiation -----------------------------------------------------------------

    def open_negotiation(self, ctx: CommandContext, facts: OpeningFacts) -> Case:
        require_role(ctx, OFFER_ROLES, "opening a negotiation")
        claim_id = facts.claim_id.strip()
        if not claim_id:
            raise InvalidArgument("is required", field="claim_id")
        negotiation_id = negotiation_id_for(ctx.tenant_id, claim_id)
        existing = self.find(negotiation_id, ctx.tenant_id, Negotiation)
        if existing is not None:
            if existing.has_handled(ctx):
                return Case(existing)  # a retry of the same request
            raise AlreadyExists(f"claim {claim_id} already has negotiation {negotiation_id}")
        negotiation = Negotiation.open(ctx, negotiation_id=negotiation_id, facts=facts)
        self.save_all(negotiation)
        return Case(negotiation)

    def send_notice(self, ctx: CommandContext, cmd: SendNotice) -> Case:
        require_role(ctx, OFFER_ROLES, "sending the open-negotiation notice")
        return self._change(
            ctx,
            cmd.negotiation_id,
            lambda n, d: n.send_open_negotiation_notice(
                ctx,
                sent_on=cmd.sent_on,
                channel=cmd.channel,
                portal_reference=cmd.portal_reference,
                dispute=d,
            ),
        )

    def record_payer_response(self, ctx: CommandContext, cmd: RecordPayerResponse) -> Case:
        require_role(ctx, OFFER_ROLES, "recording the payer's response")
        return self._change(
            ctx,
            cmd.negotiation_id,
            lambda n, d: n.record_payer_response(
                ctx,
                received_on=cmd.received_on,
                channel=cmd.channel,
                summary=cmd.summary,
                dispute=d,
            ),
        )

    def make_offer(self, ctx: CommandContext, cmd: MakeOffer) -> Case:
        # Roles: the domain's rule (an approver's counter comes only from a decision).
        return self._change(
            ctx, cmd.negotiation_id, lambda n, d: n.make_offer(ctx, cmd.offer, dispute=d)
        )

    def propose_decision(self, ctx: CommandContext, cmd: ProposeDecision) -> Case:
        policy = self.policy(ctx)
        rules = policy.rules if policy else []
        return self._change(
            ctx,
            cmd.negotiation_id,
            lambda n, d: n.propose_decision(
                ctx,
                decision_id=cmd.decision_id,
                action=cmd.action,
                offer_id=cmd.offer_id,
                counter_amount_cents=cmd.counter_amount_cents,
                rationale=cmd.rationale,
                engine=self.engine,
                auto_rules=rules,
                decided_on=cmd.decided_on,
                dispute=d,
            ),
        )

    def approve_decision(self, ctx: CommandContext, cmd: ApproveDecision) -> Case:
        return self._change(
            ctx,
            cmd.negotiation_id,
            lambda n, d: n.approve_decision(
                ctx,
                decision_id=cmd.decision_id,
                engine=self.engine,
                decided_on=cmd.decided_on,
                dispute=d,
            ),
        )

    def reject_decision(self, ctx: CommandContext, cmd: RejectDecision) -> Case:
        return self._change(
            ctx,
            cmd.negotiation_id,
            lambda n, d: n.reject_decision(
                ctx, decision_id=cmd.decision_id, reason=cmd.reason, dispute=d
            ),
        )

    def assign(self, ctx: CommandContext, cmd: AssignNegotiation) -> Case:
        # A negotiator may take a case (assign it to themself, the console's "Take");
        # giving it to anyone else is a supervisor's, manager's or admin's call.
        if not (ctx.has_role(auth.NEGOTIATOR) and cmd.assignee == ctx.actor):
            require_role(ctx, ASSIGN_ROLES, "reassigning a case")
        return self._change(
            ctx, cmd.negotiation_id, lambda n, _d: n.assign(ctx, assignee=cmd.assignee)
        )

    def extend_deadline(self, ctx: CommandContext, cmd: ExtendDeadline) -> Case:
        require_role(ctx, EXTENSION_ROLES, "recording an extension")
        return self._change(
            ctx,
            cmd.negotiation_id,
            lambda n, d: n.extend_deadline(
                ctx,
                deadline_code=cmd.deadline_code,
                new_due_on=cmd.new_due_on,
                reason=cmd.reason,
                reference=cmd.reference,
                engine=self.engine,
                dispute=d,
            ),
        )

    # -- federal IDR ----------------------------------------------------------------------

    def _cooling_off_periods(
        self, ctx: CommandContext, negotiation: Negotiation, initiating_party: str
    ) -> list[CoolingOffPeriod]:
        mine, theirs = negotiation.party_keys(initiating_party)
        family = service_family(negotiation.service_code)
        register = self.find(
            register_id(ctx.tenant_id, mine, theirs, family), ctx.tenant_id, CoolingOffRegister
        )
        return register.as_periods() if register else []

    def initiate_idr(self, ctx: CommandContext, cmd: InitiateIdr) -> Case:
        """Initiate one dispute; batched items join it in the same transaction (or none do).

        Each negotiation of a batch gets its own `FederalIdrDispute` (one per item or service),
        all saved together; the lead item carries the per-dispute fees.
        """
        require_role(ctx, OFFER_ROLES, "initiating federal IDR")
        lead = self.case(ctx, cmd.negotiation_id)
        members = [self.case(ctx, other) for other in cmd.batch_negotiation_ids]
        cases = [lead, *members]
        if lead.dispute is not None and lead.dispute.has_handled(ctx):
            return Case(lead.negotiation, lead.dispute, tuple(members))  # a retry
        all_ids = [str(c.negotiation.id) for c in cases]
        lines = lines_by_negotiation(all_ids, cmd.lines, self._claim_lines(ctx, cases))
        items = sum(line_items(lines[i]) for i in all_ids)
        if members:
            on = cmd.initiated_on or ctx.eastern_today
            self._refuse_batch(cases, on, items)
        disputes = []
        for index, case in enumerate(cases):
            negotiation = case.negotiation
            periods = self._cooling_off_periods(ctx, negotiation, cmd.initiating_party)
            disputes.append(
                FederalIdrDispute.initiate(
                    ctx,
                    negotiation_id=str(negotiation.id),
                    claim=negotiation.disputed_claim,
                    dispute_number=cmd.dispute_number,
                    initiated_on=cmd.initiated_on,
                    initiating_party=cmd.initiating_party,
                    refusal=partial(self._refusal, negotiation, case.dispute, periods),
                    batch_negotiation_ids=all_ids if members else (),
                    bundled=cmd.bundled,
                    fee_bearing=index == 0,
                    lines=lines[str(negotiation.id)],
                    line_items=items,
                )
            )
        self.save_all(*disputes)
        started = [Case(c.negotiation, d) for c, d in zip(cases, disputes, strict=True)]
        return Case(started[0].negotiation, started[0].dispute, tuple(started[1:]))

    def _claim_lines(self, ctx: CommandContext, cases: Sequence[Case]) -> dict[str, int]:
        """How many service lines each case's claim has, as the claims service's ClaimRegistered
        told us (our ClaimFacts); a case whose claim we never heard of is not in it (unknown)."""
        counts = {}
        for case in cases:
            claim_id = case.negotiation.claim_id
            facts = self.find(facts_id(ctx.tenant_id, claim_id), ctx.tenant_id, ClaimFacts)
            if facts is not None and facts.line_count:
                counts[str(case.negotiation.id)] = facts.line_count
        return counts

    def _refusal(
        self,
        negotiation: Negotiation,
        dispute: FederalIdrDispute | None,
        cooling_off: Sequence[CoolingOffPeriod],
        initiated_on: date,
        initiating_party: str,
    ) -> str | None:
        return negotiation.initiation_refusal(
            initiated_on=initiated_on,
            initiating_party=initiating_party,
            engine=self.engine,
            cooling_off=cooling_off,
            dispute=dispute,
        )

    def _refuse_batch(self, cases: Sequence[Case], on: date, line_items: int) -> None:
        items = [BatchItem(str(n.id), n.provider_npi, n.provider_tin, n.plan_id, n.service_code,
                           n.service_date) for n in (c.negotiation for c in cases)]
        refusals = batch_refusals(items, rule_set_on(on), self.engine.calendar, line_items)
        if refusals:
            reasons = "; ".join(
                f"{r.rule}{' (' + r.negotiation_id + ')' if r.negotiation_id else ''}: {r.detail}"
                for r in refusals
            )
            raise FailedPrecondition(f"batch refused (DOMAIN §1.6): {reasons}")

    def select_idre(self, ctx: CommandContext, cmd: SelectIdre) -> Case:
        require_role(ctx, OFFER_ROLES, "recording the IDR entity")
        return self._dispute_change(
            ctx,
            cmd.negotiation_id,
            lambda d, n: d.select_idre(
                ctx,
                claim=n.disputed_claim,
                idre_id=cmd.idre_id,
                method=cmd.method,
                selected_on=cmd.selected_on,
                idre_fee_cents=cmd.idre_fee_cents,
                deadlines=n.deadlines(self.engine, d),
            ),
        )

    def record_eligibility(self, ctx: CommandContext, cmd: RecordEligibility) -> Case:
        require_role(ctx, OFFER_ROLES, "recording the IDRE's eligibility outcome")
        return self._dispute_change(ctx, cmd.negotiation_id, lambda d, n: d.record_eligibility(
            ctx, claim=n.disputed_claim, eligible=cmd.eligible, decided_on=cmd.decided_on,
            reason=cmd.reason))

    def submit_idr_offer(self, ctx: CommandContext, cmd: SubmitIdrOffer) -> Case:
        require_role(ctx, OFFER_ROLES, "submitting an IDR offer")
        return self._dispute_change(
            ctx,
            cmd.negotiation_id,
            lambda d, n: d.submit_offer(
                ctx,
                claim=n.disputed_claim,
                party=cmd.party,
                amount_cents=cmd.amount_cents,
                submitted_on=cmd.submitted_on,
                line_offers=cmd.line_offers,
            ),
        )

    def record_idr_fee(self, ctx: CommandContext, cmd: RecordIdrFee) -> Case:
        require_role(ctx, OFFER_ROLES, "recording an IDR fee payment, refund or forfeiture")
        return self._dispute_change(
            ctx,
            cmd.negotiation_id,
            lambda d, n: d.record_fee(
                ctx,
                claim=n.disputed_claim,
                party=cmd.party,
                fee_kind=cmd.fee_kind,
                movement=cmd.movement,
                amount_cents=cmd.amount_cents,
                occurred_on=cmd.occurred_on,
                source=cmd.source,
                source_reference=cmd.source_reference,
            ),
        )

    def record_determination(self, ctx: CommandContext, cmd: RecordDetermination) -> Case:
        """The determination and the cooling-off it starts commit together."""
        require_role(ctx, OFFER_ROLES, "recording the IDR determination")
        case = self.case(ctx, cmd.negotiation_id)
        dispute = case.dispute
        if dispute is None:
            raise FailedPrecondition(
                "cannot record a determination: no federal IDR dispute is in progress"
            )
        dispute.record_determination(
            ctx,
            claim=case.negotiation.disputed_claim,
            prevailing_party=cmd.prevailing_party,
            determined_on=cmd.determined_on,
            engine=self.engine,
            line_parties=dict(cmd.line_parties),
        )
        started = [
            e for e in dispute.pending_events if isinstance(e, FederalIdrDispute.CoolingOffStarted)
        ]
        register = None
        for event in started:
            key = (event.initiating_party_key, event.other_party_key, event.service_family)
            register = self.find(
                register_id(ctx.tenant_id, *key), ctx.tenant_id, CoolingOffRegister
            )
            if register is None:
                register = CoolingOffRegister.open(ctx, *key)
            register.record(
                ctx,
                dispute_number=event.dispute_number,
                starts_on=event.starts_on,
                ends_on=event.ends_on,
                negotiation_id=str(case.negotiation.id),
            )
        self.save_all(dispute, register)
        return case

    def close_without_offers(self, ctx: CommandContext, cmd: CloseWithoutOffers) -> Case:
        require_role(ctx, OFFER_ROLES, "closing an IDR dispute")
        return self._dispute_change(
            ctx,
            cmd.negotiation_id,
            lambda d, n: d.close_without_offers(
                ctx, claim=n.disputed_claim, closed_on=cmd.closed_on
            ),
        )

    # -- compliance (read-only) -----------------------------------------------------------

    def compliance(
        self, ctx: CommandContext, negotiation_id: str, as_of: date,
        until: datetime | None = None,
    ) -> ComplianceReport:
        """The compliance report of a case (domain/compliance.py) from its aggregates and the
        events they recorded; another tenant's case is not found. `until`: the case as it
        stood then, replayed from its events recorded up to that instant."""
        case = self.case(ctx, negotiation_id)
        n, dispute = case.negotiation, case.dispute
        events: list[Any] = list(self.events.get(n.id))
        dispute_events: list[Any] = list(self.events.get(dispute.id)) if dispute else []
        if until is not None:
            events, dispute_events = ([e for e in es if e.timestamp <= until]
                                      for es in (events, dispute_events))
            n, dispute = replayed(events), replayed(dispute_events)
        acts = acts_of(n, dispute, events, dispute_events)
        others = [
            self.negotiation(ctx, other).service_date
            for other in acts.batch_negotiation_ids
            if other != str(n.id)
        ]
        party = acts.initiating_party or Party.PROVIDER.value
        return compliance_report(
            negotiation_id=str(n.id),
            claim_id=n.claim_id,
            status=n.case_status(dispute),
            acts=acts,
            engine=self.engine,
            alternate_engine=self.alternate_engine,
            as_of=as_of,
            batch_service_dates=others,
            cooling_off=self._cooling_off_periods(ctx, n, party),
        )

    # -- client policy, escalation, suggestions -------------------------------------------

    def set_policy(self, ctx: CommandContext, cmd: SetClientPolicy) -> ClientPolicy:
        require_role(ctx, POLICY_ROLES, "changing the client policy")
        policy = self.policy(ctx) or ClientPolicy.start(ctx)
        policy.set_policy(ctx, cmd.rules, cmd.chain)
        self.save_all(policy)
        return policy

    def escalation_horizon(self, ctx: CommandContext, as_of: date) -> date:
        """The last due date the client's chain can escalate on as of `as_of`: a deadline
        later than this has more business days left than the widest level allows. A sweep
        starts here, so this is where its role is checked."""
        require_role(ctx, ESCALATION_ROLES, "an escalation sweep")
        chain = (self.policy(ctx) or ClientPolicy.start(ctx)).chain
        widest = max((days for _role, days in chain), default=0)
        return self.engine.calendar.after(as_of, widest + 1) - timedelta(days=1)

    def escalate(self, ctx: CommandContext, negotiation_ids: Sequence[str], as_of: date) -> int:
        """Raise due escalations on the given cases (found by the work-queue read model)."""
        require_role(ctx, ESCALATION_ROLES, "an escalation sweep")
        policy = self.policy(ctx) or ClientPolicy.start(ctx)
        chain = policy.chain
        raised = 0
        for negotiation_id in negotiation_ids:
            case = self.case(ctx, negotiation_id)
            case_ctx = ctx.with_request(f"{ctx.request_id}:{negotiation_id}")
            if case.negotiation.escalate_if_due(
                case_ctx, as_of=as_of, chain=chain, engine=self.engine, dispute=case.dispute
            ):
                self.save_all(case.negotiation)
                raised += 1
        return raised

    def suggest(
        self, ctx: CommandContext, negotiation_id: str, query: SuggestionQuery
    ) -> OfferSuggestion:
        code, qpa, plan_type = query.service_code, query.qpa_cents, query.plan_type
        if negotiation_id:
            negotiation = self.negotiation(ctx, negotiation_id)
            code = code or negotiation.service_code
            qpa = qpa or negotiation.qpa_cents
            plan_type = plan_type or negotiation.plan_funding
        v = Violations()
        v.check(bool(code), "service_code", "is required without a negotiation")
        v.check(qpa > 0, "qpa_cents", "must be positive")
        v.raise_if_any()
        row = best_match(self.benchmarks, code, query.region, plan_type)
        if row is None:
            raise NotFound(f"no benchmark row for {code}")
        fee = rule_set_on(ctx.eastern_today).administrative_fee_cents
        return suggest_offer(row, qpa, fee, TYPICAL_IDRE_FEE_CENTS)
