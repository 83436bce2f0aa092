"""An 835 payment queued because its claim's settlement was not open yet posts itself once the
settlement opens (real PostgreSQL and NATS, the agreement published as negotiation does)."""

from __future__ import annotations

import asyncio
import urllib.request
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from oonledger.settlement.v1 import settlement_pb2 as pb
from services.common.context import CommandContext
from services.common.money import MAX_AMOUNT_CENTS
from services.common.runtime import ServiceRuntime
from services.settlement.domain import (
    NO_SETTLEMENT,
    RESOLVED_BY_HAND,
    RESOLVED_ON_SETTLEMENT_OPENING,
    PaymentException,
    Remittance,
    Settlement,
    SettlementWaitlist,
    UnmatchedClaimPayment,
    settlement_id_for,
    waitlist_id_for,
)
from services.x12.writer_835 import ClaimSpec, RemittanceSpec, build_835

from .conftest import DECIDED_ON
from .polling import wait_for
from .scenario import DOS, PAYEE_NPI, scenario_835

pytestmark = pytest.mark.asyncio(loop_scope="session")

D_PAID = 40_000  # scenario_835: D is paid 400.00, X (a claim nobody knows) 200.00
D_AGREED = 150_000  # the scenario's D has no agreement yet: this one opens it


async def _exceptions(seeded: Any) -> dict[str, pb.PaymentException]:
    found = await seeded.stub.ListExceptions(
        pb.ListExceptionsRequest(include_resolved=True), metadata=seeded.md()
    )
    return {e.patient_control_number: e for e in found.exceptions}


async def _import_with_d_queued(seeded: Any) -> pb.PaymentException:
    """The scenario 835 (A, B, C open; D registered and adjudicated, no settlement yet)."""
    response = await seeded.stub.ImportRemittance(
        pb.ImportRemittanceRequest(content=scenario_835(seeded.tag).encode(), file_name="e.835"),
        metadata=seeded.md(),
    )
    assert response.status == pb.IMPORT_STATUS_POSTED, response.reasons

    async def probe() -> pb.PaymentException | None:
        return (await _exceptions(seeded)).get(f"D{seeded.tag}")

    item = await wait_for(probe)
    assert item.reason == NO_SETTLEMENT and item.candidate_claim_id == seeded.claim_id("D")
    assert not item.resolved
    return item


async def _open_d(seeded: Any) -> None:
    d = replace(seeded.facts["D"], agreed_cents=D_AGREED)
    await seeded.upstream.agreed(seeded.claim_id("D"), d, DECIDED_ON)  # type: ignore[attr-defined]


async def _settlement_or_none(seeded: Any, key: str) -> pb.Settlement | None:
    try:
        return await seeded.settlement(key)  # type: ignore[no-any-return]
    except grpc.aio.AioRpcError as exc:  # not opened yet
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


async def _book(seeded: Any, unapplied: int) -> pb.CheckBookResponse:
    async def probe() -> pb.CheckBookResponse | None:
        b = await seeded.stub.CheckBook(pb.CheckBookRequest(), metadata=seeded.md())
        return b if b.account_balances["unapplied_cash"] == unapplied else None

    checked = await wait_for(probe)
    assert list(checked.violations) == []
    return checked


def _app(runtime: ServiceRuntime) -> Any:
    assert runtime.parts is not None
    return runtime.parts.app


def _system(tenant: str, request_id: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="system:settlement", now=datetime.now(UTC),
                          roles=frozenset({"system"}), request_id=request_id)  # fmt: skip


