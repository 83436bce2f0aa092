import asyncio

import pytest

from services.common.taskdump import describe_tasks

pytestmark = pytest.mark.asyncio


async def _innermost(gate: asyncio.Event) -> None:
    await gate.wait()


async def _outer(gate: asyncio.Event) -> None:
    await _innermost(gate)


async def test_the_dump_names_the_innermost_await_of_a_suspended_task() -> None:
    gate = asyncio.Event()
    task = asyncio.create_task(_outer(gate), name="stuck-loop")
    await asyncio.sleep(0)
    dump = describe_tasks()
    block = dump[dump.index("task stuck-loop (pending)") :].split("\ntask ")[0]
    assert "in _outer" in block
    assert "in _innermost" in block
    assert "in wait" in block  # asyncio.Event.wait, where it actually sits
    gate.set()
    await task
