"""Patient account identifiers outside the event store (issue 21 item 5).

A registered claim's patient control number and its payer claim control number appear nowhere
in the read-model tables nor in the bytes published on NATS; a search by the PCN still finds the
claim, and ListClaims and GetClaim still show it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.claims.v1 import events_pb2
from oonledger.claims.v1.claims_pb2_grpc import ClaimsServiceStub
from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.claims.adapters import mapping
from services.claims.adapters.projections import ClaimsReadModel, legacy_patient_control_number
from services.claims.tests.factories import emergency_claim
from services.common import phi
from services.common.consumer import Delivery
from services.common.contracts import contract_for
from services.common.wire import decode_payload
from services.ops.rebuild import read_model, rebuild
from tests.support.plugin import call_metadata, channel_to, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

PCN = "PHI-PCN-7731"
ICN = "ICN-PHI-5521"


async def test_account_numbers_are_nowhere_in_plain_text_yet_found_and_shown(runtime) -> None:
    stub = ClaimsServiceStub(channel_to(runtime))
    t = f"tenant-{uuid.uuid4().hex[:10]}"
    md = call_metadata(t)
    registered = await stub.RegisterClaim(pb.RegisterClaimRequest(
        request_id=uuid.uuid4().hex,
        claim=mapping.claim_input(emergency_claim(patient_control_number=PCN))), metadata=md)
    claim_id = registered.claim.claim_id
    await stub.RecordAdjudication(pb.RecordAdjudicationRequest(
        request_id=uuid.uuid4().hex, claim_id=claim_id, adjudication=pb.Adjudication(
            received_date="2026-10-30", billed_cents=249_000, denied=True, carc_codes=["16"],
            rarc_codes=["N290"], payer_claim_control_number=ICN)), metadata=md)
    # Another claim of the tenant, which a search by PCN must not return.
    await stub.RegisterClaim(pb.RegisterClaimRequest(
        request_id=uuid.uuid4().hex, claim=mapping.claim_input(emergency_claim())), metadata=md)

    async def listed() -> list[pb.ClaimSummary]:
        page = await stub.ListClaims(pb.ListClaimsRequest(), metadata=md)
        return list(page.claims) if len(page.claims) == 2 else []

    shown = await eventually(listed, timeout=20)
    assert {c.patient_control_number for c in shown} == {PCN, "PCN-2026-0001"}

    # Found by its PCN (the query is hashed like the stored index; case and blanks ignored).
    found = await stub.ListClaims(
        pb.ListClaimsRequest(patient_control_number=f" {PCN.lower()} "), metadata=md)
    assert [(c.claim_id, c.patient_control_number) for c in found.claims] == [(claim_id, PCN)]
    assert not (await stub.ListClaims(
        pb.ListClaimsRequest(patient_control_number="PHI-PCN-7732"), metadata=md)).claims
    # Another tenant's search for the same number finds nothing.
    assert not (await stub.ListClaims(pb.ListClaimsRequest(patient_control_number=PCN),
                                      metadata=call_metadata("tenant-other"))).claims
    got = await stub.GetClaim(pb.GetClaimRequest(claim_id=claim_id), metadata=md)
    assert got.claim.input.patient_control_number == PCN
    assert got.claim.adjudication.payer_claim_control_number == ICN

    # Nowhere in the service's tables (the read model; the event store is encrypted).
    schema = runtime.settings.schema
    tables = await runtime.infra.pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)
    assert "claims_read" in {r["table_name"] for r in tables}
    for row in tables:
        text = await runtime.infra.pool.fetchval(
            f'SELECT coalesce(string_agg(t::text, \'\n\'), \'\') FROM "{schema}".'
            f'"{row["table_name"]}" t')
        for plain in (PCN, ICN):
            assert plain.lower() not in text.lower(), (row["table_name"], plain)

    # Nowhere in the bytes on NATS: every message of the claims stream about this claim.
    js = runtime.infra.js
    subject = f"{runtime.settings.subject_prefix_for('claims')}.>"
    psub = await js.pull_subscribe(subject, stream=runtime.settings.stream_for("claims"))
    seen: dict[str, bytes] = {}

    async def both_published() -> bool:
        try:
            for msg in await psub.fetch(200, timeout=1):
                await msg.ack()
                env = EventEnvelope.FromString(msg.data)
                if env.aggregate_id == claim_id:
                    seen[env.event_type] = msg.data
        except TimeoutError:
            pass
        return {"ClaimRegistered", "AdjudicationRecorded"} <= set(seen)

    assert await eventually(both_published, timeout=20)
    await psub.unsubscribe()
    for data in seen.values():
        assert PCN.encode() not in data and ICN.encode() not in data


async def test_the_read_model_rebuilt_from_the_stream_equals_the_live_one(runtime) -> None:
    """services/ops/rebuild.py replays the claims stream through the same projection: the same
    rows (the same index and sealed text, taken from the messages), still found by PCN."""
    stub = ClaimsServiceStub(channel_to(runtime))
    t = f"tenant-{uuid.uuid4().hex[:10]}"
    md = call_metadata(t)
    for pcn in ("REBUILD-1", "REBUILD-2"):
        await stub.RegisterClaim(pb.RegisterClaimRequest(
            request_id=uuid.uuid4().hex,
            claim=mapping.claim_input(emergency_claim(patient_control_number=pcn))), metadata=md)
    schema = runtime.settings.schema
    query = f'SELECT * FROM "{schema}".claims_read WHERE tenant_id = $1 ORDER BY claim_id'

    async def live() -> list[Any]:
        rows = await runtime.infra.pool.fetch(query, t)
        return [dict(r) for r in rows] if len(rows) == 2 else []

    before = await eventually(live, timeout=20)
    assert all(r["patient_control_number_sealed"].startswith("v1:") for r in before)
    done = await rebuild(read_model("claims", "read-model"), runtime.settings,
                         runtime.infra.pool, runtime.infra.js)
    assert done.position == done.total
    assert [dict(r) for r in await runtime.infra.pool.fetch(query, t)] == before
    found = await stub.ListClaims(
        pb.ListClaimsRequest(patient_control_number="rebuild-2"), metadata=md)
    assert [c.patient_control_number for c in found.claims] == ["REBUILD-2"]


async def test_a_message_published_before_the_tokens_is_tokenized_by_the_projection() -> None:
    """A v1 ClaimRegistered from before issue 21 carries the plain PCN in field 3 (reserved
    now, kept by protobuf as an unknown field): the read model tokenizes it with its key."""
    keys = phi.PhiKeys.from_env({}, dev_mode=True)
    claim = events_pb2.ClaimRegistered.Claim(
        client_id="client-old", claim_type="professional",
        payer=events_pb2.ClaimRegistered.Payer(payer_id="87726"),
        lines=[events_pb2.ClaimRegistered.ServiceLine(procedure_code="99285",
                                                      billed_cents=100, service_date="2026-03-02")],
    ).SerializeToString() + b"\x1a" + bytes([len(b"PCN-OLD")]) + b"PCN-OLD"
    assert len(claim) < 128  # one-byte length below
    old = b"\x0a" + bytes([len(claim)]) + claim
    envelope = EventEnvelope(
        event_id="claims:1", service="claims", notification_id=1, tenant_id="tenant-old",
        event_type="ClaimRegistered", aggregate_id=str(uuid.uuid4()), aggregate_version=1,
        schema_version=1, payload=old,
        payload_content_type=contract_for("claims", "ClaimRegistered").content_type)  # type: ignore[union-attr]
    delivery = Delivery(envelope, decode_payload(envelope), datetime.now(UTC))
    assert delivery.payload["claim"]["patient_control_number_index"] == ""
    assert legacy_patient_control_number(delivery) == "PCN-OLD"
    read_model = ClaimsReadModel(None, "claims_test", keys)  # type: ignore[arg-type]
    index, sealed = read_model._pcn_tokens(delivery)
    assert index == keys.index("tenant-old", phi.PATIENT_CONTROL_NUMBER, "pcn-old")
    assert keys.unseal(sealed) == "PCN-OLD"
