"""One stream the ledger cannot pull from never stops the ingest of the others."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import pytest
from grpc_health.v1 import health_pb2

from services.common.health import consumer_part
from services.common.settings import Settings
from services.ledger.tests.factories import negotiated_claim
from services.ledger.tests.ledger_harness import start_ledger
from tests.support.plugin import ServiceRunner, eventually, health_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_a_stream_without_a_consumer_is_retried_while_the_others_are_ingested(
    service_runner: ServiceRunner,
    make_settings: Callable[..., Settings],
    tmp_path_factory: pytest.TempPathFactory,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As during a JetStream leader election after a node is lost: creating the consumer on
    one stream fails again and again. Before, that failure cancelled the sibling streams'
    pull loops (and one that swallowed its cancel kept the ledger waiting, silently)."""
    own = f"{namespace}ir"
    streams = [
        make_settings("ledger", namespace=own).stream_for(s)
        for s in ("claims", "negotiation", "settlement", "fees")
    ]
    unavailable = f"{own.upper()}_NO_SUCH_STREAM"
    tenant, claim = f"tenant-{uuid.uuid4().hex[:8]}", f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim)
    caplog.set_level(logging.WARNING, logger="services.ledger.adapters.ingest")
    ledger = await start_ledger(
        service_runner,
        tmp_path_factory.mktemp("ingest-keys"),
        namespace=own,
        extra_env={"LEDGER_STREAMS": ",".join([unavailable, *streams])},
        stall_seconds=1.0,
    )
    try:
        await ledger.publish(events)
        entries = await ledger.wait_for(tenant, claim, len(events))
        assert sorted(e.event_id for e in entries) == sorted(f.event_id for f in events)

        def retried() -> bool:
            return any(f"pulling {unavailable} failed" in r.getMessage() for r in caplog.records)

        await eventually(retried, timeout=10)

        # Not silently: that stream's part, and the service as a whole, report NOT_SERVING
        # with the reason; the streams that flow stay SERVING.
        stuck = consumer_part(f"ledger-audit.{unavailable}")

        async def reported() -> bool:
            return (await health_of(ledger.runtime, stuck) == NOT_SERVING
                    and await health_of(ledger.runtime) == NOT_SERVING)

        await eventually(reported, timeout=15)
        status = ledger.runtime.monitor.status()
        assert "pulling failed" in status["parts"][stuck]["reason"], status
        for stream in streams:
            flowing = consumer_part(f"ledger-audit.{stream}")
            assert await health_of(ledger.runtime, flowing) == SERVING
    finally:
        await ledger.close(service_runner)
