"""Patient account identifiers outside the event store (issue 21 item 5).

A registered claim's patient control number and its payer claim control number appear nowhere
in the read-model tables nor in the bytes published on NATS; a search by the PCN still finds the
claim, and ListClaims and GetClaim still show it.
"""

from __future__ import annotations

import uuid

import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.claims.v1.claims_pb2_grpc import ClaimsServiceStub
from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.claims import mapping
from services.claims.main import build
from services.claims.tests.factories import emergency_claim
from services.common.testing import call_metadata, channel_to, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

PCN = "PHI-PCN-7731"
ICN = "ICN-PHI-5521"


@pytest.fixture(scope="module")
async def runtime(service_runner):
    return await service_runner.start("claims", build)


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