async def test_a_payment_queued_before_the_settlement_opened_posts_when_it_opens(
    seed: Any, settlement_runtime: ServiceRuntime
) -> None:
    seeded = await seed()
    queued = await _import_with_d_queued(seeded)
    await _open_d(seeded)

    async def posted() -> pb.Settlement | None:
        s = await _settlement_or_none(seeded, "D")
        return s if s is not None and s.paid_cents == D_PAID else None

    settlement = await wait_for(posted)
    (payment,) = settlement.payments
    assert payment.amount_cents == D_PAID and not payment.reversed
    assert payment.payment_id == f"{queued.remittance_id}:clp{queued.claim_ordinal}"
    assert payment.reference == queued.trace_number
    assert settlement.outstanding_cents == D_AGREED - D_PAID
    # Its SVC matched to D's 837 line (rule 5), as the import would have matched it.
    assert [(line.outcome, line.claim_line) for line in payment.lines] == [
        (pb.LINE_MATCH_OUTCOME_MATCHED, 1)]

    async def resolved() -> dict[str, pb.PaymentException] | None:
        items = await _exceptions(seeded)
        return items if items[f"D{seeded.tag}"].resolved else None

    items = await wait_for(resolved)
    assert items[f"D{seeded.tag}"].resolved_claim_id == seeded.claim_id("D")
    assert items[f"D{seeded.tag}"].resolution_cause == RESOLVED_ON_SETTLEMENT_OPENING
    # Queued for another reason (a claim nobody knows): still queued, its money unapplied.
    assert not items[f"UNKNOWN{seeded.tag}"].resolved
    await _book(seeded, -20_000)
    item = _app(settlement_runtime).load(UUID(queued.exception_id), seeded.tenant,
                                         UnmatchedClaimPayment)  # fmt: skip
    assert item.resolution_cause == RESOLVED_ON_SETTLEMENT_OPENING

    # The opening again (negotiation redelivers its outcome; the reaction runs again, as after
    # a restart): nothing more is posted.
    await _open_d(seeded)
    app = _app(settlement_runtime)
    again = await _in_thread(app.post_waiting_payments, _system(seeded.tenant, "again"),
                             seeded.claim_id("D"))  # fmt: skip
    assert again == []
    ledger = await seeded.stub.ListPostings(
        pb.ListPostingsRequest(claim_id=seeded.claim_id("D")), metadata=seeded.md()
    )
    assert sum(1 for t in ledger.transactions if "payment" in t.description) == 1
    assert len((await seeded.settlement("D")).payments) == 1


async def test_an_item_resolved_by_hand_before_the_opening_is_not_posted_again(
    seed: Any, settlement_runtime: ServiceRuntime
) -> None:
    seeded = await seed()
    queued = await _import_with_d_queued(seeded)
    # Someone attaches D's CLP to C by hand while D has no settlement.
    by_hand = await seeded.stub.ResolveException(
        pb.ResolveExceptionRequest(request_id="by-hand", exception_id=queued.exception_id,
                                   claim_id=seeded.claim_id("C")),
        metadata=seeded.md(),
    )  # fmt: skip
    assert by_hand.exception.resolved
    c_paid = by_hand.settlement.paid_cents
    await _open_d(seeded)

    async def opened() -> pb.Settlement | None:
        return await _settlement_or_none(seeded, "D")

    d = await wait_for(opened)
    # Let the awaiting-settlement reaction have its turn, then look again.
    app = _app(settlement_runtime)
    assert await _in_thread(app.post_waiting_payments, _system(seeded.tenant, "late"),
                            seeded.claim_id("D")) == []  # fmt: skip
    d = await seeded.settlement("D")
    assert d.paid_cents == 0 and list(d.payments) == []
    assert (await seeded.settlement("C")).paid_cents == c_paid
    item = app.load(UUID(queued.exception_id), seeded.tenant, UnmatchedClaimPayment)
    assert (item.resolved_claim_id, item.resolution_cause) == (seeded.claim_id("C"),
                                                               RESOLVED_BY_HAND)
    async def listed_resolved() -> pb.PaymentException | None:
        found = (await _exceptions(seeded))[f"D{seeded.tag}"]
        return found if found.resolved else None

    listed = await wait_for(listed_resolved)
    assert (listed.resolved_claim_id, listed.resolution_cause) == (seeded.claim_id("C"),
                                                                   RESOLVED_BY_HAND)
    await _book(seeded, -20_000)


