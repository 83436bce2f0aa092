"""OpenTelemetry set-up (traces; metrics exported in Prometheus format) and trace-context
hand-over between gRPC calls and NATS messages.

Code anywhere records metrics through the standard API, `metrics.get_meter("oonledger")`;
`configure` installs the one MeterProvider per process, whose PrometheusMetricReader feeds
prometheus_client's default registry, served by services/common/status_http.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_configured = False


def configure(service: str) -> None:
    """Install the tracer and meter providers once per process; spans print only with
    OON_TRACE_CONSOLE=1."""
    global _configured
    if _configured:
        return
    resource = Resource.create({"service.name": f"oonledger-{service}"})
    provider = TracerProvider(resource=resource)
    if os.environ.get("OON_TRACE_CONSOLE") == "1":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(
        MeterProvider(resource=resource, metric_readers=[PrometheusMetricReader()])
    )
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
