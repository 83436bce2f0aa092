"""The fee read models fold a fee account's events to the same rows in any order: a consumer
killed before its ack gets the earlier events back after later ones (JetStream redelivers them
after `ack_wait`). Found by the fault suite (tests/faults): the live `fee_claims` row lost its
initial payment, which a rebuild from the stream has."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.consumer import Delivery
from services.common.testing import InfraUrls
from services.fees.adapters.projections import FeeProjections

pytestmark = pytest.mark.asyncio(loop_scope="session")


def delivery(event_type: str, claim_id: str, payload: dict[str, Any]) -> Delivery:
    envelope = EventEnvelope(event_type=event_type, tenant_id="tenant-a", claim_id=claim_id,
                             service="fees")
    return Delivery(envelope, payload, datetime.now(UTC))


async def test_an_account_opened_after_its_claim_facts_folds_to_the_same_row(
    infra_urls: InfraUrls, namespace: str
) -> None:
    schema = f"{namespace}_feeorder_{uuid.uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(infra_urls.database_url, min_size=1, max_size=2)
    projections = FeeProjections(schema)
    try:
        await pool.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await projections.migrate(pool)
        rows = []
        for order, claim_id in zip(itertools.permutations(range(3)), itertools.count()):
            events = [
                delivery("FeeAccountOpened", str(claim_id),
                         {"claim_id": str(claim_id), "client_id": "client-1"}),
                delivery("ClaimFactsRecorded", str(claim_id),
                         {"payer_id": "87726", "service_code": "99285"}),
                delivery("ClaimFactsRecorded", str(claim_id), {"initial_payment_cents": 45_000}),
            ]
            async with pool.acquire() as conn:
                for index in order:
                    await projections.handle(conn, events[index])
            rows.append(dict(await pool.fetchrow(
                f'SELECT client_id, payer_id, service_code, initial_payment_cents '
                f'FROM "{schema}".fee_claims WHERE claim_id = $1', str(claim_id))))
        assert rows == [{"client_id": "client-1", "payer_id": "87726", "service_code": "99285",
                         "initial_payment_cents": 45_000}] * 6
    finally:
        await pool.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await pool.close()
