"""A payer's 835 of many claims through the gateway, and the checks that it posted completely:
every claim paid, every payment billed exactly one fee, every settlement event in the ledger.

Shared by the end-to-end test (1,000 claims) and bench/large_835_bench.py (10,000 and 50,000).
Working each claim to an agreement through the negotiation RPCs would take minutes per
thousand claims, so the agreements are published onto negotiation's stream exactly as its
relay publishes `SettlementAgreed`; everything else is the partner's calls through the gateway.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import grpc

from oonledger.common.v1 import import_job_pb2 as jobs_pb
from oonledger.fees.v1 import fees_pb2
from oonledger.settlement.v1 import settlement_pb2
from services.common.runtime import ServiceRuntime
from services.settlement.tests.upstream import Upstream
from services.x12.writer_835 import ClaimSpec, LineSpec, RemittanceSpec, build_835
from tests.e2e.import_jobs import (
    late_in_stretches,
    upload_835,
    watch_job,
)
from tests.e2e.journey import Vendor, rid
from tests.support.plugin import eventually

PAID_CENTS = 60_000  # what the agreement leaves owed and the 835 pays, per claim
FEE_CENTS = 15_000  # 25 % of it (nothing was paid before)
SERVICE_DATE = date(2026, 10, 3)
CONCURRENCY = 32
IMPORT_BATCH = 5_000


@dataclass
class Timings:
    figures: dict[str, float] = field(default_factory=dict)
    late: list[tuple[float, str, int]] = field(default_factory=list)  # late job updates

    async def measure(self, name: str, step: Awaitable[Any]) -> Any:
        started = time.perf_counter()
        result = await step
        self.figures[name] = time.perf_counter() - started
        return result


async def in_parallel(items: list[Any], call: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(item: Any) -> Any:
        async with gate:
            return await call(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


def remittance(pcns: list[str], control: int = 0, total_paid_override: int | None = None
               ) -> bytes:
    """The payer's 835: each claim's two lines (as the 837 billed them) paid in full. ISA13
    `control` (random when 0)."""
    claims = tuple(
        ClaimSpec(
            patient_control_number=pcn, charge_cents=249_000, paid_cents=PAID_CENTS,
            service_date=SERVICE_DATE, payer_claim_control_number=f"ICN{n:010d}",
            lines=(LineSpec("99285", 185_000, 45_000, modifiers=("25",)),
                   LineSpec("12002", 64_000, 15_000)))
        for n, pcn in enumerate(pcns)
    )
    spec = RemittanceSpec(trace_number=f"EFT{uuid.uuid4().hex[:12]}",
                          payment_date=date(2026, 11, 20), claims=claims,
                          interchange_control_number=control or random.randrange(1, 999_999_999),
                          total_paid_override=total_paid_override)
    return build_835(spec).encode()


async def agreements(vendor: Vendor, settlement: ServiceRuntime, claim_ids: list[str]) -> None:
    """Negotiation's `SettlementAgreed` for each claim (see the module docstring)."""
    assert settlement.infra is not None
    upstream = Upstream(settlement.infra.js, settlement.settings, vendor.tenant)
    for claim_id in claim_ids:
        await upstream.emit("negotiation", "SettlementAgreed", claim_id, {
            "claim_id": claim_id, "offer_id": f"offer-{claim_id}", "agreed_on": "2026-11-10",
            "agreed_total_cents": PAID_CENTS, "patient_cost_sharing_cents": 0,
            "already_paid_cents": 0, "amount_owed_cents": PAID_CENTS,
            "payment_due_on": "2026-12-10", "during_idr": False, "dispute_number": ""})


async def open_items(vendor: Vendor) -> int:
    count, token = 0, ""
    while True:
        reply = await vendor.settlement.ListOpenItems(settlement_pb2.ListOpenItemsRequest(
            page_size=1000, page_token=token), metadata=vendor.md("finance"), timeout=30)
        count += len(reply.items)
        token = reply.next_page_token
        if not token:
            return count


async def claims_known_to_settlement(settlement: ServiceRuntime, tenant: str) -> int:
    """Settlement's matching facts (its read model of the claims' events)."""
    assert settlement.infra is not None
    async with settlement.infra.pool.acquire() as conn:
        return int(await conn.fetchval(
            f'SELECT count(*) FROM "{settlement.settings.schema}".claim_refs '
            "WHERE tenant_id = $1", tenant))


async def fee_account(vendor: Vendor, claim_id: str) -> fees_pb2.FeeAccount | None:
    try:
        reply = await vendor.fees.GetFeeAccount(fees_pb2.GetFeeAccountRequest(
            claim_id=claim_id), metadata=vendor.md("finance"), timeout=120)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise
    return reply.account


