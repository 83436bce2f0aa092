"""Post one balanced 835 transaction onto the tenant's settlements, in memory (pure).

Order matters and is the file's: a reversal (CLP02=22) undoes the payment it names before the
corrected claim that follows it pays again. A matched CLP for a claim with no settlement whose
adjudication was never recorded is the claim's initial adjudication (initial_adjudication.py),
once per claim. Whatever else cannot land on a settlement becomes an exception (kept, never
dropped) and its money sits in unapplied accounts until resolved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import services.settlement.domain.code_lists as code_lists
from services.common.context import CommandContext
from services.settlement.domain.initial_adjudication import (
    RemittedAdjudication,
    may_be_initial_adjudication,
)
from services.settlement.domain.journal import Account, JournalTransaction, Posting, transfer
from services.settlement.domain.matching import (
    ClaimIndex,
    LineMatch,
    Match,
    NoMatch,
    match_claim,
    match_lines,
)
from services.settlement.domain.remittance import ClaimPayment, ProviderAdjustment, Remittance
from services.settlement.domain.settlement import Settlement

# The reason of a CLP that matched a claim whose settlement is not open yet: the one exception
# that waits only for the settlement, and posts itself when it opens (settlement_waitlist.py).
NO_SETTLEMENT = "no settlement is open for the matched claim"


@dataclass(frozen=True, slots=True)
class PaymentException:
    """A CLP that could not be posted, with the reason and what is needed to resolve it."""

    ordinal: int
    patient_control_number: str
    payer_claim_control_number: str
    status_code: str
    charge_cents: int
    paid_cents: int
    patient_responsibility_cents: int
    first_service_date: date | None
    reason: str
    candidate_claim_id: str = ""
    # The CLP itself when it waits only for its claim's settlement (reason NO_SETTLEMENT): its
    # SVCs are matched to the claim's 837 lines (rule 5) when it posts (settlement_waitlist.py).
    claim: ClaimPayment | None = None


@dataclass(frozen=True, slots=True)
class LineException:
    """An SVC of a posted CLP that names no single 837 line (rule 5): kept, never guessed."""

    claim_id: str
    payment_id: str
    ordinal: int  # the CLP's
    patient_control_number: str
    payer_claim_control_number: str
    status_code: str
    line: LineMatch


def payment_id_for(remittance_id: str, ordinal: int) -> str:
    """The id of the payment a CLP posts: its remittance and its place in the file, so that a
    CLP posted again (an import resumed, or a queued item posted when its settlement opens)
    is the same payment."""
    return f"{remittance_id}:clp{ordinal}"


def line_exceptions(
    claim: ClaimPayment, claim_id: str, payment_id: str, lines: Iterable[LineMatch]
) -> list[LineException]:
    """The SVCs of `claim`, posted as `payment_id` on `claim_id`, that name no single 837 line
    (rule 5), one exception each: the import's posting and the posting of a queued CLP when its
    settlement opens (settlement_waitlist.py) queue the same items."""
    return [
        LineException(
            claim_id=claim_id,
            payment_id=payment_id,
            ordinal=claim.ordinal,
            patient_control_number=claim.patient_control_number,
            payer_claim_control_number=claim.payer_claim_control_number,
            status_code=claim.status_code,
            line=line,
        )
        for line in lines
        if not line.matched
    ]


@dataclass
class PostingOutcome:
    matched: dict[int, Match] = field(default_factory=dict)  # by CLP ordinal
    exceptions: list[PaymentException] = field(default_factory=list)
    # Rule 5 per posted CLP ordinal, and the SVCs among them that matched no single line.
    line_matches: dict[int, tuple[LineMatch, ...]] = field(default_factory=dict)
    line_exceptions: list[LineException] = field(default_factory=list)
    remittance_journal: list[JournalTransaction] = field(default_factory=list)
    touched: dict[str, Settlement] = field(default_factory=dict)  # by claim id
    posted_cents: int = 0
    # Initial adjudications remitted by this posting (at most one per claim).
    initial_adjudications: list[RemittedAdjudication] = field(default_factory=list)


def match_remittance(remittance: Remittance, index: ClaimIndex) -> dict[int, Match | NoMatch]:
    return {
        claim.ordinal: match_claim(
            index, claim, payee_npi=remittance.payee_npi, payee_tin=remittance.payee_tin
        )
        for claim in remittance.claims
    }


def _exception(claim: ClaimPayment, reason: str, candidate: str = "") -> PaymentException:
    return PaymentException(
        ordinal=claim.ordinal,
        patient_control_number=claim.patient_control_number,
        payer_claim_control_number=claim.payer_claim_control_number,
        status_code=claim.status_code,
        charge_cents=claim.charge_cents,
        paid_cents=claim.paid_cents,
        patient_responsibility_cents=claim.patient_responsibility_cents,
        first_service_date=claim.first_service_date,
        reason=reason,
        candidate_claim_id=candidate,
        claim=claim if reason == NO_SETTLEMENT else None,
    )


class _Poster:
    def __init__(
        self,
        ctx: CommandContext,
        remittance: Remittance,
        remittance_id: str,
        index: ClaimIndex,
        settlements: Mapping[str, Settlement],
        remitted: Set[str] = frozenset(),
    ):
        self.ctx = ctx
        self.remittance = remittance
        self.remittance_id = remittance_id
        self.index = index
        self.settlements = settlements
        self.outcome = PostingOutcome()
        self.posted_on = remittance.payment_date or remittance.production_date or ctx.now.date()
        # Claims whose initial adjudication was remitted already (by an earlier 835 or CLP).
        self.remitted = set(remitted)

    def _item_ctx(self, item_id: str) -> CommandContext:
        # Each posted item gets its own request id: several items may touch one settlement,
        # and a retry of the whole import is absorbed earlier (same trace number and hash).
        return self.ctx.with_request(f"{self.ctx.request_id}|{item_id}")

    def _unapplied(self, claim: ClaimPayment, reason: str, candidate: str = "") -> None:
        self.outcome.exceptions.append(_exception(claim, reason, candidate))
        if claim.paid_cents:
            self.outcome.remittance_journal.append(
                transfer(
                    f"{self.remittance_id}/clp{claim.ordinal}/unapplied",
                    f"CLP {claim.ordinal}: {reason}",
                    Account.PROVIDER_CASH,
                    Account.UNAPPLIED_CASH,
                    claim.paid_cents,
                )
            )

    def _match_lines(
        self, claim: ClaimPayment, claim_id: str, payment_id: str
    ) -> list[dict[str, Any]]:
        """Rule 5 for a CLP whose money lands on `claim_id`; what does not match is queued.

        A claim whose 837 lines settlement does not know (registered before it kept them)
        records each SVC as unmatched on the payment, with the reason, but queues nothing:
        there is no line to name, and one exception per SVC of every such claim would bury
        the queue (the fix is re-projecting the claim facts, not resolving lines).
        """
        reference = self.index.by_claim_id.get(claim_id)
        known = reference.lines if reference else ()
        lines = match_lines(claim, known)
        self.outcome.line_matches[claim.ordinal] = lines
        if not known:
            return [line.to_dict() for line in lines]
        self.outcome.line_exceptions.extend(line_exceptions(claim, claim_id, payment_id, lines))
        return [line.to_dict() for line in lines]

    def post_claim(self, claim: ClaimPayment, found: Match | NoMatch) -> None:
        if isinstance(found, NoMatch):
            self._unapplied(claim, found.reason)
            return
        settlement = self.settlements.get(found.claim_id)
        if settlement is None:
            if not self._initial_adjudication(claim, found):
                self._unapplied(claim, NO_SETTLEMENT, found.claim_id)
            return
        self.outcome.matched[claim.ordinal] = found
        payment_id = payment_id_for(self.remittance_id, claim.ordinal)
        if claim.is_reversal:
            original = settlement.find_reversible_payment(
                claim.payer_claim_control_number,
                -claim.paid_cents,
                icn_key=self.index.icn_key(claim.payer_claim_control_number),
            )
            if original is None:
                self._unapplied(
                    claim, "reversal names no posted payment of that amount", found.claim_id
                )
                self.outcome.matched.pop(claim.ordinal)
                return
            settlement.reverse_payment(
                self._item_ctx(payment_id),
                payment_id=original.payment_id,
                reason=f"CLP02 22 in TRN {self.remittance.trace_number}",
                reversed_on=self.posted_on,
                remittance_id=self.remittance_id,
                reference=self.remittance.trace_number,
                line_matches=self._match_lines(claim, found.claim_id, original.payment_id),
                payer_claim_control_number=claim.payer_claim_control_number,
                cash_from=Account.PROVIDER_CASH,  # the payer takes it back out of this deposit
            )
        elif claim.paid_cents < 0:
            self._unapplied(claim, "negative payment outside a reversal", found.claim_id)
            self.outcome.matched.pop(claim.ordinal)
            return
        else:
            settlement.flag_balance_billing_risk(
                self._item_ctx(f"{payment_id}:patient"),
                reported_cents=claim.patient_responsibility_cents,
                remittance_id=self.remittance_id,
            )
            if claim.paid_cents > 0:
                settlement.post_payment(
                    self._item_ctx(payment_id),
                    payment_id=payment_id,
                    amount_cents=claim.paid_cents,
                    method=self.remittance.payment_method.lower(),
                    reference=self.remittance.trace_number,
                    paid_on=self.posted_on,
                    payer_claim_control_number=claim.payer_claim_control_number,
                    remittance_id=self.remittance_id,
                    line_matches=self._match_lines(claim, found.claim_id, payment_id),
                )
        self.index.link_icn(found.claim_id, claim.payer_claim_control_number)
        self.outcome.touched[found.claim_id] = settlement
        self.outcome.posted_cents += claim.paid_cents

    def _initial_adjudication(self, claim: ClaimPayment, found: Match) -> bool:
        """Record the CLP as the claim's initial adjudication when it is one (see the module)."""
        reference = self.index.by_claim_id.get(found.claim_id)
        if (
            reference is None
            or reference.adjudicated
            or found.claim_id in self.remitted
            or not may_be_initial_adjudication(claim)
        ):
            return False
        # Received: the check/EFT effective date (BPR16), else the production date (DTM*405).
        self.outcome.initial_adjudications.append(
            RemittedAdjudication.from_claim_payment(claim, found.claim_id, self.posted_on)
        )
        self.remitted.add(found.claim_id)
        self.outcome.matched[claim.ordinal] = found
        self.index.link_icn(found.claim_id, claim.payer_claim_control_number)
        return True

    def _attributed_settlement(self, adjustment: ProviderAdjustment) -> Settlement | None:
        """PLB03-2 must name a linked ICN or a patient control number (DOMAIN.md §2.4 rule 6)."""
        if not adjustment.reference:
            return None
        claims = self.index.with_icn(adjustment.reference) or self.index.with_pcn(
            adjustment.reference
        )
        if len({c.claim_id for c in claims}) != 1:
            return None
        return self.settlements.get(claims[0].claim_id)

    def post_provider_adjustment(self, number: int, adjustment: ProviderAdjustment) -> None:
        item_id = f"{self.remittance_id}:plb{number}"
        settlement = None
        if adjustment.reason in code_lists.RECOUPMENT_REASONS | {code_lists.INTEREST_REASON}:
            settlement = self._attributed_settlement(adjustment)
        if settlement is not None and adjustment.reason in code_lists.RECOUPMENT_REASONS:
            settlement.post_recoupment(
                self._item_ctx(item_id),
                recoupment_id=item_id,
                amount_cents=adjustment.amount_cents,
                reference=self.remittance.trace_number,
                posted_on=self.posted_on,
                remittance_id=self.remittance_id,
                plb_reference=adjustment.reference,
            )
            self.outcome.touched[settlement.claim_id] = settlement
            return
        if settlement is not None:  # interest: a negative PLB amount is money paid to us
            settlement.post_interest(
                self._item_ctx(item_id),
                interest_id=item_id,
                amount_cents=-adjustment.amount_cents,
                reference=self.remittance.trace_number,
                posted_on=self.posted_on,
                remittance_id=self.remittance_id,
                plb_reference=adjustment.reference,
            )
            self.outcome.touched[settlement.claim_id] = settlement
            return
        counter_account = {
            code_lists.FORWARD_BALANCE_REASON: Account.PAYER_FORWARD_BALANCE,
            code_lists.INTEREST_REASON: Account.INTEREST_INCOME,
            "WO": Account.UNAPPLIED_RECOUPMENTS,
            "WU": Account.UNAPPLIED_RECOUPMENTS,
        }.get(adjustment.reason, Account.PROVIDER_ADJUSTMENTS)
        self.outcome.remittance_journal.append(
            JournalTransaction(
                f"{item_id}/provider-adjustment",
                f"PLB {adjustment.reason} #{number}",
                (
                    Posting(Account.PROVIDER_CASH, -adjustment.amount_cents),
                    Posting(counter_account, adjustment.amount_cents),
                ),
            )
        )


def post_remittance(
    ctx: CommandContext,
    remittance: Remittance,
    remittance_id: str,
    index: ClaimIndex,
    matches: Mapping[int, Match | NoMatch],
    settlements: Mapping[str, Settlement],
    remitted: Set[str] = frozenset(),
) -> PostingOutcome:
    """Apply a balanced remittance to in-memory settlements; nothing is saved here.

    `remitted`: the matched claims whose initial adjudication an earlier 835 already remitted."""
    poster = _Poster(ctx, remittance, remittance_id, index, settlements, remitted)
    for claim in remittance.claims:
        poster.post_claim(claim, matches[claim.ordinal])
    for number, adjustment in enumerate(remittance.provider_adjustments, start=1):
        poster.post_provider_adjustment(number, adjustment)
    for settlement in poster.outcome.touched.values():
        settlement.assess_variance(ctx)
    return poster.outcome
