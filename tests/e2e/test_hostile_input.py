"""Hostile input through the gateway (issue 21): each is refused with a status a client can act
on, names the field, and stores nothing (proved by a later valid request becoming visible
alone, so no fixed wait is needed)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2

from gateway.statuses import STATUS_DETAILS_KEY
from gateway.tests.conftest import http_request
from gateway.tests.samples import emergency_claim
from oonledger.claims.v1 import claims_pb2
from oonledger.settlement.v1 import settlement_pb2
from services.common.ids import deterministic_id
from services.common.money import MAX_AMOUNT_CENTS
from tests.e2e.journey import Vendor, rid
from tests.e2e.test_journey import agreed_claim
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

INT64_MAX = 2**63 - 1
REGISTER = "/oonledger.claims.v1.ClaimsService/RegisterClaim"


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """field → description of the call's google.rpc.BadRequest detail."""
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    return {v.field: v.description for v in bad.field_violations}
    return {}


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def only_claims(vendor: Vendor, expected: set[str]) -> None:
    """Eventually the tenant's claim list is exactly `expected` (the refused ones never come)."""
    async def listed() -> set[str] | None:
        reply = await vendor.claims.ListClaims(claims_pb2.ListClaimsRequest(page_size=100),
                                               metadata=vendor.md("negotiator"), timeout=15)
        ids = {c.claim_id for c in reply.claims}
        return ids if expected <= ids else None

    assert await eventually(listed, timeout=30) == expected


async def nowhere(vendor: Vendor, refused_ids: list[str], good_claim_id: str) -> None:
    """The claims the refused requests would have created are in neither the claims service nor
    the audit ledger, once the ledger has the good claim registered after them (one stream)."""
    for request_id in refused_ids:
        claim_id = str(deterministic_id(vendor.tenant, "claim", request_id))
        error = await refused(vendor.claims.GetClaim(claims_pb2.GetClaimRequest(
            claim_id=claim_id), metadata=vendor.md("negotiator"), timeout=15))
        assert error.code() == grpc.StatusCode.NOT_FOUND
    async def in_ledger(claim_id: str) -> bool:
        reply = await vendor.json("auditor", "/v1/audit/ReplayClaim", {"claimId": claim_id})
        assert reply.status in (200, 404), reply.body
        return reply.status == 200

    await eventually(lambda: in_ledger(good_claim_id), timeout=30)
    for request_id in refused_ids:
        claim_id = str(deterministic_id(vendor.tenant, "claim", request_id))
        assert not await in_ledger(claim_id)


async def register(vendor: Vendor, claim: claims_pb2.ClaimInput, request_id: str = "") -> Any:
    return await vendor.claims.RegisterClaim(
        claims_pb2.RegisterClaimRequest(request_id=request_id, claim=claim),
        metadata=vendor.md("negotiator"), timeout=15)


def pcn() -> str:
    return f"PCN{uuid.uuid4().hex[:10].upper()}"


