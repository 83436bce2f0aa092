"""Gateway overhead: GetClaim and MakeOffer through the gateway vs straight to the service, in
the same run (throughput ratio, added p99), plus GetClaim as JSON over HTTP.

Baselines measured in the same run: a plain grpc.aio echo (raw bytes, no auth, no service) and
a plain asyncpg primary-key SELECT (what a key lookup costs when it misses the cache).
Everything runs in this one process (load generator, gateway, services), as in the other
benches; reads DATABASE_URL / NATS_URL from the environment.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc

from bench.stats import pct
from gateway.catalog import UPSTREAMS
from gateway.server import make_builder, process_of
from gateway.tests.samples import emergency_claim
from oonledger.claims.v1 import claims_pb2, claims_pb2_grpc
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from oonledger.negotiation.v1 import negotiation_pb2_grpc
from services.common.internal_auth import InternalSigner, signed_channel
from services.common.runtime import Builder, ServiceRuntime
from services.common.settings import Settings

CALLERS = 32
SECONDS = 3.0




async def load(call: Callable[[int, int], Awaitable[Any]], seconds: float = SECONDS
               ) -> tuple[float, list[float]]:
    """CALLERS concurrent loops of `call(caller, i)` for `seconds`: (calls/s, latencies ms)."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        i = 0
        while time.perf_counter() < stop_at:
            i += 1
            started = time.perf_counter()
            await call(index, i)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(CALLERS)))
    return len(latencies) / (time.perf_counter() - started), latencies


def internal(tenant: str) -> tuple[tuple[str, str], ...]:
    """The identity the gateway would assert; a `signed_channel` signs it (direct calls)."""
    return (("x-tenant-id", tenant), ("x-actor", "bench"),
            ("x-roles", "negotiator,admin"), ("x-request-id", uuid.uuid4().hex))


async def bench_raw(settings: Settings, report: Any) -> None:
    server = grpc.aio.server()

    async def echo(request: bytes, _context: Any) -> bytes:
        return request

    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/bench.Echo/Echo")
        rate, latencies = await load(lambda _c, _i: call(b"x" * 64), SECONDS / 2)
    await server.stop(0)
    report("plain grpc.aio echo, 32 in flight", rate, "rpc/s")
    report("plain grpc.aio echo p99", pct(latencies, 0.99), "ms")

    conn = await asyncpg.connect(settings.database_url)
    await conn.execute("CREATE TEMP TABLE keys (key_id text PRIMARY KEY, h bytea)")
    await conn.executemany("INSERT INTO keys VALUES ($1, $2)",
                           [(f"k{i}", b"x" * 32) for i in range(1000)])
    started = time.perf_counter()
    for i in range(2000):
        await conn.fetchrow("SELECT * FROM keys WHERE key_id = $1", f"k{i % 1000}")
    report("plain asyncpg primary-key select", 2000 / (time.perf_counter() - started), "q/s")
    await conn.close()


async def start(service: str, builder: Builder, **overrides: Any) -> ServiceRuntime:
    runtime = ServiceRuntime(Settings.from_env(service, grpc_port=0, **overrides), builder)
    await runtime.start()
    return runtime


async def alternate(direct: Callable[[int, int], Awaitable[Any]],
                    via: Callable[[int, int], Awaitable[Any]], rounds: int = 3
                    ) -> tuple[tuple[float, list[float]], tuple[float, list[float]]]:
    """Direct and gateway in alternating rounds, so a noisy neighbour hits both alike."""
    results: dict[str, list[tuple[float, list[float]]]] = {"direct": [], "via": []}
    for _ in range(rounds):
        results["direct"].append(await load(direct, SECONDS / rounds))
        results["via"].append(await load(via, SECONDS / rounds))

    def merged(parts: list[tuple[float, list[float]]]) -> tuple[float, list[float]]:
        return statistics.fmean(rate for rate, _ in parts), [x for _, xs in parts for x in xs]

    return merged(results["direct"]), merged(results["via"])


def report_pair(report: Any, what: str, direct: tuple[float, list[float]],
                via: tuple[float, list[float]]) -> None:
    report(f"{what} direct, 32 callers", direct[0], "rpc/s")
    report(f"{what} via gateway, 32 callers", via[0], "rpc/s", f"{what} direct, 32 callers")
    report(f"{what} direct p99", pct(direct[1], 0.99), "ms")
    report(f"{what} via gateway p99", pct(via[1], 0.99), "ms", f"{what} direct p99")
    report(f"{what} added p99 (gateway - direct)", pct(via[1], 0.99) - pct(direct[1], 0.99), "ms")
    report(f"{what} added p50", statistics.median(via[1]) - statistics.median(direct[1]), "ms")


async def bench_get_claim(claims: ServiceRuntime, gateway_address: str, token: str,
                          tenant: str, report: Any) -> str:
    async with signed_channel(f"127.0.0.1:{claims.port}", "claims",
                              InternalSigner.from_settings(claims.settings)) as direct_channel, \
            grpc.aio.insecure_channel(gateway_address) as gateway_channel:
        direct = claims_pb2_grpc.ClaimsServiceStub(direct_channel)
        via = claims_pb2_grpc.ClaimsServiceStub(gateway_channel)
        created = await direct.RegisterClaim(
            claims_pb2.RegisterClaimRequest(request_id=uuid.uuid4().hex, claim=emergency_claim()),
            metadata=internal(tenant))
        request = claims_pb2.GetClaimRequest(claim_id=created.claim.claim_id)
        bearer = (("authorization", f"Bearer {token}"),)
        measured_direct, measured_via = await alternate(
            lambda _c, _i: direct.GetClaim(request, metadata=internal(tenant)),
            lambda _c, _i: via.GetClaim(request, metadata=bearer))
    report_pair(report, "GetClaim", measured_direct, measured_via)
    return created.claim.claim_id


