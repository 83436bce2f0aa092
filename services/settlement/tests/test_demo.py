"""The `make run` demo step works against a running service."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.local.demo.settlement import DemoClaim, pay_negotiated_claims
from oonledger.settlement.v1 import settlement_pb2 as pb
from services.x12.writer_835 import LineSpec
from tests.support.plugin import channel_to

from .polling import wait_for
from .scenario import DOS

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_demo_pays_every_negotiated_claim(seed: Any, settlement_runtime: Any) -> None:
    seeded = await seed()
    lines: list[str] = []
    # A and B echo their 837 line (REF*6R) as the make-run demo does; C sends one plain SVC.
    claims = [
        DemoClaim(
            seeded.claim_id(k),
            f.patient_control_number,
            f.charge_cents,
            DOS,
            f.icn,
            lines=(LineSpec("99285", f.charge_cents, 0, line_control_number=f"{k}1"),)
            if k in "AB"
            else (),
        )
        for k, f in seeded.facts.items()
        if k in "ABC"
    ]
    response = await pay_negotiated_claims(
        channel_to(settlement_runtime), seeded.tenant, claims, show=lines.append
    )
    assert response.status == pb.IMPORT_STATUS_POSTED
    assert response.remittances[0].matched_count == 3
    assert any("Dr provider_cash" in line for line in lines)
    assert sum("-> 837 line 1 A1 (line-control-number)" in line for line in lines) == 1
    assert sum("-> 837 line 1 B1 (line-control-number)" in line for line in lines) == 1
    assert sum("(procedure-modifiers-date-charge)" in line for line in lines) == 1  # C

    async def all_paid() -> bool:
        return all([(await seeded.settlement(k)).outstanding_cents == 0 for k in "ABC"])

    await wait_for(all_paid)
