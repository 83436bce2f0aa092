"""`python -m gateway.main` as its own process: serves health and JSON, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.tests.conftest import http_request
from services.common.localservers import free_port
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_gateway_process_serves_and_stops_on_sigterm(infra_urls, namespace):
    grpc_port, http_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": infra_urls.database_url, "NATS_URL": infra_urls.nats_url,
           "OON_NAMESPACE": namespace, "OON_DEV_MODE": "1", "GATEWAY_GRPC_PORT": str(grpc_port),
           "GATEWAY_HTTP_PORT": str(http_port), "GATEWAY_DB_POOL_SIZE": "2"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.main", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def serving() -> bool:
                assert process.returncode is None, "the gateway exited"
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                except grpc.aio.AioRpcError:
                    return False
                return reply.status == health_pb2.HealthCheckResponse.SERVING

            await eventually(serving, timeout=30)  # type: ignore[arg-type]
        reply = await http_request(http_port, "GET", "/healthz")
        assert reply.status == 200 and reply.json() == {"status": "SERVING"}
        unauthenticated = await http_request(http_port, "POST", "/v1/claims/GetClaim", b"{}")
        assert unauthenticated.status == 401
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 0, stderr.decode()[-2000:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
