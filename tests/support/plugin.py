"""pytest fixtures shared by every service's tests (loaded from the root conftest.py).

Hermetic by default: an embedded PostgreSQL and a nats-server on free ports, started once per
test session. With DATABASE_URL and NATS_URL set, those servers are used instead. Every session
gets its own namespace, so schemas and streams never collide with other runs.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import settings as hypothesis_settings

from services.common import internal_auth
from services.common.localservers import LocalNats, LocalPostgres
from services.common.runtime import Builder, ServiceRuntime
from services.common.settings import Settings

T = TypeVar("T")

# Property tests judge results, not speed: Hypothesis' default 200 ms deadline per example
# failed correct examples on a loaded 2-core CI machine (seen: a Merkle proof test).
hypothesis_settings.register_profile("oonledger", deadline=None)
hypothesis_settings.load_profile("oonledger")
REPO_ROOT = Path(__file__).resolve().parents[2]

# The test session's gateway key pair (fresh per process, never the development pair): every
# service started by `service_runner` verifies with its public half, `channel_to` signs with it.
TEST_SIGNING_PEM, TEST_VERIFY_PEM = internal_auth.new_key_pair()
TEST_SIGNER = internal_auth.InternalSigner(internal_auth.private_key_from_pem(TEST_SIGNING_PEM))


def x12_samples_dir() -> Path:
    """The shared public X12 samples: $OON_X12_SAMPLES, else ../shared/x12-samples beside the
    checkout (where CI puts it), else /work/shared/x12-samples. Tests skip when it is absent."""
    candidates = [
        Path(os.environ["OON_X12_SAMPLES"]) if os.environ.get("OON_X12_SAMPLES") else None,
        REPO_ROOT.parent / "shared" / "x12-samples",
        Path("/work/shared/x12-samples"),
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_dir():
            return candidate
    return REPO_ROOT.parent / "shared" / "x12-samples"


@dataclass(frozen=True)
class InfraUrls:
    database_url: str
    nats_url: str


@pytest.fixture(scope="session")
def infra_urls() -> Iterator[InfraUrls]:
    database_url = os.environ.get("DATABASE_URL")
    nats_url = os.environ.get("NATS_URL")
    started: list[Any] = []
    # Not under pytest's basetemp: that tree is mode 0700 (re-applied by every pytest start),
    # and the embedded PostgreSQL runs as its own system user when tests run as root.
    base = Path(tempfile.mkdtemp(prefix="oonledger-test-"))
    base.chmod(0o755)
    if not database_url:
        postgres = LocalPostgres(base / "pgdata")
        database_url = postgres.start()
        started.append(postgres)
    if not nats_url:
        nats_server = LocalNats(base / "nats")
        nats_url = nats_server.start()
        started.append(nats_server)
    yield InfraUrls(database_url, nats_url)
    for server in reversed(started):
        server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def namespace() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def make_settings(infra_urls: InfraUrls, namespace: str) -> Callable[..., Settings]:
    def make(service: str, **overrides: Any) -> Settings:
        env = {
            "DATABASE_URL": infra_urls.database_url,
            "NATS_URL": infra_urls.nats_url,
            "OON_NAMESPACE": namespace,
            "OON_DEV_MODE": "1",
            "OON_INTERNAL_SIGNING_KEY": TEST_SIGNING_PEM,
            "OON_INTERNAL_VERIFY_KEY": TEST_VERIFY_PEM,
            f"{service.upper()}_GRPC_PORT": "0",
            f"{service.upper()}_METRICS_PORT": "0",
        }
        return Settings.from_env(service, env, **overrides)

    return make


class ServiceRunner:
    """Starts services in-process (gRPC on port 0) and stops them all at the end."""

    def __init__(self, make_settings: Callable[..., Settings]) -> None:
        self.make_settings = make_settings
        self.running: list[ServiceRuntime] = []

    async def start(self, service: str, builder: Builder, **overrides: Any) -> ServiceRuntime:
        runtime = ServiceRuntime(self.make_settings(service, **overrides), builder)
        await runtime.start()
        self.running.append(runtime)
        return runtime

    async def stop(self, runtime: ServiceRuntime) -> None:
        await runtime.stop(grace=1)
        self.running.remove(runtime)

    async def stop_all(self) -> None:
        for runtime in reversed(list(self.running)):
            await self.stop(runtime)


@pytest.fixture(scope="session")
async def service_runner(make_settings: Callable[..., Settings]) -> AsyncIterator[ServiceRunner]:
    runner = ServiceRunner(make_settings)
    yield runner
    await runner.stop_all()


def channel_to(runtime: ServiceRuntime) -> grpc.aio.Channel:
    """A channel to the service that signs each call, as the gateway does, with the identity
    written in `call_metadata` (the token names the service and the method, which only the
    channel knows)."""
    return signed_channel(f"127.0.0.1:{runtime.port}", runtime.settings.service)


def signed_channel(address: str, service: str) -> grpc.aio.Channel:
    return internal_auth.signed_channel(address, service, TEST_SIGNER)


async def health_of(runtime: ServiceRuntime, name: str = "") -> Any:
    """The gRPC health status of `name` ("" = the service as a whole; "oonledger.relay",
    "oonledger.consumer.<durable>" = one part): HealthCheckResponse.SERVING / NOT_SERVING."""
    async with channel_to(runtime) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=name))
        return reply.status


def call_metadata(
    tenant: str,
    actor: str = "tester@example.com",
    roles: Sequence[str] = ("negotiator", "provider_approver", "auditor", "finance", "admin"),
    request_id: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """The caller's identity; a `channel_to` channel turns it into the signed internal token
    (sent on a plain channel, it proves nothing and the service refuses the call)."""
    return (
        ("x-tenant-id", tenant),
        ("x-actor", actor),
        ("x-roles", ",".join(roles)),
        ("x-request-id", request_id or uuid.uuid4().hex),
    )


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]], timeout: float = ..., interval: float = ...
) -> T: ...


@overload
async def eventually(probe: Callable[[], T], timeout: float = ..., interval: float = ...) -> T: ...


async def eventually(
    probe: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05
) -> Any:
    """Poll `probe` until it returns a truthy value (or stops raising AssertionError)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = probe()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            last_error = None  # a later falsy poll supersedes an earlier assertion
        except AssertionError as exc:
            last_error = exc
        if loop.time() > deadline:
            if last_error is not None:
                raise last_error
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)  # polling interval, bounded by the deadline


def stored_as_version_1(
    app: Any, event: Any, *, drop: Sequence[str] = (), **fields: Any
) -> Any:
    """`event` as an older release stored it (no class_version, `drop`ped fields, `fields`
    added): reading it back through `app.mapper` proves the upcasting of old stored events."""
    from eventsourcing.persistence import StoredEvent

    mapper = app.mapper
    stored = mapper.to_stored_event(event)
    state = mapper.cipher.decrypt(stored.state) if mapper.cipher else stored.state
    state = mapper.compressor.decompress(state) if mapper.compressor else state
    data = mapper.transcoder.decode(state)
    data.pop("class_version", None)
    for name in drop:
        data.pop(name)
    data.update(fields)
    encoded = mapper.transcoder.encode(data)
    encoded = mapper.compressor.compress(encoded) if mapper.compressor else encoded
    encoded = mapper.cipher.encrypt(encoded) if mapper.cipher else encoded
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, encoded)


def field_violations(error: grpc.aio.AioRpcError) -> set[str]:
    """The fields named in an INVALID_ARGUMENT's BadRequest details."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the error carries no google.rpc.Status details"
    fields: set[str] = set()
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields |= {v.field for v in bad_request.field_violations}
    return fields