async def last_notification_id(settlement: ServiceRuntime) -> int:
    assert settlement.parts is not None and settlement.parts.app is not None
    app = settlement.parts.app
    return int(await asyncio.to_thread(app.recorder.max_notification_id) or 0)


async def settlement_notification_ids(settlement: ServiceRuntime, after: int) -> set[int]:
    assert settlement.infra is not None and settlement.parts is not None
    table = settlement.parts.app.recorder.events_table_name  # type: ignore[union-attr]
    async with settlement.infra.pool.acquire() as conn:
        rows = await conn.fetch(
            f'SELECT notification_id FROM "{settlement.settings.schema}".{table} '
            "WHERE notification_id > $1", after)
    return {row[0] for row in rows}


async def ledger_has(ledger: ServiceRuntime, ids: set[int]) -> set[int]:
    """The settlement notification ids among `ids` the ledger has NOT appended."""
    assert ledger.infra is not None
    async with ledger.infra.pool.acquire() as conn:
        rows = await conn.fetch(
            f'SELECT notification_id FROM "{ledger.settings.schema}".audit_entries '
            "WHERE service = 'settlement' AND notification_id = ANY($1::bigint[])", list(ids))
    return ids - {row[0] for row in rows}


async def import_claims(vendor: Vendor, claims: int) -> list[tuple[str, str]]:
    """ImportClaims calls of at most IMPORT_BATCH claims (a request stays well under 32 MiB)."""
    imported: list[tuple[str, str]] = []
    for start in range(0, claims, IMPORT_BATCH):
        imported += await vendor.import_claims(min(IMPORT_BATCH, claims - start))
    return imported


# What makes the imported claims payable: (vendor, [(claim id, PCN)], timings).
Setup = Callable[[Vendor, list[tuple[str, str]], Timings], Awaitable[None]]


async def agreed_through_negotiation_events(
    vendor: Vendor, imported: list[tuple[str, str]], timings: Timings
) -> None:
    """Settlement and fees learn the claims from their events, then negotiation's agreements
    open the settlements (the end-to-end test's setup)."""
    settlement = vendor.stack.services["settlement"]
    claim_ids = [claim_id for claim_id, _ in imported]
    claims = len(claim_ids)

    async def registered() -> bool:  # as a negotiation would only agree on a known claim
        return (await claims_known_to_settlement(settlement, vendor.tenant) == claims
                and await fees_know(vendor, claim_ids))

    await timings.measure("claims known to settlement and fees",
                          eventually(registered, timeout=600, interval=0.5))
    await agreements(vendor, settlement, claim_ids)

    async def all_open() -> bool:
        return await open_items(vendor) == claims

    await timings.measure("settlements opened", eventually(all_open, timeout=600, interval=0.5))


async def fees_know(vendor: Vendor, claim_ids: list[str]) -> bool:
    """The fees service has the last claims' accounts (it reads the claims stream in order)."""
    last = claim_ids[-CONCURRENCY:]
    return all(await in_parallel(last, lambda claim_id: fee_account(vendor, claim_id)))


class Interruption(Protocol):
    """What a test does around the 835 job: before the upload, while the job runs (e.g. kill
    -9 settlement), after it ended (or failed)."""

    async def before(self, vendor: Vendor) -> None: ...

    async def during(self, vendor: Vendor, job_id: str) -> None: ...

    async def after(self) -> None: ...


async def post_as_job(vendor: Vendor, content: bytes, claims: int, timings: Timings,
                      max_gap: float, interruption: Interruption | None = None,
                      watch_address: str = "") -> jobs_pb.ImportJob:
    """The 835 as an import job (StartImport, chunks, WatchImportJob): every payment read,
    posted and billed (the job waits for the fees), progress at least every `max_gap`
    seconds."""
    if interruption is not None:
        await interruption.before(vendor)
    try:
        started = time.perf_counter()
        job = await upload_835(vendor, content)
        timings.figures["835 job upload"] = time.perf_counter() - started
        # Watched from the upload to the end, through an interruption (a kill -9 breaks the
        # stream; the gaps that count are those while the service is up).
        watcher = asyncio.ensure_future(watch_job(vendor, job.job_id, "835", watch_address))
        try:
            if interruption is not None:
                await interruption.during(vendor, job.job_id)
            stretches = await watcher
        finally:
            watcher.cancel()
        timings.figures["835 job (upload to end)"] = time.perf_counter() - started
    finally:
        if interruption is not None:
            await interruption.after()
    if interruption is None:
        assert len(stretches) == 1, "the watch broke while nothing was interrupted"
    final = stretches[-1][-1][1]
    assert final.state == jobs_pb.IMPORT_JOB_STATE_SUCCEEDED, final.error
    p = final.progress
    assert (p.items_read, p.items_processed, p.items_stored, p.items_rejected,
            p.payments_posted, p.fees_billed) == (claims, claims, claims, 0, claims, claims), p
    longest, late = late_in_stretches(stretches, over=min(max_gap, 1.0))
    timings.figures["835 job longest progress gap"] = longest
    timings.figures["835 job claims/s (upload to end)"] = (
        claims / timings.figures["835 job (upload to end)"])
    timings.late = late  # asserted by post_large_835 once everything else was checked
    return final


