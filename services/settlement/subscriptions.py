"""Reactions to other services' events: negotiation's outcomes open settlements.

The claims service's events feed the matching read model instead (see projections.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg import sql

from services.common.aggregate import TenantAggregate
from services.common.consumer import Delivery, PermanentFailure
from services.settlement.application import OpeningTerms, SettlementApplication
from services.settlement.domain import Settlement, settlement_id_for
from services.settlement.terms import SettlementSource

NEGOTIATION_EVENTS = ("SettlementAgreed", "IdrDetermined")
CLAIMS_EVENTS = ("ClaimRegistered", "AdjudicationRecorded", "ClaimTriaged")
FEES_EVENTS = ("FeeAssessed",)
ACTOR = "system:settlement"


@dataclass(frozen=True)
class ClaimFacts:
    payer_id: str
    icns: tuple[str, ...]
    nsa_protected: bool | None


ClaimFactsLookup = Callable[[str, str], ClaimFacts | None]


def claim_facts_lookup(database_url: str, schema: str) -> ClaimFactsLookup:
    """Read settlement's own claim read model (never the claims service's tables)."""
    query = sql.SQL(
        "SELECT payer_id, icns, nsa_protected FROM {}.claim_refs "
        "WHERE tenant_id = %s AND claim_id = %s"
    ).format(sql.Identifier(schema))

    def lookup(tenant_id: str, claim_id: str) -> ClaimFacts | None:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(query, (tenant_id, claim_id)).fetchone()
        if row is None:
            return None
        return ClaimFacts(row[0], tuple(row[1]), row[2])

    return lookup


def _terms(event_type: str, p: dict[str, Any], facts: ClaimFacts | None) -> OpeningTerms:
    if event_type == "SettlementAgreed":
        source = SettlementSource.AGREEMENT
        source_ref = str(p.get("dispute_number") or p.get("offer_id") or "")
        decided_on = date.fromisoformat(p["agreed_on"])
        total = int(p["agreed_total_cents"])
    else:
        source = SettlementSource.IDR_DETERMINATION
        source_ref = str(p.get("dispute_number") or "")
        decided_on = date.fromisoformat(p["determined_on"])
        total = int(p["award_total_cents"])
    return OpeningTerms(
        claim_id=str(p["claim_id"]),
        source=source,
        source_ref=source_ref,
        decided_on=decided_on,
        agreed_total_cents=total,
        patient_cost_sharing_cents=int(p.get("patient_cost_sharing_cents") or 0),
        already_paid_cents=int(p.get("already_paid_cents") or 0),
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
        payload = delivery.payload
        try:
            claim_id = str(payload["claim_id"])
            facts = lookup(delivery.tenant_id, claim_id)
            terms = _terms(delivery.event_type, payload, facts)
        except (KeyError, ValueError, TypeError) as exc:
            raise PermanentFailure(f"malformed {delivery.event_type}: {exc}") from exc
        return [app.open_settlement(delivery.context(actor=ACTOR), terms)]

    return react


def fees_reaction(
    app: SettlementApplication,
) -> Callable[[Delivery], Sequence[TenantAggregate | None]]:
    """A fee line or credit memo the fees service assessed becomes a fee posting on the claim."""

    def react(delivery: Delivery) -> Sequence[TenantAggregate | None]:
        line = delivery.payload.get("line")
        if delivery.event_type not in FEES_EVENTS or not line:
            return ()
        try:
            claim_id = str(line.get("claim_id") or delivery.envelope.claim_id)
            fee_line_id = str(line["line_id"])
            amount = int(line["amount_cents"])
            kind = str(line.get("kind") or "")
            trn = str(line.get("remittance_trn") or "")
        except (KeyError, ValueError, TypeError) as exc:
            raise PermanentFailure(f"malformed FeeAssessed: {exc}") from exc
        settlement = app.find(
            settlement_id_for(delivery.tenant_id, claim_id), delivery.tenant_id, Settlement
        )
        if settlement is None:
            return ()
        settlement.post_fee(
            delivery.context(actor=ACTOR),
            fee_line_id=fee_line_id,
            kind=kind,
            amount_cents=amount,
            remittance_trn=trn,
        )
        return [settlement]

    return react
