"""`make run`'s supervisor: a service killed with SIGKILL comes back, with capped exponential
backoff and a log line per restart, and serves again through the gateway."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import tempfile
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.catalog import COMPONENTS
from deploy.local.run import LocalStack
from deploy.local.supervisor import Backoff, ExitedError, wait_serving
from gateway.demo import create_demo_key
from services.common.localservers import free_port
from tests.support.plugin import InfraUrls, eventually

BACKOFF = Backoff(initial=0.5, cap=1.0, reset_after=120.0)


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(initial=1.0, cap=30.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_backoff_starts_over_after_a_service_stayed_up_for_a_while() -> None:
    backoff = Backoff(initial=1.0, cap=30.0, reset_after=60.0)
    crashes = 0
    for uptime in (0.5, 2.0, 3.0):  # a crash loop: each restart waits longer
        crashes = backoff.failures_in_a_row(crashes, uptime)
    assert (crashes, backoff.delay(crashes)) == (3, 4.0)
    crashes = backoff.failures_in_a_row(crashes, 600.0)  # healthy for ten minutes, then died
    assert (crashes, backoff.delay(crashes)) == (1, 1.0)


def http_post(port: int, path: str, token: str, body: dict[str, object]) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture
async def stack(infra_urls: InfraUrls, namespace: str) -> AsyncIterator[LocalStack]:
    env = {k: v for k, v in os.environ.items() if k not in ("OON_CIPHER_KEY",)}
    env.update(DATABASE_URL=infra_urls.database_url, NATS_URL=infra_urls.nats_url,
               OON_NAMESPACE=f"{namespace}r", GATEWAY_HTTP_PORT=str(free_port()))
    for component in COMPONENTS.values():
        env[component.port_variable] = str(free_port())
    data_dir = Path(tempfile.mkdtemp(prefix="oon-launcher-"))
    stack = LocalStack(data_dir, env, backoff=BACKOFF)
    stack.start_servers()
    try:
        await stack.start_services([COMPONENTS["claims"], COMPONENTS["gateway"]], timeout=90)
        yield stack
    finally:
        await stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.mark.timeout(240)
async def test_a_service_killed_with_sigkill_is_restarted_and_serves_through_the_gateway(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    env = stack.env
    port = int(env["GATEWAY_HTTP_PORT"])
    token = await create_demo_key(env["DATABASE_URL"], env["OON_NAMESPACE"], "tenant-restart")
    status, _ = await asyncio.to_thread(http_post, port, "/v1/claims/ListClaims", token, {})
    assert status == 200
    claims = stack.service("claims")

    async def serving_again(previous_pid: int | None) -> bool:
        if claims.pid == previous_pid or claims.exit_code() is not None:
            return False
        try:
            await wait_serving(claims.address, claims.exit_code, timeout=2)
        except (TimeoutError, ExitedError):
            return False  # still starting (or crashed again): poll on
        status, body = await asyncio.to_thread(
            http_post, port, "/v1/claims/ListClaims", token, {})
        assert status == 200, body
        return True

    printed: list[str] = []

    def launcher_said(start: str, end: str = "") -> bool:
        printed.append(capsys.readouterr().out)
        lines = "".join(printed).splitlines()
        return any(line.startswith(start) and line.endswith(end) for line in lines)

    for restart, delay in ((1, "0.5"), (2, "1")):  # the second crash in a row waits longer
        pid = claims.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda pid=pid: serving_again(pid), timeout=60, interval=0.2)
        assert claims.restarts == restart
        assert launcher_said(
            f"claims exited with code -9; restarting in {delay} s (restart {restart})")
        await eventually(lambda restart=restart: launcher_said(
            "claims is SERVING again after", f"(restart {restart})"), timeout=10)
    assert stack.service("gateway").restarts == 0
