"""`oonledger.operations.v1.OperationsService`, served by every service, and its metrics.

Each service's composition root adds `PipelineOperations(...)`: its `binding` to the gRPC
bindings and its `run` to the background tasks. The service answers only for its own
tables and consumers (services never read each other's tables); the gateway's
OperatorService compares the answers (gateway/operations.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from opentelemetry import metrics

from oonledger.operations.v1 import operations_pb2 as pb
from oonledger.operations.v1 import operations_pb2_grpc
from services.common.consumer import Subscription
from services.common.context import CommandContext
from services.common.errors import InvalidArgument, PermissionDenied
from services.common.eventstore import ServiceApplication
from services.common.grpc_server import ServicerBinding, rpc
from services.common.runtime import Infrastructure
from services.ops.counts import PipelineCounter, PipelineFacts, backfill_event_index
from services.ops.deadletters import DeadLetters

log = logging.getLogger(__name__)

SERVICE_NAME = "oonledger.operations.v1.OperationsService"
OPERATOR_ROLE = "admin"
METRICS_INTERVAL_SECONDS = 60.0


class PipelineOperations:
    def __init__(self, infra: Infrastructure, app: ServiceApplication | None = None,
                 subscriptions: Sequence[Subscription] = (),
                 facts: Sequence[PipelineFacts] = ()) -> None:
        settings = infra.settings
        self.app = app
        self.blocking = infra.blocking
        self.counter = PipelineCounter(settings, infra.pool, infra.js, app, subscriptions, facts)
        self.dead_letters = DeadLetters(
            infra.js, settings,
            {f"{settings.service}-{sub.name}": sub.processor for sub in subscriptions})
        self.binding = ServicerBinding(operations_pb2_grpc.add_OperationsServiceServicer_to_server,
                                       OperationsServicer(self.counter, self.dead_letters),
                                       SERVICE_NAME)

    async def run(self, interval: float = METRICS_INTERVAL_SECONDS) -> None:
        """Index the events recorded before the event index existed (once), then refresh the
        service's all-tenant counts for the gauges every `interval` seconds (the gauges'
        callbacks run at scrape time and must not query)."""
        if self.app is not None:
            added = await self.blocking(backfill_event_index, self.app)
            if added:
                log.info("event index: %d earlier events indexed", added)
        gauges = PipelineGauges.instance()
        while True:
            try:
                gauges.latest[self.counter.settings.service] = await self.counter.counts(None)
            except Exception:
                log.exception("pipeline counts for the metrics failed")
            await asyncio.sleep(interval)  # the refresh period of the gauges


class OperationsServicer(operations_pb2_grpc.OperationsServiceServicer):
    def __init__(self, counter: PipelineCounter, dead_letters: DeadLetters) -> None:
        self.counter = counter
        self.dead_letters = dead_letters

    @rpc
    async def GetPipelineCounts(self, request: pb.GetPipelineCountsRequest,
                                ctx: CommandContext, context: object) -> pb.PipelineCounts:
        _require_operator(ctx)
        return await self.counter.counts(ctx.tenant_id)

    @rpc
    async def ListDeadLetters(self, request: pb.ListDeadLettersRequest, ctx: CommandContext,
                              context: object) -> pb.ListDeadLettersResponse:
        _require_operator(ctx)
        letters = await self.dead_letters.letters(ctx.tenant_id, request.consumer)
        return pb.ListDeadLettersResponse(dead_letters=[letter.summary for letter in letters])

    @rpc
    async def ReplayDeadLetters(self, request: pb.ReplayDeadLettersRequest, ctx: CommandContext,
                                context: object) -> pb.ReplayDeadLettersResponse:
        _require_operator(ctx)
        if not request.sequences and not request.all:
            raise InvalidArgument("name the dead letters to replay, or set `all`",
                                  field="sequences")
        if request.sequences and request.all:
            raise InvalidArgument("either `sequences` or `all`, not both", field="all")
        outcomes = await self.dead_letters.replay(ctx.tenant_id, request.consumer,
                                                  request.sequences)
        return pb.ReplayDeadLettersResponse(outcomes=outcomes)


def _require_operator(ctx: CommandContext) -> None:
    if not ctx.has_role(OPERATOR_ROLE):
        raise PermissionDenied(f"operations need the {OPERATOR_ROLE} role")


class PipelineGauges:
    """One set of observable gauges per process (tests run several services in one), fed by
    the latest all-tenant counts of each service."""

    _instance: PipelineGauges | None = None

    def __init__(self) -> None:
        self.latest: dict[str, pb.PipelineCounts] = {}

    @classmethod
    def instance(cls) -> PipelineGauges:
        if cls._instance is None:
            cls._instance = cls()
            cls._instance.register(metrics.get_meter("oonledger"))
        return cls._instance

    def register(self, meter: metrics.Meter) -> None:
        meter.create_observable_gauge(
            "oon_pipeline_events_recorded", [self._recorded], unit="{event}",
            description="Events in the service's event store, per type (all tenants)")
        meter.create_observable_gauge(
            "oon_pipeline_events_unpublished", [self._unpublished], unit="{event}",
            description="Events recorded but not yet published by the relay (all tenants)")
        meter.create_observable_gauge(
            "oon_pipeline_events_consumed", [self._consumed], unit="{event}",
            description="Upstream events processed by a consumer (its tracking records)")
        meter.create_observable_gauge(
            "oon_pipeline_consumer_gap", [self._consumer_gap], unit="{event}",
            description="Messages of a consumer's types in its upstream stream it has not "
                        "processed (behind, stopped, or dead-lettered)")
        meter.create_observable_gauge(
            "oon_pipeline_ledger_appended", [self._appended], unit="{event}",
            description="Events appended to the ledger, per source service (all tenants)")
        meter.create_observable_gauge(
            "oon_pipeline_payments_without_one_fee", [self._payments_without_fee],
            unit="{payment}", description="PaymentPosted without exactly one FeeAssessed")
        meter.create_observable_gauge(
            "oon_pipeline_fees_without_payment", [self._fees_without_payment],
            unit="{assessment}", description="FeeAssessed naming no settlement event")

    def _each(self) -> Iterable[tuple[str, pb.PipelineCounts]]:
        return list(self.latest.items())

    def _recorded(self, _options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        for service, counts in self._each():
            for item in counts.recorded_by_type:
                yield metrics.Observation(item.count, {"service": service,
                                                       "event_type": item.event_type})

    def _unpublished(self, _options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        for service, counts in self._each():
            if counts.has_event_store:
                yield metrics.Observation(counts.recorded - counts.published,
                                          {"service": service})

    def _consumed(self, _options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        for service, counts in self._each():
            for consumer in counts.consumers:
                if consumer.tracked:
                    yield metrics.Observation(consumer.consumed, {
                        "service": service, "consumer": consumer.consumer,
                        "upstream": consumer.upstream})

    def _consumer_gap(self, _options: metrics.CallbackOptions
                      ) -> Iterable[metrics.Observation]:
        for service, counts in self._each():
            for consumer in counts.consumers:
                if consumer.tracked:
                    yield metrics.Observation(consumer.in_stream - consumer.consumed, {
                        "service": service, "consumer": consumer.consumer,
                        "upstream": consumer.upstream})

    def _appended(self, _options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        for _, counts in self._each():
            for item in counts.ledger:
                yield metrics.Observation(item.appended, {"source": item.service})

    def _payments_without_fee(self, _options: metrics.CallbackOptions
                              ) -> Iterable[metrics.Observation]:
        for service, counts in self._each():
            if counts.HasField("payments"):
                yield metrics.Observation(counts.payments.payments_without_one_fee,
                                          {"service": service})

    def _fees_without_payment(self, _options: metrics.CallbackOptions
                              ) -> Iterable[metrics.Observation]:
        for service, counts in self._each():
            if counts.HasField("payments"):
                yield metrics.Observation(counts.payments.fees_without_payment,
                                          {"service": service})
