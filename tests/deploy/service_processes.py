"""OON Ledger services as real subprocesses (`python -m services.<svc>.main`), the way the
container entrypoint runs them: configured only through the environment, killed with SIGKILL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.catalog import Component
from services.common.localservers import free_port, kill_process, stop_process

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ServiceProcess:
    component: Component
    replica: int
    log_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"{self.component.name}-{self.replica}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, environment: Mapping[str, str]) -> None:
        self.port = self.port or free_port()
        env = {
            **environment,
            self.component.port_variable: str(self.port),
            "OON_GRPC_HOST": "127.0.0.1",
        }
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # our own interpreter and module
                [sys.executable, "-m", self.component.module],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def serving(self) -> bool:
        async with grpc.aio.insecure_channel(self.address) as channel:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
            except grpc.aio.AioRpcError:
                return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    async def wait_serving(self, within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not await self.serving():
            if not self.alive:
                raise RuntimeError(f"{self.name} exited: {self.tail()}")
            if loop.time() > deadline:
                raise TimeoutError(f"{self.name} not SERVING within {within}s: {self.tail()}")
            await asyncio.sleep(0.2)  # polling interval, bounded by the deadline

    def kill(self) -> None:
        """SIGKILL: the pod's node is gone; no drain, no goodbye."""
        kill_process(self.process)

    def stop(self) -> None:
        stop_process(self.process, grace=15)

    def tail(self, characters: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return "(no log)"
