"""A streaming RPC its caller abandons mid-stream ends quietly: grpc leaves the servicer's
generator to the garbage collector, which closes it from another context; the server span
must not be held current across the generator's yields (services/common/telemetry.py,
StreamSpan), or opentelemetry logs "Failed to detach context" as an ERROR for every such call
(seen in CI on WatchImportJob)."""

from __future__ import annotations

import asyncio
import gc
import logging

import grpc
import pytest
from grpc_health.v1 import health_pb2

from services.common import grpc_server
from services.common.auth import AUDITOR, ROLE_TABLE, grant
from services.common.grpc_server import ServicerBinding, rpc_stream
from services.common.runtime import ServiceParts
from tests.support.plugin import call_metadata, channel_to

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICE = "oonledger.test.v1.FloodService"
FLOOD = f"/{SERVICE}/Flood"
Req = health_pb2.HealthCheckRequest
Resp = health_pb2.HealthCheckResponse


@pytest.fixture(autouse=True)
def flood_in_the_role_table(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(grpc_server, "ROLE_TABLE", (grant(f"{SERVICE}/*", AUDITOR), *ROLE_TABLE))


class Flood:
    @rpc_stream
    async def Flood(self, request, ctx, context):  # type: ignore[no-untyped-def]
        """Replies without end: the generator is nearly always suspended at its yield while
        grpc sends, which is where a cancelled call leaves it."""
        while True:
            yield Resp(status=Resp.SERVING)


def add(servicer: Flood, server: grpc.aio.Server) -> None:
    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Flood": grpc.unary_stream_rpc_method_handler(
            servicer.Flood, Req.FromString, Resp.SerializeToString)})
    server.add_generic_rpc_handlers((handler,))


async def test_a_stream_the_caller_abandons_ends_without_an_error(service_runner, caplog):  # type: ignore[no-untyped-def]
    runtime = await service_runner.start(
        "flood", lambda infra: ServiceParts(bindings=[ServicerBinding(add, Flood(), SERVICE)]))
    caplog.set_level(logging.WARNING)
    try:
        async with channel_to(runtime) as channel:
            flood = channel.unary_stream(FLOOD, Req.SerializeToString, Resp.FromString)
            for _ in range(5):
                call = flood(Req(), metadata=call_metadata("tenant-a", roles=("auditor",)))
                for _ in range(3):
                    assert (await call.read()).status == Resp.SERVING
                call.cancel()
                del call
        for _ in range(5):  # the abandoned generators are collected and closed now
            gc.collect()
            await asyncio.sleep(0.2)
    finally:
        await service_runner.stop(runtime)
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
