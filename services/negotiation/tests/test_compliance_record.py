"""The compliance report as it stood after each act, recorded for the audit ledger (issue 16).

Negotiation reacts to its own act events: the case's report, computed from its events up to
the act (never later ones), is stated on the case's ComplianceRecord (published as
ComplianceReportStated on the claim's chain, which the ledger folds into its as-of view).
"""

from __future__ import annotations

from typing import Any

import pytest

from oonledger.negotiation.v1 import negotiation_pb2 as pb
from services.negotiation.application import negotiation_id_for
from services.negotiation.client import Client
from services.negotiation.domain.compliance_record import ComplianceRecord, record_id
from services.negotiation.tests.test_line_disputes import approved_for_idr
from services.negotiation.tests.test_service import get, opened_with_notice, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


def stated(runtime: Any, tenant: str, nid: str) -> list[Any]:
    events = runtime.parts.app.events.get(record_id(tenant, nid))
    return [e for e in events if isinstance(e, ComplianceRecord.ComplianceReportStated)]


def line(report: Any, code: str) -> Any:
    return next(line for line in report["lines"] if line["code"] == code)


async def test_each_act_leaves_the_report_as_it_stood_then(runtime: Any, client: Client) -> None:
    nid = await opened_with_notice(client)
    await approved_for_idr(client, nid)
    await client.call("InitiateIdr", pb.InitiateIdrRequest(
        negotiation_id=nid, dispute_number="DISP-C", initiated_on="2026-07-17",
        initiating_party=pb.PARTY_PROVIDER))

    async def three() -> list[Any] | None:
        reports = stated(runtime, client.tenant, nid)
        return reports if len(reports) >= 3 else None

    reports = await wait_for(three)
    assert [r.source_event_type for r in reports] == [
        "Opened", "OpenNegotiationNoticeSent", "IdrInitiated"]
    claim_id = (await get(client, nid)).claim_id
    assert str(negotiation_id_for(client.tenant, claim_id)) == nid
    opened, noticed, initiated = (r.report for r in reports)
    assert all(r.claim_id == claim_id and r.negotiation_id == nid for r in reports)
    # After the notice: T1 met on 2026-06-02, and no IDR yet, although the reaction may have
    # run after the initiation (the report is the case as it stood at the act).
    assert line(opened, "T1")["act_on"] == ""
    assert (line(noticed, "T1")["act_on"], line(noticed, "T1")["status"]) == (
        "2026-06-02", "timely")
    assert line(noticed, "T3")["act_on"] == "" and noticed["status"] == "open"
    t3 = line(initiated, "T3")
    assert (t3["act_on"], t3["status"], t3["counting"]) == ("2026-07-17", "timely", "business")
    assert initiated["status"] == "in_idr" and initiated["rule_set_version"]
    assert initiated["calendar"].startswith("us-federal")
    # The report each act left equals what GetComplianceReport answers for that day now.
    now = await client.call("GetComplianceReport", pb.GetComplianceReportRequest(
        negotiation_id=nid, as_of=initiated["as_of"]))
    assert [(x.code, x.status, x.act_on, x.due_on) for x in now.report.lines] == [
        (x["code"], x["status"], x["act_on"], x["due_on"]) for x in initiated["lines"]]
