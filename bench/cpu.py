"""CPU seconds spent by the processes a bench drives: its own process (every service it hosts,
all threads), the PostgreSQL server's processes and the NATS server, over a window.

What a step costs the machine, as opposed to how long it took: with 2 cores, a step that
needs C CPU seconds cannot take less than C / 2 seconds of wall time however it is split. CPU
of a process that exits inside the window (a PostgreSQL backend closing) is not counted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import psutil


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


@dataclass
class Snapshot:
    by_pid: dict[int, tuple[str, float]]  # pid -> (group, cpu seconds)


class CpuMeter:
    """`await CpuMeter.of_servers()` finds the servers; `snapshot()` before and after a window,
    `spent(before, after)` the CPU seconds per group ("services", "postgres", "nats")."""

    def __init__(self, postmaster: int | None, nats: int | None) -> None:
        self.postmaster = postmaster
        self.nats = nats

    @classmethod
    async def of_servers(cls) -> CpuMeter:
        postmaster = None
        try:
            conn = await asyncpg.connect(os.environ["DATABASE_URL"])
            try:
                data = await conn.fetchval("SHOW data_directory")
            finally:
                await conn.close()
            postmaster = int((Path(data) / "postmaster.pid").read_text().split()[0])
            psutil.Process(postmaster).cpu_times()  # readable by this process
        except (OSError, ValueError, asyncpg.PostgresError, psutil.Error):
            postmaster = None  # not a local server this process may read: not measured
        port = urlparse(os.environ.get("NATS_URL", "")).port
        nats = None
        for process in psutil.process_iter(["name", "cmdline"]):
            if process.info["name"] == "nats-server" and str(port) in " ".join(
                    process.info["cmdline"] or ()):
                nats = process.pid
        return cls(postmaster, nats)

    def snapshot(self) -> Snapshot:
        out: dict[int, tuple[str, float]] = {}
        me = psutil.Process()
        out[me.pid] = ("services", _cpu(me))
        if self.postmaster is not None:  # a postmaster gone mid-bench raises: no silent 0
            root = psutil.Process(self.postmaster)
            for process in (root, *root.children(recursive=True)):
                out[process.pid] = ("postgres", _cpu(process))
        if self.nats is not None:
            out[self.nats] = ("nats", _cpu(psutil.Process(self.nats)))
        return Snapshot(out)

    @staticmethod
    def spent(before: Snapshot, after: Snapshot) -> dict[str, float]:
        """CPU seconds per group measured (a server this process cannot see has no group,
        rather than a 0 that would read as free)."""
        totals = {group: 0.0 for group, _ in after.by_pid.values()}
        for pid, (group, cpu) in after.by_pid.items():
            totals[group] += cpu - before.by_pid.get(pid, (group, 0.0))[1]
        return totals
