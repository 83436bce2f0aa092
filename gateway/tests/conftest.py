"""Fixtures: a recording upstream behind a gateway started on the shared runtime (port 0)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from gateway.catalog import UPSTREAMS, Catalog
from gateway.keystore import KeyStore
from gateway.server import GatewayProcess, make_builder, process_of
from gateway.tests.upstream import RecordingUpstream
from services.common.runtime import ServiceRuntime

MAX_REQUEST_BYTES = 64 * 1024


@dataclass
class RunningGateway:
    runtime: ServiceRuntime
    process: GatewayProcess
    upstream: RecordingUpstream

    @property
    def store(self) -> KeyStore:
        return self.process.store

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.runtime.port}"

    @property
    def http_port(self) -> int:
        return self.process.http_port

    async def key(self, tenant: str | None = None, roles: Iterable[str] = ("negotiator",),
                  rate: float = 1000.0, burst: int = 1000) -> tuple[str, str, str]:
        """(token, key id, tenant) of a fresh key."""
        tenant = tenant or f"tenant-{uuid.uuid4().hex[:8]}"
        now = datetime.now(UTC)
        created = await self.store.create(
            tenant_id=tenant, roles=roles, now=now, expires_at=now + timedelta(hours=1),
            label="test", rate_per_second=rate, burst=burst)
        return created.token, created.record.key_id, tenant


async def stop_quickly(service_runner: Any, *runtimes: ServiceRuntime) -> None:
    """Stop runtimes together. nats-py's drain waits out its 30 s timeout when pull consumers
    were mid-fetch (reported to the lead); nothing is left to deliver, so 2 s is plenty."""
    for runtime in runtimes:
        if runtime.infra is not None:
            runtime.infra.nc.options["drain_timeout"] = 2
    await asyncio.gather(*(service_runner.stop(runtime) for runtime in runtimes))


@pytest.fixture(scope="session")
async def recording_upstream() -> AsyncIterator[RecordingUpstream]:
    upstream = RecordingUpstream(Catalog.discover())
    await upstream.start()
    yield upstream
    await upstream.stop()


def gateway_environ(upstream_port: int, **extra: str) -> dict[str, str]:
    env = {f"{name.upper()}_ADDR": f"127.0.0.1:{upstream_port}" for name in UPSTREAMS}
    env.update(GATEWAY_HTTP_PORT="0", GATEWAY_MAX_REQUEST_BYTES=str(MAX_REQUEST_BYTES))
    env.update(extra)
    return env


@pytest.fixture(scope="session")
async def gateway(service_runner, recording_upstream) -> RunningGateway:
    runtime = await service_runner.start(
        "gateway", make_builder(gateway_environ(recording_upstream.port)))
    process = process_of(runtime)
    return RunningGateway(runtime, process, recording_upstream)


@pytest.fixture
async def channel(gateway: RunningGateway) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
        yield channel


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def http_request(port: int, method: str, path: str, body: bytes = b"",
                       headers: dict[str, str] | None = None, *, ssl: Any = None) -> HttpReply:
    """One request on its own connection, read to the end (Connection: close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl)
    head = [f"{method} {path} HTTP/1.1", "Host: gateway", "Connection: close",
            f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    try:
        raw = await reader.read()
    finally:
        writer.close()
    if not raw:
        raise ConnectionError("the server closed the connection without answering")
    return parse_reply(raw)


def parse_reply(raw: bytes) -> HttpReply:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return HttpReply(status, headers, body)


def dechunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return bytes(out)
        out += data[:size]
        data = data[size + 2:]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
