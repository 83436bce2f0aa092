"""One negotiation service per test session (gRPC on port 0), stopped with the session."""

from __future__ import annotations

from typing import Any

import pytest_asyncio

from services.negotiation.main import build


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def runtime(service_runner: Any) -> Any:
    # service_runner stops every runtime it started when the session ends.
    return await service_runner.start("negotiation", build)
