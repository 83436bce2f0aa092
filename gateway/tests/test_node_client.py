"""A client in another language (Node, @grpc/grpc-js + @grpc/proto-loader) calls the gateway
with nothing but the protos and an API key."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from gateway.tests.conftest import RunningGateway

pytestmark = pytest.mark.asyncio(loop_scope="session")

NODE_DIR = Path(__file__).parent / "node"
PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"


async def run(*argv: str, cwd: Path, limit_seconds: float = 180) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=limit_seconds)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.fixture(scope="module")
async def node_client() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js/npm not installed: the foreign-language client test needs them")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        code, _, err = await run("npm", "ci", "--no-audit", "--no-fund", cwd=NODE_DIR)
        if code != 0:
            pytest.skip(f"npm ci failed (offline?): {err.strip()[-300:]}")
    return NODE_DIR / "client.js"


async def call_from_node(client: Path, gateway: RunningGateway, key: str) -> dict:
    code, out, err = await run("node", str(client), gateway.grpc_address, str(PROTO_ROOT), key,
                               "claim-from-node", cwd=NODE_DIR, limit_seconds=60)
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])


async def test_node_client_calls_through_the_gateway_as_its_own_tenant(node_client, gateway):
    token, _, tenant = await gateway.key()
    reply = await call_from_node(node_client, gateway, token)
    assert reply["ok"] is True, reply
    seen = gateway.upstream.calls_to("oonledger.claims.v1.ClaimsService/GetClaim")[-1]
    assert seen.identity is not None and seen.identity.tenant == tenant
    assert b"claim-from-node" in seen.request


async def test_node_client_without_a_key_is_unauthenticated(node_client, gateway):
    reply = await call_from_node(node_client, gateway, "-")
    assert reply == {"ok": False, "code": 16,
                     "details": "missing authorization: Bearer <api key>"}