async def bench_make_offer(negotiation: ServiceRuntime, gateway_address: str, token: str,
                           tenant: str, report: Any) -> None:
    signer = InternalSigner.from_settings(negotiation.settings)
    async with signed_channel(f"127.0.0.1:{negotiation.port}", "negotiation",
                              signer) as direct_channel, \
            grpc.aio.insecure_channel(gateway_address) as gateway_channel:
        direct = negotiation_pb2_grpc.NegotiationServiceStub(direct_channel)
        via = negotiation_pb2_grpc.NegotiationServiceStub(gateway_channel)

        async def opened() -> str:
            response = await direct.OpenNegotiation(_open_request(), metadata=internal(tenant))
            nid = response.negotiation.negotiation_id
            await direct.SendOpenNegotiationNotice(npb.SendOpenNegotiationNoticeRequest(
                negotiation_id=nid, sent_on="2026-06-02", channel=npb.CHANNEL_PORTAL),
                metadata=internal(tenant))
            return nid

        ids = await asyncio.gather(*(opened() for _ in range(2 * CALLERS)))
        bearer = (("authorization", f"Bearer {token}"),)
        measured_direct, measured_via = await alternate(
            lambda c, i: direct.MakeOffer(_offer(ids[c], i), metadata=internal(tenant)),
            lambda c, i: via.MakeOffer(_offer(ids[CALLERS + c], i), metadata=bearer))
    report_pair(report, "MakeOffer", measured_direct, measured_via)


def _open_request() -> npb.OpenNegotiationRequest:
    return npb.OpenNegotiationRequest(
        request_id=uuid.uuid4().hex, claim_id=str(uuid.uuid4()),
        provider_npi="1234567893", provider_tin="12-3456789", payer_id="payer-acme",
        plan_id="plan-acme-ppo", plan_funding="fully_insured", service_code="70450",
        service_on="2026-04-20", billed_cents=250_000, qpa_cents=40_000,
        patient_cost_sharing_cents=5_000, already_paid_cents=35_000,
        bill_received_on="2026-05-01", initial_payment_received_on="2026-06-01",
        route="federal_idr", assignee="bench@example.test")


def _offer(nid: str, i: int) -> npb.MakeOfferRequest:
    return npb.MakeOfferRequest(
        request_id=uuid.uuid4().hex, negotiation_id=nid, offer_id=f"o{i}-{uuid.uuid4().hex[:6]}",
        party=npb.PARTY_PAYER, amount_cents=40_000 + i, channel=npb.CHANNEL_EMAIL,
        basis=npb.OfferBasis(qpa_cents=40_000), made_on="2026-06-10")


async def bench_json_get_claim(http_port: int, token: str, claim_id: str, report: Any) -> None:
    body = json.dumps({"claimId": claim_id}).encode()
    head = (f"POST /v1/claims/GetClaim HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}"
            f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    connections = [await asyncio.open_connection("127.0.0.1", http_port) for _ in range(CALLERS)]

    async def call(caller: int, _i: int) -> None:
        reader, writer = connections[caller]
        writer.write(head + body)
        await writer.drain()
        status_and_headers = await reader.readuntil(b"\r\n\r\n")
        assert status_and_headers.startswith(b"HTTP/1.1 200"), status_and_headers[:80]
        length = next(int(line.split(b":")[1]) for line in status_and_headers.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)

    rate, latencies = await load(call, SECONDS / 2)
    for _, writer in connections:
        writer.close()
    report("GetClaim as JSON via gateway, 32 keep-alive conns", rate, "rpc/s",
           "GetClaim direct, 32 callers")
    report("GetClaim as JSON p99", pct(latencies, 0.99), "ms")


async def run(report: Any) -> None:
    from services.claims.main import build as claims_build
    from services.negotiation.main import build as negotiation_build

    settings = Settings.from_env("gateway", grpc_port=0)
    await bench_raw(settings, report)
    claims = await start("claims", claims_build)
    negotiation = await start("negotiation", negotiation_build)
    env = {f"{name.upper()}_ADDR": f"127.0.0.1:{runtime.port}"
           for name, runtime in (("claims", claims), ("negotiation", negotiation))}
    env.update({f"{n.upper()}_ADDR": "127.0.0.1:1" for n in UPSTREAMS if n not in
                ("claims", "negotiation")})
    env["GATEWAY_HTTP_PORT"] = "0"
    gateway = await start("gateway", make_builder(env))
    try:
        process = process_of(gateway)
        tenant = f"bench-{uuid.uuid4().hex[:8]}"
        now = datetime.now(UTC)
        key = await process.store.create(
            tenant_id=tenant, roles=["negotiator", "admin"], now=now,
            expires_at=now + timedelta(hours=1), label="bench", rate_per_second=1e6,
            burst=1_000_000)
        address = f"127.0.0.1:{gateway.port}"
        claim_id = await bench_get_claim(claims, address, key.token, tenant, report)
        await bench_make_offer(negotiation, address, key.token, tenant, report)
        await bench_json_get_claim(process.http_port, key.token, claim_id, report)
    finally:
        await asyncio.gather(*(stop(runtime) for runtime in (gateway, negotiation, claims)))


async def stop(runtime: ServiceRuntime) -> None:
    # A drain with pull consumers mid-fetch waits out nats-py's 30 s drain timeout (reported
    # to the lead); the bench has nothing left to deliver, so it waits 2 s at most.
    if runtime.infra is not None:
        runtime.infra.nc.options["drain_timeout"] = 2
    await runtime.stop(grace=1)
