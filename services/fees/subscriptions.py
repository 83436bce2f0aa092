"""Reactions to other services' events: claims (who the client is, the initial payment),
settlement (payments, reversals, recoupments, interest) and negotiation (stage, IDR fees).

Reactions change fee accounts; `services.fees.intake` saves them. The account itself ignores an
upstream event id it has already applied, which is what makes redelivery harmless.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from services.common.consumer import Delivery, PermanentFailure
from services.fees.application import FeesApplication
from services.fees.assessment import IdrFeeFact, PaymentFact, PaymentKind
from services.fees.fee_account import FeeAccount
from services.fees.fee_schedule import FeeSchedule
from services.fees.schedule import ResolutionStage, ScheduleVersion

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
    claim_id = delivery.envelope.claim_id or str(delivery.payload.get("claim_id") or "")
    if not claim_id:
        raise PermanentFailure(f"{delivery.envelope.event_id}: event names no claim")
    return claim_id


def _day(value: Any, delivery: Delivery) -> dt.date:
    """An ISO date from the payload, else the day the upstream event occurred (UTC)."""
    if value:
        return dt.date.fromisoformat(str(value)[:10])
    return delivery.envelope.occurred_at.ToDatetime(tzinfo=dt.UTC).date()


def _primary_service_code(claim: Mapping[str, Any]) -> str:
    lines: Sequence[Mapping[str, Any]] = claim.get("lines") or []
    if not lines:
        return ""
    primary = max(lines, key=lambda line: int(line.get("billed_cents") or 0))
    return str(primary.get("procedure_code") or primary.get("revenue_code") or "")


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
        account = self.accounts.get(key) or load(*key)
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
        payload, event_id = delivery.payload, delivery.envelope.event_id
        ctx = delivery.context(ACTOR)
        if delivery.event_type == "ClaimRegistered":
            claim = payload.get("claim") or {}
            client_id = str(claim.get("client_id") or "")
            if not client_id:
                raise PermanentFailure(f"{event_id}: claim registered without a client")
            account = self._account(delivery, client_id)
            account.record_claim_facts(
                ctx, event_id, payer_id=str((claim.get("payer") or {}).get("payer_id") or ""),
                service_code=_primary_service_code(claim))
        if delivery.event_type == "AdjudicationRecorded":
            account = self._account(delivery, str(payload.get("client_id") or ""))
            adjudication = payload.get("adjudication") or {}
            account.record_claim_facts(
                ctx, event_id, initial_payment_cents=int(adjudication.get("paid_cents") or 0),
                payer_id=str(payload.get("payer_id") or "") or None)

    # -- settlement ------------------------------------------------------------------------
    def on_settlement_event(self, delivery: Delivery) -> None:
        payload, event_id = delivery.payload, delivery.envelope.event_id
        ctx = delivery.context(ACTOR)
        account = self._account(delivery)
        if delivery.event_type == "SettlementOpened":
            stage = (ResolutionStage.IDR if payload.get("source") == "idr_determination"
                     else ResolutionStage.OPEN_NEGOTIATION)
            account.record_claim_facts(
                ctx, event_id,
                stage=stage if account.state.stage is ResolutionStage.UNSPECIFIED else None,
                initial_payment_cents=int(payload.get("already_paid_cents") or 0),
                payer_id=str(payload.get("payer_key") or "") or None)
            return
        fact = self.payment_fact(delivery)
        if fact is not None:
            account.assess_payment(ctx, fact, self._version_in_force(
                delivery.tenant_id, account.client_id, fact.posting_date))

    @staticmethod
    def payment_fact(delivery: Delivery) -> PaymentFact | None:
        payload, event_id = delivery.payload, delivery.envelope.event_id
        amount = int(payload.get("amount_cents") or 0)
        trn = str(payload.get("reference") or payload.get("remittance_id") or "")
        kinds: dict[str, tuple[PaymentKind, int, int, str]] = {
            "PaymentPosted": (PaymentKind.PAYMENT, amount, 0, "paid_on"),
            "PaymentReversed": (PaymentKind.REVERSAL, -abs(amount), 0, "reversed_on"),
            "RecoupmentPosted": (PaymentKind.RECOUPMENT, -abs(amount), 0, "posted_on"),
            "InterestPosted": (PaymentKind.INTEREST, 0, amount, "posted_on"),
        }
        if delivery.event_type not in kinds:
            return None
        kind, cash, interest, date_field = kinds[delivery.event_type]
        return PaymentFact(source_event_id=event_id, kind=kind, amount_cents=cash,
                           posting_date=_day(payload.get(date_field), delivery),
                           remittance_trn=trn, interest_cents=interest,
                           payer_id=str(payload.get("payer_id") or ""))

    # -- negotiation -----------------------------------------------------------------------
    def on_negotiation_event(self, delivery: Delivery) -> None:
        payload, event_id = delivery.payload, delivery.envelope.event_id
        ctx = delivery.context(ACTOR)
        account = self._account(delivery)
        during_idr = bool(payload.get("during_idr")) or delivery.event_type != "SettlementAgreed"
        stage = ResolutionStage.IDR if during_idr else ResolutionStage.OPEN_NEGOTIATION
        if delivery.event_type in ("SettlementAgreed", "IdrDetermined"):
            account.record_claim_facts(ctx, f"{event_id}#stage", stage=stage)
        borne = (int(payload.get("administrative_fee_cents") or 0)
                 + int(payload.get("idre_fee_paid_cents") or 0)
                 - int(payload.get("idre_fee_refund_cents") or 0))
        if during_idr and borne:
            day = _day(payload.get("agreed_on") or payload.get("determined_on")
                       or payload.get("closed_on"), delivery)
            fact = IdrFeeFact(event_id, borne, day, str(payload.get("dispute_number") or ""))
            account.pass_through_idr_fee(ctx, fact, self._version_in_force(
                delivery.tenant_id, account.client_id, day))
