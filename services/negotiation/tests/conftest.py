"""One negotiation service per test session (gRPC on port 0), stopped with the session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from services.negotiation.client import Client
from services.negotiation.main import build
from tests.support.plugin import channel_to


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def runtime(service_runner: Any) -> Any:
    # service_runner stops every runtime it started when the session ends.
    return await service_runner.start("negotiation", build)


@pytest_asyncio.fixture(loop_scope="session")
async def client(runtime: Any) -> AsyncIterator[Client]:
    """A negotiator of a fresh tenant (test_service.py keeps its own of the same shape)."""
    async with channel_to(runtime) as channel:
        yield Client(channel, f"tenant-{uuid.uuid4().hex[:8]}", ("negotiator",))
