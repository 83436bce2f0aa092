"""A ledger behind the real partner gateway, and the auditor CLI run as an auditor would."""

from __future__ import annotations

import io
import pathlib
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.server import GatewayProcess, make_builder, process_of
from gateway.tests.conftest import gateway_environ, stop_quickly
from services.common.runtime import ServiceRuntime
from services.ledger.auditor import cli as auditor_cli
from services.ledger.tests.ledger_harness import Ledger, start_ledger
from tests.support.plugin import ServiceRunner


@dataclass
class Audited:
    """A ledger, the gateway in front of it, and a way to issue keys."""

    ledger: Ledger
    gateway: ServiceRuntime
    process: GatewayProcess

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.gateway.port}"

    async def key(self, tenant: str, *roles: str) -> str:
        now = datetime.now(UTC)
        created = await self.process.store.create(
            tenant_id=tenant, roles=roles or ("auditor",), now=now,
            expires_at=now + timedelta(hours=1), label="auditor test",
            rate_per_second=1000, burst=1000,
        )
        return created.token

    async def close(self, runner: ServiceRunner) -> None:
        await stop_quickly(runner, self.gateway)
        await self.ledger.close(runner)


async def start_audited(
    runner: ServiceRunner, key_dir: pathlib.Path, namespace: str
) -> Audited:
    ledger = await start_ledger(runner, key_dir, namespace=namespace)
    # Only the ledger is behind this gateway: every other upstream points at a closed port.
    env = gateway_environ(9, LEDGER_ADDR=f"127.0.0.1:{ledger.runtime.port}")
    gateway = await runner.start("gateway", make_builder(env), namespace=namespace)
    return Audited(ledger, gateway, process_of(gateway))


async def cli(*argv: str) -> tuple[int, str]:
    """The auditor tool in-process: (exit status, everything it printed)."""
    out = io.StringIO()
    code = await auditor_cli.run(list(argv), out)
    return code, out.getvalue()


async def shell(line: str) -> tuple[int, str]:
    """One README line (`$A command args...`, variables already substituted)."""
    return await cli(*shlex.split(line))
