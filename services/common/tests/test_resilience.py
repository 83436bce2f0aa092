"""A consumer survives a NATS restart; trace context continues from the command to the reaction."""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common import telemetry
from services.common.consumer import Delivery, Subscription
from services.common.context import CommandContext
from services.common.localservers import LocalNats
from services.common.processors import ApplicationProcessor
from services.common.runtime import Infrastructure, ServiceParts
from services.common.telemetry import current_traceparent
from services.common.tests.sample import Tally, TallyApp
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def ctx(tenant: str, traceparent: str = "") -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="t", now=datetime.now(UTC),
                          request_id=uuid.uuid4().hex, traceparent=traceparent)


async def test_consumer_resumes_after_nats_restart_and_trace_continues(
    service_runner, make_settings
):
    store = Path(tempfile.mkdtemp(prefix="oon-nats-restart-"))
    server = LocalNats(store)
    nats_url = server.start()
    settings = make_settings("echoes", nats_url=nats_url)
    app = TallyApp(settings)
    reactions: list[Delivery] = []

    def react(delivery: Delivery) -> list[Tally]:
        reactions.append(delivery)
        return []

    def build(infra: Infrastructure) -> ServiceParts:
        processor = ApplicationProcessor(app, "self", react, infra.blocking.executor)
        return ServiceParts(bindings=[], app=app,
                            subscriptions=[Subscription("echoes", "self", processor)])

    telemetry.configure("test")
    exporter = InMemorySpanExporter()
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    runtime = await service_runner.start("echoes", build, nats_url=nats_url)
    tenant = "t-" + uuid.uuid4().hex[:6]
    try:
        with telemetry.tracer.start_as_current_span("partner call") as span:
            traceparent, _ = current_traceparent()
            app.save_all(Tally.open(ctx(tenant, traceparent=traceparent), "before", "P"))
        trace_id = span.get_span_context().trace_id
        await eventually(lambda: len(reactions) == 1)

        server.stop()
        server = LocalNats(store, port=server.port)
        server.start()
        app.save_all(Tally.open(ctx(tenant), "after restart", "P"))
        await eventually(lambda: len(reactions) == 2, timeout=30)
        assert [d.payload["label"] for d in reactions] == ["before", "after restart"]

        consumer_spans = [s for s in exporter.get_finished_spans()
                          if s.kind == trace.SpanKind.CONSUMER]
        assert any(s.context.trace_id == trace_id for s in consumer_spans), (
            "the reaction's span continues the trace of the command that caused it"
        )
        nc = await nats.connect(nats_url)
        info = await nc.jetstream().stream_info(settings.stream_for("echoes"))
        assert info.state.messages == 2, "nothing published twice across the restart"
        await nc.close()
    finally:
        await service_runner.stop(runtime)
        server.stop()
