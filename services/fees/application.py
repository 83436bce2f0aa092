"""Use cases of the fees service on its event store (synchronous; called from worker threads)."""

from __future__ import annotations

import datetime as dt
from copy import deepcopy
from dataclasses import replace
from typing import Any

from services.common.context import CommandContext
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.common.eventstore import ServiceApplication
from services.fees.arithmetic import FeeComputation
from services.fees.assessment import AccountState, PaymentFact, assess_payment
from services.fees.client_billing import ClientBilling, Invoice, billing_id_for
from services.fees.fee_account import FeeAccount, account_id_for
from services.fees.fee_schedule import FeeSchedule, schedule_id_for
from services.fees.invoicing import validate_period
from services.fees.published import LANGUAGE
from services.fees.schedule import FeeTerms, ResolutionStage

BILLING_ROLES = ("finance", "admin")
PREVIEW_CLAIM = "preview"


class FeesApplication(ServiceApplication):
    published_language = LANGUAGE  # its integration events leave as contracts (published.py)

    # No snapshots: the aggregates' state holds dataclasses (AccountState, fee lines, issued
    # invoices) that the JSON transcoder cannot store, so a snapshot failed *after* its events
    # committed (a client's 10th invoice). Their streams stay short enough to replay: one
    # event per payment of a claim, one per invoice period of a client, one per schedule
    # version (services/fees/tests/test_snapshots.py).

    # -- schedules --------------------------------------------------------------------------
    def publish_schedule(self, ctx: CommandContext, client_id: str, effective_from: dt.date,
                         effective_until: dt.date | None,
                         terms: FeeTerms) -> tuple[FeeSchedule, int]:
        require_role(ctx, BILLING_ROLES)
        schedule = self.find(schedule_id_for(ctx.tenant_id, client_id), ctx.tenant_id,
                             FeeSchedule) or FeeSchedule.create(ctx, client_id)
        version = schedule.publish_version(ctx, effective_from, effective_until, terms)
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

    def save_accounts(self, *accounts: FeeAccount) -> None:
        """Save in one transaction, then cache the saved state (the library caches on save only
        when fast-forwarding is off)."""
        self.save_all(*accounts)
        cache = self.repository.cache
        if cache is not None:
            for account in accounts:
                cache.put(account.id, account)

    def preview(self, tenant_id: str, claim_id: str, client_id: str, fact: PaymentFact,
                stage: ResolutionStage,
                initial_payment_cents: int) -> tuple[FeeComputation, int, int]:
        """(fee computation, delta it would bill, schedule version) for a hypothetical fact."""
        if claim_id:
            state = self.account(tenant_id, claim_id).state
            if client_id and client_id != state.client_id:
                raise InvalidArgument("does not match the claim's client", field="client_id")
        elif client_id:
            state = AccountState(tenant_id, PREVIEW_CLAIM, client_id,
                                 initial_payment_cents=initial_payment_cents)
        else:
            raise InvalidArgument("a claim_id or a client_id is required", field="claim_id")
        if stage is not ResolutionStage.UNSPECIFIED:
            state = replace(state, stage=stage)
        version = self.schedule(tenant_id, state.client_id).in_force_on(fact.posting_date)
        if version is None:
            raise FailedPrecondition(
                f"no fee schedule version of client {state.client_id} is in force on "
                f"{fact.posting_date}")
        assessment = assess_payment(state, fact, version)
        computation = assessment.computation or FeeComputation(0, state.fee_billed_cents)
        delta = assessment.fee_after_cents - state.fee_billed_cents
        return computation, delta, version.version

    # -- invoices ---------------------------------------------------------------------------
    def close_period(self, ctx: CommandContext, client_id: str, start: dt.date, end: dt.date,
                     candidates: list[dict[str, Any]]) -> Invoice:
        require_role(ctx, BILLING_ROLES)
        violations = validate_period(start, end, ctx.now.date())
        if violations:
            raise InvalidArgument(violations)
        billing = self.find(billing_id_for(ctx.tenant_id, client_id), ctx.tenant_id,
                            ClientBilling) or ClientBilling.open(ctx, client_id)
        invoice_id = billing.close_period(ctx, start, end, candidates)
        self.save_all(billing)
        return billing.invoices[invoice_id]

    def invoices(self, tenant_id: str, client_id: str) -> list[Invoice]:
        billing = self.find(billing_id_for(tenant_id, client_id), tenant_id, ClientBilling)
        return list(billing.invoices.values()) if billing else []

    def invoice(self, tenant_id: str, client_id: str,
                invoice_id: str) -> Invoice:
        for issued in self.invoices(tenant_id, client_id):
            if issued.invoice_id == invoice_id:
                return issued
        raise NotFound(f"invoice {invoice_id} not found")


def require_role(ctx: CommandContext, roles: tuple[str, ...]) -> None:
    if not ctx.has_role(*roles):
        raise PermissionDenied(f"requires one of the roles: {', '.join(roles)}")
