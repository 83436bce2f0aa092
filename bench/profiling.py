"""Optional py-spy flame graphs of a service process while a bench drives it.

`BENCH_PROFILE=DIR` (or a module's own setting) makes `profiled(pid, name)` record the
process's GIL-holding thread (where its one core goes) into DIR/<name>.svg until the block
ends; BENCH_PROFILE_FORMAT=raw writes collapsed stacks instead (for scripted analysis).
Without the setting it does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def profiled(pid: int, name: str, directory: str | None = None) -> AsyncIterator[None]:
    directory = directory if directory is not None else os.environ.get("BENCH_PROFILE", "")
    if not directory:
        yield
        return
    os.makedirs(directory, exist_ok=True)
    fmt = os.environ.get("BENCH_PROFILE_FORMAT", "flamegraph")
    suffix = "svg" if fmt == "flamegraph" else "txt"
    spy = subprocess.Popen([
        os.path.join(os.path.dirname(sys.executable), "py-spy"), "record", "--gil", "-r", "97",
        "--pid", str(pid), "--format", fmt, "-o", os.path.join(directory, f"{name}.{suffix}"),
    ])
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
