"""The auditor's report of a claim worked through every service, fetched with the auditor tool
through the gateway: real offers, the provider's approval, the verdict (issue 14, item 5)."""

from __future__ import annotations

import io
import pathlib

import pypdf
import pytest

from services.ledger.auditor import cli as auditor_cli
from tests.e2e.journey import Vendor
from tests.e2e.test_journey import agreed_claim
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_auditor_prints_the_report_of_a_negotiated_claim(
    stack, channel, tmp_path: pathlib.Path
) -> None:
    stack.require("claims", "negotiation", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    claim_id, _, _ = await agreed_claim(vendor, bulk=1)
    online = ["--target", stack.grpc_address, "--api-key", vendor.keys["auditor"]]

    async def cli(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        return await auditor_cli.run(list(argv), out), out.getvalue()

    async def approved_in_the_ledger() -> bool:
        code, text = await cli("replay", *online, "--claim", claim_id)
        return code == 0 and "DecisionApproved" in text and "SettlementAgreed" in text

    await eventually(approved_in_the_ledger, timeout=30)
    assert (await cli("verify", *online, "--claim", claim_id, "--wait", "15"))[0] == 0
    report = tmp_path / "report.pdf"
    code, text = await cli("report", *online, "--claim", claim_id, "--out", str(report))
    assert code == 0, text
    pdf = pypdf.PdfReader(io.BytesIO(report.read_bytes()))
    content = " ".join(" ".join(page.extract_text() for page in pdf.pages).split())
    assert claim_id in content
    # QPA $520.00: the provider's $1,800.00 is 346.2 %, the payer's $1,200.00 230.8 %.
    assert "$1,800.00 346.2%" in content and "$1,200.00 230.8%" in content
    assert "accept-1" in content and "approved" in content
    assert "VERIFIED" in content and "checkpoint of size" in content
