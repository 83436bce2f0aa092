"""`python -m gateway.admin`: create shows the secret once, list never does, revoke works."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import uuid

import pytest

from gateway import admin, keys

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def environ(infra_urls, namespace):
    return {"DATABASE_URL": infra_urls.database_url, "OON_NAMESPACE": namespace}


async def cli(environ, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await admin.run(list(argv), environ, out=out)
    return code, out.getvalue()


async def test_create_list_revoke(environ, gateway):
    tenant = f"cli-{uuid.uuid4().hex[:8]}"
    code, out = await cli(environ, "create", "--tenant", tenant, "--roles", "auditor,finance",
                          "--label", "billing platform", "--days", "30", "--rate", "5")
    assert code == 0
    token = out.split("api key (shown once): ")[1].strip()
    issued = keys.parse_token(token)
    found = await gateway.store.find(issued.key_id)
    assert found is not None
    record, stored_hash = found
    assert record.tenant_id == tenant and record.roles == {"auditor", "finance"}
    assert stored_hash == issued.secret_hash and issued.secret.encode() not in stored_hash

    code, listing = await cli(environ, "list", "--tenant", tenant)
    assert code == 0 and issued.key_id in listing and "live" in listing
    assert issued.secret not in listing

    assert (await cli(environ, "revoke", issued.key_id))[0] == 0
    assert "revoked" in (await cli(environ, "list", "--tenant", tenant))[1]
    assert (await cli(environ, "revoke", "0000000000000000"))[0] == 1


@pytest.mark.parametrize("argv", [
    ["create", "--tenant", "t", "--roles", "root"],
    ["create", "--tenant", "t", "--roles", "auditor", "--days", "-1"],
    ["create", "--tenant", " ", "--roles", "auditor"],
    ["create", "--tenant", "acme\nx-roles: admin", "--roles", "auditor"],
    ["create", "--tenant", "acme", "--roles", "auditor", "--label", "Société Générale"],
])
async def test_bad_keys_are_refused(environ, argv):
    assert (await cli(environ, *argv))[0] == 2


async def test_runs_as_a_module(environ):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.admin", "list", "--tenant", "nobody",
        env={**os.environ, **environ}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()


async def test_run_beside_make_run_finds_the_local_system_by_itself(
    infra_urls, namespace, tmp_path
):
    """The README's command, exactly as written, with only what `make run` left behind."""
    from services.common.local_env import write_local_env

    write_local_env(tmp_path, {"DATABASE_URL": infra_urls.database_url,
                               "OON_NAMESPACE": namespace, "GATEWAY_ADDR": "127.0.0.1:1",
                               "UNRELATED_SECRET": "never-written"})
    assert "never-written" not in (tmp_path / "local.env").read_text()
    assert (tmp_path / "local.env").stat().st_mode & 0o077 == 0
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OON_NAMESPACE")}
    env["OON_DATA_DIR"] = str(tmp_path)
    tenant = f"local-{uuid.uuid4().hex[:8]}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.admin", "create", "--tenant", tenant,
        "--roles", "negotiator,auditor", "--label", "acme PM system",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert "api key (shown once): " in out.decode()
    assert f"using the local system started by `make run` ({tmp_path / 'local.env'})" in \
        err.decode() and infra_urls.database_url in err.decode()

    # Nothing running (no file): the environment alone counts, and the message says what to do.
    (tmp_path / "local.env").unlink()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.admin", "list", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2 and "make run" in err.decode()