async def test_another_tenants_opening_of_the_same_claim_id_posts_nothing(
    seed: Any,
) -> None:
    owner, other = await seed(), await seed(open_keys=())
    queued = await _import_with_d_queued(owner)
    # The other tenant opens a settlement under the owner's claim id.
    d = replace(owner.facts["D"], agreed_cents=D_AGREED)
    await other.upstream.agreed(owner.claim_id("D"), d, DECIDED_ON)  # type: ignore[attr-defined]

    async def opened() -> pb.Settlement | None:
        try:
            response = await other.stub.GetSettlement(
                pb.GetSettlementRequest(claim_id=owner.claim_id("D")), metadata=other.md()
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return response.settlement

    theirs = await wait_for(opened)
    assert theirs.paid_cents == 0
    assert (await _exceptions(owner))[f"D{owner.tag}"].exception_id == queued.exception_id
    assert not (await _exceptions(owner))[f"D{owner.tag}"].resolved
    assert await _settlement_or_none(owner, "D") is None
    # When the owner's own settlement opens, the owner's payment posts there.
    await _open_d(owner)

    async def posted() -> pb.Settlement | None:
        s = await _settlement_or_none(owner, "D")
        return s if s is not None and s.paid_cents == D_PAID else None

    await wait_for(posted)
    response = await other.stub.GetSettlement(
        pb.GetSettlementRequest(claim_id=owner.claim_id("D")), metadata=other.md()
    )
    assert response.settlement.paid_cents == 0


async def test_an_item_listed_after_the_settlement_opened_posts_too(
    seed: Any, settlement_runtime: ServiceRuntime
) -> None:
    """The race: an import read "no settlement" while the opening committed, so its listing
    commits after the opening was handled. The reaction to the listing itself posts it."""
    seeded = await seed()
    app = _app(settlement_runtime)
    await _open_d(seeded)

    async def opened() -> pb.Settlement | None:
        return await _settlement_or_none(seeded, "D")

    await wait_for(opened)
    ctx = _system(seeded.tenant, "late-import")
    remittance_id = UUID(int=0x835)
    remittance = Remittance(
        control_number="0001", handling_code="I", total_paid_cents=D_PAID, credit_debit="C",
        payment_method="ACH", payment_date=date(2026, 11, 3), trace_number=f"LATE{seeded.tag}",
        payer_identifier="1877261234", payer_id="87726",
    )  # fmt: skip
    item = UnmatchedClaimPayment.queue(ctx, remittance_id=remittance_id, remittance=remittance,
                                       item=PaymentException(
        ordinal=1, patient_control_number=f"D{seeded.tag}", payer_claim_control_number="",
        status_code="1", charge_cents=80_000, paid_cents=D_PAID, patient_responsibility_cents=0,
        first_service_date=DOS, reason=NO_SETTLEMENT, candidate_claim_id=seeded.claim_id("D"),
    ))  # fmt: skip
    waitlist = SettlementWaitlist.start(ctx, seeded.claim_id("D"))
    waitlist.add(ctx, item)
    assert waitlist.id == waitlist_id_for(seeded.tenant, seeded.claim_id("D"))
    await _in_thread(app.save_all, item, waitlist)

    async def posted() -> pb.Settlement | None:
        s = await seeded.settlement("D")
        return s if s.paid_cents == D_PAID else None

    await wait_for(posted)
    settled = app.load(settlement_id_for(seeded.tenant, seeded.claim_id("D")), seeded.tenant,
                       Settlement)  # fmt: skip
    assert list(settled.payments) == [f"{remittance_id}:clp1"]


async def _in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def test_an_835_imported_while_the_settlements_open_pays_each_claim_once(seed: Any) -> None:
    """Both orders at once: an 835 paying A..D while their settlements open (A's before it,
    C's and D's agreements sent with it), so some CLPs find their settlement open and post,
    others are queued and post when it opens. Each claim ends with its payment once, nothing
    left queued, the book clean."""
    seeded = await seed(open_keys=())
    facts = {k: replace(f, agreed_cents=f.agreed_cents or D_AGREED)
             for k, f in seeded.facts.items()}  # fmt: skip
    spec = RemittanceSpec(
        trace_number=f"RACE{seeded.tag}", payment_date=date(2026, 11, 2), payee_npi=PAYEE_NPI,
        claims=tuple(ClaimSpec(f.patient_control_number, f.charge_cents, 10_000, DOS, 0, "1",
                               f.icn) for f in facts.values()),
    )  # fmt: skip
    # A's settlement is open before the 835; B's may be; C's and D's agreements go with it.
    for key in "AB":
        await seeded.upstream.agreed(seeded.claim_id(key), facts[key], DECIDED_ON)  # type: ignore[attr-defined]
    await wait_for(lambda: _settlement_or_none(seeded, "A"))
    imported, *_ = await asyncio.gather(
        seeded.stub.ImportRemittance(
            pb.ImportRemittanceRequest(content=build_835(spec).encode(), file_name="race.835"),
            metadata=seeded.md()),
        *(seeded.upstream.agreed(seeded.claim_id(k), facts[k], DECIDED_ON)  # type: ignore[attr-defined]
          for k in "CD"),
    )  # fmt: skip
    assert imported.status == pb.IMPORT_STATUS_POSTED, imported.reasons
    assert imported.remittances[0].exception_count <= 3  # A posted at once

    async def all_paid() -> bool:
        for key, f in facts.items():
            s = await _settlement_or_none(seeded, key)
            if s is None or s.paid_cents != f.initial_paid_cents + 10_000:
                return False
        return True

    await wait_for(all_paid)
    app_book = await _book(seeded, 0)
    assert app_book.account_balances["provider_cash"] == sum(
        f.initial_paid_cents + 10_000 for f in facts.values())
    await asyncio.sleep(0.5)  # a second posting would show by now
    for key in facts:
        s = await seeded.settlement(key)
        assert [p.amount_cents for p in s.payments if p.remittance_id] == [10_000], key
    assert not [e for e in (await _exceptions(seeded)).values() if not e.resolved]


def _waiting_item(ctx: CommandContext, claim_id: str, pcn: str, paid_cents: int,
                  remittance_id: UUID, trace: str) -> UnmatchedClaimPayment:  # fmt: skip
    """A CLP queued because `claim_id` had no open settlement (as the import queues it)."""
    remittance = Remittance(
        control_number="0001", handling_code="I", total_paid_cents=paid_cents, credit_debit="C",
        payment_method="ACH", payment_date=date(2026, 11, 3), trace_number=trace,
        payer_identifier="1877261234", payer_id="87726",
    )  # fmt: skip
    return UnmatchedClaimPayment.queue(ctx, remittance_id=remittance_id, remittance=remittance,
                                       item=PaymentException(
        ordinal=1, patient_control_number=pcn, payer_claim_control_number="",
        status_code="1", charge_cents=80_000, paid_cents=paid_cents,
        patient_responsibility_cents=0, first_service_date=DOS, reason=NO_SETTLEMENT,
        candidate_claim_id=claim_id,
    ))  # fmt: skip


async def test_a_refused_automatic_posting_is_recorded_on_the_item_and_shown_in_the_queue(
    seed: Any, settlement_runtime: ServiceRuntime
) -> None:
    """The settlement refuses a waiting payment (an amount beyond what a settlement takes): the
    reaction records why on the item (AutomaticPostingRefused), ListExceptions shows it, the
    item stays open for a person, the reaction's event is acknowledged (never retried, never
    dead-lettered), and a redelivery records nothing more."""
    seeded = await seed()
    app = _app(settlement_runtime)
    refusals_before = await _refusals_counted(settlement_runtime)
    await _open_d(seeded)
    await wait_for(lambda: _settlement_or_none(seeded, "D"))
    ctx = _system(seeded.tenant, "refused-import")
    item = _waiting_item(ctx, seeded.claim_id("D"), f"D{seeded.tag}", MAX_AMOUNT_CENTS + 1,
                         UUID(int=0xBAD), f"BIG{seeded.tag}")  # fmt: skip
    waitlist = SettlementWaitlist.start(ctx, seeded.claim_id("D"))
    waitlist.add(ctx, item)
    await _in_thread(app.save_all, item, waitlist)

    async def shown() -> pb.PaymentException | None:
        found = (await _exceptions(seeded)).get(f"D{seeded.tag}")
        return found if found is not None and found.automatic_posting_refusal else None

    listed = await wait_for(shown)
    assert not listed.resolved and listed.resolution_cause == ""
    assert "cents" in listed.automatic_posting_refusal
    assert listed.automatic_posting_refused_at.startswith("20")
    stored = app.load(item.id, seeded.tenant, UnmatchedClaimPayment)
    assert stored.refusal_reason == listed.automatic_posting_refusal
    assert stored.awaits_settlement_of(seeded.claim_id("D"))
    settlement = await seeded.settlement("D")
    assert settlement.paid_cents == 0 and list(settlement.payments) == []
    # Counted once its event committed in the read model (right after the row shows it).
    async def counted() -> float | None:
        now = await _refusals_counted(settlement_runtime)
        return now if now > refusals_before else None

    assert await wait_for(counted) == refusals_before + 1
    # Redelivered (or the opening again): refused again, recorded no more.
    again = await _in_thread(app.post_waiting_payments, _system(seeded.tenant, "again"),
                             seeded.claim_id("D"))  # fmt: skip
    assert again == []
    assert app.load(item.id, seeded.tenant, UnmatchedClaimPayment).version == stored.version
    # The reaction acknowledged it: nothing of it went to the dead letter.
    waitlist_consumers = [c for c in settlement_runtime.consumers
                          if "awaiting-settlement" in c.durable]  # fmt: skip
    assert waitlist_consumers and all(c.dead_lettered == 0 for c in waitlist_consumers)


async def _refusals_counted(runtime: ServiceRuntime) -> float:
    """oonledger.settlement.automatic_posting_refused as the service's /metrics shows it."""
    url = f"http://127.0.0.1:{runtime.metrics_port}/metrics"

    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    body = await asyncio.to_thread(get)
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == "oonledger_settlement_automatic_posting_refused_total"
    )


