"""What `make run` needs from the gateway: a demo API key, and a first call in gRPC and JSON."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc

from gateway.keystore import KeyStore
from oonledger.claims.v1 import claims_pb2, claims_pb2_grpc
from services.common.auth import ROLES
from services.common.settings import Settings


async def create_demo_key(
    database_url: str,
    namespace: str = "",
    tenant_id: str = "demo-vendor-client",
    roles: Iterable[str] = ROLES,
    valid_for: timedelta = timedelta(days=1),
    rate_per_second: float = 1000.0,
    burst: int = 2000,
) -> str:
    """Issue a key for the demo tenant (every role, generous limits) and return its token."""
    schema = Settings("gateway", database_url, "", namespace=namespace).schema
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        store = KeyStore(pool, schema)
        await store.migrate()
        now = datetime.now(UTC)
        created = await store.create(
            tenant_id=tenant_id, roles=roles, now=now, expires_at=now + valid_for,
            label="make run demo", rate_per_second=rate_per_second, burst=burst,
        )
        return created.token
    finally:
        await pool.close()


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """gRPC call metadata for a partner's key."""
    return (("authorization", f"Bearer {token}"),)


async def first_calls(channel: grpc.aio.Channel, http_base_url: str, token: str,
                      claim_id: str) -> tuple[str, dict[str, object]]:
    """The partner's first call, both ways: GetClaim over gRPC, then the same over JSON.

    Returns the claim's status as gRPC reported it, and the JSON body of the HTTP answer.
    """
    stub = claims_pb2_grpc.ClaimsServiceStub(channel)
    reply = await stub.GetClaim(claims_pb2.GetClaimRequest(claim_id=claim_id),
                                metadata=bearer(token), timeout=10)
    request = urllib.request.Request(  # noqa: S310 - the caller's own gateway URL
        f"{http_base_url}/v1/claims/GetClaim",
        data=json.dumps({"claimId": claim_id}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    def fetch() -> dict[str, object]:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())

    return claims_pb2.ClaimStatus.Name(reply.claim.status), await asyncio.to_thread(fetch)
