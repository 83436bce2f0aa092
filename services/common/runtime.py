"""Composition and lifecycle of one service process.

Start-up order: pools → NATS streams → application → gRPC server (health NOT_SERVING) →
relay and consumer tasks → SERVING. SIGTERM/SIGINT: NOT_SERVING → stop(grace) → drain → close.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.common import (
    gc_tuning,
    internal_auth,
    jetstream,
    loop_watch,
    request_log,
    taskdump,
    telemetry,
)
from services.common.consumer import Consumer, Subscription
from services.common.eventstore import ServiceApplication
from services.common.grpc_server import Blocking, GrpcServer, ServicerBinding
from services.common.health import ProgressMonitor
from services.common.processors import ProjectionProcessor
from services.common.relay import Relay
from services.common.settings import Settings
from services.common.status_http import StatusHttpServer

log = logging.getLogger(__name__)


@dataclass
class Infrastructure:
    """What a service's composition root receives."""

    settings: Settings
    pool: asyncpg.Pool
    nc: NATS
    js: JetStreamContext
    blocking: Blocking
    # Where the relay, consumers and batch loops report progress (services/common/health.py).
    monitor: ProgressMonitor


@dataclass
class ServiceParts:
    """What a service's composition root returns."""

    bindings: list[ServicerBinding]
    app: ServiceApplication | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    # Read-model DDL and similar, run before serving (idempotent).
    migrations: list[Callable[[asyncpg.Pool], Awaitable[None]]] = field(default_factory=list)
    # Long-running extra tasks (schedulers, checkpoint signers); restarted if they crash.
    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


Builder = Callable[[Infrastructure], ServiceParts | Awaitable[ServiceParts]]


class ServiceRuntime:
    def __init__(self, settings: Settings, builder: Builder, *, tune_gc: bool = False) -> None:
        self.settings = settings
        self.builder = builder
        # A service's own process (run_service) freezes its start-up heap once serving;
        # an in-process runtime (tests, benchmarks) leaves the host's collector alone.
        self.tune_gc = tune_gc
        # Fails fast, before anything starts, when no key to verify callers with is configured.
        self.verifier = internal_auth.InternalVerifier.from_settings(settings)
        self.parts: ServiceParts | None = None
        self.infra: Infrastructure | None = None
        self.server: GrpcServer | None = None
        self.relay: Relay | None = None
        self.consumers: list[Consumer] = []
        self.monitor = ProgressMonitor(settings.service, settings.stall_seconds,
                                       sink=self._part_health)
        self.status_http: StatusHttpServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def port(self) -> int:
        return self.server.port if self.server else 0

    @property
    def metrics_port(self) -> int:
        """The bound port of the /metrics and /status endpoint."""
        return self.status_http.port if self.status_http else 0

    async def _part_health(self, part: str, serving: bool) -> None:
        if self.server is not None:
            await self.server.set_part(part, serving)

    @property
    def address(self) -> str:
        return f"{self.settings.grpc_host}:{self.port}"

    async def start(self) -> None:
        settings = self.settings
        telemetry.configure(settings.service)
        loop_watch.watch_running_loop(settings.service)
        pool = await asyncpg.create_pool(
            settings.database_url, min_size=1, max_size=max(4, settings.db_pool_size)
        )
        nc = await jetstream.connect(settings)
        js = nc.jetstream()
        await jetstream.ensure_streams(js, settings)
        blocking = Blocking(threads=settings.db_pool_size + 2)
        self.infra = Infrastructure(settings, pool, nc, js, blocking, self.monitor)
        built = self.builder(self.infra)
        self.parts = await built if inspect.isawaitable(built) else built
        for migrate in self.parts.migrations:
            await migrate(pool)
        for sub in self.parts.subscriptions:
            if isinstance(sub.processor, ProjectionProcessor):
                await sub.processor.migrate()
        self.server = GrpcServer(settings.grpc_host, settings.grpc_port, self.parts.bindings,
                                 verifier=self.verifier)
        await self.server.start()
        self.status_http = StatusHttpServer(settings.metrics_host, settings.metrics_port,
                                            self.monitor.status)
        await self.status_http.start()
        if self.parts.app is not None:
            self.relay = Relay(self.parts.app, settings, js, pool, self.monitor)
            self._spawn("relay", self.relay.run)
        for sub in self.parts.subscriptions:
            consumer = Consumer(js, settings, sub, self.monitor)
            self.consumers.append(consumer)
            self._spawn(consumer.durable, consumer.run)
        for index, task in enumerate(self.parts.background):
            self._spawn(f"background-{index}", task)
        self._spawn("progress-monitor", self.monitor.run)
        await self.server.set_serving(True)
        for part in self.monitor.parts:
            await self.server.set_part(part.name, serving=True)
        if self.tune_gc:
            gc_tuning.after_start()
        log.info("%s serving on %s (metrics and status on %s:%d)", settings.service,
                 self.address, settings.metrics_host, self.metrics_port)

    def _spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        async def supervised() -> None:
            while True:
                try:
                    await factory()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if self._stopping:
                        # A library swallowed our cancellation (nats-py does, in a flush);
                        # never restart a task once the service is stopping.
                        return
                    log.exception("%s/%s crashed; restarting", self.settings.service, name)
                    await asyncio.sleep(1)  # back off before restarting a crashed task

        task_name = f"{self.settings.service}:{name}"
        self._tasks.append(asyncio.create_task(supervised(), name=task_name))

    async def stop(self, grace: float = 5.0) -> None:
        self._stopping = True
        if self.server is not None:
            await self.server.stop(grace)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a task stuck in a driver call must not hold the shutdown forever.
            _, stuck = await asyncio.wait(self._tasks, timeout=grace)
            for task in stuck:
                log.warning("%s: task %s did not stop within %.0fs", self.settings.service,
                            task.get_name(), grace)
        self._tasks.clear()
        if self.status_http is not None:
            await self.status_http.stop()
        self.monitor.close()
        if self.relay is not None:
            self.relay.close()
        if self.parts is not None:
            for hook in self.parts.on_stop:
                await hook()
        if self.infra is not None:
            with contextlib.suppress(Exception):
                await self.infra.nc.drain()
            try:
                # asyncpg waits for every acquired connection to be released; do not wait forever.
                await asyncio.wait_for(self.infra.pool.close(), timeout=grace)
            except TimeoutError:
                self.infra.pool.terminate()
            self.infra.blocking.shutdown()
        if self.parts is not None and self.parts.app is not None:
            self.parts.app.close()

    async def serve_forever(self) -> None:
        await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, taskdump.log_tasks)
        await stop.wait()
        log.info("%s stopping", self.settings.service)
        await self.stop(grace=float(os.environ.get("OON_SHUTDOWN_GRACE", "10")))


def run_service(service: str, builder: Builder, **overrides: Any) -> None:
    """Entry point used by each `services/<svc>/main.py`."""
    logging.basicConfig(
        level=os.environ.get("OON_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    request_log.configure()
    settings = Settings.from_env(service, **overrides)
    asyncio.run(ServiceRuntime(settings, builder, tune_gc=True).serve_forever())
