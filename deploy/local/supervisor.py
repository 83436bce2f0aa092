"""The local launcher's process supervisor: start a service, wait until it serves, restart it when
it dies (capped exponential backoff, logged), and stop it cleanly.

A crash loop backs off up to `Backoff.cap`; a service that stayed up for `Backoff.reset_after`
seconds is considered healthy again, so its next crash restarts it after `Backoff.initial`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0

    def delay(self, consecutive_failures: int) -> float:
        """1 s, 2 s, 4 s ... up to `cap`, for the 1st, 2nd, 3rd ... crash in a row."""
        return min(self.cap, self.initial * 2 ** max(0, consecutive_failures - 1))

    def failures_in_a_row(self, before: int, uptime: float) -> int:
        """The crash count after a process that ran `uptime` seconds exited: one that had been
        up for `reset_after` was healthy, so its crash starts a new count."""
        return 1 if uptime >= self.reset_after else before + 1


DEFAULT_BACKOFF = Backoff()


def as_child(argv: Sequence[str]) -> list[str]:
    """`python -m <module> ...` run through deploy/local/child.py, which makes the process die
    with the launcher (without Python code between fork and exec)."""
    if len(argv) >= 3 and argv[1] == "-m":
        return [argv[0], "-m", "deploy.local.child", *argv[1:]]
    return list(argv)


class ExitedError(RuntimeError):
    """The process exited while we waited for it to serve."""


async def wait_serving(address: str, exit_code: Callable[[], int | None], timeout: float) -> None:
    """Poll the gRPC health service at `address` until SERVING; fail if the process exits."""
    deadline = time.monotonic() + timeout
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            code = exit_code()
            if code is not None:
                raise ExitedError(f"process for {address} exited with code {code}")
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            await asyncio.sleep(0.2)  # poll interval while the process starts
    raise TimeoutError(f"{address} not SERVING after {timeout}s")


class Supervised:
    """One service process under supervision."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        address: str,
        backoff: Backoff = DEFAULT_BACKOFF,
        ready_timeout: float = 90.0,
        say: Callable[[str], None] = lambda line: print(line, flush=True),
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.address = address
        self.backoff = backoff
        self.ready_timeout = ready_timeout
        self.say = say
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._started_at = 0.0
        self._stopping = False
        self._watch: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def exit_code(self) -> int | None:
        return self.process.returncode if self.process is not None else None

    async def spawn(self) -> None:
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.process = await asyncio.create_subprocess_exec(
                *as_child(self.argv), env={**self.env, "OON_LAUNCHER_PID": str(os.getpid())},
                cwd=self.cwd, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )
        self._started_at = time.monotonic()

    async def wait_serving(self, timeout: float | None = None) -> float:
        """Seconds from spawn until SERVING."""
        await wait_serving(self.address, self.exit_code, timeout or self.ready_timeout)
        return time.monotonic() - self._started_at

    def supervise(self) -> None:
        """From now on, a process that exits is restarted (until `stop`)."""
        if self._watch is None:
            self._watch = asyncio.create_task(self._watch_loop(), name=f"supervise-{self.name}")

    async def _watch_loop(self) -> None:
        consecutive = 0
        while not self._stopping:
            assert self.process is not None
            code = await self.process.wait()
            if self._stopping:
                return
            consecutive = self.backoff.failures_in_a_row(
                consecutive, time.monotonic() - self._started_at)
            self.restarts += 1
            delay = self.backoff.delay(consecutive)
            self.say(f"{self.name} exited with code {code}; restarting in {delay:g} s "
                     f"(restart {self.restarts})")
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self.spawn()
            except OSError as exc:  # e.g. out of processes: the next round backs off further
                self.say(f"{self.name} could not be started: {exc}")
                continue
            try:
                took = await self.wait_serving()
            except (ExitedError, TimeoutError) as exc:
                self.say(f"{self.name} did not come back: {exc}; see {self.log_path}")
                if self.exit_code() is None:  # alive but not serving: restart it too
                    self.process.kill()
                continue
            self.say(f"{self.name} is SERVING again after {took:.1f} s (restart {self.restarts})")

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM (then SIGKILL after `grace`), without restarting."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            await process.wait()
