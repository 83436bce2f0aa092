"""Read models stay right when replicas consume an aggregate's events out of order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.consumer import Delivery
from services.common.phi import PhiKeys
from services.common.wire import canonical_json
from services.settlement.adapters.projections import (
    ProjectionOutOfOrder,
    projector,
    settlement_handlers,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _delivery(
    tenant: str, file_id: str, version: int, event_type: str, payload: dict[str, Any]
) -> Delivery:
    envelope = EventEnvelope(
        event_id=f"settlement:{uuid.uuid4().int % 10**12}",
        service="settlement",
        tenant_id=tenant,
        aggregate_id=file_id,
        aggregate_version=version,
        event_type=event_type,
        payload=canonical_json(payload),
    )
    return Delivery(envelope, payload, datetime.now(UTC))


async def test_a_later_event_waits_for_its_predecessor(settlement_runtime: Any) -> None:
    schema = settlement_runtime.settings.schema
    project = projector(schema, settlement_handlers(PhiKeys.from_env({}, dev_mode=True)),
                        in_version_order=True)
    tenant, file_id = f"order-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    received = _delivery(
        tenant, file_id, 1, "RemittanceFileReceived",
        {"file_name": "f.835", "content_sha256": "ab", "size_bytes": 1},
    )  # fmt: skip
    quarantined = _delivery(
        tenant, file_id, 2, "RemittanceFileQuarantined",
        {"reasons": ["transaction-balance"], "trace_numbers": ["T"]},
    )  # fmt: skip
    pool = settlement_runtime.infra.pool
    with pytest.raises(ProjectionOutOfOrder):
        async with pool.acquire() as conn, conn.transaction():
            await project(conn, quarantined)
    for delivery in (received, quarantined, received):  # the last one is a late duplicate
        async with pool.acquire() as conn, conn.transaction():
            await project(conn, delivery)
    async with pool.acquire() as conn:
        outcome = await conn.fetchval(
            f'SELECT outcome FROM "{schema}".remittance_files WHERE tenant_id = $1', tenant
        )
    assert outcome == "quarantined"
