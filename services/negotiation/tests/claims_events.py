"""Publish claims-service envelopes to JetStream, as the claims service's relay does."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

import nats

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.wire import published_fields, subject_for, to_timestamp

# Strictly increasing positions, like the claims service's notification log.
_NOTIFICATION_IDS = itertools.count(time.time_ns() // 1_000)


def triaged_claim_events(
    received_date: str = "2026-06-01", route: str = "federal_idr", lines: int = 1
) -> list[tuple[str, dict[str, Any]]]:
    """A claim of `lines` service lines (the first 70450, then 76000 each), registered,
    adjudicated and triaged."""
    first = {"procedure_code": "70450", "billed_cents": 250_000, "service_date": "2026-04-20"}
    more = {"procedure_code": "76000", "billed_cents": 10_000, "service_date": "2026-04-20"}
    return [
        (
            "ClaimRegistered",
            {
                "claim": {
                    "client_id": "client-rad",
                    "provider": {"npi": "1234567893", "tin": "12-3456789", "name": "Rad Group"},
                    "payer": {"payer_id": "payer-acme", "name": "Acme"},
                    "plan": {"name": "PPO", "funding": "fully_insured"},
                    "lines": [first] + [more] * (lines - 1),
                    "billed_cents": 250_000 + 10_000 * (lines - 1),
                }
            },
        ),
        (
            "AdjudicationRecorded",
            {
                "adjudication": {
                    "received_date": received_date,
                    "paid_cents": 35_000,
                    "patient_responsibility_cents": 5_000,
                    "qpa_cents": 40_000,
                    "denied": False,
                },
                "client_id": "client-rad",
            },
        ),
        ("ClaimTriaged", {"route": route, "worth_negotiating": True, "adjudicated": True}),
    ]


async def publish_claim_events(
    nats_url: str,
    prefix: str,
    tenant: str,
    claim_id: str,
    events: list[tuple[str, dict[str, Any]]],
) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for offset, (event_type, payload) in enumerate(events):
            notification_id = next(_NOTIFICATION_IDS)
            published = published_fields("claims", event_type, payload)
            envelope = EventEnvelope(
                event_id=f"claims:{notification_id}",
                service="claims",
                notification_id=notification_id,
                tenant_id=tenant,
                claim_id=claim_id,
                aggregate_type="Claim",
                aggregate_id=claim_id,
                aggregate_version=offset + 1,
                event_type=event_type,
                schema_version=published.schema_version,
                occurred_at=to_timestamp(datetime.now(UTC)),
                payload=published.payload,
                payload_content_type=published.content_type,
            )
            await js.publish(
                subject_for(prefix, envelope),
                envelope.SerializeToString(),
                headers={"Nats-Msg-Id": envelope.event_id},
            )
    finally:
        await nc.close()
