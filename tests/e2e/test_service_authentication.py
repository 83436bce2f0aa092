"""The services answer only the gateway: a direct call to any method of any service, with forged
x-tenant-id / x-actor / x-roles and no token, or with a token that is expired, signed by another
key or meant for another service, is UNAUTHENTICATED; through the gateway the same claim reads."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest

from gateway.catalog import Catalog
from oonledger.claims.v1 import claims_pb2
from services.common import internal_auth
from services.common.internal_auth import TOKEN_HEADER, InternalSigner
from tests.e2e.journey import Vendor
from tests.support.plugin import TEST_SIGNING_PEM

pytestmark = pytest.mark.asyncio(loop_scope="session")

FORGED = (("x-tenant-id", "tenant-a"), ("x-actor", "mallory"),
          ("x-roles", "negotiator,provider_approver,auditor,finance,admin"))
GET_CLAIM = "/oonledger.claims.v1.ClaimsService/GetClaim"


def signer(key_pem: str = TEST_SIGNING_PEM, shift: float = 0.0) -> InternalSigner:
    return InternalSigner(internal_auth.private_key_from_pem(key_pem),
                          clock=lambda: time.time() + shift)


def token(tenant: str, audience: str = "claims", method: str = GET_CLAIM,
          signed_by: InternalSigner | None = None) -> tuple[tuple[str, str], ...]:
    minted = (signed_by or signer()).token(
        audience=audience, method=method, tenant=tenant, actor="e2e",
        roles=["negotiator"], request_id=uuid.uuid4().hex)
    return ((TOKEN_HEADER, minted),)


async def expect_unauthenticated(call, request, metadata) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        reply = call(request, metadata=metadata, timeout=10)
        if hasattr(reply, "__aiter__"):
            async for _ in reply:
                pass
        else:
            await reply
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, caught.value.details()
    assert TOKEN_HEADER in (caught.value.details() or "")


async def test_a_direct_call_with_a_forged_tenant_cannot_read_the_claim(stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    claim_id, pcn = (await vendor.import_claims(1))[0]
    request = claims_pb2.GetClaimRequest(claim_id=claim_id)
    # The partner, through the gateway, reads it.
    seen = await vendor.claims.GetClaim(request, metadata=vendor.md("negotiator"), timeout=15)
    assert seen.claim.claim_id == claim_id

    address = f"127.0.0.1:{stack.services['claims'].port}"
    async with grpc.aio.insecure_channel(address) as direct:
        get_claim = direct.unary_unary(GET_CLAIM, claims_pb2.GetClaimRequest.SerializeToString,
                                       claims_pb2.GetClaimResponse.FromString)
        forged_tenant = ((k, vendor.tenant if k == "x-tenant-id" else v) for k, v in FORGED)
        other_key = signer(internal_auth.new_key_pair()[0])
        refused = {
            "no metadata": (),
            "forged x-tenant-id": tuple(forged_tenant),
            "expired token": token(vendor.tenant, signed_by=signer(shift=-300)),
            "token signed by another key": token(vendor.tenant, signed_by=other_key),
            "token for another service": token(vendor.tenant, audience="ledger"),
            "token for another method": token(
                vendor.tenant, method="/oonledger.claims.v1.ClaimsService/ListClaims"),
        }
        for name, metadata in refused.items():
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await get_claim(request, metadata=metadata, timeout=10)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
            assert pcn not in (caught.value.details() or "")
        # The control: the gateway's key, this service, this method → the claim.
        reply = await get_claim(request, metadata=token(vendor.tenant), timeout=10)
        assert reply.claim.claim_id == claim_id


async def test_every_method_of_every_service_refuses_a_direct_call(stack):
    """64-odd methods, each called with forged identity headers and with no metadata at all."""
    catalog = Catalog.discover()
    checked = 0
    for name, runtime in stack.services.items():
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}") as direct:
            for method in (m for m in catalog if m.upstream == name):
                if method.server_streaming:
                    call = direct.unary_stream(method.path)
                else:
                    call = direct.unary_unary(method.path)
                for metadata in ((), FORGED):
                    await expect_unauthenticated(call, b"", metadata)
                checked += 1
    assert checked >= 40 and set(stack.services) == {
        "claims", "negotiation", "settlement", "fees", "ledger"}
