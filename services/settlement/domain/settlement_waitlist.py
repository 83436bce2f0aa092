"""Payments waiting for a claim's settlement to open, and their posting when it opens (pure).

An 835 CLP that matched a claim with no open settlement (and is not the claim's initial
adjudication) is queued (`UnmatchedClaimPayment`, reason `NO_SETTLEMENT`) with its money in
unapplied cash. The same import transaction lists the item on the claim's `SettlementWaitlist`
(one per tenant and claim, id derived from both), so the items waiting for a claim are found from
the event store by the claim alone, never from a read model that may lag.

When the settlement is open, `post_waiting` attaches each listed item that still waits for it
(`UnmatchedClaimPayment.resolve_on_opening`: recorded with cause "settlement_opened") and posts
its money as the import would have: a payment of its CLP04 with the import's payment id
(`<remittance>:clp<ordinal>`) and its SVCs matched to the claim's 837 lines (rule 5, from the
SVCs the item kept; an SVC that names no single line is queued as an `UnmatchedServiceLine`),
moved out of unapplied cash (Dr unapplied_cash, Cr payer_receivable, as a resolution by hand),
the balance-billing check on its CLP05 (after the payment, where the import checks first: the
event order on the settlement differs, not the facts), then the variance. The payment is posted
first: when a business rule refuses it (a DomainError from the settlement:
`Settlement.post_payment` checks before it records), nothing of the item reaches the settlement,
the item records why (`AutomaticPostingRefused`, once per claim and reason) and stays queued for
a person, and the other items still post. An item resolved meanwhile (by hand, or by an earlier
delivery) is skipped. A queued reversal (CLP02 22) reverses the payment it names, found as the
import finds it (same ICN and amount — the initial payment's ICN by its key — else the one
payment of that amount), with its money taken from the unapplied cash it was queued into; the
waitlist's order is the files', so a payment and its reversal that both waited post in turn.
A reversal that names no such payment, or a negative CLP that is not a reversal, is refused
(`AutomaticPostingRefused`) and stays for a person. Each item posts once: its own resolution
and the settlement's payment are saved together, and both aggregates are version-checked, so
a concurrent resolution by hand or a second delivery conflicts and, retried, finds the item
resolved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.errors import DomainError
from services.common.ids import deterministic_id
from services.settlement.domain.exceptions_queue import (
    UnmatchedClaimPayment,
    UnmatchedServiceLine,
)
from services.settlement.domain.matching import ClaimLine, match_lines
from services.settlement.domain.remittance_posting import line_exceptions, payment_id_for
from services.settlement.domain.settlement import Settlement


def waitlist_id_for(tenant_id: str, claim_id: str) -> UUID:
    return deterministic_id(tenant_id, "settlement-waitlist", claim_id)


class SettlementWaitlist(TenantAggregate):
    """The exceptions-queue items of one claim that wait only for its settlement to open."""

    class SettlementWaitlistStarted(TenantAggregate.Created):
        claim_id: str

    class ClaimPaymentWaitlisted(TenantAggregate.Event):
        claim_id: str
        exception_id: str
        remittance_id: str
        ordinal: int

        def apply(self, aggregate: SettlementWaitlist) -> None:
            aggregate.exception_ids.append(self.exception_id)

    class FeeLineWaitlisted(TenantAggregate.Event):
        claim_id: str
        fee_line_id: str
        kind: str
        amount_cents: int
        remittance_trn: str

        def apply(self, aggregate: SettlementWaitlist) -> None:
            aggregate.fee_lines.append(WaitingFeeLine(
                self.fee_line_id, self.kind, self.amount_cents, self.remittance_trn))

    def __init__(self, claim_id: str) -> None:
        self.claim_id = claim_id  # puts the list on the claim's audit chain
        self.exception_ids: list[str] = []
        self.fee_lines: list[WaitingFeeLine] = []

    @classmethod
    def start(cls, ctx: CommandContext, claim_id: str) -> SettlementWaitlist:
        return cls._start(
            cls.SettlementWaitlistStarted,
            ctx,
            id=waitlist_id_for(ctx.tenant_id, claim_id),
            claim_id=claim_id,
        )

    def add(self, ctx: CommandContext, item: UnmatchedClaimPayment) -> bool:
        """List a queued item (once); False when it is listed already."""
        exception_id = str(item.id)
        if exception_id in self.exception_ids:
            return False
        self._record(
            self.ClaimPaymentWaitlisted,
            ctx,
            claim_id=self.claim_id,
            exception_id=exception_id,
            remittance_id=item.remittance_id,
            ordinal=item.ordinal,
        )
        return True


    def add_fee_line(self, ctx: CommandContext, line: WaitingFeeLine) -> bool:
        """List a fee line (once); False when it is listed already."""
        if any(listed.line_id == line.line_id for listed in self.fee_lines):
            return False
        self._record(self.FeeLineWaitlisted, ctx, claim_id=self.claim_id,
                     fee_line_id=line.line_id, kind=line.kind, amount_cents=line.amount_cents,
                     remittance_trn=line.remittance_trn)  # fmt: skip
        return True


@dataclass(frozen=True)
class WaitingFeeLine:
    """A fee line fees assessed before its claim's settlement opened (FeeLineWaitlisted)."""

    line_id: str
    kind: str
    amount_cents: int
    remittance_trn: str


