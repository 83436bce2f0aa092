"""Resident memory of the bench's own process (every service it hosts) over a window.

A thread samples /proc's RSS every 50 ms, so the peak is seen even while the event loop is busy;
`window()` gives the RSS before the window and the highest RSS inside it, in MB.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import psutil

SAMPLE_EVERY_S = 0.05


@dataclass
class MemoryWindow:
    before_mb: float = 0.0
    peak_mb: float = 0.0


def rss_mb(process: psutil.Process) -> float:
    return process.memory_info().rss / 1e6


@contextlib.contextmanager
def memory_window() -> Iterator[MemoryWindow]:
    process = psutil.Process()
    window = MemoryWindow(before_mb=rss_mb(process))
    window.peak_mb = window.before_mb
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(SAMPLE_EVERY_S):
            window.peak_mb = max(window.peak_mb, rss_mb(process))

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield window
    finally:
        stop.set()
        sampler.join()
        window.peak_mb = max(window.peak_mb, rss_mb(process))
