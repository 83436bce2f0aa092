"""Services accept a call only with the gateway's signed, short-lived token for that service and
that method; the plain x-tenant-id / x-actor / x-roles headers mean nothing."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common import auth, grpc_server, internal_auth
from services.common.auth import AUDITOR, ROLE_TABLE, grant
from services.common.grpc_server import ServicerBinding, rpc, rpc_stream
from services.common.internal_auth import (
    TOKEN_HEADER,
    InternalSigner,
    InternalVerifier,
    Unauthenticated,
    private_key_from_pem,
    public_keys_from_pem,
)
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.settings import ConfigurationError, Settings
from tests.support.plugin import (
    TEST_SIGNER,
    TEST_SIGNING_PEM,
    TEST_VERIFY_PEM,
    call_metadata,
    channel_to,
)

SERVICE = "oonledger.test.v1.WhoService"
METHOD = f"/{SERVICE}/Who"
STREAM = f"/{SERVICE}/WhoStream"
Req = health_pb2.HealthCheckRequest
Resp = health_pb2.HealthCheckResponse


@pytest.fixture(autouse=True)
def who_in_the_role_table(monkeypatch):  # type: ignore[no-untyped-def]
    """The role table names the real services only (deny by default): for the length of a test
    this test service is granted to auditors alone."""
    monkeypatch.setattr(grpc_server, "ROLE_TABLE", (grant(f"{SERVICE}/*", AUDITOR), *ROLE_TABLE))


def signer_with(key_pem: str | None = None, lifetime: int = 30, clock=time.time) -> InternalSigner:  # type: ignore[no-untyped-def]
    pem = key_pem or TEST_SIGNING_PEM
    return InternalSigner(private_key_from_pem(pem), lifetime_seconds=lifetime, clock=clock)


def token(signer: InternalSigner = TEST_SIGNER, audience: str = "who", method: str = METHOD,
          tenant: str = "tenant-a", roles: tuple[str, ...] = ("auditor", "negotiator")) -> str:
    return signer.token(audience=audience, method=method, tenant=tenant, actor="gw@a",
                        roles=roles, request_id="req-1")


VERIFIER = InternalVerifier(public_keys_from_pem(TEST_VERIFY_PEM), "who")


# --- the verifier alone -----------------------------------------------------------------------


def test_a_valid_token_gives_the_signed_identity() -> None:
    claims = VERIFIER.verify(token(), METHOD)
    assert (claims.tenant, claims.actor, claims.roles, claims.request_id) == (
        "tenant-a", "gw@a", {"auditor", "negotiator"}, "req-1")
    assert claims.audience == "who" and claims.method == METHOD
    assert 0 < claims.expires_at - claims.issued_at <= 60


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: "", "no x-oon-internal token"),
        (lambda: "not-a-token", "malformed"),
        (lambda: "a.b.c", "malformed"),
        (lambda: token(signer_with(internal_auth.new_key_pair()[0])), "bad signature"),
        (lambda: token(audience="claims"), "is for 'claims', not 'who'"),
        (lambda: token(method=f"/{SERVICE}/Other"), f"is for /{SERVICE}/Other"),
        (lambda: token(signer_with(lifetime=30, clock=lambda: time.time() - 120)), "expired"),
        (lambda: token(signer_with(lifetime=30, clock=lambda: time.time() + 120)), "future"),
    ],
    ids=["missing", "garbage", "three-parts", "other-key", "other-audience", "other-method",
         "expired", "issued-in-the-future"],
)
def test_every_bad_token_is_refused_with_the_reason(make, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Unauthenticated, match=reason):
        VERIFIER.verify(make(), METHOD)


def _reencoded(good: str, change: dict, header: dict | None = None) -> str:  # type: ignore[type-arg]
    head, body, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(change)
    new_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    if header is not None:
        head = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{head}.{new_body}.{signature}"


def test_a_changed_claim_or_header_breaks_the_signature() -> None:
    with pytest.raises(Unauthenticated, match="bad signature"):
        VERIFIER.verify(_reencoded(token(), {"tenant": "tenant-b"}), METHOD)
    with pytest.raises(Unauthenticated, match="unsupported header"):
        VERIFIER.verify(_reencoded(token(), {}, header={"alg": "none"}), METHOD)


def test_a_token_living_longer_than_a_minute_is_refused_even_if_signed() -> None:
    key = private_key_from_pem(internal_auth.new_key_pair()[0])
    long_lived = InternalSigner(key, lifetime_seconds=60)
    long_lived.lifetime_seconds = 3600  # a buggy or hostile signer
    verifier = InternalVerifier([key.public_key()], "who")
    with pytest.raises(Unauthenticated, match="longer than 60 s"):
        verifier.verify(token(long_lived), METHOD)
    with pytest.raises(ValueError):
        InternalSigner(key, lifetime_seconds=61)


def test_during_a_rotation_both_listed_keys_verify() -> None:
    old_pem, old_public = internal_auth.new_key_pair()
    new_pem, new_public = internal_auth.new_key_pair()
    verifier = InternalVerifier(public_keys_from_pem(old_public + new_public), "who")
    for pem in (old_pem, new_pem):
        assert verifier.verify(token(signer_with(pem)), METHOD).tenant == "tenant-a"


# --- key settings: fail fast, dev mode, files ---------------------------------------------------


def env(**extra: str) -> dict[str, str]:
    return {"DATABASE_URL": "postgresql://x", "NATS_URL": "nats://x", "OON_CIPHER_KEY": "k",
            "OON_PHI_KEY": base64.b64encode(b"p" * 32).decode(), **extra}


def test_a_service_without_a_verify_key_does_not_start() -> None:
    settings = Settings.from_env("claims", env())
    with pytest.raises(ConfigurationError, match="OON_INTERNAL_VERIFY_KEY_FILE"):
        ServiceRuntime(settings, lambda infra: ServiceParts(bindings=[]))
    with pytest.raises(ConfigurationError, match="OON_INTERNAL_SIGNING_KEY_FILE"):
        InternalSigner.from_settings(Settings.from_env("gateway", env()))


def test_keys_from_files_and_the_gateway_verifies_with_its_own_public_half(tmp_path: Path) -> None:
    private, public = internal_auth.new_key_pair()
    (tmp_path / "signing.pem").write_text(private)
    (tmp_path / "verify.pem").write_text(public)
    service = Settings.from_env(
        "claims", env(OON_INTERNAL_VERIFY_KEY_FILE=str(tmp_path / "verify.pem")))
    gateway = Settings.from_env(
        "gateway", env(OON_INTERNAL_SIGNING_KEY_FILE=str(tmp_path / "signing.pem")))
    assert service.internal_signing_key == "" and service.internal_verify_key == public
    assert gateway.internal_verify_key == public
    signed = InternalSigner.from_settings(gateway).token(
        audience="claims", method=METHOD, tenant="t", actor="a", roles=[], request_id="r")
    assert InternalVerifier.from_settings(service).verify(signed, METHOD).tenant == "t"


def test_bad_key_settings_are_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        Settings.from_env("claims", env(OON_INTERNAL_VERIFY_KEY_FILE=str(tmp_path / "none")))
    with pytest.raises(ConfigurationError, match="no PEM public key"):
        Settings.from_env("claims", env(OON_INTERNAL_VERIFY_KEY="not a key"))
    with pytest.raises(ConfigurationError, match="not a PEM key"):
        Settings.from_env("gateway", env(OON_INTERNAL_SIGNING_KEY="-----BEGIN PRIVATE KEY-----"))


def test_dev_mode_alone_uses_the_well_known_development_pair() -> None:
    settings = Settings.from_env("claims", env(OON_DEV_MODE="1"))
    assert (settings.internal_signing_key, settings.internal_verify_key) == (
        internal_auth.development_key_pair())
    # A configured key always wins over the development pair.
    configured = Settings.from_env("claims", env(OON_DEV_MODE="1",
                                                 OON_INTERNAL_VERIFY_KEY=TEST_VERIFY_PEM))
    assert configured.internal_verify_key == TEST_VERIFY_PEM
    assert configured.internal_signing_key == ""


# --- a real server: every @rpc method checks, health stays open ---------------------------------


class Who:
    @rpc
    async def Who(self, request, ctx, context):  # type: ignore[no-untyped-def]
        return Resp(status=Resp.SERVING if ctx.tenant_id == request.service else Resp.NOT_SERVING)

    @rpc_stream
    async def WhoStream(self, request, ctx, context):  # type: ignore[no-untyped-def]
        yield Resp(status=Resp.SERVING if ctx.tenant_id == request.service else Resp.NOT_SERVING)


def add(servicer: Who, server: grpc.aio.Server) -> None:
    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Who": grpc.unary_unary_rpc_method_handler(
            servicer.Who, Req.FromString, Resp.SerializeToString),
        "WhoStream": grpc.unary_stream_rpc_method_handler(
            servicer.WhoStream, Req.FromString, Resp.SerializeToString),
    })
    server.add_generic_rpc_handlers((handler,))


@pytest.fixture(scope="module")
async def who(service_runner):  # type: ignore[no-untyped-def]
    runtime = await service_runner.start(
        "who", lambda infra: ServiceParts(bindings=[ServicerBinding(add, Who(), SERVICE)]))
    yield runtime
    await service_runner.stop(runtime)


async def _code(channel: grpc.aio.Channel, path: str, metadata, tenant: str = "tenant-a"):  # type: ignore[no-untyped-def]
    """(status, details) of one call to `path`; on success the details say whether the service
    saw `tenant` as the caller's tenant."""
    try:
        if path == STREAM:
            call = channel.unary_stream(path, Req.SerializeToString, Resp.FromString)
            replies = [r async for r in call(Req(service=tenant), metadata=metadata, timeout=10)]
            assert len(replies) == 1
            reply = replies[0]
        else:
            call = channel.unary_unary(path, Req.SerializeToString, Resp.FromString)
            reply = await call(Req(service=tenant), metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, "as " + ("tenant" if reply.status == Resp.SERVING else "other")


pytestmark_async = pytest.mark.asyncio(loop_scope="session")


@pytestmark_async
@pytest.mark.parametrize("path", [METHOD, STREAM])
async def test_only_a_valid_token_for_this_service_and_method_is_accepted(who, path) -> None:  # type: ignore[no-untyped-def]
    def md(signed: str) -> tuple[tuple[str, str], ...]:
        return ((TOKEN_HEADER, signed), ("x-request-id", uuid.uuid4().hex))

    forged = (("x-tenant-id", "tenant-a"), ("x-actor", "mallory"), ("x-roles", "admin"))
    refused = {
        "no metadata": (),
        "forged x-tenant-id, no token": forged,
        "expired": md(token(signer_with(clock=lambda: time.time() - 120), method=path)),
        "another key": md(token(signer_with(internal_auth.new_key_pair()[0]), method=path)),
        "another audience": md(token(audience="claims", method=path)),
        "another method": md(token(method=METHOD if path == STREAM else STREAM)),
        "garbage": md("x.y.z"),
    }
    async with grpc.aio.insecure_channel(f"127.0.0.1:{who.port}") as channel:
        assert await _code(channel, path, md(token(method=path))) == (
            grpc.StatusCode.OK, "as tenant")
        for name, metadata in refused.items():
            code, details = await _code(channel, path, metadata)
            assert code == grpc.StatusCode.UNAUTHENTICATED, (name, code, details)
            assert TOKEN_HEADER in details, (name, details)
        # A valid token beside forged headers: the token's tenant counts, not the header's.
        assert await _code(channel, path, (*md(token(method=path, tenant="tenant-b")),
                                           ("x-tenant-id", "tenant-a"))) == (
            grpc.StatusCode.OK, "as other")


@pytestmark_async
async def test_health_and_reflection_stay_open_and_the_test_channel_signs(who) -> None:  # type: ignore[no-untyped-def]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{who.port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(Req(service=SERVICE))
        assert reply.status == Resp.SERVING
    signed = channel_to(who)
    try:
        for path in (METHOD, STREAM):
            assert await _code(signed, path, call_metadata("tenant-a")) == (
                grpc.StatusCode.OK, "as tenant")
    finally:
        await signed.close()


@pytestmark_async
@pytest.mark.parametrize("path", [METHOD, STREAM])
async def test_a_valid_token_with_a_role_the_table_does_not_allow_is_permission_denied(
    who, path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The service checks the gateway's role table itself (services/common/auth.py) on the roles
    in the signed token: a trusted signer's token does not make a role allowed."""

    def md(*roles: str) -> tuple[tuple[str, str], ...]:
        return ((TOKEN_HEADER, token(method=path, roles=roles)), ("x-request-id", "r-1"))

    async with grpc.aio.insecure_channel(f"127.0.0.1:{who.port}") as channel:
        assert await _code(channel, path, md("auditor")) == (grpc.StatusCode.OK, "as tenant")
        for roles in [("negotiator",), ("admin", "finance"), ("system",), ()]:
            code, details = await _code(channel, path, md(*roles))
            assert code == grpc.StatusCode.PERMISSION_DENIED, (roles, code, details)
            assert details == f"{path[1:]} needs one of the roles: auditor", details
        # A method no line of the table names is refused to every role (deny by default).
        monkeypatch.setattr(grpc_server, "ROLE_TABLE", ROLE_TABLE)
        code, details = await _code(channel, path, md(*sorted(auth.ROLES), "system"))
        assert code == grpc.StatusCode.PERMISSION_DENIED, (code, details)
        assert "no role" in details