async def post_large_835(vendor: Vendor, claims: int, timings: Timings,
                         setup: Setup = agreed_through_negotiation_events,
                         read_models: bool = True, as_job: bool = False,
                         max_gap: float = 2.5, interruption: Interruption | None = None,
                         watch_address: str = "") -> None:
    """The whole check; raises AssertionError on any gap. Figures go to `timings`.
    `read_models`: also wait for settlement's read model to show every claim paid.
    `as_job`: post through the 835 import job instead of ImportRemittance; `watch_address`:
    the gateway its progress is watched through (default: the vendor's channel)."""
    settlement = vendor.stack.services["settlement"]
    await vendor.publish_fee_schedule(rate_bps=2500)
    imported = await timings.measure("claims imported (JSON)", import_claims(vendor, claims))
    claim_ids = [claim_id for claim_id, _ in imported]
    pcns = [pcn for _, pcn in imported]
    await setup(vendor, imported, timings)

    content = remittance(pcns)
    timings.figures["835 size (MB)"] = len(content) / 1e6
    before = await last_notification_id(settlement)
    if as_job:
        await post_as_job(vendor, content, claims, timings, max_gap, interruption,
                          watch_address)
    else:
        await post_in_one_call(vendor, content, claims, timings)
    await every_claim_paid_billed_and_in_ledger(
        vendor, claim_ids, timings, before, read_models)
    if as_job:
        assert timings.figures["835 job longest progress gap"] < max_gap, timings.late


async def post_in_one_call(vendor: Vendor, content: bytes, claims: int, timings: Timings
                           ) -> None:
    reply = await timings.measure("ImportRemittance through the gateway", vendor.settlement
                                  .ImportRemittance(settlement_pb2.ImportRemittanceRequest(
                                      request_id=rid(), content=content,
                                      file_name="large.835"),
                                      metadata=vendor.md("finance"), timeout=600))
    assert reply.status == settlement_pb2.IMPORT_STATUS_POSTED, reply.reasons[:3]
    (posted,) = reply.remittances
    assert (posted.claim_count, posted.matched_count, posted.exception_count) == (
        claims, claims, 0)


async def every_claim_paid_billed_and_in_ledger(
    vendor: Vendor, claim_ids: list[str], timings: Timings, before: int, read_models: bool
) -> None:
    settlement, ledger = vendor.stack.services["settlement"], vendor.stack.services["ledger"]
    claims = len(claim_ids)

    async def all_paid() -> bool:
        return await open_items(vendor) == 0

    if read_models:
        await timings.measure("every settlement paid (read model)",
                              eventually(all_paid, timeout=600, interval=0.5))

    async def billed(claim_id: str) -> bool:
        account = await fee_account(vendor, claim_id)
        return account is not None and account.fee_billed_cents == FEE_CENTS

    async def last_billed() -> bool:  # cheap to poll; then every claim, once
        return all(await in_parallel(claim_ids[-CONCURRENCY:], billed))

    async def all_billed() -> bool:
        return all(await in_parallel(claim_ids, billed))

    await timings.measure("every payment billed", eventually(
        last_billed, timeout=1800, interval=1.0))
    await eventually(all_billed, timeout=600, interval=1.0)
    accounts = await in_parallel(claim_ids, lambda claim_id: fee_account(vendor, claim_id))
    for account in accounts:  # exactly one fee per payment, nothing else
        assert account is not None
        assert (account.paid_cents, account.fee_billed_cents, len(account.lines)) == (
            PAID_CENTS, FEE_CENTS, 1), account

    async def in_ledger() -> bool:
        recorded = await settlement_notification_ids(settlement, before)
        return not await ledger_has(ledger, recorded)

    await timings.measure("every settlement event in the ledger",
                          eventually(in_ledger, timeout=1800, interval=1.0))
    recorded = await settlement_notification_ids(settlement, before)
    assert len(recorded) >= 2 * claims  # at least each claim's payment and its fee posting
