"""Where every asyncio task of this process is waiting: sent to the log on SIGUSR1.

An operator's `kill -USR1 <pid>` answers "which await is this stuck loop sitting in?"
without a debugger. `Task.get_stack()` shows only the outermost frame of a suspended
coroutine, so the await chain (`cr_await`) is walked down to the innermost frame.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger(__name__)


def _await_chain(awaitable: object) -> Iterator[FrameType]:
    seen = 0
    while awaitable is not None and seen < 64:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            return
        yield frame
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
        seen += 1


def describe_tasks() -> str:
    """One block per task: its name, then the frames it is suspended in, outermost first."""
    blocks: list[str] = []
    for task in sorted(asyncio.all_tasks(), key=lambda t: t.get_name()):
        lines = [f"task {task.get_name()} ({'done' if task.done() else 'pending'})"]
        for frame in _await_chain(task.get_coro()):
            code = frame.f_code
            lines.append(f"  {code.co_filename}:{frame.f_lineno} in {code.co_name}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def log_tasks() -> None:
    log.warning("asyncio tasks:\n%s", describe_tasks())
