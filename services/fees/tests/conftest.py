"""Fixtures of the fees service tests: the service on port 0, a stub, an upstream publisher."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pytest

from oonledger.fees.v1 import fees_pb2, fees_pb2_grpc
from services.common.runtime import ServiceRuntime
from services.fees.adapters.batch_consumer import BatchConsumer
from services.fees.main import build
from services.fees.tests.upstream import UpstreamPublisher
from tests.support.plugin import call_metadata, channel_to

T = TypeVar("T")


@dataclass
class FeesHarness:
    runtime: ServiceRuntime
    stub: fees_pb2_grpc.FeesServiceStub

    def tenant(self) -> str:
        return "tenant-" + uuid.uuid4().hex[:10]

    def upstream(self, tenant: str) -> UpstreamPublisher:
        assert self.runtime.infra is not None
        return UpstreamPublisher(self.runtime.infra.js, self.runtime.settings, tenant)

    def consumer(self, name: str) -> BatchConsumer:
        """The service's consumer of that name (they run as the runtime's background tasks)."""
        assert self.runtime.parts is not None
        for task in self.runtime.parts.background:
            consumer = getattr(task, "__self__", None)
            if isinstance(consumer, BatchConsumer) and consumer.durable.endswith(name):
                return consumer
        raise LookupError(name)

    def md(self, tenant: str, **kwargs: Any) -> tuple[tuple[str, str], ...]:
        return call_metadata(tenant, **kwargs)

    async def publish_schedule(self, tenant: str, client_id: str, effective_from: str,
                               terms: fees_pb2.FeeTerms,
                               effective_until: str = "") -> fees_pb2.PublishFeeScheduleResponse:
        return await self.stub.PublishFeeSchedule(
            fees_pb2.PublishFeeScheduleRequest(
                request_id=uuid.uuid4().hex, client_id=client_id, effective_from=effective_from,
                effective_until=effective_until, terms=terms),
            metadata=self.md(tenant))


@pytest.fixture(scope="session")
async def fees(service_runner) -> AsyncIterator[FeesHarness]:  # type: ignore[no-untyped-def]
    runtime = await service_runner.start("fees", build)
    channel = channel_to(runtime)
    yield FeesHarness(runtime, fees_pb2_grpc.FeesServiceStub(channel))
    await channel.close()
    # Pull subscriptions keep a NATS drain waiting for its full default timeout (30 s).
    assert runtime.infra is not None
    runtime.infra.nc.options["drain_timeout"] = 2
    await service_runner.stop(runtime)


async def found(call: Callable[[], Awaitable[T]]) -> T | None:
    """The call's answer, or None while the read model has not caught up (NOT_FOUND)."""
    try:
        return await call()
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise
