"""Honouring a cancellation that a library swallowed.

Two libraries under the services can eat a `CancelledError`: nats-py's internal flush
catches it, and Python 3.11's `asyncio.wait_for` returns normally when the awaited thing
completes in the same loop turn as the cancel. The task still counts the request
(`Task.cancelling()`), so a long-running loop that checks at each turn stops anyway instead
of running on as a zombie that a TaskGroup or a shutdown waits for forever.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelling() -> None:
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError("cancellation requested earlier and swallowed below")
