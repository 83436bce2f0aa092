"""Events settlement published before its contract tokenized identifiers (pre-contract JSON, or
a v1 message whose plain field is reserved now) still project, with keyed hashes and sealed
values only: a rebuild from an old stream never writes a plain CLP01/CLP07 (issue 21 item 5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.consumer import Delivery
from services.common.contracts import publish_fields
from services.common.phi import PATIENT_CONTROL_NUMBER, PAYER_CLAIM_NUMBER, PhiKeys
from services.common.wire import canonical_json, decode_payload
from services.settlement.adapters.projections import projector, settlement_handlers

pytestmark = pytest.mark.asyncio(loop_scope="session")
KEYS = PhiKeys.from_env({}, dev_mode=True)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field (tag and length fit one byte here)."""
    assert number < 16 and len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


def _envelope(tenant: str, claim_id: str, event_type: str, version: int = 1) -> EventEnvelope:
    return EventEnvelope(
        event_id=f"settlement:{uuid.uuid4().int % 10**12}", service="settlement",
        tenant_id=tenant, claim_id=claim_id, aggregate_id=str(uuid.uuid4()),
        aggregate_version=version, event_type=event_type, schema_version=1)


def _delivery(envelope: EventEnvelope) -> Delivery:
    return Delivery(envelope, decode_payload(envelope), datetime.now(UTC))


async def test_old_payments_and_exceptions_project_tokens_not_plain_numbers(
    settlement_runtime: Any,
) -> None:
    schema = settlement_runtime.settings.schema
    project = projector(schema, settlement_handlers(KEYS))
    tenant, claim_id = f"legacy-{uuid.uuid4().hex[:8]}", f"claim-{uuid.uuid4().hex[:8]}"
    pcn, icn, paid_icn = f"PCN{tenant}", f"ICN{tenant}", f"PAID{tenant}"

    queued = _envelope(tenant, "", "UnmatchedClaimPaymentQueued")
    queued.payload = canonical_json({  # pre-contract: canonical JSON with the plain numbers
        "remittance_id": "r-1", "trace_number": "T-1", "payer_id": "p", "payment_method": "ACH",
        "payment_date": "2026-10-10", "ordinal": 1, "patient_control_number": pcn,
        "payer_claim_control_number": icn, "status_code": "1", "charge_cents": 100,
        "paid_cents": 50, "patient_responsibility_cents": 0, "first_service_date": "",
        "reason": "no claim", "candidate_claim_id": ""})
    queued.payload_content_type = "application/json; canonical"

    posted = _envelope(tenant, claim_id, "PaymentPosted")
    published = publish_fields("settlement", "PaymentPosted", {
        "payment_id": "pay-1", "amount_cents": 50, "paid_on": "2026-10-10",
        "journal": [], "line_matches": []}, strict=False)
    # The v1 message before issue 21: field 5 held the plain ICN (reserved since).
    posted.payload = published.payload + _field(5, paid_icn.encode())
    posted.payload_content_type = published.content_type

    pool = settlement_runtime.infra.pool
    for envelope in (queued, posted):
        async with pool.acquire() as conn, conn.transaction():
            await project(conn, _delivery(envelope))
    async with pool.acquire() as conn:
        exception = await conn.fetchrow(
            f'SELECT * FROM "{schema}".payment_exceptions WHERE tenant_id = $1', tenant)
        payment = await conn.fetchrow(
            f'SELECT * FROM "{schema}".payments WHERE tenant_id = $1', tenant)
        refs = await conn.fetchrow(
            f'SELECT * FROM "{schema}".claim_refs WHERE tenant_id = $1', tenant)
    assert exception["patient_control_number_index"] == KEYS.index(
        tenant, PATIENT_CONTROL_NUMBER, pcn)
    assert KEYS.unseal(exception["payer_claim_control_number_sealed"]) == icn
    assert payment["payer_claim_control_number_index"] == KEYS.index(
        tenant, PAYER_CLAIM_NUMBER, paid_icn)
    assert list(refs["icn_indexes"]) == [KEYS.index(tenant, PAYER_CLAIM_NUMBER, paid_icn)]
    for row in (exception, payment, refs):
        text = str(dict(row))
        assert pcn not in text and icn not in text and paid_icn not in text
