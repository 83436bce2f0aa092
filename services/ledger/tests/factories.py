"""Builders of events for ledger tests (no I/O)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.ledger.domain.entry import AuditEntry, EventFacts

BASE_TIME = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
SERVICE_BY_EVENT = {
    "ClaimRegistered": "claims",
    "OfferMade": "negotiation",
    "SettlementAgreed": "negotiation",
    "PaymentPosted": "settlement",
    "FeeAssessed": "fees",
}


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def facts(
    tenant_id: str,
    claim_id: str,
    event_type: str = "OfferMade",
    *,
    notification_id: int = 1,
    service: str | None = None,
    payload: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    aggregate_id: str | None = None,
    aggregate_type: str = "Negotiation",
    version: int = 1,
) -> EventFacts:
    service = service or SERVICE_BY_EVENT.get(event_type, "negotiation")
    moment = occurred_at or BASE_TIME + timedelta(minutes=notification_id)
    return EventFacts(
        event_id=f"{service}:{notification_id}:{uuid.uuid4().hex[:8]}",
        service=service,
        notification_id=notification_id,
        tenant_id=tenant_id,
        claim_id=claim_id,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id or claim_id or uuid.uuid4().hex,
        aggregate_version=version,
        event_type=event_type,
        schema_version=1,
        occurred_at=moment,
        recorded_at=moment + timedelta(milliseconds=5),
        actor="alice@provider.example",
        request_id=uuid.uuid4().hex,
        correlation_id="corr-1",
        causation_id="",
        traceparent="",
        tracestate="",
        payload=canonical(payload if payload is not None else {"amount_cents": 1000 * version}),
        payload_content_type="application/json; canonical",
    )


def claim_history(tenant_id: str, claim_id: str, count: int, start: int = 1) -> list[EventFacts]:
    return [
        facts(tenant_id, claim_id, notification_id=start + i, version=i + 1) for i in range(count)
    ]


def envelope_of(f: EventFacts) -> EventEnvelope:
    env = EventEnvelope(
        event_id=f.event_id,
        service=f.service,
        notification_id=f.notification_id,
        tenant_id=f.tenant_id,
        claim_id=f.claim_id,
        aggregate_type=f.aggregate_type,
        aggregate_id=f.aggregate_id,
        aggregate_version=f.aggregate_version,
        event_type=f.event_type,
        schema_version=f.schema_version,
        actor=f.actor,
        request_id=f.request_id,
        correlation_id=f.correlation_id,
        causation_id=f.causation_id,
        traceparent=f.traceparent,
        tracestate=f.tracestate,
        payload=f.payload,
        payload_content_type=f.payload_content_type,
    )
    env.occurred_at.FromDatetime(f.occurred_at)
    env.recorded_at.FromDatetime(f.recorded_at)
    return env


def negotiated_claim(tenant_id: str, claim_id: str, start: int = 1) -> list[EventFacts]:
    """A claim's life across the four services, one event a minute from BASE_TIME."""
    negotiation_id, settlement_id = f"neg-{claim_id}", f"set-{claim_id}"
    steps: list[tuple[str, str, str, str, dict[str, Any]]] = [
        (
            "claims",
            "Claim",
            claim_id,
            "ClaimRegistered",
            {"claim": {"billed_cents": 480000, "total_billed_cents": 480000}},
        ),
        (
            "claims",
            "Claim",
            claim_id,
            "AdjudicationRecorded",
            {"adjudication": {"paid_cents": 61000, "qpa_cents": 90000}, "status": "paid"},
        ),
        (
            "negotiation",
            "Negotiation",
            negotiation_id,
            "Opened",
            {"billed_cents": 480000, "qpa_cents": 90000, "already_paid_cents": 61000},
        ),
        (
            "negotiation",
            "Negotiation",
            negotiation_id,
            "OpenNegotiationNoticeSent",
            {"sent_on": "2026-11-02", "channel": "portal"},
        ),
        (
            "negotiation",
            "Negotiation",
            negotiation_id,
            "OfferMade",
            {"party": "provider", "amount_cents": 360000, "offer_id": "o1"},
        ),
        (
            "negotiation",
            "Negotiation",
            negotiation_id,
            "CounterOfferMade",
            {"party": "payer", "amount_cents": 150000, "offer_id": "o2", "in_reply_to": "o1"},
        ),
        (
            "negotiation",
            "Negotiation",
            negotiation_id,
            "SettlementAgreed",
            {"agreed_total_cents": 240000, "payment_due_on": "2026-12-17", "during_idr": False},
        ),
        (
            "settlement",
            "Settlement",
            settlement_id,
            "SettlementOpened",
            {"agreed_total_cents": 240000, "due_date": "2026-12-17", "source": "negotiation"},
        ),
        (
            "settlement",
            "Settlement",
            settlement_id,
            "PaymentPosted",
            {"payment_id": "p1", "amount_cents": 120000, "paid_on": "2026-11-20"},
        ),
        (
            "fees",
            "FeeAccount",
            f"fee-{claim_id}",
            "FeeAssessed",
            {"line": {"kind": "contingency", "amount_cents": 30000}, "amount_cents": 120000},
        ),
        (
            "settlement",
            "Settlement",
            settlement_id,
            "PaymentReversed",
            {"payment_id": "p1", "amount_cents": 20000},
        ),
        ("settlement", "Settlement", settlement_id, "UnheardOfEventHappened", {"x": 1}),
    ]
    versions: dict[str, int] = {}
    events = []
    for offset, (service, kind, aggregate_id, event_type, payload) in enumerate(steps):
        versions[aggregate_id] = versions.get(aggregate_id, 0) + 1
        events.append(
            facts(
                tenant_id,
                claim_id,
                event_type,
                notification_id=start + offset,
                service=service,
                payload=payload,
                occurred_at=BASE_TIME + timedelta(minutes=offset),
                aggregate_id=aggregate_id,
                aggregate_type=kind,
                version=versions[aggregate_id],
            )
        )
    return events


def with_payload(entry: AuditEntry, payload: bytes) -> AuditEntry:
    """A copy of a stored entry with its payload changed (tamper simulations)."""
    return entry._replace(facts=entry.facts._replace(payload=payload))
