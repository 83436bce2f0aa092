"""A database outage during a command answers UNAVAILABLE with retry information (never UNKNOWN
or INTERNAL), so clients that retry only on UNAVAILABLE do retry, and the retry then succeeds."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.claims.v1.claims_pb2_grpc import ClaimsServiceStub
from services.claims.adapters import mapping
from services.claims.main import build
from services.claims.tests.factories import emergency_claim
from services.common.localservers import LocalPostgres
from tests.support.plugin import call_metadata, channel_to, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def private_postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL of this test's own, so stopping it disturbs no other test."""
    base = Path(tempfile.mkdtemp(prefix="oonledger-outage-"))
    base.chmod(0o755)
    postgres = LocalPostgres(base / "pgdata", max_connections=50)
    yield postgres
    postgres.stop()


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


async def test_a_command_during_a_database_outage_is_unavailable_with_retry_info(
    service_runner, private_postgres
):
    database_url = private_postgres.start()
    runtime = await service_runner.start("claims", build, database_url=database_url,
                                         db_pool_size=2)
    try:
        stub = ClaimsServiceStub(channel_to(runtime))
        tenant = f"tenant-{uuid.uuid4().hex[:8]}"
        request = pb.RegisterClaimRequest(
            request_id=uuid.uuid4().hex,
            claim=mapping.claim_input(emergency_claim(patient_control_number="PCN-OUTAGE")))

        private_postgres.stop()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RegisterClaim(request, metadata=call_metadata(tenant), timeout=60)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value
        assert "retry" in (caught.value.details() or "")
        assert retry_delay(caught.value) == 1
        # A read model query (asyncpg) during the outage: the same answer.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListClaims(pb.ListClaimsRequest(), metadata=call_metadata(tenant),
                                  timeout=60)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value
        assert retry_delay(caught.value) == 1

        # Back up: a client retrying on UNAVAILABLE with the same request id stores the claim,
        # once (the first attempts may still meet pooled connections the restart broke).
        private_postgres.start()

        async def retried() -> pb.RegisterClaimResponse | None:
            try:
                return await stub.RegisterClaim(request, metadata=call_metadata(tenant),
                                                timeout=60)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    return None
                raise

        created = await eventually(retried, timeout=60)
        again = await stub.RegisterClaim(request, metadata=call_metadata(tenant), timeout=60)
        assert created.created and not again.created
        assert again.claim.claim_id == created.claim.claim_id
    finally:
        if runtime.infra is not None:
            runtime.infra.nc.options["drain_timeout"] = 2
        await service_runner.stop(runtime)
