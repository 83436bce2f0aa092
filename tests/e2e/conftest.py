"""The whole system in one test process: every service on real PostgreSQL + NATS (gRPC on port
0) behind a gateway; tests talk to the gateway only, as a partner would."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from gateway.catalog import UPSTREAMS
from gateway.server import GatewayProcess, make_builder, process_of
from gateway.tests.conftest import stop_quickly
from services.common.runtime import ServiceRuntime


@dataclass
class Stack:
    gateway: ServiceRuntime
    process: GatewayProcess
    services: dict[str, ServiceRuntime]
    missing: dict[str, str]

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.gateway.port}"

    @property
    def http_port(self) -> int:
        return self.process.http_port

    def require(self, *services: str) -> None:
        absent = {s: self.missing[s] for s in services if s in self.missing}
        if absent:
            pytest.skip(f"service(s) not available yet: {absent}")

    async def partner(self, tenant: str, *roles: str) -> str:
        now = datetime.now(UTC)
        created = await self.process.store.create(
            tenant_id=tenant, roles=roles, now=now, expires_at=now + timedelta(hours=2),
            label=f"e2e {'+'.join(roles)}", rate_per_second=1000, burst=2000)
        return created.token


@pytest.fixture(scope="session")
async def stack(service_runner) -> AsyncIterator[Stack]:
    services: dict[str, ServiceRuntime] = {}
    missing: dict[str, str] = {}
    for name in UPSTREAMS:
        try:
            module = importlib.import_module(f"services.{name}.main")
        except ImportError as exc:
            missing[name] = f"services.{name}.main does not import: {exc}"
            continue
        try:
            # Small pools: the development PostgreSQL is shared by every test run on the machine.
            services[name] = await service_runner.start(name, module.build, db_pool_size=2)
        except Exception as exc:  # a service that cannot start is reported, not hidden
            missing[name] = f"{name} failed to start: {exc!r}"
    env = {f"{name.upper()}_ADDR": f"127.0.0.1:{runtime.port}"
           for name, runtime in services.items()}
    env.update({f"{n.upper()}_ADDR": "127.0.0.1:9" for n in missing})
    env["GATEWAY_HTTP_PORT"] = "0"
    # Partner events (tests/e2e/test_partner_events.py): a webhook receiver on loopback, and
    # retries that reach it within seconds of its return.
    env.update(GATEWAY_WEBHOOK_ALLOW_INSECURE="1", GATEWAY_WEBHOOK_MAX_BACKOFF_SECONDS="4",
               GATEWAY_PARTNER_POLL_SECONDS="0.2")
    gateway = await service_runner.start("gateway", make_builder(env), db_pool_size=2)
    yield Stack(gateway, process_of(gateway), services, missing)
    await stop_quickly(service_runner, gateway, *services.values())


@dataclass
class Partner:
    """One partner key: calls any public method by short service name over gRPC."""

    channel: grpc.aio.Channel
    token: str

    def stub(self, module: Any, service: str) -> Any:
        return getattr(module, f"{service}Stub")(self.channel)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"), ("x-request-id", uuid.uuid4().hex))


@pytest.fixture
async def channel(stack: Stack) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(stack.grpc_address) as channel:
        yield channel


def roles(*names: str) -> Iterable[str]:
    return names
