"""Rule 5 through the running settlement service: the claims service's 837 lines arrive as
events, an 835 is imported over gRPC, and every SVC is either matched to an 837 line (shown on
the payment) or queued in the exceptions queue; the claim payment posts either way."""

from __future__ import annotations

from datetime import date
from typing import Any

import grpc
import pytest

from oonledger.settlement.v1 import settlement_pb2 as pb
from services.x12.writer_835 import ClaimSpec, LineSpec, RemittanceSpec, build_835
from tests.support.plugin import field_violations

from .conftest import DECIDED_ON, claim_refs_count
from .polling import wait_for
from .scenario import DOS, PAYEE_NPI, ClaimFacts

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The 837: an E/M visit with its REF*6R, an ECG, two identical injections, no venipuncture.
LINES_837 = [
    ("99285", ["25"], 150_000, "E1"),
    ("93010", [], 8_000, "E2"),
    ("96372", [], 4_000, "E3"),
    ("96372", [], 4_000, "E4"),
]
SVCS = (
    LineSpec("99285", 150_000, 90_000, 10_000, ("25",), line_control_number="E1"),
    LineSpec("93010", 8_000, 5_000),  # no REF*6R: matched by procedure + DOS + charge
    LineSpec("96372", 4_000, 2_500),  # fits E3 and E4 equally: ambiguous
    LineSpec("36415", 1_500, 1_000),  # billed on no 837 line: unmatched
)
CLP_PAID = sum(x.paid_cents for x in SVCS)  # 98,500


async def _seed_multi_line_claim(seed: Any, settlement_runtime: Any) -> tuple[Any, ClaimFacts]:
    seeded = await seed()
    tag = seeded.tag
    facts = ClaimFacts("E", f"E{tag}", f"ICNE{tag}", 167_500, 150_000, 10_000, 0)
    lines = [
        {
            "procedure_code": code,
            "modifiers": modifiers,
            "billed_cents": charge,
            "service_date": DOS.isoformat(),
            "line_control_number": lcn,
            "units": 1,
        }
        for code, modifiers, charge, lcn in LINES_837
    ]
    await seeded.upstream.claim(seeded.claim_id("E"), facts, lines=lines)

    async def known() -> bool:
        return await claim_refs_count(settlement_runtime, seeded.tenant) >= 5

    await wait_for(known)
    await seeded.upstream.agreed(seeded.claim_id("E"), facts, DECIDED_ON)

    async def opened() -> pb.Settlement | None:
        try:
            return await seeded.settlement("E")
        except Exception:  # NOT_FOUND until the agreement is processed
            return None

    await wait_for(opened)
    return seeded, facts


def _835(seeded: Any, facts: ClaimFacts) -> bytes:
    claim = ClaimSpec(
        facts.patient_control_number,
        sum(x.charge_cents for x in SVCS),
        CLP_PAID,
        DOS,
        patient_responsibility_cents=10_000,
        payer_claim_control_number=facts.icn,
        lines=SVCS,
    )
    spec = RemittanceSpec(f"EFTL{seeded.tag}", date(2026, 11, 2), (claim,), payee_npi=PAYEE_NPI)
    return build_835(spec).encode()


async def _line_exceptions(seeded: Any, include_resolved: bool = False) -> list[Any]:
    found = await seeded.stub.ListExceptions(
        pb.ListExceptionsRequest(include_resolved=include_resolved), metadata=seeded.md()
    )
    return [e for e in found.exceptions if e.kind == pb.EXCEPTION_KIND_SERVICE_LINE]


