"""A service's stored events as its relay publishes them and a consumer of its stream gets
them (tests and benches that drive a processor without the broker)."""

from __future__ import annotations

from datetime import UTC, datetime

from eventsourcing.persistence import StoredEvent

from services.common.consumer import Delivery
from services.common.eventstore import ServiceApplication
from services.common.wire import build_envelope, decode_payload


def deliveries_since(app: ServiceApplication, service: str, start: int, tenant: str,
                     limit: int = 10_000) -> list[Delivery]:  # fmt: skip
    """The tenant's events stored after notification `start` (at most `limit` notifications)."""
    deliveries = []
    for n in app.recorder.select_notifications(start + 1, limit):
        event = app.mapper.to_domain_event(StoredEvent(
            n.originator_id, n.originator_version, n.topic, n.state))
        if getattr(event, "meta", {}).get("tenant_id") != tenant:
            continue
        envelope = build_envelope(service, n.id, event, datetime.now(UTC),
                                  app.published_language)
        deliveries.append(Delivery(envelope, decode_payload(envelope), datetime.now(UTC)))
    return deliveries
