"""OpenTelemetry set-up and trace-context hand-over between gRPC calls and NATS messages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_configured = False


def configure(service: str) -> None:
    """Install a tracer provider once per process; spans print only with OON_TRACE_CONSOLE=1."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"oonledger-{service}"}))
    if os.environ.get("OON_TRACE_CONSOLE") == "1":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True


tracer = trace.get_tracer("oonledger")


def current_traceparent() -> tuple[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", ""), carrier.get("tracestate", "")


@contextmanager
def server_span(name: str, metadata: dict[str, str]) -> Iterator[Any]:
    """A span for an incoming RPC, continuing the caller's trace when it sent one."""
    with tracer.start_as_current_span(
        name, context=propagate.extract(metadata), kind=trace.SpanKind.SERVER
    ) as span:
        yield span


@contextmanager
def consumer_span(consumer: str, envelope: Any) -> Iterator[Any]:
    """A span for processing an event, child of the command that produced it."""
    carrier = {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}
    with tracer.start_as_current_span(
        f"{consumer} {envelope.event_type}",
        context=propagate.extract(carrier),
        kind=trace.SpanKind.CONSUMER,
        attributes={"oon.event_id": envelope.event_id, "oon.tenant_id": envelope.tenant_id},
    ) as span:
        yield span
