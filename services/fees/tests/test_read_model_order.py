"""The fee read models fold a fee account's events to the same rows in any order: a consumer
killed before its ack gets the earlier events back after later ones (JetStream redelivers them
after `ack_wait`). Found by the fault suite (tests/faults): the live `fee_claims` row lost its
initial payment, which a rebuild from the stream has."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.consumer import Delivery
from services.common.context import CommandContext
from services.common.wire import (
    CONTENT_TYPE,
    canonical_json,
    decode_payload,
    event_payload,
    published_fields,
)
from services.fees.adapters.projections import FeeProjections
from services.fees.domain.assessment import line_from_record
from services.fees.domain.fee_account import FeeAccount
from services.fees.domain.invoicing import ClientBilling
from services.fees.tests.builders import flat_rate, payment, version
from tests.support.plugin import InfraUrls

pytestmark = pytest.mark.asyncio(loop_scope="session")


def delivery(event_type: str, claim_id: str, fields: dict[str, Any]) -> Delivery:
    """The event as the fees relay publishes it (its contract message)."""
    published = published_fields("fees", event_type, fields)
    envelope = EventEnvelope(event_type=event_type, tenant_id="tenant-a", claim_id=claim_id,
                             service="fees", schema_version=published.schema_version,
                             payload=published.payload,
                             payload_content_type=published.content_type)
    return Delivery(envelope, decode_payload(envelope), datetime.now(UTC))


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
                         {"source_event_id": "claims:1", "payer_id": "87726",
                          "service_code": "99285"}),
                delivery("ClaimFactsRecorded", str(claim_id),
                         {"source_event_id": "claims:2", "initial_payment_cents": 45_000}),
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


async def test_events_published_before_the_contracts_still_project(
    infra_urls: InfraUrls, namespace: str
) -> None:
    """A rebuild replays the stream from its start: events the relay published as canonical
    JSON (before every fees event had a contract) fill the same rows."""
    ctx = CommandContext(tenant_id="tenant-a", actor="t", request_id="r",
                         now=datetime(2026, 5, 2, tzinfo=UTC), roles=frozenset({"finance"}))
    account = FeeAccount.open(ctx, "claim-old", "client-1")
    account.assess_payment(ctx, payment(40_000, "settlement:9"), version(flat_rate(2500)))
    opened, assessed = account.collect_events()
    assert isinstance(assessed, FeeAccount.FeeAssessed)
    line = assessed.line
    assert line is not None
    billing = ClientBilling.open(ctx, "client-1")
    billing.close_period(ctx, dt.date(2026, 3, 1), dt.date(2026, 3, 31),
                         [line_from_record(line)])
    _, issued, _ = billing.collect_events()
    assert isinstance(issued, ClientBilling.InvoiceIssued)
    old_issued = {**event_payload(issued), "lines": [{**line, "invoice_id": None}]}

    def as_json(event_type: str, fields: dict[str, Any]) -> Delivery:
        envelope = EventEnvelope(event_type=event_type, tenant_id="tenant-a",
                                 claim_id="claim-old", service="fees",
                                 payload=canonical_json(fields), payload_content_type=CONTENT_TYPE)
        return Delivery(envelope, decode_payload(envelope), datetime.now(UTC))

    schema = f"{namespace}_feeold_{uuid.uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(infra_urls.database_url, min_size=1, max_size=2)
    projections = FeeProjections(schema)
    try:
        await pool.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await projections.migrate(pool)
        async with pool.acquire() as conn:
            for event_type, fields in (("FeeAccountOpened", event_payload(opened)),
                                       ("FeeAssessed", event_payload(assessed)),
                                       ("InvoiceIssued", old_issued)):
                await projections.handle(conn, as_json(event_type, fields))
        row = await pool.fetchrow(
            f'SELECT amount_cents, line_date, invoice_id FROM "{schema}".fee_lines')
        assert dict(row) == {"amount_cents": 10_000, "line_date": dt.date(2026, 3, 2),
                             "invoice_id": issued.invoice_id}
        assert await pool.fetchval(
            f'SELECT recovered_delta_cents FROM "{schema}".fee_activity') == 40_000
        assert await pool.fetchval(f'SELECT client_id FROM "{schema}".fee_claims') == "client-1"
    finally:
        await pool.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await pool.close()
