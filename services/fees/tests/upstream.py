"""Envelopes shaped like the claims, settlement and negotiation services' events.

Used by the fees tests and benchmark (bench/fees_bench.py) to drive the service through JetStream
exactly as the real upstream services do (same streams, subjects, envelope and payload fields).
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from nats.js import JetStreamContext

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.settings import Settings
from services.common.wire import published_fields, subject_for, to_timestamp

# One counter per process, seeded from the clock: ids increase across publishers and runs.
_NOTIFICATION_IDS = itertools.count(time.time_ns() // 1000)

AGGREGATE_OF = {"claims": "Claim", "settlement": "Settlement", "negotiation": "Negotiation"}


@dataclass
class UpstreamPublisher:
    """Publishes synthetic upstream events; notification ids come from the clock (microseconds)
    so they increase across publishers and never collide between runs sharing a namespace."""

    js: JetStreamContext
    settings: Settings
    tenant_id: str
    _ids: itertools.count = field(default_factory=lambda: _NOTIFICATION_IDS)

    def envelope(self, service: str, event_type: str, claim_id: str,
                 payload: dict[str, Any], occurred: dt.datetime | None = None) -> EventEnvelope:
        """A contracted event travels as its contract message (fields not given stay at their
        defaults; a required one missing fails here, as it would at the real producer)."""
        notification_id = next(self._ids)
        when = occurred or dt.datetime.now(dt.UTC)
        published = published_fields(service, event_type, payload)
        return EventEnvelope(
            event_id=f"{service}:{notification_id}",
            service=service,
            notification_id=notification_id,
            tenant_id=self.tenant_id,
            claim_id=claim_id,
            aggregate_type=AGGREGATE_OF[service],
            aggregate_id=claim_id,
            aggregate_version=1,
            event_type=event_type,
            schema_version=published.schema_version,
            occurred_at=to_timestamp(when),
            recorded_at=to_timestamp(when),
            actor="synthetic",
            request_id=f"synthetic-{notification_id}",
            correlation_id=f"synthetic-{notification_id}",
            payload=published.payload,
            payload_content_type=published.content_type,
        )

    async def publish(self, envelope: EventEnvelope, msg_id: str | None = None) -> None:
        """Publish; pass another `msg_id` to get past JetStream's dedupe (a true redelivery)."""
        prefix = self.settings.subject_prefix_for(envelope.service)
        await self.js.publish(subject_for(prefix, envelope), envelope.SerializeToString(),
                              headers={"Nats-Msg-Id": msg_id or envelope.event_id})

    async def emit(self, service: str, event_type: str, claim_id: str,
                   payload: dict[str, Any]) -> EventEnvelope:
        envelope = self.envelope(service, event_type, claim_id, payload)
        await self.publish(envelope)
        return envelope

    # -- the events the fees service listens to --------------------------------------------
    async def claim_registered(self, claim_id: str, client_id: str, payer_id: str = "payer-1",
                               procedure_code: str = "99285") -> EventEnvelope:
        return await self.emit("claims", "ClaimRegistered", claim_id, {"claim": {
            "client_id": client_id,
            "payer": {"payer_id": payer_id, "name": payer_id},
            "lines": [{"procedure_code": procedure_code, "billed_cents": 250_000}],
        }})

    async def adjudication_recorded(self, claim_id: str, client_id: str,
                                    paid_cents: int) -> EventEnvelope:
        return await self.emit("claims", "AdjudicationRecorded", claim_id, {
            "client_id": client_id, "payer_id": "",
            "adjudication": {"paid_cents": paid_cents, "received_date": "2026-01-15"}})

    async def settlement_opened(self, claim_id: str, already_paid_cents: int,
                                source: str = "agreement") -> EventEnvelope:
        return await self.emit("settlement", "SettlementOpened", claim_id, {
            "claim_id": claim_id, "source": source, "already_paid_cents": already_paid_cents,
            "payer_key": ""})

    async def payment_posted(self, claim_id: str, amount_cents: int, paid_on: dt.date,
                             trn: str = "EFT-1") -> EventEnvelope:
        return await self.emit("settlement", "PaymentPosted", claim_id, {
            "payment_id": f"pay-{trn}", "amount_cents": amount_cents, "method": "eft",
            "reference": trn, "payer_claim_control_number": "ICN-1",
            "paid_on": paid_on.isoformat(), "remittance_id": f"era-{trn}"})

    async def payment_reversed(self, claim_id: str, amount_cents: int, trn: str,
                               reversed_on: dt.date) -> EventEnvelope:
        return await self.emit("settlement", "PaymentReversed", claim_id, {
            "payment_id": f"pay-{trn}", "amount_cents": amount_cents, "reason": "payer reversal",
            "remittance_id": f"era-rev-{trn}", "reference": trn,
            "reversed_on": reversed_on.isoformat()})

    async def recoupment_posted(self, claim_id: str, amount_cents: int, posted_on: dt.date,
                                trn: str = "EFT-2") -> EventEnvelope:
        return await self.emit("settlement", "RecoupmentPosted", claim_id, {
            "recoupment_id": f"wo-{trn}", "amount_cents": amount_cents, "reference": trn,
            "remittance_id": f"era-{trn}", "posted_on": posted_on.isoformat()})

    async def idr_determined(self, claim_id: str, determined_on: dt.date,
                             administrative_fee_cents: int, idre_fee_paid_cents: int,
                             idre_fee_refund_cents: int) -> EventEnvelope:
        return await self.emit("negotiation", "IdrDetermined", claim_id, {
            "claim_id": claim_id, "dispute_number": f"DISP-{claim_id[:8]}",
            "determined_on": determined_on.isoformat(), "award_total_cents": 100_000,
            "payment_due_on": (determined_on + dt.timedelta(days=30)).isoformat(),
            "rule_set_version": "nsa-2022-04-15",
            "administrative_fee_cents": administrative_fee_cents,
            "idre_fee_paid_cents": idre_fee_paid_cents,
            "idre_fee_refund_cents": idre_fee_refund_cents})