async def test_int64_max_amounts_on_claim_lines_are_refused_and_nothing_is_stored(stack, channel):
    stack.require("claims", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    huge = emergency_claim(pcn=pcn())
    del huge.lines[2:]
    assert len(huge.lines) == 2
    for line in huge.lines:
        line.billed_cents = INT64_MAX
    refused_ids = [rid(), rid()]
    error = await refused(register(vendor, huge, refused_ids[0]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(error)) == {"claim.lines[0].billed_cents", "claim.lines[1].billed_cents"}

    # Each line within the ceiling, their sum (the claim total) beyond it.
    summed = emergency_claim(pcn=pcn())
    for line in summed.lines:
        line.billed_cents = MAX_AMOUNT_CENTS // 2 + 1
    error = await refused(register(vendor, summed, refused_ids[1]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(error)) == {"claim.lines"}

    # The same over JSON: 400 naming the field.
    body = json.loads(json.dumps({"requestId": rid(), "claim": _json(huge)}))
    reply = await vendor.json("negotiator", "/v1/claims/RegisterClaim", body)
    assert reply.status == 400, reply.body
    fields = {v["field"] for v in reply.json()["error"]["details"][0]["fieldViolations"]}
    assert "claim.lines[0].billed_cents" in fields

    good = await register(vendor, emergency_claim(pcn=pcn()), rid())
    await only_claims(vendor, {good.claim.claim_id})
    await nowhere(vendor, refused_ids, good.claim.claim_id)


async def test_control_characters_in_the_patient_control_number_are_refused(stack, channel):
    stack.require("claims", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    refused_ids = []
    for bad in ("PCN\x00123", "PCN\x01", "PCN\n1", "PCN\x7f"):
        refused_ids.append(rid())
        error = await refused(register(vendor, emergency_claim(pcn=bad), refused_ids[-1]))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
        assert "control character" in violations(error)["claim.patient_control_number"]
    reply = await vendor.json("negotiator", "/v1/claims/RegisterClaim",
                              {"requestId": rid(), "claim": _json(emergency_claim(pcn="A\u0000B"))})
    assert reply.status == 400, reply.body
    assert reply.json()["error"]["details"][0]["fieldViolations"][0]["field"] == (
        "claim.patient_control_number")
    good = await register(vendor, emergency_claim(pcn=pcn()), rid())
    await only_claims(vendor, {good.claim.claim_id})
    await nowhere(vendor, refused_ids, good.claim.claim_id)


async def test_invalid_utf8_is_invalid_argument_over_grpc_and_400_over_json(stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    marker = pcn()
    raw = claims_pb2.RegisterClaimRequest(
        request_id=rid(), claim=emergency_claim(pcn=marker)).SerializeToString()
    broken = raw.replace(marker.encode(), b"PCN\xff\xfe" + marker.encode()[5:])
    assert broken != raw
    call = channel.unary_unary(REGISTER)  # raw bytes in, raw bytes out
    error = await refused(call(broken, metadata=vendor.md("negotiator"), timeout=15))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert violations(error) == {"claim.patient_control_number": "is not valid UTF-8"}

    body = json.dumps({"requestId": rid(), "claim": _json(emergency_claim(pcn="PCNX"))}).encode()
    reply = await http_request(
        stack.http_port, "POST", "/v1/claims/RegisterClaim", body.replace(b"PCNX", b"PC\xffX"),
        {"Authorization": f"Bearer {vendor.keys['negotiator']}",
         "Content-Type": "application/json"})
    assert reply.status == 400, reply.body
    assert "utf-8" in reply.json()["error"]["message"].lower()
    good = await register(vendor, emergency_claim(pcn=pcn()), rid())
    await only_claims(vendor, {good.claim.claim_id})


async def test_a_mutating_call_needs_a_request_id_and_none_is_invented(stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    for blank in ("", "   "):
        error = await refused(register(vendor, emergency_claim(pcn=pcn()), blank))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "request_id" in violations(error)
    reply = await vendor.json("negotiator", "/v1/claims/RegisterClaim",
                              {"claim": _json(emergency_claim(pcn=pcn()))})
    assert reply.status == 400, reply.body
    assert reply.json()["error"]["details"][0]["fieldViolations"][0]["field"] == "request_id"
    error = await refused(register(vendor, emergency_claim(pcn=pcn()), "a b\x01"))
    assert "request_id" in violations(error) or "request_id" in error.details()

    # The caller's own x-request-id header still serves when the body has none.
    header_id = rid()
    first = await vendor.claims.RegisterClaim(
        claims_pb2.RegisterClaimRequest(claim=emergency_claim(pcn="PCN-HEADER")),
        metadata=(*vendor.md("negotiator"), ("x-request-id", header_id)), timeout=15)
    again = await vendor.claims.RegisterClaim(
        claims_pb2.RegisterClaimRequest(claim=emergency_claim(pcn="PCN-HEADER")),
        metadata=(*vendor.md("negotiator"), ("x-request-id", header_id)), timeout=15)
    assert first.created and not again.created
    assert again.claim.claim_id == first.claim.claim_id
    await only_claims(vendor, {first.claim.claim_id})


async def test_a_request_id_reused_for_a_different_request_is_already_exists(stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    request_id = rid()
    claim = emergency_claim(pcn=pcn())
    first = await register(vendor, claim, request_id)
    same = await register(vendor, claim, request_id)
    assert first.created and not same.created and same.claim == first.claim

    other = emergency_claim(pcn=pcn())
    error = await refused(register(vendor, other, request_id))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert f"request_id {request_id} was already used for a different request" in error.details()
    reply = await vendor.json("negotiator", "/v1/claims/RegisterClaim",
                              {"requestId": request_id, "claim": _json(other)})
    assert reply.status == 409 and reply.json()["error"]["status"] == "ALREADY_EXISTS"

    # Reused for a command on another claim: refused too (the service's request ledger).
    second = await register(vendor, emergency_claim(pcn=pcn()), rid())
    error = await refused(vendor.claims.TriageClaim(claims_pb2.TriageClaimRequest(
        request_id=request_id, claim_id=second.claim.claim_id),
        metadata=vendor.md("negotiator"), timeout=15))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS, error
    assert f"request_id {request_id} was already used" in (error.details() or "")
    untouched = await vendor.claims.GetClaim(claims_pb2.GetClaimRequest(
        claim_id=second.claim.claim_id), metadata=vendor.md("negotiator"), timeout=15)
    assert untouched.claim.version == second.claim.version

    await only_claims(vendor, {first.claim.claim_id, second.claim.claim_id})
    read = await vendor.claims.GetClaim(claims_pb2.GetClaimRequest(
        claim_id=first.claim.claim_id), metadata=vendor.md("negotiator"), timeout=15)
    assert read.claim.input.patient_control_number == claim.patient_control_number


async def test_int64_max_payment_is_refused_and_nothing_is_posted(stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees")
    vendor = await Vendor.enrol(stack, channel)
    claim_id, _, _ = await agreed_claim(vendor, bulk=1)
    before = await vendor.settlement_of(claim_id)

    def payment(cents: int, request_id: str) -> Any:
        return vendor.settlement.PostPayment(settlement_pb2.PostPaymentRequest(
            request_id=request_id, claim_id=claim_id, amount_cents=cents,
            method=settlement_pb2.PAYMENT_METHOD_CHECK, reference="CHK1", paid_on="2026-11-20"),
            metadata=vendor.md("finance"), timeout=15)

    for cents in (INT64_MAX, MAX_AMOUNT_CENTS + 1):
        error = await refused(payment(cents, rid()))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(violations(error)) == {"amount_cents"}
    reused = rid()
    posted = await payment(10_000, reused)
    error = await refused(payment(20_000, reused))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS, error

    # The same request id for a payment on another claim: refused, nothing posted there.
    other_claim, _, _ = await agreed_claim(vendor, bulk=1)
    other_before = await vendor.settlement_of(other_claim)
    error = await refused(vendor.settlement.PostPayment(settlement_pb2.PostPaymentRequest(
        request_id=reused, claim_id=other_claim, amount_cents=10_000,
        method=settlement_pb2.PAYMENT_METHOD_CHECK, reference="CHK1", paid_on="2026-11-20"),
        metadata=vendor.md("finance"), timeout=15))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS, error
    # A later valid payment shows alone (the read model follows the events in order).
    await vendor.settlement.PostPayment(settlement_pb2.PostPaymentRequest(
        request_id=rid(), claim_id=other_claim, amount_cents=7_000,
        method=settlement_pb2.PAYMENT_METHOD_CHECK, reference="CHK2", paid_on="2026-11-21"),
        metadata=vendor.md("finance"), timeout=15)

    async def other_posted() -> settlement_pb2.Settlement | None:
        current = await vendor.settlement_of(other_claim)
        return current if len(current.payments) > len(other_before.payments) else None

    other_after = await eventually(other_posted, timeout=30)
    new = [p.amount_cents for p in other_after.payments if p not in other_before.payments]
    assert new == [7_000]
    async def posted_once() -> settlement_pb2.Settlement | None:
        current = await vendor.settlement_of(claim_id)
        return current if current.paid_cents != before.paid_cents else None

    after = await eventually(posted_once, timeout=30)
    assert after.paid_cents == before.paid_cents + 10_000
    assert [p.amount_cents for p in after.payments if p.payment_id == posted.payment_id] == [10_000]
    assert len(after.payments) == len(before.payments) + 1


def _json(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message)
