# The shared `eventually` helper is typed so that async probes infer `Never`; see the report.
# mypy: disable-error-code="arg-type,return-value"
"""Exactly-once billing across a kill -9 of the fees service in the middle of a payment stream.

The service runs as a real subprocess (its own namespace, so no other consumer shares its
durable consumers), is killed with SIGKILL while it is assessing, and restarted; every payment
must then be billed exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import grpc
import nats
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from oonledger.fees.v1 import fees_pb2, fees_pb2_grpc
from services.common.localservers import stop_process
from services.fees.tests.upstream import UpstreamPublisher
from tests.support.plugin import TEST_VERIFY_PEM, call_metadata, eventually, signed_channel

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[3]
CLAIMS = 40
PAYMENTS = 3000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FeesProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # the real composition root, as deployed
                [sys.executable, "-m", "services.fees.main"], cwd=ROOT, env=self.env,
                stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        stop_process(self.process, grace=15)


async def serving(port: int) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.aio.AioRpcError:
            return False
        return answer.status == health_pb2.HealthCheckResponse.SERVING


def assessed_events(database_url: str, schema: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            f'SELECT count(*) FROM "{schema}".feesapplication_events '
            "WHERE topic LIKE %s", ("%FeeAssessed",)).fetchone()
    return int(row[0]) if row else 0


async def test_kill_9_mid_stream_bills_every_payment_exactly_once(
        infra_urls, namespace, make_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    crash_namespace = f"{namespace}k9"
    settings = make_settings("fees", namespace=crash_namespace)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": infra_urls.database_url,
           "NATS_URL": infra_urls.nats_url, "OON_NAMESPACE": crash_namespace,
           "OON_DEV_MODE": "1", "FEES_GRPC_PORT": str(port), "OON_LOG_LEVEL": "WARNING",
           "OON_INTERNAL_VERIFY_KEY": TEST_VERIFY_PEM}
    service = FeesProcess(env, tmp_path / "fees.log")
    service.start()
    nc = await nats.connect(infra_urls.nats_url)
    try:
        await eventually(lambda: serving(port), timeout=60)
        tenant = "crash-" + uuid.uuid4().hex[:8]
        metadata = call_metadata(tenant)
        channel = signed_channel(f"127.0.0.1:{port}", "fees")
        stub = fees_pb2_grpc.FeesServiceStub(channel)
        await stub.PublishFeeSchedule(fees_pb2.PublishFeeScheduleRequest(
            request_id=uuid.uuid4().hex, client_id="client-k", effective_from="2026-01-01",
            terms=fees_pb2.FeeTerms(default_tiers=[fees_pb2.Tier(floor_cents=0, rate_bps=2500)])),
            metadata=metadata)
        upstream = UpstreamPublisher(nc.jetstream(), settings, tenant)
        claims = [str(uuid.uuid4()) for _ in range(CLAIMS)]
        for claim_id in claims:
            await upstream.claim_registered(claim_id, "client-k")

        paid: dict[str, int] = defaultdict(int)
        sources: dict[str, set[str]] = defaultdict(set)
        acks = []
        for number in range(PAYMENTS):
            claim_id = claims[number % CLAIMS]
            amount = 1_000 + number
            envelope = upstream.envelope("settlement", "PaymentPosted", claim_id, {
                "payment_id": f"pay-{number}", "amount_cents": amount, "paid_on": "2026-05-04",
                "reference": f"EFT-{number}"})
            paid[claim_id] += amount
            sources[claim_id].add(envelope.event_id)
            acks.append(await upstream.js.publish_async(
                f"{settings.subject_prefix_for('settlement')}.settlement.PaymentPosted",
                envelope.SerializeToString(), headers={"Nats-Msg-Id": envelope.event_id}))
        await asyncio.gather(*acks)

        async def mid_stream() -> bool:
            done = await asyncio.to_thread(assessed_events, infra_urls.database_url,
                                           settings.schema)
            return 0 < done < PAYMENTS

        await eventually(mid_stream, timeout=60, interval=0.01)
        service.kill()
        killed_at = await asyncio.to_thread(assessed_events, infra_urls.database_url,
                                            settings.schema)
        assert killed_at < PAYMENTS, "the kill came too late to interrupt the stream"

        service.start()
        await eventually(lambda: serving(port), timeout=60)

        async def all_assessed() -> bool:
            done = await asyncio.to_thread(assessed_events, infra_urls.database_url,
                                           settings.schema)
            assert done <= PAYMENTS, f"{done} assessments for {PAYMENTS} payments"
            return done == PAYMENTS

        await eventually(all_assessed, timeout=90)
        for claim_id in claims:
            account = (await stub.GetFeeAccount(fees_pb2.GetFeeAccountRequest(claim_id=claim_id),
                                                metadata=metadata)).account
            assert account.paid_cents == paid[claim_id]
            assert account.fee_billed_cents == (paid[claim_id] * 2500 + 5_000) // 10_000
            assert sum(line.amount_cents for line in account.lines) == account.fee_billed_cents
            assert {line.source_event_id for line in account.lines} <= sources[claim_id]
            assert len({line.line_id for line in account.lines}) == len(account.lines)
        await channel.close()
    finally:
        await nc.close()
        service.stop()
