"""The payer's initial adjudication of a claim, as its first 835 claim payment remits it (pure).

A matched CLP for a claim that has no settlement and whose adjudication was never recorded is
the payer's initial payment or denial (DOMAIN.md §1.2): the fact that starts the NSA clocks
(T1: 30 business days beginning on the day it is received, §1.3). Settlement records it as
`InitialAdjudicationRemitted` instead of queueing an exception; the claims service records it as
the claim's adjudication. At most one per claim: the aggregate's id is derived from the claim.

Its money enters the book when the settlement opens (the agreement's `already_paid_cents` is
this payment), exactly as for an adjudication recorded by hand; nothing is journalled here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.ids import deterministic_id
from services.settlement.domain.remittance import ClaimPayment, Remittance

# CLP02 of a primary payer's adjudication: processed as primary, denied, primary and forwarded.
# Secondary/tertiary payments, predeterminations and "not our claim" are not the initial payment.
INITIAL_ADJUDICATION_STATUSES = frozenset({"1", "4", "19"})
DENIED_STATUS = "4"


def initial_adjudication_id_for(tenant_id: str, claim_id: str) -> UUID:
    return deterministic_id(tenant_id, "initial-adjudication", claim_id)


def may_be_initial_adjudication(claim: ClaimPayment) -> bool:
    """A primary payer's payment or denial (never a reversal or a negative payment)."""
    return (
        claim.status_code in INITIAL_ADJUDICATION_STATUSES
        and not claim.is_reversal
        and claim.paid_cents >= 0
        and claim.patient_responsibility_cents >= 0
    )


@dataclass(frozen=True, slots=True)
class RemittedAdjudication:
    """What one CLP says about the payer's initial adjudication of the claim it matched."""

    claim_id: str
    ordinal: int
    status_code: str
    received_date: date
    billed_cents: int
    allowed_cents: int
    paid_cents: int
    patient_responsibility_cents: int
    payer_claim_control_number: str
    carc_codes: tuple[str, ...]
    rarc_codes: tuple[str, ...]
    denied: bool

    @classmethod
    def from_claim_payment(
        cls, claim: ClaimPayment, claim_id: str, received_date: date
    ) -> RemittedAdjudication:
        carcs = tuple(dict.fromkeys(a.reason for a in claim.all_adjustments() if a.reason))
        return cls(
            claim_id=claim_id,
            ordinal=claim.ordinal,
            status_code=claim.status_code,
            received_date=received_date,
            billed_cents=claim.charge_cents,
            allowed_cents=max(0, claim.paid_cents + claim.patient_responsibility_cents),
            paid_cents=claim.paid_cents,
            patient_responsibility_cents=claim.patient_responsibility_cents,
            payer_claim_control_number=claim.payer_claim_control_number,
            carc_codes=carcs,
            rarc_codes=(),  # the 835 reader does not read LQ*HE / MIA / MOA remarks yet
            denied=claim.status_code == DENIED_STATUS,
        )


class InitialAdjudication(TenantAggregate):
    """One claim's initial adjudication as remitted; its existence stops a second one."""

    class InitialAdjudicationRemitted(TenantAggregate.Created):
        claim_id: str
        remittance_id: str
        trace_number: str
        payer_id: str
        ordinal: int
        status_code: str
        received_date: date
        billed_cents: int
        allowed_cents: int
        paid_cents: int
        patient_responsibility_cents: int
        payer_claim_control_number: str  # plain here (encrypted store); published as index+seal
        carc_codes: list[str]
        rarc_codes: list[str]
        denied: bool

    def __init__(  # the InitialAdjudicationRemitted fields
        self,
        claim_id: str,
        remittance_id: str,
        trace_number: str,
        payer_id: str,
        ordinal: int,
        status_code: str,
        received_date: date,
        billed_cents: int,
        allowed_cents: int,
        paid_cents: int,
        patient_responsibility_cents: int,
        payer_claim_control_number: str,
        carc_codes: list[str],
        rarc_codes: list[str],
        denied: bool,
    ) -> None:
        self.claim_id = claim_id
        self.remittance_id = remittance_id
        self.received_date = received_date
        self.paid_cents = paid_cents
        self.denied = denied

    @classmethod
    def record(
        cls,
        ctx: CommandContext,
        *,
        remittance_id: str,
        remittance: Remittance,
        facts: RemittedAdjudication,
    ) -> InitialAdjudication:
        return cls._start(
            cls.InitialAdjudicationRemitted,
            ctx,
            id=initial_adjudication_id_for(ctx.tenant_id, facts.claim_id),
            claim_id=facts.claim_id,
            remittance_id=remittance_id,
            trace_number=remittance.trace_number,
            payer_id=remittance.payer_key,
            ordinal=facts.ordinal,
            status_code=facts.status_code,
            received_date=facts.received_date,
            billed_cents=facts.billed_cents,
            allowed_cents=facts.allowed_cents,
            paid_cents=facts.paid_cents,
            patient_responsibility_cents=facts.patient_responsibility_cents,
            payer_claim_control_number=facts.payer_claim_control_number,
            carc_codes=list(facts.carc_codes),
            rarc_codes=list(facts.rarc_codes),
            denied=facts.denied,
        )
