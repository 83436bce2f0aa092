"""Issue 21 item 5: an 835's patient control numbers (CLP01) and payer claim numbers (CLP07)
never reach settlement's read models or its NATS messages in plain text, and matching by their
keyed hashes still works (the realistic scenario: exact, ICN, F8 reference, truncated CLP01)."""

from __future__ import annotations

from typing import Any

import pytest

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from oonledger.settlement.v1 import settlement_pb2 as pb
from services.common.runtime import ServiceRuntime
from services.settlement.adapters import sql

from .polling import wait_for
from .scenario import plan_share, scenario_835

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _identifiers(seeded: Any) -> set[str]:
    tag = seeded.tag
    pcns = {f.patient_control_number for f in seeded.facts.values()}
    pcns |= {f.patient_control_number[:20] for f in seeded.facts.values()}  # C, truncated
    pcns.add(f"UNKNOWN{tag}")
    icns = {f.icn for f in seeded.facts.values()}
    icns |= {f"{seeded.facts['B'].icn}R", f"{seeded.facts['C'].icn}N", f"ICNX{tag}"}
    return pcns | icns


async def _read_model_rows(runtime: ServiceRuntime) -> list[str]:
    assert runtime.infra is not None
    schema = runtime.settings.schema
    async with runtime.infra.pool.acquire() as conn:
        tables = [r["table_name"] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 "
            "AND table_type = 'BASE TABLE'", schema)]
        rows: list[str] = []
        for table in tables:
            rows += [r[0] for r in await conn.fetch(
                f'SELECT t::text FROM "{schema}"."{table}" t')]
    return rows


async def _stream_messages(runtime: ServiceRuntime, tenant: str) -> list[bytes]:
    assert runtime.infra is not None
    js = runtime.infra.js
    stream = runtime.settings.stream_for("settlement")
    info = await js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except Exception:
            continue
        data = bytes(msg.data or b"")
        envelope = EventEnvelope.FromString(data)
        if envelope.tenant_id == tenant:
            found.append(data)
    return found


# Rule 4's look-up both ways (services/settlement/adapters/sql.py): a GIN probe per prefix for a
# few, one hashed pass over the tenant's rows for many (0: even the one truncated CLP01 here).
@pytest.mark.parametrize("prefix_probes", [sql.PREFIX_INDEX_PROBES, 0])
async def test_identifiers_are_neither_in_read_models_nor_on_nats_and_matching_works(
    seed: Any, settlement_runtime: ServiceRuntime, prefix_probes: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sql, "PREFIX_INDEX_PROBES", prefix_probes)
    seeded = await seed()
    response = await seeded.stub.ImportRemittance(
        pb.ImportRemittanceRequest(content=scenario_835(seeded.tag).encode(),
                                   file_name="era.835"), metadata=seeded.md())
    assert response.status == pb.IMPORT_STATUS_POSTED, response.reasons
    (summary,) = response.remittances
    # A exact, B by ICN (reversal) and F8 (correction), C by its truncated CLP01; D, X queued.
    assert (summary.matched_count, summary.exception_count) == (4, 2)

    c = seeded.facts["C"]

    async def c_paid() -> bool:
        return (await seeded.settlement("C")).paid_cents == plan_share(c) - 10_000

    await wait_for(c_paid)

    async def both_queued() -> list[pb.PaymentException]:
        found = await seeded.stub.ListExceptions(pb.ListExceptionsRequest(), metadata=seeded.md())
        return list(found.exceptions) if len(found.exceptions) == 2 else []

    queued = await wait_for(both_queued)
    # A person still reads the numbers back (sealed in the read model, unsealed for the API).
    assert {e.patient_control_number for e in queued} == {
        seeded.facts["D"].patient_control_number, f"UNKNOWN{seeded.tag}"}
    assert {e.payer_claim_control_number for e in queued} == {
        seeded.facts["D"].icn, f"ICNX{seeded.tag}"}

    identifiers = _identifiers(seeded)
    rows = await _read_model_rows(settlement_runtime)
    assert any(seeded.tenant in row for row in rows)
    leaks = sorted({i for i in identifiers for row in rows if i.upper() in row.upper()})
    assert leaks == [], f"plain identifiers in settlement's read models: {leaks}"

    messages = await _stream_messages(settlement_runtime, seeded.tenant)
    assert len(messages) > 10
    leaked = sorted({i for i in identifiers for data in messages
                     if i.encode() in data or i.upper().encode() in data})
    assert leaked == [], f"plain identifiers in settlement's NATS messages: {leaked}"
