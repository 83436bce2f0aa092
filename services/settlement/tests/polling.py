"""A typed wrapper over the shared `eventually` poller (its union signature defeats inference)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from tests.support.plugin import eventually

T = TypeVar("T")


async def wait_for(probe: Callable[[], Awaitable[T | None]], within: float = 30) -> T:
    """Poll an async probe until it returns something truthy, within `within` seconds."""
    result: Any = await eventually(probe, timeout=within)  # type: ignore[arg-type]
    return cast(T, result)
