"""Reactions: negotiation's outcomes open settlements, fees' FeeAssessed posts fees, and a
settlement's opening (settlement's own events) posts the payments that waited for it.

The claims service's events feed the matching read model instead (see projections.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from opentelemetry import metrics
from psycopg import sql

from oonledger.fees.v1 import events_pb2 as fees_v1
from oonledger.negotiation.v1 import events_pb2 as negotiation_v1
from services.common.aggregate import TenantAggregate
from services.common.consumer import Delivery, PermanentFailure
from services.settlement.application import OpeningTerms, SettlementApplication
from services.settlement.domain import (
    ClaimLine,
    Settlement,
    SettlementSource,
    SettlementWaitlist,
    WaitingFeeLine,
    settlement_id_for,
    waitlist_id_for,
)

NEGOTIATION_EVENTS = ("SettlementAgreed", "IdrDetermined")
CLAIMS_EVENTS = ("ClaimRegistered", "AdjudicationRecorded", "ClaimTriaged")
FEES_EVENTS = ("FeeAssessed",)
# Settlement's own: a settlement opened, a queued payment listed as waiting for one.
WAITLIST_EVENTS = ("SettlementOpened", "ClaimPaymentWaitlisted", "FeeLineWaitlisted")
ACTOR = "system:settlement"

log = logging.getLogger(__name__)
_refused = metrics.get_meter("oonledger.settlement").create_counter(
    "oonledger.settlement.automatic_posting_refused",
    description="Queued payments whose automatic posting, when their claim's settlement "
    "opened, a business rule refused (recorded on the item: AutomaticPostingRefused)")
_fee_lines_waiting = metrics.get_meter("oonledger.settlement").create_counter(
    "oonledger.settlement.fee_lines_waitlisted",
    description="Fee lines fees assessed for a claim with no settlement yet (an IDR fee passed "
    "through): listed on the claim's waitlist, posted when its settlement opens")


@dataclass(frozen=True)
class ClaimFacts:
    payer_id: str
    icns: tuple[str, ...]  # the ICNs' keyed hashes (services/common/phi.py)
    nsa_protected: bool | None


ClaimFactsLookup = Callable[[str, str], ClaimFacts | None]


def claim_facts_lookup(app: SettlementApplication, schema: str) -> ClaimFactsLookup:
    """Read settlement's own claim read model (never the claims service's tables)."""
    query = sql.SQL(
        "SELECT payer_id, icn_indexes, nsa_protected FROM {}.claim_refs "
        "WHERE tenant_id = %s AND claim_id = %s"
    ).format(sql.Identifier(schema))

    def lookup(tenant_id: str, claim_id: str) -> ClaimFacts | None:
        row = app.fetch_one(query, (tenant_id, claim_id))
        if row is None:
            return None
        return ClaimFacts(row[0], tuple(row[1]), row[2])

    return lookup


ClaimLinesLookup = Callable[[str, str], tuple[ClaimLine, ...]]


def claim_lines_lookup(app: SettlementApplication, schema: str) -> ClaimLinesLookup:
    """A claim's 837 lines as settlement's claim read model keeps them (rule 5)."""
    query = sql.SQL(
        "SELECT lines FROM {}.claim_refs WHERE tenant_id = %s AND claim_id = %s"
    ).format(sql.Identifier(schema))

    def lookup(tenant_id: str, claim_id: str) -> tuple[ClaimLine, ...]:
        row = app.fetch_one(query, (tenant_id, claim_id))
        lines = row[0] if row else None
        if isinstance(lines, str):
            lines = json.loads(lines)
        return tuple(ClaimLine.from_dict(line) for line in lines or ())

    return lookup


Outcome = (negotiation_v1.SettlementAgreed, negotiation_v1.IdrDetermined)


def _terms(
    p: negotiation_v1.SettlementAgreed | negotiation_v1.IdrDetermined, facts: ClaimFacts | None
) -> OpeningTerms:
    """Negotiation's facts as it states them: settlement never recomputes the due date."""
    if isinstance(p, negotiation_v1.SettlementAgreed):
        source = SettlementSource.AGREEMENT
        source_ref = p.dispute_number or p.offer_id
        decided_on = date.fromisoformat(p.agreed_on)
        total = p.agreed_total_cents
    else:
        source = SettlementSource.IDR_DETERMINATION
        source_ref = p.dispute_number
        decided_on = date.fromisoformat(p.determined_on)
        total = p.award_total_cents
    return OpeningTerms(
        claim_id=p.claim_id,
        source=source,
        source_ref=source_ref,
        decided_on=decided_on,
        due_date=date.fromisoformat(p.payment_due_on),
        amount_owed_cents=p.amount_owed_cents,
        agreed_total_cents=total,
        patient_cost_sharing_cents=p.patient_cost_sharing_cents,
        already_paid_cents=p.already_paid_cents,
        payer_id=facts.payer_id if facts else "",
        # The initial adjudication's ICN lets a later CLP02=22 find the payment it reverses.
        initial_payment_icn=facts.icns[0] if facts and facts.icns else "",
        nsa_protected=facts.nsa_protected is not False if facts else True,
    )


def negotiation_reaction(
    app: SettlementApplication, lookup: ClaimFactsLookup
) -> Callable[[Delivery], Sequence[TenantAggregate | None]]:
    def react(delivery: Delivery) -> Sequence[TenantAggregate | None]:
        if delivery.event_type not in NEGOTIATION_EVENTS:
            return ()
        outcome = delivery.message
        if not isinstance(outcome, Outcome):
            raise PermanentFailure(f"{delivery.envelope.event_id}: not an agreement or award")
        facts = lookup(delivery.tenant_id, outcome.claim_id)
        try:
            terms = _terms(outcome, facts)
        except ValueError as exc:  # a date that is not ISO-8601
            raise PermanentFailure(f"malformed {delivery.event_type}: {exc}") from exc
        return [app.open_settlement(delivery.context(actor=ACTOR), terms)]

    return react


