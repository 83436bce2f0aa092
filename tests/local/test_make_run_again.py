"""`make run` again and again on the same data, without the demo, and with a demo that fails.

The launcher runs as `make run` runs it (`python -m deploy.local.run`), against the session's
PostgreSQL and NATS and one namespace shared by the runs (the same data), with a small bulk
import so two whole demos fit in a few minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.catalog import COMPONENTS
from services.common.localservers import free_port
from tests.support.plugin import InfraUrls, eventually

ROOT = Path(__file__).resolve().parents[2]
UP = "All services are up"


@pytest.fixture
def launch_env(infra_urls: InfraUrls, namespace: str) -> Iterator[dict[str, str]]:
    data_dir = Path(tempfile.mkdtemp(prefix="oon-make-run-again-"))
    env = {k: v for k, v in os.environ.items() if k not in ("OON_CIPHER_KEY",)}
    env.update(DATABASE_URL=infra_urls.database_url, NATS_URL=infra_urls.nats_url,
               OON_NAMESPACE=f"{namespace}m", OON_DATA_DIR=str(data_dir), OON_DEMO_CLAIMS="40",
               GATEWAY_HTTP_PORT=str(free_port()))
    for component in COMPONENTS.values():
        env[component.port_variable] = str(free_port())
    yield env
    shutil.rmtree(data_dir, ignore_errors=True)


def with_fresh_ports(env: dict[str, str]) -> dict[str, str]:
    """The same data, new free ports: a port picked minutes earlier may since have become the
    local end of some connection on the machine (ephemeral ports overlap free_port's)."""
    fresh = dict(env, GATEWAY_HTTP_PORT=str(free_port()))
    for component in COMPONENTS.values():
        fresh[component.port_variable] = str(free_port())
    return fresh


def make_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deploy.local.run", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=420)


def healthz(env: dict[str, str]) -> int:
    url = f"http://127.0.0.1:{env['GATEWAY_HTTP_PORT']}/healthz"
    with urllib.request.urlopen(url, timeout=5) as reply:
        return int(reply.status) if json.loads(reply.read())["status"] == "SERVING" else 0


@pytest.mark.timeout(900)
def test_make_run_twice_on_the_same_data_runs_the_whole_demo_both_times(
    launch_env: dict[str, str],
) -> None:
    outputs = []
    for _ in range(2):
        result = make_run(with_fresh_ports(launch_env), "--exit-after-demo")
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        assert "40/40 claims committed (0 rejected)" in output
        assert "SettlementAgreed" in output
        assert "audit verification: PASSED" in output
        assert "DEMO FAILED" not in output
        for component in COMPONENTS:
            assert f"  {component} is SERVING (" in output, component
        outputs.append(output)
    tenants = [line.split("tenant ")[1].split()[0] for output in outputs
               for line in output.splitlines() if "partner API key issued for tenant" in line]
    assert len(tenants) == 2 and tenants[0] != tenants[1]  # a fresh demo client each run


class Launched:
    """`make run` in the background, its output in a file the test polls."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.log = Path(env["OON_DATA_DIR"]) / "launcher.out"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "deploy.local.run", *args], cwd=ROOT, env=env,
                stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


async def _serving_after(launched: Launched, env: dict[str, str], marker: str) -> None:
    await eventually(lambda: launched.process.poll() is not None or UP in launched.output(),
                     timeout=300, interval=0.5)
    output = launched.output()
    assert launched.process.poll() is None, output[-6000:]
    assert marker in output, output[-6000:]
    assert healthz(env) == 200


@pytest.mark.timeout(420)
async def test_make_run_with_demo_0_starts_and_serves_without_the_demo(
    launch_env: dict[str, str],
) -> None:
    launched = Launched(launch_env, "--no-demo")
    try:
        await _serving_after(launched, launch_env, "demo skipped (DEMO=0)")
    finally:
        code = launched.stop()
    output = launched.output()
    assert code == 0, output[-6000:]
    assert "bulk claim import" not in output


@pytest.mark.timeout(420)
async def test_a_failing_demo_is_reported_loudly_and_the_services_keep_serving(
    launch_env: dict[str, str],
) -> None:
    launch_env["OON_DEMO_CLAIMS"] = "lots"  # the demo refuses it and fails
    launched = Launched(launch_env)
    try:
        await _serving_after(launched, launch_env, "DEMO FAILED (the services keep running)")
        assert "OON_DEMO_CLAIMS must be a whole number of claims, not 'lots'" in launched.output()
    finally:
        code = launched.stop()
    assert code == 0, launched.output()[-6000:]


@pytest.mark.parametrize(("args", "launched"), [
    ((), "-m deploy.local.run"),
    (("DEMO=0",), "-m deploy.local.run --no-demo"),
    (("DEMO=no",), "-m deploy.local.run --no-demo"),
])
def test_make_run_starts_the_launcher_these_tests_run_and_demo_0_turns_the_demo_off(
    args: tuple[str, ...], launched: str,
) -> None:
    """The tests above run the launcher as `make run` does: the Makefile's recipe, dry-run."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # --no-print-directory: under `make test` this make is nested and would print "Entering
    # directory" lines around the recipe.
    result = subprocess.run(["make", "-n", "--no-print-directory", "run", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.endswith(launched), result.stdout