def _reversed_and_corrected(d: Any, paid_cents: int, corrected_cents: int
                            ) -> tuple[ClaimSpec, ClaimSpec]:  # fmt: skip
    """D's payment of `paid_cents` reversed (CLP02 22) and the corrected claim (a new ICN)."""
    paid = ClaimSpec(d.patient_control_number, d.charge_cents, paid_cents, DOS, 0, "1", d.icn)
    corrected = replace(paid, paid_cents=corrected_cents, payer_claim_control_number=f"{d.icn}R",
                        original_reference=d.icn)  # fmt: skip
    return paid.reversed(), corrected


async def _import_835(seeded: Any, trace: str, *claims: ClaimSpec
                      ) -> pb.ImportRemittanceResponse:  # fmt: skip
    spec = RemittanceSpec(trace_number=f"{trace}{seeded.tag}", payment_date=date(2026, 11, 9),
                          payee_npi=PAYEE_NPI, claims=claims)  # fmt: skip
    response = await seeded.stub.ImportRemittance(
        pb.ImportRemittanceRequest(content=build_835(spec).encode(), file_name=f"{trace}.835"),
        metadata=seeded.md(),
    )
    assert response.status == pb.IMPORT_STATUS_POSTED, response.reasons
    return response  # type: ignore[no-any-return]


