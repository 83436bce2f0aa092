"""OpenTelemetry set-up (traces; metrics exported in Prometheus format) and trace-context
hand-over between gRPC calls and NATS messages.

Code anywhere records metrics through the standard API, `metrics.get_meter("oonledger")`;
`configure` installs the one MeterProvider per process, whose PrometheusMetricReader feeds
prometheus_client's default registry, served by services/common/status_http.py.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import metrics, propagate, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_configured = False
T = TypeVar("T")


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


class StreamSpan:
    """The server span of a streaming RPC, made current only while the stream's own code runs
    (`current`, `iterate`), never across a `yield` to the caller: grpc leaves the generator of
    a call its caller abandoned to the garbage collector, which closes it from another context,
    where a span held current across the yield cannot be detached (opentelemetry logs "Failed
    to detach context" as an ERROR). Ended by `end`, whoever closes the stream."""

    def __init__(self, name: str, metadata: dict[str, str]) -> None:
        self.span = tracer.start_span(
            name, context=propagate.extract(metadata), kind=trace.SpanKind.SERVER)

    @contextmanager
    def current(self) -> Iterator[Any]:
        with trace.use_span(self.span, end_on_exit=False) as span:
            yield span

    async def iterate(self, items: AsyncIterator[T]) -> AsyncGenerator[T, None]:
        """`items`, each step taken with the span current; `items` (a generator) is closed
        with this."""
        try:
            while True:
                with self.current():
                    try:
                        item = await anext(items)
                    except StopAsyncIteration:
                        return
                yield item
        finally:
            if isinstance(items, AsyncGenerator):
                await items.aclose()

    def end(self) -> None:
        self.span.end()


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