def _fee_claim_id(delivery: Delivery) -> str | None:
    """The claim a fee line names (None: no line, nothing to post)."""
    if delivery.event_type not in FEES_EVENTS:
        return None
    assessed = delivery.message_as(fees_v1.FeeAssessed)
    if not assessed.HasField("line"):
        return None
    return assessed.line.claim_id or delivery.envelope.claim_id


def fees_prefetch(
    deliveries: Sequence[Delivery],
) -> Iterable[tuple[str, type[TenantAggregate], UUID]]:
    """The settlements a batch of fee lines will post on (read at once: processors.py)."""
    for delivery in deliveries:
        try:
            claim_id = _fee_claim_id(delivery)
        except PermanentFailure:
            continue  # the reaction reports it
        if claim_id:
            yield delivery.tenant_id, Settlement, settlement_id_for(delivery.tenant_id, claim_id)


def fees_reaction(
    app: SettlementApplication,
) -> Callable[[Delivery], Sequence[TenantAggregate | None]]:
    """A fee line or credit memo the fees service assessed becomes a fee posting on the claim."""

    def react(delivery: Delivery) -> Sequence[TenantAggregate | None]:
        if delivery.event_type not in FEES_EVENTS:
            return ()
        assessed = delivery.message_as(fees_v1.FeeAssessed)
        if not assessed.HasField("line"):
            return ()
        line = assessed.line
        claim_id = line.claim_id or delivery.envelope.claim_id
        settlement = app.find(
            settlement_id_for(delivery.tenant_id, claim_id), delivery.tenant_id, Settlement
        )
        if settlement is None:
            # A money fact's settlement recorded the fact, so none means something is wrong; an
            # IDR fee passed through may be read before the outcome's settlement opens: it waits.
            if line.cause in MONEY_FACT_CAUSES:
                raise PermanentFailure(f"{delivery.envelope.event_id}: a {line.cause} line for "
                                       f"claim {claim_id}, which has no settlement")
            return app.list_fee_line_on_waitlist(
                delivery.context(actor=ACTOR), claim_id,
                WaitingFeeLine(line.line_id, line.kind, line.amount_cents, line.remittance_trn))
        settlement.post_fee(
            delivery.context(actor=ACTOR),
            fee_line_id=line.line_id,
            kind=line.kind,
            amount_cents=line.amount_cents,
            remittance_trn=line.remittance_trn,
        )
        return [settlement]

    return react


# Fee causes that are settlement's own money facts: their settlement recorded them, so it exists.
MONEY_FACT_CAUSES = frozenset({"PAYMENT", "REVERSAL", "RECOUPMENT", "INTEREST"})


def _waitlist_claim_id(delivery: Delivery) -> str:
    return str(delivery.payload.get("claim_id") or delivery.envelope.claim_id)


def waitlist_prefetch(
    deliveries: Sequence[Delivery],
) -> Iterable[tuple[str, type[TenantAggregate], UUID]]:
    """The waitlists a batch of openings and listings will look at (read at once:
    processors.py); most do not exist, and that is known for the batch without asking again."""
    for delivery in deliveries:
        claim_id = _waitlist_claim_id(delivery)
        if delivery.event_type in WAITLIST_EVENTS and claim_id:
            yield (delivery.tenant_id, SettlementWaitlist,
                   waitlist_id_for(delivery.tenant_id, claim_id))


def waitlist_reaction(
    app: SettlementApplication, lines: ClaimLinesLookup
) -> Callable[[Delivery], Sequence[TenantAggregate | None]]:
    """Settlement's own SettlementOpened, ClaimPaymentWaitlisted or FeeLineWaitlisted (each
    read after it was committed): post the claim's waiting payments and fee lines if its
    settlement is open now
    (`SettlementApplication.post_waiting_payments`). Whichever of the opening and a listing
    committed last finds the other, so neither order leaves an item queued."""

    def react(delivery: Delivery) -> Sequence[TenantAggregate | None]:
        if delivery.event_type not in WAITLIST_EVENTS:
            return ()
        claim_id = _waitlist_claim_id(delivery)
        if not claim_id:
            raise PermanentFailure(f"{delivery.envelope.event_id}: names no claim")
        # A refusal is recorded on the item (AutomaticPostingRefused), shown in ListExceptions,
        # and counted and logged once it committed (`event_committed`).
        return app.post_waiting_payments(
            delivery.context(actor=ACTOR), claim_id, lambda: lines(delivery.tenant_id, claim_id)
        )

    return react


def event_committed(delivery: Delivery) -> None:
    """Settlement's read models applied one of its events: what a reaction recorded is counted
    and logged here, exactly once (the reaction may run again when its batch is retried; the
    projection applies each event once). An AutomaticPostingRefused, and a FeeLineWaitlisted."""
    if delivery.event_type == "AutomaticPostingRefused":
        _refused.add(1)
        log.warning("awaiting-settlement: posting queued payment %s on claim %s was refused: "
                    "%s (left in the exceptions queue)", delivery.envelope.aggregate_id,
                    delivery.payload["claim_id"], delivery.payload["reason"])
    elif delivery.event_type == "FeeLineWaitlisted":
        _fee_lines_waiting.add(1)
        log.info("fee-postings: fee line %s for claim %s, which has no settlement yet: listed "
                 "on its waitlist, posted when it opens", delivery.payload["fee_line_id"],
                 delivery.payload["claim_id"])
