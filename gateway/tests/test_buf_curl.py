"""`buf curl` discovers the API through the gateway's reflection and calls it with a key
(the README's first call)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")

BUF = Path(sys.executable).parent / "buf"


async def buf_curl(address: str, token: str, body: dict) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge",
        "-H", f"authorization: Bearer {token}", "-d", json.dumps(body),
        f"http://{address}/oonledger.claims.v1.ClaimsService/GetClaim",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_buf_curl_through_reflection(gateway):
    if not BUF.exists() and shutil.which("buf") is None:
        pytest.skip("buf is not installed (buf-bin)")
    token, _, tenant = await gateway.key()
    code, out, err = await buf_curl(gateway.grpc_address, token, {"claimId": "from-buf"})
    assert code == 0, err
    assert json.loads(out) == {}
    seen = gateway.upstream.calls_to("oonledger.claims.v1.ClaimsService/GetClaim")[-1]
    assert seen.identity is not None and seen.identity.tenant == tenant
    assert b"from-buf" in seen.request
    code, _, err = await buf_curl(gateway.grpc_address, "oon_wrong", {"claimId": "x"})
    assert code != 0 and "unauthenticated" in err.lower()
