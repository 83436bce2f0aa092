"""A case worked in the browser: taken from the queue, two offers, a decision proposed, the
provider's approver approves, the case is agreed; every step recorded with the person as the
actor. Another tenant's people see none of it."""

from __future__ import annotations

from datetime import timedelta

import grpc

from gateway.console.cases import eastern_today
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from tests.console.conftest import Browser, console_of, enrol_person
from tests.e2e.conftest import Stack
from tests.e2e.journey import Vendor


async def test_a_case_goes_from_the_queue_to_an_agreement(
        stack: Stack, channel: grpc.aio.Channel, browser: Browser) -> None:
    stack.require("claims", "negotiation")
    vendor = await Vendor.enrol(stack, channel)
    today = eastern_today(console_of(stack).clock())
    [(claim_id, pcn)] = await vendor.import_claims(
        1, service_date=(today - timedelta(days=20)).isoformat())
    await vendor.adjudicate_and_triage(claim_id, received=(today - timedelta(days=10)).isoformat())
    nid = await vendor.negotiation_of(claim_id)
    negotiator = await enrol_person(stack, vendor.tenant, "negotiator", name="Nia Negotiator")
    approver = await enrol_person(stack, vendor.tenant, "provider_approver", name="Pat Approver")

    # The queue: the case is there, coloured by its deadline; the negotiator takes it.
    await browser.sign_in(negotiator)
    assert await browser.path() == "/console/queue"
    row = f"tr[data-negotiation='{nid}']"
    assert pcn in await browser.text(row)
    assert negotiator.actor not in await browser.text(row)
    await browser.screenshot("queue")
    await browser.submit(f"{row} button")
    assert "Case assigned to you" in await browser.text(".flash")
    assert negotiator.actor in await browser.reload_until(row, negotiator.actor)
    await browser.select("select[name='client']", "client-ed-group")
    await browser.select("select[name='assignee']", "me")
    await browser.submit(".filters button")
    assert pcn in await browser.text(row)
    await browser.select("select[name='stage']", "agreed")
    await browser.submit(".filters button")
    assert not await browser.find_all(row)
    await browser.open("/console/queue")

    # The case: facts, benchmarks, our offer, the payer's counter, a payer response.
    await browser.submit(f"{row} a")
    assert await browser.path() == f"/console/cases/{nid}"
    assert "$520.00" in await browser.text("#qpa")
    assert "Metro Emergency Physicians" in await browser.text("main")
    await browser.type("#notice-ref", "ON-PORTAL-1")
    await browser.submit("#send-notice")
    assert "Open-negotiation notice recorded" in await browser.text(".flash")
    assert "no offer cites one" in await browser.text("#medicare")
    await browser.type("#offer-amount", "1300.00")
    await browser.type("#offer-medicare", "310")
    await browser.type("#offer-notes", "Opening at 250% of QPA; payer's history supports it.")
    await browser.submit("#make-offer")
    assert "Offer provider-1 of $1,300.00 recorded" in await browser.text(".flash")
    assert "310% of Medicare (provider offer provider-1)" in await browser.text("#medicare")
    await browser.select("#offer-party", "payer")
    await browser.type("#offer-amount", "910.00")
    await browser.submit("#make-offer")
    assert "Offer payer-2 of $910.00 recorded" in await browser.text(".flash")
    await browser.type("#response-summary", "Payer countered at 175% of QPA by portal.")
    await browser.submit("#record-response")
    assert "Payer response recorded" in await browser.text(".flash")
    assert len(await browser.find_all("svg.chart circle.provider")) >= 2  # 1 offer + legend
    assert len(await browser.find_all("svg.chart line.qpa")) == 1
    # A first proposal, a counter, which the provider's approver rejects with a reason.
    await browser.select("#decision-action", "counter")
    await browser.type("#decision-counter", "1100.00")
    await browser.type("#decision-rationale", "meet them near the median award")
    await browser.submit("#propose-decision")
    assert "Decision decision-1 proposed" in await browser.text(".flash")
    await browser.sign_out()
    await browser.sign_in(approver)
    assert await browser.path() == "/console/approvals"
    assert "$1,100.00" in await browser.text(".approval")
    await browser.click(".approval button.danger")  # no reason: the form is not sent
    assert not await browser.find_all(".flash")
    await browser.type(".approval textarea[name='reason']", "Take their 910: IDR costs more")
    await browser.submit(".approval button.danger")
    assert "Rejected decision-1" in await browser.text(".flash")
    assert "Nothing waits for your approval" in await browser.text("main")
    await browser.sign_out()

    # Then the negotiator proposes accepting the payer's offer.
    await browser.sign_in(negotiator)
    await browser.open(f"/console/cases/{nid}")
    assert "rejected" in await browser.text("table.decisions")
    await browser.select("#decision-action", "accept")
    await browser.type("#decision-rationale", "175% of QPA is above the walk-away floor")
    await browser.submit("#propose-decision")
    assert "waits for the provider's approver" in await browser.text(".flash")
    assert "proposed" in await browser.text("table.decisions")
    await browser.screenshot("case")
    await browser.sign_out()

    # The provider's approver approves; the case is agreed at the payer's amount.
    await browser.sign_in(approver)
    assert await browser.path() == "/console/approvals"
    assert "$910.00" in await browser.text(".approval")
    assert "above the walk-away floor" in await browser.text(".approval .rationale")
    await browser.screenshot("approvals")
    await browser.submit_confirmed(".approval button.approve")
    assert "Approved decision-2" in await browser.text(".flash")
    await browser.open(f"/console/cases/{nid}")
    assert "agreed $910.00" in await browser.text("#agreed")
    assert "payer's history supports it" in await browser.text("table.offers")  # notes shown
    assert not await browser.find_all("#offer-form")  # the approver reads, does not negotiate
    await browser.screenshot("case-agreed")
    await browser.sign_out()

    # Recorded with the people as actors.
    case = (await vendor.negotiation.GetNegotiation(
        npb.GetNegotiationRequest(negotiation_id=nid), metadata=vendor.md("negotiator"),
        timeout=15)).negotiation
    assert case.status == "agreed" and case.agreed_total_cents == 91_000
    assert case.assignee == negotiator.actor
    assert [(d.status, d.proposed_by) for d in case.decisions] == [
        ("rejected", negotiator.actor), ("approved", negotiator.actor)]

    # Another tenant's negotiator sees none of it.
    stranger = await enrol_person(stack, f"other-{vendor.tenant}", "negotiator")
    await browser.sign_in(stranger)
    assert nid not in await browser.run(lambda: browser.driver.page_source)
    assert pcn not in await browser.text("main")
    assert "No case matches" in await browser.text("main")
    await browser.open(f"/console/cases/{nid}")
    assert "NOT_FOUND" in await browser.text("main")
    assert pcn not in await browser.text("main")
    await browser.screenshot("other-tenant")
    await browser.sign_out()
