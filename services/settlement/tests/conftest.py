"""Fixtures of the settlement service tests: one running service, tenants seeded through events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import grpc
import pytest

from oonledger.settlement.v1 import settlement_pb2 as pb
from oonledger.settlement.v1 import settlement_pb2_grpc
from services.common.runtime import ServiceRuntime
from services.settlement.main import build
from tests.support.plugin import call_metadata, channel_to

from .polling import wait_for
from .scenario import ClaimFacts, claim_facts
from .upstream import Upstream

DECIDED_ON = date(2026, 10, 1)


@dataclass
class SeededTenant:
    tenant: str
    tag: str
    facts: dict[str, ClaimFacts]
    stub: settlement_pb2_grpc.SettlementServiceStub

    def claim_id(self, key: str) -> str:
        return f"claim-{key}-{self.tag}"

    def md(self, **kwargs: Any) -> tuple[tuple[str, str], ...]:
        return call_metadata(self.tenant, **kwargs)

    async def settlement(self, key: str) -> pb.Settlement:
        response = await self.stub.GetSettlement(
            pb.GetSettlementRequest(claim_id=self.claim_id(key)), metadata=self.md()
        )
        return response.settlement


@pytest.fixture(scope="session")
async def settlement_runtime(service_runner: Any) -> ServiceRuntime:
    return await service_runner.start("settlement", build)


@pytest.fixture(scope="session")
def stub(settlement_runtime: ServiceRuntime) -> settlement_pb2_grpc.SettlementServiceStub:
    return settlement_pb2_grpc.SettlementServiceStub(channel_to(settlement_runtime))


async def claim_refs_count(runtime: ServiceRuntime, tenant: str) -> int:
    assert runtime.infra is not None
    schema = runtime.settings.schema
    async with runtime.infra.pool.acquire() as conn:
        return int(
            await conn.fetchval(
                f'SELECT count(*) FROM "{schema}".claim_refs WHERE tenant_id = $1 '
                "AND pcn_index <> '' AND cardinality(icn_indexes) > 0 "
                "AND nsa_protected IS NOT NULL",
                tenant,
            )
        )


@pytest.fixture(scope="session")
def seed(
    settlement_runtime: ServiceRuntime, stub: settlement_pb2_grpc.SettlementServiceStub
) -> Callable[..., Any]:
    """Seed a fresh tenant: claims A..D registered, agreements for A, B and C."""

    async def make(open_keys: tuple[str, ...] = ("A", "B", "C")) -> SeededTenant:
        tag = uuid.uuid4().hex[:8]
        seeded = SeededTenant(f"tenant-{tag}", tag, claim_facts(tag), stub)
        assert settlement_runtime.infra is not None
        upstream = Upstream(settlement_runtime.infra.js, settlement_runtime.settings, seeded.tenant)
        for key, facts in seeded.facts.items():
            await upstream.claim(seeded.claim_id(key), facts)

        async def claims_known() -> bool:
            return await claim_refs_count(settlement_runtime, seeded.tenant) >= 4

        await wait_for(claims_known)
        for key in open_keys:
            await upstream.agreed(seeded.claim_id(key), seeded.facts[key], DECIDED_ON)

        async def settlements_open() -> bool:
            return all([await _exists(seeded, key) for key in open_keys])

        await wait_for(settlements_open)
        seeded.upstream = upstream  # type: ignore[attr-defined]
        return seeded

    return make


async def _exists(seeded: SeededTenant, key: str) -> bool:
    try:
        await seeded.settlement(key)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return False
        raise
    return True
