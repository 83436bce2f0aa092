"""Use cases of the fees service on its event store (synchronous; called from worker threads).

Each use case takes a typed command; role checks are made here, through services/common/auth.py.
Upstream events reach the fee accounts through `adapters/subscriptions.py` and `adapters/intake.py`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from copy import deepcopy
from dataclasses import dataclass, replace
from uuid import UUID

from services.common.auth import ADMIN, FINANCE, require_role
from services.common.bulk_loading import load_many
from services.common.context import CommandContext
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.eventstore import ServiceApplication
from services.fees.domain import (
    AccountState,
    ClientBilling,
    FeeAccount,
    FeeComputation,
    FeeLine,
    FeeSchedule,
    FeeTerms,
    Invoice,
    PaymentFact,
    ResolutionStage,
    account_id_for,
    assess_payment,
    billing_id_for,
    schedule_id_for,
    validate_period,
)
from services.fees.domain.arithmetic import compute_fee
from services.fees.published import LANGUAGE

BILLING_ROLES = (FINANCE, ADMIN)
PREVIEW_CLAIM = "preview"


# -- commands ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishSchedule:
    """Add a version to a client's fee schedule (roles: finance, admin)."""

    client_id: str
    effective_from: dt.date
    effective_until: dt.date | None
    terms: FeeTerms


@dataclass(frozen=True)
class PreviewFee:
    """What `fact` would bill: on a claim's account, or on a new account of `client_id`."""

    fact: PaymentFact
    claim_id: str = ""
    client_id: str = ""
    stage: ResolutionStage = ResolutionStage.UNSPECIFIED
    initial_payment_cents: int = 0


@dataclass(frozen=True)
class FeeReadout:
    """A fee account with the fee rule worked under its latest line's schedule version: the
    fee before and after the minimum / cap (None and 0 before the account has a line)."""

    account: FeeAccount
    computation: FeeComputation | None
    schedule_version: int


@dataclass(frozen=True)
class FeePreview:
    computation: FeeComputation
    delta_cents: int
    schedule_version: int


@dataclass(frozen=True)
class CloseInvoicePeriod:
    """Issue a client's invoice for a period from the lines not yet invoiced (`candidates`,
    read from the read model); roles: finance, admin."""

    client_id: str
    period_start: dt.date
    period_end: dt.date
    candidates: tuple[FeeLine, ...]


