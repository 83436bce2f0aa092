"""A blocked event loop is reported with its length and where it was (loop_watch.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from services.common import loop_watch


def hold_the_loop_in_a_synchronous_step(seconds: float) -> None:
    """What the watch exists to catch: synchronous work on the loop's thread (a blocking
    call, here a sleep of a known length), named by this frame in the watch's stack."""
    time.sleep(seconds)


def run_in_own_loop(body: Callable[[], Any]) -> Any:
    """`body` (a coroutine function) on a fresh loop in a thread of its own, so that the
    test session's loop and its watch stay out of it."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def main() -> None:
        try:
            result.append(asyncio.run(body()))
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=main)
    thread.start()
    thread.join(30)
    if errors:
        raise errors[0]
    return result[0]


def started_watch(threshold: float = 0.25) -> loop_watch.LoopWatch:
    """A watch of the running loop that logs every block (no rate limit): a loaded machine
    may add a block of its own, which must not hide the one under test."""
    watch = loop_watch.LoopWatch(asyncio.get_running_loop(), "svc", threshold=threshold,
                                 log_every=0)
    watch.start()
    return watch


def test_a_blocked_loop_is_logged_with_its_length_and_the_blocking_frame(caplog) -> None:
    async def body() -> loop_watch.LoopWatch:
        watch = started_watch()
        await asyncio.sleep(0.3)  # the watch's first question is answered in time
        hold_the_loop_in_a_synchronous_step(0.6)
        await asyncio.sleep(0.3)  # the answer arrives, the line is written
        watch.stop()
        return watch

    with caplog.at_level(logging.WARNING, logger=loop_watch.__name__):
        watch = run_in_own_loop(body)
    assert watch.blocks >= 1 and 0.5 <= watch.longest, (watch.blocks, watch.longest)
    [line] = [r.getMessage() for r in caplog.records
              if "hold_the_loop_in_a_synchronous_step" in r.getMessage()]
    held = float(line.split("event loop blocked for ")[1].split(" s")[0])
    assert line.startswith("svc: event loop blocked for ") and held >= 0.5, line


def test_a_loop_that_keeps_answering_reports_nothing(caplog) -> None:
    async def body() -> loop_watch.LoopWatch:
        watch = started_watch(threshold=1.0)  # 50 times the steps below: no load reaches it
        for _ in range(20):
            hold_the_loop_in_a_synchronous_step(0.02)
            await asyncio.sleep(0.02)
        watch.stop()
        return watch

    with caplog.at_level(logging.WARNING, logger=loop_watch.__name__):
        watch = run_in_own_loop(body)
    assert watch.blocks == 0 and not caplog.records


def test_one_watch_per_loop() -> None:
    async def body() -> bool:
        first = loop_watch.watch_running_loop("claims")
        second = loop_watch.watch_running_loop("fees")
        first.stop()
        return first is second

    assert run_in_own_loop(body)


def test_lines_are_rate_limited_and_the_rest_counted(caplog) -> None:
    watch = loop_watch.LoopWatch(asyncio.new_event_loop(), "svc", log_every=60)
    with caplog.at_level(logging.WARNING, logger=loop_watch.__name__):
        for seconds in (0.3, 0.9, 0.4):
            watch.record(loop_watch.Block(seconds, "  File x\n", 0.0))
        watch._last_line -= 61  # a minute later
        watch.record(loop_watch.Block(0.3, "  File x\n", 0.5))
    watch.loop.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and watch.blocks == 4 and watch.longest == 0.9
    assert "2 more block(s) since the last line, the longest 0.90 s" in lines[1]
    assert "full garbage collections took 0.50 s of it" in lines[1]


def test_a_full_collection_during_a_block_is_counted(caplog) -> None:
    async def body() -> loop_watch.LoopWatch:
        watch = started_watch()
        await asyncio.sleep(0.3)
        started = time.perf_counter()
        garbage = [[i] for i in range(300_000)]
        while time.perf_counter() - started < 0.5:
            gc.collect()  # generation 2
        del garbage
        await asyncio.sleep(0.3)
        watch.stop()
        return watch

    with caplog.at_level(logging.WARNING, logger=loop_watch.__name__):
        watch = run_in_own_loop(body)
    assert watch.blocks >= 1
    assert any("full garbage collections took 0." in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("value", ["x", "0", "-1"])
def test_a_bad_threshold_names_the_setting(monkeypatch, value: str) -> None:
    monkeypatch.setenv("OON_LOOP_BLOCKED_SECONDS", value)
    with pytest.raises(ValueError, match="OON_LOOP_BLOCKED_SECONDS"):
        loop_watch.threshold_from_env()
