"""The pipeline gauges report the latest counts of every service of the process."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from oonledger.operations.v1 import operations_pb2 as pb
from services.ops.service import PipelineGauges


def observed(reader: InMemoryMetricReader) -> dict[tuple[str, tuple[tuple[str, str], ...]], int]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        (metric.name, tuple(sorted((k, str(v)) for k, v in (point.attributes or {}).items()))):
            int(point.value)  # type: ignore[union-attr]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points  # type: ignore[union-attr]
    }


def test_gauges_report_each_services_latest_counts() -> None:
    reader = InMemoryMetricReader()
    gauges = PipelineGauges()
    gauges.register(MeterProvider(metric_readers=[reader]).get_meter("oonledger"))
    claims = pb.PipelineCounts(service="claims", has_event_store=True, recorded=10, published=7)
    claims.recorded_by_type.add(event_type="ClaimRegistered", count=10)
    claims.consumers.add(consumer="read-model", upstream="claims", consumed=9, tracked=True,
                         in_stream=10)
    claims.consumers.add(consumer="untracked-intake", upstream="settlement", tracked=False)
    ledger = pb.PipelineCounts(service="ledger")
    ledger.ledger.add(service="claims", appended=8)
    ledger.payments.CopyFrom(pb.PaymentFeeCheck(payments=3, payments_without_one_fee=1))
    gauges.latest.update(claims=claims, ledger=ledger)

    assert observed(reader) == {
        ("oon_pipeline_events_recorded",
         (("event_type", "ClaimRegistered"), ("service", "claims"))): 10,
        ("oon_pipeline_events_unpublished", (("service", "claims"),)): 3,
        ("oon_pipeline_events_consumed",
         (("consumer", "read-model"), ("service", "claims"), ("upstream", "claims"))): 9,
        ("oon_pipeline_consumer_gap",
         (("consumer", "read-model"), ("service", "claims"), ("upstream", "claims"))): 1,
        ("oon_pipeline_ledger_appended", (("source", "claims"),)): 8,
        ("oon_pipeline_payments_without_one_fee", (("service", "ledger"),)): 1,
        ("oon_pipeline_fees_without_payment", (("service", "ledger"),)): 0,
    }