async def test_a_later_835_reversing_a_payment_posted_on_opening_takes_the_money_from_cash(
    seed: Any
) -> None:
    """D's payment waited in unapplied cash and posted when D's settlement opened; a later 835
    reverses it (CLP02 22) and pays the corrected amount. The reversal takes the money back from
    the provider's cash, as any ERA reversal does: the book's provider cash is what the two
    deposits brought (BPR02 of each), and unapplied cash holds only X's 200.00 again."""
    seeded = await seed()
    await _import_with_d_queued(seeded)
    await _open_d(seeded)

    async def posted() -> pb.Settlement | None:
        s = await _settlement_or_none(seeded, "D")
        return s if s is not None and s.paid_cents == D_PAID else None

    await wait_for(posted)
    before = await _book(seeded, -20_000)
    response = await _import_835(
        seeded, "REV", *_reversed_and_corrected(seeded.facts["D"], D_PAID, 45_000))
    assert response.remittances[0].exception_count == 0

    async def corrected_posted() -> pb.Settlement | None:
        s = await seeded.settlement("D")
        return s if s.paid_cents == 45_000 else None

    settlement = await wait_for(corrected_posted)
    assert [(p.amount_cents, p.reversed) for p in settlement.payments] == [
        (D_PAID, True), (45_000, False)]
    book = await _book(seeded, -20_000)  # X's money only: D's reversal left suspense alone
    deposit = 45_000 - D_PAID  # BPR02 of the second 835
    assert book.account_balances["provider_cash"] == (
        before.account_balances["provider_cash"] + deposit)


