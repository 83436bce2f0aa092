"""The claims service the service tests call (one per test session: real PostgreSQL and NATS,
gRPC server on port 0)."""

from __future__ import annotations

import pytest

from oonledger.claims.v1.claims_pb2_grpc import ClaimsServiceStub
from services.claims.main import build
from tests.support.plugin import channel_to


@pytest.fixture(scope="session")
async def runtime(service_runner):
    return await service_runner.start("claims", build)


@pytest.fixture(scope="session")
async def stub(runtime):
    return ClaimsServiceStub(channel_to(runtime))