def post_waiting_fees(ctx: CommandContext, settlement: Settlement,
                      waitlist: SettlementWaitlist) -> bool:  # fmt: skip
    """Post on the open `settlement` the fee lines listed on its claim's waitlist that it does
    not have yet (`Settlement.post_fee` books each line once); True when one was posted."""
    posted_before = len(settlement.fee_line_ids)
    for line in waitlist.fee_lines:
        settlement.post_fee(ctx.with_request(f"{ctx.request_id}|fee:{line.line_id}"),
                            fee_line_id=line.line_id, kind=line.kind,
                            amount_cents=line.amount_cents, remittance_trn=line.remittance_trn)
    return len(settlement.fee_line_ids) > posted_before


@dataclass
class PostedWaiting:
    """What `post_waiting` changed besides the settlement: the items it attached and the
    service-line items its payments queued (rule 5)."""

    attached: list[UnmatchedClaimPayment] = field(default_factory=list)
    line_items: list[UnmatchedServiceLine] = field(default_factory=list)
    # Items whose posting a business rule refused, with a new AutomaticPostingRefused.
    refused: list[UnmatchedClaimPayment] = field(default_factory=list)


def post_waiting(
    ctx: CommandContext,
    settlement: Settlement,
    items: Iterable[UnmatchedClaimPayment],
    claim_lines: Sequence[ClaimLine] = (),
    icn_key: Callable[[str], str] = str,
) -> PostedWaiting:
    """Attach and post, on the open `settlement`, the items still waiting for it (in the order
    given: the waitlist's). `claim_lines`: the claim's 837 lines settlement knows, each SVC of a
    posted item is matched to (rule 5) as the import does. `icn_key`: an ICN's key as the
    settlement keeps the initial payment's (phi.py), so a reversal finds that payment too.
    Nothing is saved here."""
    claim_id = settlement.claim_id
    done = PostedWaiting()
    for item in items:
        # Never another tenant's item (ids are per tenant; checked all the same).
        if item.tenant_id != settlement.tenant_id or not item.awaits_settlement_of(claim_id):
            continue
        item_ctx = ctx.with_request(f"{ctx.request_id}|rematch:{item.id}")
        if item.paid_cents < 0:
            if _reverse(item_ctx, item, settlement, icn_key):
                item.resolve_on_opening(item_ctx, claim_id)
                done.attached.append(item)
            elif item.refuse_automatic_posting(item_ctx, claim_id, _unreversible(item)):
                done.refused.append(item)
            continue
        payment_id = payment_id_for(item.remittance_id, item.ordinal)
        line_items: list[UnmatchedServiceLine] = []
        if item.paid_cents > 0:
            line_matches = _match_lines(ctx, item, claim_id, payment_id, claim_lines, line_items)
            try:  # first: a refusal leaves nothing of this item on the settlement
                item.post_payment_on(
                    item_ctx, settlement, payment_id=payment_id, line_matches=line_matches
                )
            except DomainError as refusal:
                if item.refuse_automatic_posting(item_ctx, claim_id, str(refusal)):
                    done.refused.append(item)
                continue
        settlement.flag_balance_billing_risk(
            ctx.with_request(f"{ctx.request_id}|rematch:{item.id}:patient"),
            reported_cents=item.patient_responsibility_cents,
            remittance_id=item.remittance_id,
        )
        done.line_items.extend(line_items)
        item.resolve_on_opening(item_ctx, claim_id)  # after the posting: a refusal records none
        done.attached.append(item)
    if done.attached:
        settlement.assess_variance(ctx)
    return done


def _reverse(ctx: CommandContext, item: UnmatchedClaimPayment, settlement: Settlement,
             icn_key: Callable[[str], str]) -> bool:  # fmt: skip
    """Reverse the payment a queued CLP02 22 names, found as the import finds it (same ICN and
    amount, else the one payment of that amount); False when it is not a reversal or the
    settlement has no such payment (a person decides)."""
    if not item.claim_payment().is_reversal:
        return False
    icn = item.payer_claim_control_number
    payment = settlement.find_reversible_payment(icn, -item.paid_cents, icn_key=icn_key(icn))
    if payment is None:
        return False
    item.reverse_payment_on(ctx, settlement, payment)
    return True


def _unreversible(item: UnmatchedClaimPayment) -> str:
    if not item.claim_payment().is_reversal:
        return "a negative payment outside a reversal (CLP02 22) needs a person"
    return "the reversal names no unreversed payment of that amount on the settlement"


def _match_lines(
    ctx: CommandContext, item: UnmatchedClaimPayment, claim_id: str, payment_id: str,
    claim_lines: Sequence[ClaimLine], line_items: list[UnmatchedServiceLine],
) -> list[dict[str, Any]]:  # fmt: skip
    """Rule 5 for the item's SVCs, as the import's posting does (remittance_posting.py): each
    SVC's outcome rides on the payment; one that names no single line is queued, unless
    settlement knows no lines for the claim."""
    claim = item.claim_payment()
    lines = match_lines(claim, claim_lines)
    if claim_lines:
        line_items.extend(
            UnmatchedServiceLine.queue(
                ctx,
                remittance_id=UUID(item.remittance_id),
                trace_number=item.trace_number,
                item=exception,
            )
            for exception in line_exceptions(claim, claim_id, payment_id, lines)
        )
    return [line.to_dict() for line in lines]
