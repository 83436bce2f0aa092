"""The container image definition, its entrypoint and its gRPC health probe (run for real
against a grpc.aio server with the standard health service)."""

from __future__ import annotations

import asyncio
import fnmatch
import pathlib
import shlex
import sys
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from deploy.catalog import COMPONENTS, UnknownComponentError, component_named
from deploy.container.entrypoint import command_for
from deploy.container.healthcheck import default_address

REPO = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "container" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, continuation lines joined."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    pairs = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_image_runs_as_an_unprivileged_user() -> None:
    users = [rest for keyword, rest in _final_stage() if keyword == "USER"]
    assert users, "the runtime stage must switch user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0  # numeric, so runAsNonRoot can verify it


def test_image_probes_grpc_health_and_starts_through_the_entrypoint() -> None:
    final = dict(_final_stage())
    assert "deploy.container.healthcheck" in final["HEALTHCHECK"]
    assert final["ENTRYPOINT"] == '["python", "-m", "deploy.container.entrypoint"]'
    for component in COMPONENTS.values():
        assert str(component.grpc_port) in final["EXPOSE"].split()


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    for keyword, rest in _instructions():
        if keyword != "COPY" or "--from=" in rest:
            continue
        sources = [s for s in shlex.split(rest) if not s.startswith("--")][:-1]
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
            assert any(
                fnmatch.fnmatch(source, pattern) or fnmatch.fnmatch(source + "/x", pattern)
                for pattern in allowed
            ), f"COPY {source}: excluded by Dockerfile.dockerignore"


def test_entrypoint_picks_the_component_by_argument_or_environment() -> None:
    assert command_for(["claims"], {})[1:] == ["-m", "services.claims.main"]
    assert command_for([], {"OON_SERVICE": "gateway"})[1:] == ["-m", "gateway.main"]
    assert command_for(["ledger", "--x"], {"OON_SERVICE": "claims"})[1:] == [
        "-m",
        "services.ledger.main",
        "--x",
    ]
    assert command_for(["setup-schemas"], {})[1:] == ["-m", "deploy.schema_setup"]
    with pytest.raises(UnknownComponentError):
        command_for(["billing"], {})
    with pytest.raises(UnknownComponentError):
        command_for([], {})


async def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_entrypoint_refuses_an_unknown_component_with_usage() -> None:
    code, output = await _run("-m", "deploy.container.entrypoint", "billing")
    assert code == 64
    assert "unknown component 'billing'" in output


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[str, health.aio.HealthServicer]]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        await server.stop(grace=None)


async def test_probe_passes_only_while_the_server_is_serving(
    health_server: tuple[str, health.aio.HealthServicer],
) -> None:
    address, servicer = health_server
    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    code, output = await _run("-m", "deploy.container.healthcheck", "--address", address)
    assert (code, output.strip()) == (1, f"{address}: NOT_SERVING")

    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    # Through the entrypoint, as Docker's HEALTHCHECK and `docker run IMAGE healthcheck` do.
    code, output = await _run(
        "-m", "deploy.container.entrypoint", "healthcheck", "--address", address
    )
    assert (code, output.strip()) == (0, f"{address}: SERVING")


async def test_probe_fails_when_nothing_listens() -> None:
    code, output = await _run(
        "-m", "deploy.container.healthcheck", "--address", "127.0.0.1:1", "--timeout", "1"
    )
    assert code == 1
    assert "UNREACHABLE" in output


def test_probe_address_follows_the_component_and_its_port_variable() -> None:
    assert default_address({"OON_SERVICE": "fees"}) == "127.0.0.1:50054"
    assert default_address({"OON_SERVICE": "fees", "FEES_GRPC_PORT": "6000"}) == "127.0.0.1:6000"
    assert default_address({"OON_HEALTH_ADDRESS": "10.1.1.1:1"}) == "10.1.1.1:1"
    assert component_named(" Claims ").module == "services.claims.main"
