"""The README's "Getting started" commands, exactly as written, run by bash in a checkout where
`make run` is running: the admin command issues a key, `buf curl` and `curl` register the
README's `claim.json` and read it back, and the same requestId returns the same claim.

What `make run` would have left behind is laid out for them: `.venv` (the interpreter running
this test), `.oonledger/local.env` (the database and namespace of the test's system, through
`OON_DATA_DIR`), and the gateway on the README's addresses (the test's free ports replace
`127.0.0.1:50050` and `127.0.0.1:8080`, the only change to the commands).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from gateway.server import make_builder, process_of
from gateway.tests.conftest import RunningGateway, gateway_environ, stop_quickly

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _commands(block: str) -> list[str]:
    """Shell commands of a block, continuation lines joined, comments kept out."""
    joined = block.replace("\\\n", " ")
    return [line.split("   #")[0].strip() for line in joined.splitlines() if line.strip()]


@pytest.fixture(scope="module")
async def system(service_runner, recording_upstream):  # type: ignore[no-untyped-def]
    claims_main = pytest.importorskip("services.claims.main")
    claims = await service_runner.start("claims", claims_main.build)
    env = gateway_environ(recording_upstream.port, CLAIMS_ADDR=f"127.0.0.1:{claims.port}")
    runtime = await service_runner.start("gateway", make_builder(env))
    yield RunningGateway(runtime, process_of(runtime), recording_upstream)
    await stop_quickly(service_runner, runtime, claims)


async def _bash(command: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", command, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_the_getting_started_commands_work_as_written(system, infra_urls, namespace,
                                                            tmp_path):
    from services.common.local_env import write_local_env

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    venv_bin = Path(sys.executable).parent
    if not (venv_bin / "buf").exists():
        pytest.skip("buf is not installed (buf-bin, a dev dependency)")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(Path(sys.prefix))
    data_dir = tmp_path / "oonledger"
    data_dir.mkdir()
    write_local_env(data_dir, {"DATABASE_URL": infra_urls.database_url,
                               "OON_NAMESPACE": namespace,
                               "GATEWAY_ADDR": system.grpc_address})
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "OON_NAMESPACE", "KEY")}
    env["OON_DATA_DIR"] = str(data_dir)

    def here(command: str) -> str:
        return (command.replace("127.0.0.1:50050", system.grpc_address)
                .replace("127.0.0.1:8080", f"127.0.0.1:{system.http_port}"))

    shell = [c for block in _blocks("bash") for c in _commands(block)]
    admin = next(c for c in shell if "-m gateway.admin create" in c)
    code, out, err = await _bash(here(admin), checkout, env)
    assert code == 0, err
    key = re.search(r"(oon_\S+)", out)
    assert key is not None, out
    claim_json = next(b for b in _blocks("json") if '"requestId": "pm-claim-0001"' in b)
    (checkout / "claim.json").write_text(claim_json)
    assignment = next(c for c in shell if c.startswith("KEY="))
    assert assignment.startswith("KEY=oon_...")
    prelude = f"KEY={key.group(1)}\n"

    buf = next(c for c in shell if c.startswith(".venv/bin/buf curl") and "RegisterClaim" in c)
    code, out, err = await _bash(prelude + here(buf), checkout, env)
    assert code == 0, err
    registered = json.loads(out)
    claim_id = registered["claim"]["claimId"]
    assert registered["created"] is True

    curls = [c for c in shell if c.startswith("curl ")]
    register, get = (next(c for c in curls if route in c)
                     for route in ("/v1/claims/RegisterClaim", "/v1/claims/GetClaim"))
    code, out, err = await _bash(prelude + here(register), checkout, env)
    assert code == 0, err
    again = json.loads(out)  # the same requestId: the same claim, nothing stored
    assert again["claim"]["claimId"] == claim_id and not again.get("created", False)
    code, out, err = await _bash(
        prelude + here(get).replace("<claimId from the answer>", claim_id), checkout, env)
    assert code == 0, err
    assert json.loads(out)["claim"]["claimId"] == claim_id
