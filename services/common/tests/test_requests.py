"""The request reader (services/common/requests.py) on real request messages: text, amounts,
request ids, fingerprints, and naming the field of a string that is not UTF-8."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oonledger.claims.v1 import claims_pb2
from oonledger.negotiation.v1 import negotiation_pb2
from oonledger.settlement.v1 import settlement_pb2
from services.common.context import CommandContext
from services.common.errors import InvalidArgument
from services.common.money import MAX_AMOUNT_CENTS
from services.common.requests import fingerprint, read_request, unreadable_field

CTX = CommandContext(tenant_id="t", actor="a", now=datetime(2026, 1, 1, tzinfo=UTC))
CONTROL = st.sampled_from([chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))])
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def fields_refused(request: object, ctx: CommandContext = CTX) -> set[str]:
    try:
        read_request(request, ctx)  # type: ignore[arg-type]
    except InvalidArgument as exc:
        return {v.field for v in exc.violations}
    return set()


def claim(pcn: str = "PCN1", *billed: int) -> claims_pb2.RegisterClaimRequest:
    lines = [claims_pb2.ServiceLine(procedure_code="99285", billed_cents=b) for b in billed]
    return claims_pb2.RegisterClaimRequest(
        request_id="r1", claim=claims_pb2.ClaimInput(patient_control_number=pcn, lines=lines))


@given(st.text(max_size=5), CONTROL, st.text(max_size=5))
def test_a_control_character_anywhere_in_a_name_is_refused(before: str, c: str, after: str):
    assert "claim.patient_control_number" in fields_refused(claim(before + c + after))


@given(CONTROL)
def test_free_text_allows_only_tab_and_line_breaks(c: str):
    request = negotiation_pb2.RecordPayerResponseRequest(
        request_id="r1", negotiation_id="n", summary=f"line one{c}line two")
    refused = fields_refused(request)
    assert refused == (set() if c in "\t\n\r" else {"summary"})


@given(st.lists(INT64, min_size=1, max_size=4))
def test_every_amount_beyond_the_ceiling_is_named(billed: list[int]):
    expected = {f"claim.lines[{i}].billed_cents" for i, b in enumerate(billed)
                if abs(b) > MAX_AMOUNT_CENTS}
    assert fields_refused(claim("PCN1", *billed)) == expected


@given(INT64)
def test_payment_amounts(cents: int):
    request = settlement_pb2.PostPaymentRequest(request_id="r1", claim_id="c", amount_cents=cents)
    assert fields_refused(request) == ({"amount_cents"} if abs(cents) > MAX_AMOUNT_CENTS else set())


@pytest.mark.parametrize("request_id", ["", "   ", "a b", "x" * 201, "é"])
def test_a_mutating_call_needs_a_printable_bounded_request_id(request_id: str):
    request = claim()
    request.request_id = request_id
    assert fields_refused(request) == {"request_id"}


def test_the_metadata_request_id_serves_when_the_body_has_none_and_reads_need_none():
    request = claim()
    request.request_id = ""
    ctx = read_request(request, CTX.with_request("from-header"))
    assert ctx.request_id == "from-header" and ctx.request_fingerprint
    assert read_request(claims_pb2.GetClaimRequest(claim_id="x"), CTX) == CTX


@given(st.text(min_size=1, max_size=20).filter(str.isprintable), st.text(max_size=20))
def test_the_fingerprint_ignores_the_request_id_and_sees_everything_else(rid: str, pcn: str):
    a, b = claim(pcn), claim(pcn)
    b.request_id = rid
    assert fingerprint(a) == fingerprint(b)
    b.claim.patient_control_number = pcn + "x"
    assert fingerprint(a) != fingerprint(b)


def test_the_field_of_a_string_that_is_not_utf8_is_named():
    raw = claim("PCNMARK", 1, 2).SerializeToString()
    broken = raw.replace(b"PCNMARK", b"PCN\xffARK")
    descriptor = claims_pb2.RegisterClaimRequest.DESCRIPTOR
    assert unreadable_field(descriptor, broken) == "claim.patient_control_number"
    lines = claim("PCN", 1, 2)
    lines.claim.lines[1].procedure_code = "MARKER"
    broken = lines.SerializeToString().replace(b"MARKER", b"MA\xc3(ER")
    assert unreadable_field(descriptor, broken) == "claim.lines[1].procedure_code"
    assert unreadable_field(descriptor, raw) is None