async def test_a_reversal_of_the_initial_payment_that_waited_posts_when_the_settlement_opens(
    seed: Any
) -> None:
    """An 835 reverses D's initial payment (CLP02 22) and pays the corrected amount before D's
    settlement opens: both CLPs wait. When it opens, the initial payment is reversed and the
    corrected one posted, in the file's order; nothing is left queued and the book is clean
    (each deposit's cash is its BPR02, unapplied cash empty)."""
    seeded = await seed()
    initial = 30_000
    d = replace(seeded.facts["D"], agreed_cents=D_AGREED, initial_paid_cents=initial)
    response = await _import_835(seeded, "REVD", *_reversed_and_corrected(d, initial, 70_000))
    assert response.remittances[0].exception_count == 2  # both wait for D's settlement
    await seeded.upstream.agreed(seeded.claim_id("D"), d, DECIDED_ON)  # type: ignore[attr-defined]

    async def posted() -> pb.Settlement | None:
        s = await _settlement_or_none(seeded, "D")
        return s if s is not None and s.paid_cents == 70_000 else None

    settlement = await wait_for(posted)
    assert [(p.amount_cents, p.reversed) for p in settlement.payments] == [
        (initial, True), (70_000, False)]
    assert settlement.outstanding_cents == D_AGREED - 70_000

    async def resolved() -> list[pb.PaymentException] | None:
        found = await seeded.stub.ListExceptions(
            pb.ListExceptionsRequest(include_resolved=True), metadata=seeded.md())
        items = [e for e in found.exceptions
                 if e.patient_control_number == d.patient_control_number]  # fmt: skip
        return items if len(items) == 2 and all(e.resolved for e in items) else None

    items = await wait_for(resolved)
    assert [e.resolution_cause for e in items] == [RESOLVED_ON_SETTLEMENT_OPENING] * 2
    await _book(seeded, 0)  # no violation: each deposit's provider cash is its BPR02


async def test_a_reversal_the_opening_could_not_place_is_resolved_by_naming_the_payment(
    seed: Any
) -> None:
    """A payment of D and its reversal wait for D's settlement, the reversal under another ICN
    (the payer renumbered the claim): at the opening the payment posts, the reversal names no
    payment and is refused. A person resolves it by naming the payment: reversed once, its
    money taken from unapplied cash, the book clean; bad names get clear statuses."""
    seeded = await seed()
    d = replace(seeded.facts["D"], agreed_cents=D_AGREED)
    paid = ClaimSpec(d.patient_control_number, d.charge_cents, 25_000, DOS, 0, "1", d.icn)
    unknown = ClaimSpec(f"NOBODY{seeded.tag}", 50_000, 30_000, DOS, 0, "1", f"X{seeded.tag}")
    await _import_835(seeded, "PAY", paid)
    await _import_835(seeded, "REVN",
                      replace(paid, payer_claim_control_number=f"{d.icn}N").reversed(), unknown)
    await seeded.upstream.agreed(seeded.claim_id("D"), d, DECIDED_ON)  # type: ignore[attr-defined]

    async def refused() -> pb.PaymentException | None:
        found = await seeded.stub.ListExceptions(
            pb.ListExceptionsRequest(include_resolved=True), metadata=seeded.md())
        return next((e for e in found.exceptions if e.paid_cents == -25_000
                     and e.automatic_posting_refusal), None)  # fmt: skip

    reversal = await wait_for(refused)
    assert "names no unreversed payment" in reversal.automatic_posting_refusal
    settlement = await seeded.settlement("D")
    (payment,) = settlement.payments
    assert (payment.amount_cents, settlement.paid_cents) == (25_000, 25_000)

    async def resolve(request_id: str, **fields: str) -> pb.ResolveExceptionResponse:
        return await seeded.stub.ResolveException(  # type: ignore[no-any-return]
            pb.ResolveExceptionRequest(request_id=request_id, exception_id=reversal.exception_id,
                                       claim_id=seeded.claim_id("D"), **fields),
            metadata=seeded.md())  # fmt: skip

    for fields, code in [({}, grpc.StatusCode.INVALID_ARGUMENT),
                         ({"reversed_payment_id": "no-such-payment"}, grpc.StatusCode.NOT_FOUND)]:
        with pytest.raises(grpc.aio.AioRpcError) as refused_call:
            await resolve(f"bad-{code.name}", **fields)
        assert refused_call.value.code() == code
    assert (await seeded.settlement("D")).paid_cents == 25_000  # nothing stored
    resolved = await resolve("by-hand", reversed_payment_id=payment.payment_id)
    assert resolved.exception.resolved and resolved.exception.resolution_cause == RESOLVED_BY_HAND
    assert resolved.settlement.paid_cents == 0
    again = await resolve("by-hand", reversed_payment_id=payment.payment_id)  # a retry
    assert again.settlement.paid_cents == 0

    async def reversed_() -> pb.Settlement | None:
        s = await seeded.settlement("D")
        return s if s.paid_cents == 0 else None

    settlement = await wait_for(reversed_)
    assert [(p.amount_cents, p.reversed) for p in settlement.payments] == [(25_000, True)]
    await _book(seeded, -30_000)  # only the unknown claim's money waits
