"""Reactions to other services' events: claims (who the client is, the initial payment),
settlement (payments, reversals, recoupments, interest) and negotiation (stage, IDR fees).

Reactions change fee accounts; `intake.py` saves them. Upstream events are read only as their
typed contract messages (`delivery.message`). The account itself ignores an
upstream event id it has already applied, which is what makes redelivery harmless.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from oonledger.claims.v1 import events_pb2 as claims_v1
from oonledger.negotiation.v1 import events_pb2 as negotiation_v1
from oonledger.settlement.v1 import events_pb2 as settlement_v1
from services.common.consumer import Delivery, PermanentFailure
from services.fees.application import FeesApplication
from services.fees.domain import (
    FeeAccount,
    FeeSchedule,
    IdrFeeFact,
    LineReferences,
    PaymentFact,
    PaymentKind,
    ResolutionStage,
    ScheduleVersion,
)

ACTOR = "system:fees"

CLAIMS_EVENTS = ("ClaimRegistered", "AdjudicationRecorded")
SETTLEMENT_EVENTS = ("SettlementOpened", "PaymentPosted", "PaymentReversed", "RecoupmentPosted",
                     "InterestPosted")
NEGOTIATION_EVENTS = ("SettlementAgreed", "IdrDetermined", "IdrClosed")
HANDLED = {"claims": frozenset(CLAIMS_EVENTS), "settlement": frozenset(SETTLEMENT_EVENTS),
           "negotiation": frozenset(NEGOTIATION_EVENTS)}


class UnknownClaim(Exception):
    """A money fact for a claim whose client is not known (yet): retried with backoff, then
    dead-lettered with this reason. Nothing is stored."""


def _claim_id(delivery: Delivery) -> str:
    claim_id = delivery.envelope.claim_id or str(getattr(delivery.message, "claim_id", ""))
    if not claim_id:
        raise PermanentFailure(f"{delivery.envelope.event_id}: event names no claim")
    return claim_id


def _day(value: str, delivery: Delivery) -> dt.date:
    """An ISO date from the message, else the day the upstream event occurred (UTC)."""
    if value:
        return dt.date.fromisoformat(value[:10])
    return delivery.envelope.occurred_at.ToDatetime(tzinfo=dt.UTC).date()


def _primary_service_code(claim: claims_v1.ClaimRegistered.Claim) -> str:
    if not claim.lines:
        return ""
    primary = max(claim.lines, key=lambda line: line.billed_cents)
    return primary.procedure_code or primary.revenue_code


class FeeReactions:
    """Turns upstream events into fee-account commands (sync; runs in a worker thread).

    One instance is a unit of work: the accounts and schedules it loads are kept, so a batch of
    events touching the same claim changes one account, saved once at the end.
    """

    def __init__(self, app: FeesApplication, *, from_cache: bool = False) -> None:
        self.app = app
        self.from_cache = from_cache
        self.accounts: dict[tuple[str, str], FeeAccount] = {}
        self.schedules: dict[tuple[str, str], FeeSchedule | None] = {}
        # Claims known to have no account yet (`preload`): not looked up again.
        self.absent: set[tuple[str, str]] = set()

    def preload(self, deliveries: Sequence[Delivery]) -> None:
        """Read the accounts of a batch's claims at once (from the cache, the rest with one
        query), so reacting to each event queries nothing (the batch path, `from_cache`: its
        save conflicts on a stale copy). A delivery naming no claim is left to `react`, which
        reports it."""
        keys = []
        for delivery in deliveries:
            try:
                keys.append((delivery.tenant_id, _claim_id(delivery)))
            except PermanentFailure:
                continue
        for key, account in self.app.cached_accounts(keys).items():
            if account is None:
                self.absent.add(key)
            else:
                self.accounts.setdefault(key, account)

    def react(self, delivery: Delivery) -> bool:
        """Apply one upstream event; False when it changed nothing (already applied)."""
        handlers = {"claims": self.on_claims_event, "settlement": self.on_settlement_event,
                    "negotiation": self.on_negotiation_event}
        handler = handlers.get(delivery.envelope.service)
        if handler is None or delivery.event_type not in HANDLED[delivery.envelope.service]:
            # Consumers filter by event type, but a filter is a courtesy of the broker setup;
            # anything else from upstream is none of the fees service's business.
            return False
        key = (delivery.tenant_id, _claim_id(delivery))
        account = self.accounts.get(key)
        before = (account.version, len(account.pending_events)) if account else None
        handler(delivery)
        account = self.accounts.get(key)
        return account is not None and (account.version, len(account.pending_events)) != before

    def changed_accounts(self) -> list[FeeAccount]:
        return [account for account in self.accounts.values() if account.pending_events]

    def _account(self, delivery: Delivery, client_id: str = "") -> FeeAccount:
        key = (delivery.tenant_id, _claim_id(delivery))
        load = self.app.cached_account if self.from_cache else self.app.find_account
        account = self.accounts.get(key)
        if account is None and key not in self.absent:
            account = load(*key)
        if account is None:
            if not client_id:
                raise UnknownClaim(f"{delivery.envelope.event_id}: no fee account for claim "
                                   f"{key[1]} (its claim registration has not been seen)")
            account = FeeAccount.open(delivery.context(ACTOR), key[1], client_id)
        self.accounts[key] = account
        return account

    def _version_in_force(self, tenant_id: str, client_id: str,
                          day: dt.date) -> ScheduleVersion | None:
        key = (tenant_id, client_id)
        if key not in self.schedules:
            self.schedules[key] = self.app.find_schedule(tenant_id, client_id)
        schedule = self.schedules[key]
        return schedule.in_force_on(day) if schedule else None

    # -- claims ----------------------------------------------------------------------------
    def on_claims_event(self, delivery: Delivery) -> None:
        event_id = delivery.envelope.event_id
        ctx = delivery.context(ACTOR)
        message = delivery.message
        if isinstance(message, claims_v1.ClaimRegistered):
            # The contract requires the client and payer: no claim reaches here without them.
            account = self._account(delivery, message.claim.client_id)
            account.record_claim_facts(
                ctx, event_id, payer_id=message.claim.payer.payer_id,
                service_code=_primary_service_code(message.claim))
        if isinstance(message, claims_v1.AdjudicationRecorded):
            account = self._account(delivery, message.client_id)
            account.record_claim_facts(
                ctx, event_id, initial_payment_cents=message.adjudication.paid_cents,
                payer_id=message.payer_id or None)

    # -- settlement ------------------------------------------------------------------------
    def on_settlement_event(self, delivery: Delivery) -> None:
        event_id = delivery.envelope.event_id
        ctx = delivery.context(ACTOR)
        account = self._account(delivery)
        opened = delivery.message
        if isinstance(opened, settlement_v1.SettlementOpened):
            from_idr = opened.source == settlement_v1.SettlementOpened.SOURCE_IDR_DETERMINATION
            stage = ResolutionStage.IDR if from_idr else ResolutionStage.OPEN_NEGOTIATION
            account.record_claim_facts(
                ctx, event_id,
                stage=stage if account.state.stage is ResolutionStage.UNSPECIFIED else None,
                initial_payment_cents=opened.already_paid_cents,
                payer_id=opened.payer_key or None)
            return
        fact = self.payment_fact(delivery)
        if fact is not None:
            account.assess_payment(ctx, fact, self._version_in_force(
                delivery.tenant_id, account.client_id, fact.posting_date))

    @staticmethod
    def payment_fact(delivery: Delivery) -> PaymentFact | None:
        """The money fact of a settlement payment event (None for any other event), with the
        deposit it came in (TRN02, BPR16) and the claim it names (CLP07 / PLB03-2, as keyed
        hash and sealed) as settlement computed them."""
        m = delivery.message
        icn_index = icn_sealed = plb_index = plb_sealed = ""
        if isinstance(m, settlement_v1.PaymentPosted):
            kind, cash, interest, day = PaymentKind.PAYMENT, m.amount_cents, 0, m.paid_on
            icn_index = m.payer_claim_control_number_index
            icn_sealed = m.payer_claim_control_number_sealed
        elif isinstance(m, settlement_v1.PaymentReversed):
            kind, cash, interest, day = (PaymentKind.REVERSAL, -abs(m.amount_cents), 0,
                                         m.reversed_on)
            icn_index = m.payer_claim_control_number_index
            icn_sealed = m.payer_claim_control_number_sealed
        elif isinstance(m, settlement_v1.RecoupmentPosted):
            kind, cash, interest, day = (PaymentKind.RECOUPMENT, -abs(m.amount_cents), 0,
                                         m.posted_on)
            plb_index, plb_sealed = m.plb_reference_index, m.plb_reference_sealed
        elif isinstance(m, settlement_v1.InterestPosted):
            kind, cash, interest, day = PaymentKind.INTEREST, 0, m.amount_cents, m.posted_on
            plb_index, plb_sealed = m.plb_reference_index, m.plb_reference_sealed
        else:
            return None
        # Events published before settlement named the deposit carry its trace as `reference`.
        trace = m.trace_number or m.reference or m.remittance_id
        references = LineReferences(
            deposit_date=dt.date.fromisoformat(m.deposit_date) if m.deposit_date else None,
            payer_claim_control_number_index=icn_index,
            payer_claim_control_number_sealed=icn_sealed,
            plb_reference_index=plb_index, plb_reference_sealed=plb_sealed)
        # The payer is the fee account's (from the claim); settlement's payments do not name it.
        return PaymentFact(source_event_id=delivery.envelope.event_id, kind=kind,
                           amount_cents=cash, posting_date=_day(day, delivery),
                           remittance_trn=trace, interest_cents=interest, payer_id="",
                           references=references)

    # -- negotiation -----------------------------------------------------------------------
    def on_negotiation_event(self, delivery: Delivery) -> None:
        event_id = delivery.envelope.event_id
        ctx = delivery.context(ACTOR)
        account = self._account(delivery)
        m = delivery.message
        if isinstance(m, negotiation_v1.SettlementAgreed):
            during_idr, on = m.during_idr, m.agreed_on
        elif isinstance(m, negotiation_v1.IdrDetermined):
            during_idr, on = True, m.determined_on
        elif isinstance(m, negotiation_v1.IdrClosed):
            during_idr, on = True, m.closed_on
        else:
            return
        stage = ResolutionStage.IDR if during_idr else ResolutionStage.OPEN_NEGOTIATION
        if not isinstance(m, negotiation_v1.IdrClosed):
            account.record_claim_facts(ctx, f"{event_id}#stage", stage=stage)
        borne = m.administrative_fee_cents + m.idre_fee_paid_cents - m.idre_fee_refund_cents
        if during_idr and borne:
            day = _day(on, delivery)
            fact = IdrFeeFact(event_id, borne, day, m.dispute_number)
            account.pass_through_idr_fee(ctx, fact, self._version_in_force(
                delivery.tenant_id, account.client_id, day))
