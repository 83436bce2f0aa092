"""Optional mutual TLS on both front ends: a client certificate from the configured CA is
required (and the API key still is)."""

from __future__ import annotations

import ssl

import grpc
import pytest

from gateway.server import make_builder, process_of
from gateway.tests.certificates import Pem, mutual_tls
from gateway.tests.conftest import RunningGateway, bearer, gateway_environ, http_request
from oonledger.claims.v1 import claims_pb2, claims_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def tls_gateway(service_runner, recording_upstream, tmp_path_factory):
    material = mutual_tls(tmp_path_factory.mktemp("tls"))
    env = gateway_environ(
        recording_upstream.port, GATEWAY_TLS_CERT=str(material.cert_file),
        GATEWAY_TLS_KEY=str(material.key_file), GATEWAY_TLS_CLIENT_CA=str(material.ca_file),
        GATEWAY_TLS_PORT="0")
    runtime = await service_runner.start("gateway", make_builder(env))
    yield RunningGateway(runtime, process_of(runtime), recording_upstream), material
    await service_runner.stop(runtime)


def credentials(ca: bytes, client: Pem | None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=client.key if client else None,
        certificate_chain=client.cert if client else None)


def client_context(ca: bytes, client: Pem | None, tmp_path) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca.decode())
    if client is not None:
        (tmp_path / "c.pem").write_bytes(client.cert)
        (tmp_path / "c.key").write_bytes(client.key)
        context.load_cert_chain(tmp_path / "c.pem", tmp_path / "c.key")
    return context


async def get_claim(port: int, creds: grpc.ChannelCredentials, token: str) -> None:
    async with grpc.aio.secure_channel(f"localhost:{port}", creds) as channel:
        stub = claims_pb2_grpc.ClaimsServiceStub(channel)
        await stub.GetClaim(claims_pb2.GetClaimRequest(claim_id="c"), timeout=5,
                            metadata=(("authorization", f"Bearer {token}"),))


async def test_grpc_needs_a_client_certificate_from_the_partner_ca(tls_gateway):
    gateway, material = tls_gateway
    port = gateway.process.tls_port
    assert port > 0
    token, _, _ = await gateway.key()
    await get_claim(port, credentials(material.ca.cert, material.client), token)
    for client in (None, material.stranger):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await get_claim(port, credentials(material.ca.cert, client), token)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    # A good certificate does not replace the API key.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get_claim(port, credentials(material.ca.cert, material.client), "oon_bad")
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_json_needs_a_client_certificate_too(tls_gateway, tmp_path):
    gateway, material = tls_gateway
    token, _, _ = await gateway.key()
    good = client_context(material.ca.cert, material.client, tmp_path)
    reply = await http_request(gateway.http_port, "POST", "/v1/claims/GetClaim", b"{}",
                               bearer(token), ssl=good)
    assert reply.status == 200
    # TLS 1.3: the handshake may "finish" on the client before the server checks the
    # certificate; either way no HTTP answer comes back.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await http_request(gateway.http_port, "POST", "/v1/claims/GetClaim", b"{}",
                           bearer(token), ssl=client_context(material.ca.cert, None, tmp_path))
