"""The settlement service end to end: real PostgreSQL, real NATS, gRPC on port 0."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from oonledger.settlement.v1 import settlement_pb2 as pb

from .polling import wait_for
from .scenario import DOS, plan_share, scenario_835, unbalanced_835

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _import(seeded: Any, content: str | bytes, **md: Any) -> pb.ImportRemittanceResponse:
    data = content.encode() if isinstance(content, str) else content
    return await seeded.stub.ImportRemittance(
        pb.ImportRemittanceRequest(content=data, file_name="era.835"), metadata=seeded.md(**md)
    )


async def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code()


async def _book(seeded: Any) -> pb.CheckBookResponse:
    return await seeded.stub.CheckBook(pb.CheckBookRequest(), metadata=seeded.md())


async def _settled(seeded: Any, key: str, paid: int) -> pb.Settlement:
    async def probe() -> pb.Settlement | None:
        s = await seeded.settlement(key)
        return s if s.paid_cents == paid else None

    return await wait_for(probe)


async def test_opened_from_agreement_with_amount_owed_and_due_date(seed: Any) -> None:
    seeded = await seed()
    s = await seeded.settlement("A")
    a = seeded.facts["A"]
    assert s.source == "agreement"
    assert s.amount_owed_cents == plan_share(a) - a.initial_paid_cents
    assert s.due_date == "2026-10-31"
    assert s.payer_id == "87726"
    assert s.status == pb.SETTLEMENT_STATUS_OVERDUE  # the test clock is past 2026-10-31
    assert s.nsa_protected


async def test_import_posts_exact_amounts_and_queues_exceptions(seed: Any) -> None:
    seeded = await seed()
    response = await _import(seeded, scenario_835(seeded.tag))
    assert response.status == pb.IMPORT_STATUS_POSTED, response.reasons
    (summary,) = response.remittances
    assert (summary.claim_count, summary.matched_count, summary.exception_count) == (6, 4, 2)
    assert summary.total_paid_cents == 345_734
    a, b, c = (seeded.facts[k] for k in "ABC")
    sa = await _settled(seeded, "A", plan_share(a))
    assert sa.interest_cents == 1_234 and sa.status == pb.SETTLEMENT_STATUS_PAID
    sb = await _settled(seeded, "B", plan_share(b) - 7_500)
    assert [p.reversed for p in sb.payments] == [True, False]
    assert sb.outstanding_cents == 7_500
    sc = await _settled(seeded, "C", plan_share(c) - 10_000)
    assert sc.outstanding_cents == 10_000

    async def exceptions() -> list[pb.PaymentException]:
        found = await seeded.stub.ListExceptions(pb.ListExceptionsRequest(), metadata=seeded.md())
        return list(found.exceptions) if len(found.exceptions) == 2 else []

    queued = {e.patient_control_number: e for e in await wait_for(exceptions)}
    assert queued[f"D{seeded.tag}"].candidate_claim_id == seeded.claim_id("D")
    assert queued[f"UNKNOWN{seeded.tag}"].paid_cents == 20_000

    async def clean_book() -> pb.CheckBookResponse | None:
        book = await _book(seeded)
        return book if book.account_balances["provider_cash"] == 345_734 + 140_000 else None

    book = await wait_for(clean_book)
    assert list(book.violations) == []
    assert book.account_balances["unapplied_cash"] == -60_000
    assert book.account_balances["interest_income"] == -1_234


async def test_reimport_is_idempotent_and_same_trace_other_content_is_quarantined(
    seed: Any,
) -> None:
    seeded = await seed()
    content = scenario_835(seeded.tag)
    first = await _import(seeded, content)
    again = await _import(seeded, content)
    assert again.status == pb.IMPORT_STATUS_ALREADY_IMPORTED
    assert again.file_id == first.file_id
    assert [r.remittance_id for r in again.remittances] == [
        r.remittance_id for r in first.remittances
    ]
    other = content.replace("DOE*JANE", "DOE*JOHN")  # same TRN, different bytes
    refused = await _import(seeded, other)
    assert refused.status == pb.IMPORT_STATUS_QUARANTINED
    assert "already imported" in refused.reasons[0]
    b = seeded.facts["B"]
    await _settled(seeded, "B", plan_share(b) - 7_500)
    postings = await seeded.stub.ListPostings(
        pb.ListPostingsRequest(claim_id=seeded.claim_id("B")), metadata=seeded.md()
    )
    # open + initial payment, then reversal, corrected payment, recoupment: once each.
    assert len(postings.transactions) == 5


async def test_unbalanced_file_is_quarantined_and_posts_nothing(seed: Any) -> None:
    seeded = await seed()
    response = await _import(seeded, unbalanced_835(seeded.tag))
    assert response.status == pb.IMPORT_STATUS_QUARANTINED
    assert any("transaction-balance" in r for r in response.reasons)
    assert not response.remittances

    async def quarantined() -> list[pb.QuarantinedFile]:
        found = await seeded.stub.ListQuarantinedFiles(
            pb.ListQuarantinedFilesRequest(), metadata=seeded.md()
        )
        return [f for f in found.files if f.reasons]

    (record,) = await wait_for(quarantined)
    assert record.file_id == response.file_id
    a = seeded.facts["A"]
    assert (await seeded.settlement("A")).paid_cents == a.initial_paid_cents


async def test_fractional_cents_and_unknown_codes_are_quarantined(seed: Any) -> None:
    seeded = await seed()
    content = scenario_835(seeded.tag)
    fractional = await _import(seeded, content.replace("*1000*", "*1000.005*", 1))
    assert fractional.status == pb.IMPORT_STATUS_QUARANTINED
    unknown = await _import(seeded, content.replace("CAS*CO*45", "CAS*ZZ*45", 1))
    assert unknown.status == pb.IMPORT_STATUS_QUARANTINED
    assert any("unknown-adjustment-group" in r for r in unknown.reasons)


async def test_not_x12_is_invalid_argument_with_field_violation(seed: Any) -> None:
    seeded = await seed()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _import(seeded, b"%PDF-1.7 this is not an 835")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(info.value)
    assert status is not None
    details = error_details_pb2.BadRequest()
    status.details[0].Unpack(details)
    assert details.field_violations[0].field == "content"


async def test_resolving_an_exception_posts_from_unapplied_cash(seed: Any) -> None:
    seeded = await seed()
    await _import(seeded, scenario_835(seeded.tag))
    d = seeded.facts["D"]
    award = 150_000
    await seeded.upstream.determined(seeded.claim_id("D"), d, DOS, award)  # type: ignore[attr-defined]

    # D's CLP waited only for D's settlement: it posts by itself once the award opens it
    # (test_rematch_on_opening.py). X's names no claim: someone attaches it to D by hand.
    async def d_paid() -> pb.Settlement | None:
        try:
            s = await seeded.settlement("D")
        except grpc.aio.AioRpcError as exc:  # the IdrDetermined reaction may still be running
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return s if s.paid_cents == 40_000 else None

    await wait_for(d_paid)

    async def x_exception() -> pb.PaymentException | None:
        found = await seeded.stub.ListExceptions(pb.ListExceptionsRequest(), metadata=seeded.md())
        return next((e for e in found.exceptions if not e.candidate_claim_id), None)

    item = await wait_for(x_exception)
    resolved = await seeded.stub.ResolveException(
        pb.ResolveExceptionRequest(
            request_id="resolve-x", exception_id=item.exception_id,
            claim_id=seeded.claim_id("D"),
        ),
        metadata=seeded.md(),
    )  # fmt: skip
    assert resolved.exception.resolved
    assert resolved.settlement.paid_cents == 40_000 + 20_000
    assert resolved.settlement.source == "idr_determination"

    async def clean() -> pb.CheckBookResponse | None:
        book = await _book(seeded)
        return book if book.account_balances["unapplied_cash"] == 0 else None

    book = await wait_for(clean)
    assert list(book.violations) == []


async def test_manual_payment_retry_reversal_and_bad_input(seed: Any) -> None:
    seeded = await seed()
    claim = seeded.claim_id("C")
    request = pb.PostPaymentRequest(
        request_id="manual-1", claim_id=claim, amount_cents=12_345,
        method=pb.PAYMENT_METHOD_VIRTUAL_CARD, reference="VC-778", paid_on="2026-10-20",
    )  # fmt: skip
    first = await seeded.stub.PostPayment(request, metadata=seeded.md())
    retry = await seeded.stub.PostPayment(request, metadata=seeded.md())
    assert first.payment_id == retry.payment_id
    assert retry.settlement.paid_cents == seeded.facts["C"].initial_paid_cents + 12_345
    bad = pb.PostPaymentRequest(request_id="m2", claim_id=claim, amount_cents=0, paid_on="x")
    assert await _code(seeded.stub.PostPayment(bad, metadata=seeded.md())) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    missing = pb.ReversePaymentRequest(
        request_id="r0", claim_id=claim, payment_id="no-such-payment", reason="typo"
    )
    assert await _code(seeded.stub.ReversePayment(missing, metadata=seeded.md())) == (
        grpc.StatusCode.NOT_FOUND
    )
    reverse = pb.ReversePaymentRequest(
        request_id="r1", claim_id=claim, payment_id=first.payment_id, reason="check bounced"
    )
    reversed_ = await seeded.stub.ReversePayment(reverse, metadata=seeded.md())
    assert reversed_.settlement.paid_cents == seeded.facts["C"].initial_paid_cents
    again = await seeded.stub.ReversePayment(reverse, metadata=seeded.md())  # same request id
    assert again.settlement.paid_cents == reversed_.settlement.paid_cents
    no_role = seeded.md(roles=("negotiator",))
    assert await _code(seeded.stub.PostPayment(request, metadata=no_role)) == (
        grpc.StatusCode.PERMISSION_DENIED
    )


async def test_balance_billing_guard_cites_the_rule(seed: Any) -> None:
    seeded = await seed()
    claim = seeded.claim_id("A")
    cost_sharing = seeded.facts["A"].cost_sharing_cents
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await seeded.stub.RecordPatientResponsibility(
            pb.RecordPatientResponsibilityRequest(
                request_id="pr1", claim_id=claim, amount_cents=cost_sharing + 1
            ),
            metadata=seeded.md(),
        )
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "149.410" in (info.value.details() or "")
    ok = await seeded.stub.RecordPatientResponsibility(
        pb.RecordPatientResponsibilityRequest(
            request_id="pr2", claim_id=claim, amount_cents=cost_sharing
        ),
        metadata=seeded.md(),
    )
    assert ok.settlement.patient_balance_cents == cost_sharing


async def test_overdue_flagging_and_open_items(seed: Any) -> None:
    seeded = await seed()
    flagged = await seeded.stub.FlagOverdueSettlements(
        pb.FlagOverdueSettlementsRequest(request_id="od1", as_of="2026-11-15"),
        metadata=seeded.md(),
    )
    assert flagged.flagged_count == 3
    overdue = await seeded.stub.ListOverdue(
        pb.ListOverdueRequest(as_of="2026-11-15"), metadata=seeded.md()
    )
    assert {i.claim_id for i in overdue.items} == {seeded.claim_id(k) for k in "ABC"}
    not_yet = await seeded.stub.ListOverdue(
        pb.ListOverdueRequest(as_of="2026-10-31"), metadata=seeded.md()
    )
    assert list(not_yet.items) == []
    items = await seeded.stub.ListOpenItems(
        pb.ListOpenItemsRequest(payer_id="87726"), metadata=seeded.md()
    )
    expected = sum(
        plan_share(f) - f.initial_paid_cents for k, f in seeded.facts.items() if k != "D"
    )
    assert items.total_outstanding_cents == expected


async def test_tenant_isolation(seed: Any) -> None:
    owner = await seed()
    intruder = await seed(open_keys=())
    # The intruder imports a file naming the owner's claims: nothing of the owner's moves.
    response = await _import(intruder, scenario_835(owner.tag))
    assert response.status == pb.IMPORT_STATUS_POSTED
    assert response.remittances[0].matched_count == 0
    a = owner.facts["A"]
    assert (await owner.settlement("A")).paid_cents == a.initial_paid_cents
    claim = owner.claim_id("A")
    get = intruder.stub.GetSettlement(
        pb.GetSettlementRequest(claim_id=claim), metadata=intruder.md()
    )
    assert await _code(get) == grpc.StatusCode.NOT_FOUND
    pay = intruder.stub.PostPayment(
        pb.PostPaymentRequest(
            request_id="x", claim_id=claim, amount_cents=1, method=pb.PAYMENT_METHOD_CHECK
        ),
        metadata=intruder.md(),
    )
    assert await _code(pay) == grpc.StatusCode.NOT_FOUND
    await _import(owner, scenario_835(owner.tag))

    async def owner_exception() -> str:
        found = await owner.stub.ListExceptions(pb.ListExceptionsRequest(), metadata=owner.md())
        return found.exceptions[0].exception_id if found.exceptions else ""

    exception_id = await wait_for(owner_exception)
    steal = intruder.stub.ResolveException(
        pb.ResolveExceptionRequest(request_id="s", exception_id=exception_id, claim_id="c"),
        metadata=intruder.md(),
    )
    assert await _code(steal) == grpc.StatusCode.NOT_FOUND
    theirs = await intruder.stub.ListPostings(pb.ListPostingsRequest(), metadata=intruder.md())
    assert all(t.claim_id != claim for t in theirs.transactions)


async def test_fee_assessments_become_fee_postings(seed: Any) -> None:
    seeded = await seed()
    claim = seeded.claim_id("A")
    await seeded.upstream.fee_assessed(claim, f"line-{seeded.tag}", "INVOICE_LINE", 4_500)
    await seeded.upstream.fee_assessed(claim, f"memo-{seeded.tag}", "CREDIT_MEMO", -500)

    async def fees_booked() -> pb.CheckBookResponse | None:
        book = await _book(seeded)
        return book if book.account_balances["fee_payable"] == -4_000 else None

    book = await wait_for(fees_booked)
    assert book.account_balances["fee_expense"] == 4_000
    assert list(book.violations) == []