class FeesApplication(ServiceApplication):
    published_language = LANGUAGE  # every event leaves as its contract (published.py)

    # No snapshots: the aggregates' state holds dataclasses (AccountState, fee lines, issued
    # invoices) that the JSON transcoder cannot store, so a snapshot failed *after* its events
    # committed (a client's 10th invoice). Their streams stay short enough to replay: one
    # event per payment of a claim, one per invoice period of a client, one per schedule
    # version (services/fees/tests/test_snapshots.py).

    # -- schedules --------------------------------------------------------------------------
    def publish_schedule(self, ctx: CommandContext,
                         command: PublishSchedule) -> tuple[FeeSchedule, int]:
        require_role(ctx, BILLING_ROLES, "publishing a fee schedule")
        schedule = self.find_schedule(ctx.tenant_id, command.client_id) or FeeSchedule.create(
            ctx, command.client_id)
        version = schedule.publish_version(ctx, command.effective_from, command.effective_until,
                                           command.terms)
        self.save_all(schedule)
        return schedule, version

    def schedule(self, tenant_id: str, client_id: str) -> FeeSchedule:
        try:
            return self.load(schedule_id_for(tenant_id, client_id), tenant_id, FeeSchedule)
        except NotFound:
            raise NotFound(f"no fee schedule for client {client_id}") from None

    def find_schedule(self, tenant_id: str, client_id: str) -> FeeSchedule | None:
        return self.find(schedule_id_for(tenant_id, client_id), tenant_id, FeeSchedule)

    # -- accounts ---------------------------------------------------------------------------
    def account(self, tenant_id: str, claim_id: str) -> FeeAccount:
        try:
            return self.load(account_id_for(tenant_id, claim_id), tenant_id, FeeAccount)
        except NotFound:
            raise NotFound(f"no fee account for claim {claim_id}") from None

    def account_readout(self, tenant_id: str, claim_id: str) -> FeeReadout:
        account = self.account(tenant_id, claim_id)
        if not account.lines:
            return FeeReadout(account, None, 0)
        number = account.lines[-1].schedule_version
        schedule = self.find_schedule(tenant_id, account.state.client_id)
        version = next((v for v in schedule.versions if v.version == number), None) if (
            schedule) else None
        if version is None:
            return FeeReadout(account, None, 0)
        state = account.state
        recovered = state.recovered_cents(version.terms)
        return FeeReadout(account, compute_fee(version.terms, state.stage, recovered), number)

    def find_account(self, tenant_id: str, claim_id: str) -> FeeAccount | None:
        return self.find(account_id_for(tenant_id, claim_id), tenant_id, FeeAccount)

    def cached_account(self, tenant_id: str, claim_id: str) -> FeeAccount | None:
        """A copy of the cached account without the fast-forward query, for batch intake.

        Safe because the batch is saved with `save_accounts`, which conflicts on a stale copy
        (another replica wrote) and the consumer then retries each event with fresh reads.
        """
        cache = self.repository.cache
        account_id = account_id_for(tenant_id, claim_id)
        try:
            cached = cache.get(account_id) if cache is not None else None
        except KeyError:
            cached = None
        if cached is None:
            return self.find_account(tenant_id, claim_id)
        if not isinstance(cached, FeeAccount) or cached.tenant_id != tenant_id:
            return None
        return deepcopy(cached)

    def cached_accounts(self, keys: Iterable[tuple[str, str]]
                        ) -> dict[tuple[str, str], FeeAccount | None]:
        """`cached_account` for a batch's (tenant, claim) pairs: the cached ones copied, all the
        others read with one query per tenant (services/common/bulk_loading.py) instead of one
        each; None where the claim has no account."""
        found: dict[tuple[str, str], FeeAccount | None] = {}
        missing: dict[str, dict[UUID, str]] = {}
        cache = self.repository.cache
        for tenant_id, claim_id in set(keys):
            account_id = account_id_for(tenant_id, claim_id)
            try:
                cached = cache.get(account_id) if cache is not None else None
            except KeyError:
                cached = None
            if cached is None:
                missing.setdefault(tenant_id, {})[account_id] = claim_id
            elif isinstance(cached, FeeAccount) and cached.tenant_id == tenant_id:
                found[(tenant_id, claim_id)] = deepcopy(cached)
            else:
                found[(tenant_id, claim_id)] = None
        for tenant_id, claims in missing.items():
            loaded = load_many(self, claims, tenant_id, FeeAccount)
            for account_id, claim_id in claims.items():
                found[(tenant_id, claim_id)] = loaded.get(account_id)
        return found

    def save_accounts(self, *accounts: FeeAccount) -> None:
        """Save in one transaction, then cache the saved state (the library caches on save only
        when fast-forwarding is off)."""
        self.save_all(*accounts)
        cache = self.repository.cache
        if cache is not None:
            for account in accounts:
                cache.put(account.id, account)

    def preview(self, tenant_id: str, command: PreviewFee) -> FeePreview:
        """The fee computation, the delta it would bill and the schedule version applied."""
        if command.claim_id:
            state = self.account(tenant_id, command.claim_id).state
            if command.client_id and command.client_id != state.client_id:
                raise InvalidArgument("does not match the claim's client", field="client_id")
        elif command.client_id:
            state = AccountState(tenant_id, PREVIEW_CLAIM, command.client_id,
                                 initial_payment_cents=command.initial_payment_cents)
        else:
            raise InvalidArgument("a claim_id or a client_id is required", field="claim_id")
        if command.stage is not ResolutionStage.UNSPECIFIED:
            state = replace(state, stage=command.stage)
        fact = command.fact
        version = self.schedule(tenant_id, state.client_id).in_force_on(fact.posting_date)
        if version is None:
            raise FailedPrecondition(
                f"no fee schedule version of client {state.client_id} is in force on "
                f"{fact.posting_date}")
        assessment = assess_payment(state, fact, version)
        computation = assessment.computation or FeeComputation(0, state.fee_billed_cents)
        return FeePreview(computation, assessment.fee_after_cents - state.fee_billed_cents,
                          version.version)

    # -- invoices ---------------------------------------------------------------------------
    def close_period(self, ctx: CommandContext, command: CloseInvoicePeriod) -> Invoice:
        require_role(ctx, BILLING_ROLES, "closing an invoice period")
        violations = validate_period(command.period_start, command.period_end, ctx.now.date())
        if violations:
            raise InvalidArgument(violations)
        billing = self.find(billing_id_for(ctx.tenant_id, command.client_id), ctx.tenant_id,
                            ClientBilling) or ClientBilling.open(ctx, command.client_id)
        invoice_id = billing.close_period(ctx, command.period_start, command.period_end,
                                          command.candidates)
        self.save_all(billing)
        return billing.invoices[invoice_id]

    def invoices(self, tenant_id: str, client_id: str) -> list[Invoice]:
        billing = self.find(billing_id_for(tenant_id, client_id), tenant_id, ClientBilling)
        return list(billing.invoices.values()) if billing else []

    def invoice(self, tenant_id: str, client_id: str, invoice_id: str) -> Invoice:
        for issued in self.invoices(tenant_id, client_id):
            if issued.invoice_id == invoice_id:
                return issued
        raise NotFound(f"invoice {invoice_id} not found")
