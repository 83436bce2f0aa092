"""One service of the e2e stack as a real process (`python -m services.<svc>.main`), on the port
the gateway forwards to, so a test can kill -9 it: the in-process service is stopped first and
put back afterwards (tests/jobs/test_import_jobs_kill.py)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.catalog import COMPONENTS
from services.common.runtime import ServiceRuntime
from tests.deploy.service_processes import ServiceProcess
from tests.e2e.conftest import Stack
from tests.support.plugin import TEST_SIGNING_PEM, TEST_VERIFY_PEM, InfraUrls

START_WITHIN = 120.0  # seconds; the machine is shared and loaded


@dataclass
class ProcessService:
    stack: Stack
    runner: Any  # the session's ServiceRunner
    name: str
    build: Callable[..., Any]
    infra: InfraUrls
    namespace: str
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: ServiceProcess | None = None
    kills: int = 0
    log_path: Path | None = None  # the process's log (kept once it is back in process)
    schema: str = ""  # the service's schema (its tables), known once it is out of process

    @property
    def port(self) -> int:
        return self.stack.services[self.name].port if self.process is None else self.process.port

    def environment(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("OON_", "DATABASE_", "NATS_"))}
        return {**keep, "DATABASE_URL": self.infra.database_url, "NATS_URL": self.infra.nats_url,
                "OON_NAMESPACE": self.namespace, "OON_DEV_MODE": "1",
                "OON_INTERNAL_SIGNING_KEY": TEST_SIGNING_PEM,
                "OON_INTERNAL_VERIFY_KEY": TEST_VERIFY_PEM, "OON_DB_POOL_SIZE": "2",
                f"{self.name.upper()}_METRICS_PORT": "0", **self.extra_env}

    async def out_of_process(self) -> None:
        """Stop the in-process service and start the process on its port."""
        runtime: ServiceRuntime = self.stack.services[self.name]
        port = runtime.port
        self.schema = runtime.settings.schema
        await self.runner.stop(runtime)
        self.process = ServiceProcess(COMPONENTS[self.name], 0, self.log_dir, port=port)
        self.log_path = self.process.log_path
        await self.start()

    async def start(self) -> None:
        assert self.process is not None
        self.process.start(self.environment())
        await self.process.wait_serving(START_WITHIN)

    @property
    def pid(self) -> int:
        assert self.process is not None and self.process.process is not None
        return self.process.process.pid

    def killed(self) -> None:
        """The process was sent SIGKILL (kill -9: no drain, no goodbye) by a
        tests/e2e/job_killer.py process: reap it."""
        assert self.process is not None and self.process.process is not None
        self.process.process.wait(timeout=30)
        self.kills += 1

    async def back_in_process(self) -> ServiceRuntime:
        """Stop the process and put the in-process service back on the same port."""
        assert self.process is not None
        port = self.process.port
        # Off the event loop: the process's graceful stop may wait for the in-process
        # services (its consumers' acknowledgements, the ledger), which run on this loop.
        await asyncio.to_thread(self.process.stop)
        self.process = None
        runtime: ServiceRuntime = await self.runner.start(
            self.name, self.build, db_pool_size=2, grpc_port=port)
        self.stack.services[self.name] = runtime
        return runtime

    def log(self) -> str:
        return self.process.tail() if self.process is not None else ""

    def loop_blocks(self) -> list[str]:
        """The process log's reports of a blocked event loop (services/common/loop_watch.py),
        each with the stack it names, over every run of the process."""
        if self.log_path is None:
            return []
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [entry for entry in re.split(r"\n(?=\d{4}-\d\d-\d\d )", text)
                if "event loop blocked for" in entry]


@dataclass
class GatewayReplica:
    """A second gateway as a real process (`python -m gateway.main`), forwarding to the same
    services with the same keys (same namespace): what a partner watching a long job talks
    to in production, away from the test interpreter where the other services work through
    the import's backlog (tests/large)."""

    stack: Stack
    infra: InfraUrls
    namespace: str
    log_dir: Path
    upstreams: dict[str, int]
    process: ServiceProcess | None = None

    @property
    def address(self) -> str:
        assert self.process is not None
        return self.process.address

    async def start(self) -> None:
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("OON_", "DATABASE_", "NATS_", "GATEWAY_"))}
        env = {**keep, "DATABASE_URL": self.infra.database_url, "NATS_URL": self.infra.nats_url,
               "OON_NAMESPACE": self.namespace, "OON_DEV_MODE": "1",
               "OON_INTERNAL_SIGNING_KEY": TEST_SIGNING_PEM,
               "OON_INTERNAL_VERIFY_KEY": TEST_VERIFY_PEM, "OON_DB_POOL_SIZE": "2",
               "GATEWAY_HTTP_PORT": "0", "GATEWAY_METRICS_PORT": "0",
               **{f"{name.upper()}_ADDR": f"127.0.0.1:{port}"
                  for name, port in self.upstreams.items()}}
        self.process = ServiceProcess(COMPONENTS["gateway"], 1, self.log_dir)
        self.process.start(env)
        await self.process.wait_serving(START_WITHIN)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
