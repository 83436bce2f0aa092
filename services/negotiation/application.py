"""Negotiation use cases on the event store: load, decide (pure domain), save atomically.

Synchronous (the eventsourcing library is); the gRPC layer runs these in the worker pool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

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
from services.negotiation.domain.batching import BatchItem, batch_refusals
from services.negotiation.domain.benchmarks import (
    BenchmarkRow,
    OfferSuggestion,
    best_match,
    parse_benchmarks,
    suggest_offer,
)
from services.negotiation.domain.client_policy import ClientPolicy, policy_id
from services.negotiation.domain.cooling_off import service_family
from services.negotiation.domain.cooling_off_register import CoolingOffRegister, register_id
from services.negotiation.domain.deadlines import DeadlineEngine
from services.negotiation.domain.negotiation import Negotiation
from services.negotiation.domain.rule_sets import rule_set_on
from services.negotiation.domain.validation import eastern_date, require_role
from services.negotiation.domain.vocabulary import Role
from services.negotiation.published import LANGUAGE

SAMPLE_BENCHMARKS = Path(__file__).parent / "data" / "idr_benchmarks_sample.csv"
TYPICAL_IDRE_FEE_CENTS = 50_000  # mid-range single-dispute IDRE fee (DOMAIN.md §1.8)


def parse_id(value: str, field: str = "negotiation_id") -> UUID:
    try:
        return UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise InvalidArgument("must be a UUID", field=field) from None


def negotiation_id_for(tenant_id: str, claim_id: str) -> UUID:
    """One negotiation per claim: the command and the claims-event reaction converge on it."""
    return deterministic_id(tenant_id, "negotiation", claim_id)


@dataclass(frozen=True)
class SuggestionQuery:
    service_code: str
    region: str
    plan_type: str
    qpa_cents: int


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

    # -- helpers --------------------------------------------------------------------------

    def negotiation(self, ctx: CommandContext, negotiation_id: str) -> Negotiation:
        return self.load(parse_id(negotiation_id), ctx.tenant_id, Negotiation)

    def _change(
        self, ctx: CommandContext, negotiation_id: str, change: Callable[[Negotiation], None]
    ) -> Negotiation:
        negotiation = self.negotiation(ctx, negotiation_id)
        change(negotiation)
        self.save_all(negotiation)
        return negotiation

    def policy(self, ctx: CommandContext) -> ClientPolicy | None:
        return self.find(policy_id(ctx.tenant_id), ctx.tenant_id, ClientPolicy)

    # -- open negotiation -----------------------------------------------------------------

    def open_negotiation(self, ctx: CommandContext, **fields: Any) -> Negotiation:
        claim_id = str(fields.get("claim_id") or "").strip()
        if not claim_id:
            raise InvalidArgument("is required", field="claim_id")
        negotiation_id = negotiation_id_for(ctx.tenant_id, claim_id)
        existing = self.find(negotiation_id, ctx.tenant_id, Negotiation)
        if existing is not None:
            if existing.has_handled(ctx):
                return existing  # a retry of the same request
            raise AlreadyExists(f"claim {claim_id} already has negotiation {negotiation_id}")
        negotiation = Negotiation.open(ctx, negotiation_id=negotiation_id, **fields)
        self.save_all(negotiation)
        return negotiation

    def send_notice(self, ctx: CommandContext, negotiation_id: str, **kw: Any) -> Negotiation:
        return self._change(
            ctx, negotiation_id, lambda n: n.send_open_negotiation_notice(ctx, **kw)
        )

    def record_payer_response(
        self, ctx: CommandContext, negotiation_id: str, **kw: Any
    ) -> Negotiation:
        return self._change(ctx, negotiation_id, lambda n: n.record_payer_response(ctx, **kw))

    def make_offer(self, ctx: CommandContext, negotiation_id: str, **kw: Any) -> Negotiation:
        return self._change(ctx, negotiation_id, lambda n: n.make_offer(ctx, **kw))

    def propose_decision(self, ctx: CommandContext, negotiation_id: str, **kw: Any) -> Negotiation:
        policy = self.policy(ctx)
        rules = policy.rules if policy else []
        return self._change(
            ctx,
            negotiation_id,
            lambda n: n.propose_decision(ctx, engine=self.engine, auto_rules=rules, **kw),
        )

    def approve_decision(self, ctx: CommandContext, negotiation_id: str, **kw: Any) -> Negotiation:
        return self._change(
            ctx, negotiation_id, lambda n: n.approve_decision(ctx, engine=self.engine, **kw)
        )

    def reject_decision(self, ctx: CommandContext, negotiation_id: str, **kw: Any) -> Negotiation:
        return self._change(ctx, negotiation_id, lambda n: n.reject_decision(ctx, **kw))

    def assign(self, ctx: CommandContext, negotiation_id: str, assignee: str) -> Negotiation:
        return self._change(ctx, negotiation_id, lambda n: n.assign(ctx, assignee=assignee))

    def extend_deadline(self, ctx: CommandContext, negotiation_id: str, **kw: Any) -> Negotiation:
        return self._change(
            ctx, negotiation_id, lambda n: n.extend_deadline(ctx, engine=self.engine, **kw)
        )

    # -- federal IDR ----------------------------------------------------------------------

    def _cooling_off_periods(
        self, ctx: CommandContext, negotiation: Negotiation, initiating_party: str
    ) -> list[Any]:
        mine, theirs = negotiation.party_keys(initiating_party)
        family = service_family(negotiation.service_code)
        register = self.find(
            register_id(ctx.tenant_id, mine, theirs, family), ctx.tenant_id, CoolingOffRegister
        )
        return register.as_periods() if register else []

    def initiate_idr(
        self,
        ctx: CommandContext,
        negotiation_id: str,
        *,
        dispute_number: str,
        initiated_on: date | None,
        initiating_party: str,
        batch_negotiation_ids: Sequence[str] = (),
        bundled: bool = False,
    ) -> list[Negotiation]:
        """Initiate one dispute; batched items join it in the same transaction (or none do)."""
        lead = self.negotiation(ctx, negotiation_id)
        members = [self.negotiation(ctx, other) for other in batch_negotiation_ids]
        if lead.has_handled(ctx):
            return [lead, *members]
        all_ids = [str(lead.id), *(str(m.id) for m in members)]
        if members:
            on = initiated_on or eastern_date(ctx)
            refusals = batch_refusals(
                [
                    BatchItem(
                        str(n.id),
                        n.provider_npi,
                        n.provider_tin,
                        n.plan_id,
                        n.service_code,
                        n.service_date,
                    )
                    for n in [lead, *members]
                ],
                rule_set_on(on),
                self.engine.calendar,
            )
            if refusals:
                reasons = "; ".join(
                    f"{r.rule}{' (' + r.negotiation_id + ')' if r.negotiation_id else ''}: "
                    f"{r.detail}"
                    for r in refusals
                )
                raise FailedPrecondition(f"batch refused: {reasons}")
        for index, negotiation in enumerate([lead, *members]):
            negotiation.initiate_idr(
                ctx,
                dispute_number=dispute_number,
                initiated_on=initiated_on,
                initiating_party=initiating_party,
                engine=self.engine,
                cooling_off=self._cooling_off_periods(ctx, negotiation, initiating_party),
                batch_negotiation_ids=all_ids if members else (),
                bundled=bundled,
                fee_bearing=index == 0,
            )
        self.save_all(lead, *members)
        return [lead, *members]

    def select_idre(self, ctx: CommandContext, negotiation_id: str, **kw: Any) -> Negotiation:
        return self._change(
            ctx, negotiation_id, lambda n: n.select_idre(ctx, engine=self.engine, **kw)
        )

    def record_eligibility(
        self, ctx: CommandContext, negotiation_id: str, **kw: Any
    ) -> Negotiation:
        return self._change(ctx, negotiation_id, lambda n: n.record_eligibility(ctx, **kw))

    def submit_idr_offer(self, ctx: CommandContext, negotiation_id: str, **kw: Any) -> Negotiation:
        return self._change(ctx, negotiation_id, lambda n: n.submit_idr_offer(ctx, **kw))

    def record_determination(
        self, ctx: CommandContext, negotiation_id: str, **kw: Any
    ) -> Negotiation:
        """The determination and the cooling-off it starts commit together."""
        negotiation = self.negotiation(ctx, negotiation_id)
        negotiation.record_determination(ctx, engine=self.engine, **kw)
        started = [
            e for e in negotiation.pending_events if isinstance(e, Negotiation.CoolingOffStarted)
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
                negotiation_id=str(negotiation.id),
            )
        self.save_all(negotiation, register)
        return negotiation

    def close_without_offers(
        self, ctx: CommandContext, negotiation_id: str, **kw: Any
    ) -> Negotiation:
        return self._change(ctx, negotiation_id, lambda n: n.close_without_offers(ctx, **kw))

    # -- client policy, escalation, suggestions -------------------------------------------

    def set_policy(
        self, ctx: CommandContext, rules: list[dict[str, Any]], chain: list[dict[str, Any]]
    ) -> ClientPolicy:
        require_role(ctx, (Role.ADMIN, Role.MANAGER), "changing the client policy")
        policy = self.policy(ctx) or ClientPolicy.start(ctx)
        policy.set_policy(ctx, rules, chain)
        self.save_all(policy)
        return policy

    def escalation_horizon(self, ctx: CommandContext, as_of: date) -> date:
        """The last due date the client's chain can escalate on as of `as_of`: a deadline
        later than this has more business days left than the widest level allows."""
        chain = (self.policy(ctx) or ClientPolicy.start(ctx)).chain
        widest = max((days for _role, days in chain), default=0)
        return self.engine.calendar.after(as_of, widest + 1) - timedelta(days=1)

    def escalate(self, ctx: CommandContext, negotiation_ids: Sequence[str], as_of: date) -> int:
        """Raise due escalations on the given cases (found by the work-queue read model)."""
        policy = self.policy(ctx) or ClientPolicy.start(ctx)
        chain = policy.chain
        raised = 0
        for negotiation_id in negotiation_ids:
            negotiation = self.negotiation(ctx, negotiation_id)
            case_ctx = ctx.with_request(f"{ctx.request_id}:{negotiation_id}")
            if negotiation.escalate_if_due(case_ctx, as_of=as_of, chain=chain, engine=self.engine):
                self.save_all(negotiation)
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
        fee = rule_set_on(eastern_date(ctx)).administrative_fee_cents
        return suggest_offer(row, qpa, fee, TYPICAL_IDRE_FEE_CENTS)
