"""Rebuilding claim facts from the claims stream brings back what the read model lost
(services/ops/rebuild.py, which replaced `replay_claim_facts`)."""

from __future__ import annotations

import json
import uuid

import pytest

from services.common.runtime import ServiceRuntime
from services.ops.rebuild import Progress, read_model, rebuild
from services.settlement.tests.scenario import claim_facts
from services.settlement.tests.upstream import Upstream
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_lines_missing_from_claim_refs_come_back_and_nothing_doubles(
    settlement_runtime: ServiceRuntime,
) -> None:
    infra = settlement_runtime.infra
    assert infra is not None
    schema = settlement_runtime.settings.schema
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    facts = claim_facts(uuid.uuid4().hex[:6])
    upstream = Upstream(infra.js, settlement_runtime.settings, tenant)
    claims = {key: str(uuid.uuid4()) for key in ("A", "B")}
    for key, claim_id in claims.items():
        await upstream.claim(claim_id, facts[key])

    async def rows() -> dict[str, tuple[list[dict[str, object]], list[str]]]:
        async with infra.pool.acquire() as conn:
            found = await conn.fetch(
                f'SELECT claim_id, lines, icn_indexes FROM "{schema}".claim_refs '
                "WHERE tenant_id = $1",
                tenant,
            )
        return {r["claim_id"]: (json.loads(r["lines"]), list(r["icn_indexes"])) for r in found}

    async def both_projected() -> bool:
        current = await rows()
        return len(current) == 2 and all(lines and icns for lines, icns in current.values())

    await eventually(both_projected, timeout=20)
    before = await rows()
    # As for a claim registered before settlement kept 837 lines, and a row lost outright.
    async with infra.pool.acquire() as conn:
        await conn.execute(
            f'UPDATE "{schema}".claim_refs SET lines = \'[]\' '
            "WHERE tenant_id = $1 AND claim_id = $2",
            tenant,
            claims["A"],
        )
        await conn.execute(
            f'DELETE FROM "{schema}".claim_refs WHERE tenant_id = $1 AND claim_id = $2',
            tenant,
            claims["B"],
        )

    progress: list[Progress] = []
    done = await rebuild(
        read_model("settlement", "claim-facts"), settlement_runtime.settings, infra.pool,
        infra.js, progress.append,
    )

    assert done.applied >= 6  # registered, adjudicated, triaged for each claim (and other tests')
    assert progress and progress[-1].position == progress[-1].total  # to the end of the stream
    assert await rows() == before  # lines back, row back, ICNs not doubled
    assert before[claims["A"]][0][0]["line_control_number"] == f"{facts['A'].key}1"