async def test_lines_match_show_on_the_payment_and_the_rest_are_queued(
    seed: Any, settlement_runtime: Any
) -> None:
    seeded, facts = await _seed_multi_line_claim(seed, settlement_runtime)
    content = _835(seeded, facts)
    request = pb.ImportRemittanceRequest(content=content, file_name="lines.835")
    response = await seeded.stub.ImportRemittance(request, metadata=seeded.md())
    assert response.status == pb.IMPORT_STATUS_POSTED, response.reasons
    (summary,) = response.remittances
    # The CLP matched and posted: line exceptions do not count as claim exceptions.
    assert (summary.matched_count, summary.exception_count) == (1, 0)

    async def paid() -> pb.Settlement | None:
        s = await seeded.settlement("E")
        return s if s.paid_cents == CLP_PAID else None

    settlement = await wait_for(paid)
    (payment,) = settlement.payments
    assert [line.outcome for line in payment.lines] == [
        pb.LINE_MATCH_OUTCOME_MATCHED,
        pb.LINE_MATCH_OUTCOME_MATCHED,
        pb.LINE_MATCH_OUTCOME_AMBIGUOUS,
        pb.LINE_MATCH_OUTCOME_UNMATCHED,
    ]
    first, second, third, fourth = payment.lines
    assert (first.rule, first.claim_line, first.claim_line_control_number) == (
        "line-control-number",
        1,
        "E1",
    )
    assert (first.procedure_code, list(first.modifiers), first.service_date) == (
        "99285",
        ["25"],
        DOS.isoformat(),
    )
    assert (second.rule, second.claim_line_control_number) == (
        "procedure-modifiers-date-charge",
        "E2",
    )
    assert list(third.candidate_lines) == [3, 4] and third.claim_line == 0
    assert fourth.reason and fourth.paid_cents == 1_000
    assert sum(line.paid_cents for line in payment.lines) == payment.amount_cents

    async def two_queued() -> list[Any]:
        found = await _line_exceptions(seeded)
        return found if len(found) == 2 else []

    queued = {e.line_ordinal: e for e in await wait_for(two_queued)}
    ambiguous, unmatched = queued[3], queued[4]
    assert ambiguous.claim_id == seeded.claim_id("E")
    assert ambiguous.line_outcome == pb.LINE_MATCH_OUTCOME_AMBIGUOUS
    assert list(ambiguous.candidate_lines) == [3, 4]
    assert (ambiguous.procedure_code, ambiguous.charge_cents, ambiguous.paid_cents) == (
        "96372",
        4_000,
        2_500,
    )
    assert unmatched.line_outcome == pb.LINE_MATCH_OUTCOME_UNMATCHED
    assert (unmatched.patient_control_number, unmatched.claim_ordinal) == (
        facts.patient_control_number,
        1,
    )

    # A line the claim does not have is refused, with the field, and nothing is recorded.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await seeded.stub.ResolveException(
            pb.ResolveExceptionRequest(
                request_id=f"line-typo-{seeded.tag}",
                exception_id=ambiguous.exception_id,
                claim_id=seeded.claim_id("E"),
                line_control_number="E9",
            ),
            metadata=seeded.md(roles=("finance",)),
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == {"line_control_number"}
    assert len(await _line_exceptions(seeded)) == 2

    # Someone names the line; no money moves.
    resolved = await seeded.stub.ResolveException(
        pb.ResolveExceptionRequest(
            request_id=f"line-{seeded.tag}",
            exception_id=ambiguous.exception_id,
            claim_id=seeded.claim_id("E"),
            line_control_number="E3",
        ),
        metadata=seeded.md(roles=("finance",)),
    )
    assert resolved.exception.resolved_line_control_number == "E3"
    assert resolved.settlement.paid_cents == CLP_PAID

    async def one_left() -> list[Any]:
        found = await _line_exceptions(seeded)
        return found if len(found) == 1 else []

    (left,) = await wait_for(one_left)
    assert left.line_ordinal == 4
    everything = await _line_exceptions(seeded, include_resolved=True)
    assert {e.line_ordinal: e.resolved_line_control_number for e in everything} == {
        3: "E3",
        4: "",
    }

    # The same file again changes nothing; the book still balances.
    again = await seeded.stub.ImportRemittance(request, metadata=seeded.md())
    assert again.status == pb.IMPORT_STATUS_ALREADY_IMPORTED
    assert len(await _line_exceptions(seeded, include_resolved=True)) == 2
    book = await seeded.stub.CheckBook(pb.CheckBookRequest(), metadata=seeded.md())
    assert list(book.violations) == []
