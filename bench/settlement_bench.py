"""Settlement: an 835 with 10,000 claims parsed, validated, matched and committed (goal <= 5 s;
posted in chunks of 200 claims, each one transaction: docs/settlement.md),
next to the X12 libraries' own parse time of the same file.

Setup (not timed as the figure): 10,000 claims in settlement's matching read model and 10,000
open settlements in the event store. Raw baselines in the same run: the libraries' parse, a
plain asyncpg COPY of the same number of rows, and a plain eventsourcing save of as many events.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from bench.memory import memory_window
from services.common.context import CommandContext
from services.common.phi import PATIENT_CONTROL_NUMBER, PAYER_CLAIM_NUMBER, PhiKeys
from services.common.settings import Settings
from services.common.tests.sample import Tally
from services.settlement.adapters.projections import migrate
from services.settlement.adapters.remittance_intake import prepare_import
from services.settlement.adapters.sql import SettlementReads
from services.settlement.application import ImportRemittance, OpeningTerms, SettlementApplication
from services.settlement.domain import ClaimLine, SettlementSource
from services.x12.writer_835 import RemittanceSpec, build_835, bulk_claims

CLAIMS = int(os.environ.get("SETTLEMENT_BENCH_CLAIMS", "10000"))
DOS = date(2026, 9, 1)
PAYEE_NPI = "1234567893"


def _ctx(tenant: str, request_id: str) -> CommandContext:
    return CommandContext(
        tenant_id=tenant,
        actor="bench",
        now=datetime.now(UTC),
        roles=frozenset({"finance"}),
        request_id=request_id,
    )


def _parse_x12sdk(text: str) -> int:
    from x12sdk.io import X12ModelReader

    with X12ModelReader(text) as reader:
        models: list[Any] = list(reader.models())
    return sum(len(loop.loop_2100) for loop in models[0].loop_2000)


def _parse_pyx12(text: str) -> int:
    import pyx12.error_handler
    import pyx12.params
    import pyx12.x12context

    reader = pyx12.x12context.X12ContextReader(
        pyx12.params.params(), pyx12.error_handler.errh_null(), io.StringIO(text)
    )
    return sum(1 for node in reader.iter_segments("2100") if node.id == "2100")


async def _timed(report: Any, name: str, fn: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await asyncio.to_thread(fn, *args)
    elapsed = time.perf_counter() - started
    report(name, elapsed, "s")
    return result, elapsed


def _claim_lines(c: Any) -> str:
    """The claim's one 837 line, as the claims projection stores it (rule 5 matches the SVC)."""
    return json.dumps([ClaimLine(1, "", c.procedure, (), DOS, c.charge_cents).to_dict()])


async def _seed_claim_refs(pool: asyncpg.Pool, schema: str, tenant: str, claims: Any,
                           keys: PhiKeys) -> float:
    # The matching facts by keyed hash, as the claim-facts projection keeps them.
    rows = [
        (tenant, f"claim-{c.patient_control_number}",
         keys.index(tenant, PATIENT_CONTROL_NUMBER, c.patient_control_number),
         [keys.index(tenant, PAYER_CLAIM_NUMBER, c.payer_claim_control_number)], PAYEE_NPI, "",
         DOS, c.charge_cents, "87726", True, _claim_lines(c))
        for c in claims
    ]  # fmt: skip
    columns = ["tenant_id", "claim_id", "pcn_index", "icn_indexes", "billing_npi",
               "billing_tin", "first_service_date", "charge_cents", "payer_id", "nsa_protected",
               "lines"]  # fmt: skip
    started = time.perf_counter()
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "claim_refs", schema_name=schema, records=rows, columns=columns
        )
    return time.perf_counter() - started


def _open_settlements(app: SettlementApplication, tenant: str, claims: Any) -> None:
    ctx = _ctx(tenant, "bench-open")
    batch = []
    for claim in claims:
        share = claim.paid_cents + 5_000  # leave every claim 50.00 underpaid after the ERA
        batch.append(
            app.open_settlement(
                ctx,
                OpeningTerms(
                    claim_id=f"claim-{claim.patient_control_number}",
                    source=SettlementSource.AGREEMENT,
                    source_ref="bench",
                    decided_on=date(2026, 10, 1),
                    due_date=date(2026, 10, 31),
                    amount_owed_cents=share,
                    agreed_total_cents=share + claim.patient_responsibility_cents,
                    patient_cost_sharing_cents=claim.patient_responsibility_cents,
                    already_paid_cents=0,
                    payer_id="87726",
                ),
            )
        )
        if len(batch) == 1000:
            app.save_all(*batch)
            batch = []
    app.save_all(*batch)


def _plain_eventsourcing_save(app: SettlementApplication, tenant: str, count: int) -> float:
    ctx = _ctx(tenant, "bench-raw")
    tallies = []
    for n in range(count):
        tally = Tally.open(ctx.with_request(f"raw-{n}"), label="raw", patient_name="")
        tally.increment(ctx.with_request(f"raw-inc-{n}"), 1)
        tallies.append(tally)
    started = time.perf_counter()
    app.save(*tallies)
    return time.perf_counter() - started


async def run(report: Any) -> None:
    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    settings = Settings.from_env("settlement")
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    claims = bulk_claims(CLAIMS, service_date=DOS, prefix=f"B{uuid.uuid4().hex[:6]}")
    spec = RemittanceSpec(f"EFT{uuid.uuid4().hex[:10]}", date(2026, 11, 2), claims,
                          payee_npi=PAYEE_NPI)  # fmt: skip
    text = build_835(spec)
    content = text.encode()
    report(f"835 file ({CLAIMS:,} claims)", len(content) / 1e6, "MB")

    # The maintained libraries alone, on the same file.
    await _timed(report, "x12sdk parse (models) of the same file", _parse_x12sdk, text)
    await _timed(report, "pyx12 parse (loop iteration) of the same file", _parse_pyx12, text)
    prepared, _ = await _timed(
        report, "our tokenizer: parse + balance + code checks", prepare_import, content, "bulk"
    )
    if prepared.reasons:
        raise RuntimeError(f"generated file did not balance: {prepared.reasons[:3]}")

    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
    app = await asyncio.to_thread(SettlementApplication, settings)
    try:
        await migrate(pool, settings.schema)
        copy_seconds = await _seed_claim_refs(pool, settings.schema, tenant, claims,
                                              settings.phi_keys())
        report(f"plain asyncpg COPY of {CLAIMS:,} rows", copy_seconds, "s")
        raw_save = await asyncio.to_thread(_plain_eventsourcing_save, app, tenant, CLAIMS)
        report(f"plain eventsourcing save of {CLAIMS:,} aggregates x 2 events", raw_save, "s")
        started = time.perf_counter()
        await asyncio.to_thread(_open_settlements, app, tenant, claims)
        opened = time.perf_counter() - started
        report("setup: open settlements", CLAIMS / opened, "settle/s")

        reads = SettlementReads(pool, settings.schema)
        ctx = _ctx(tenant, "bench-import")
        with memory_window() as memory:
            started = time.perf_counter()
            prepared = await asyncio.to_thread(prepare_import, content, "bulk.835")
            parsed = time.perf_counter()
            index = await reads.claim_index(tenant, prepared, settings.phi_keys())
            indexed = time.perf_counter()
            result = await asyncio.to_thread(app.import_remittance, ctx,
                                               ImportRemittance(prepared, index))
            finished = time.perf_counter()
        (record,) = result.remittances
        if record.matched_count != CLAIMS:
            raise RuntimeError(f"matched {record.matched_count} of {CLAIMS}")
        report("  of which parse + validate", parsed - started, "s")
        report("  of which matching facts query (asyncpg)", indexed - parsed, "s")
        report("  of which match + post + commit (a transaction per 200 claims)",
               finished - indexed, "s")
        report(
            f"ImportRemittance {CLAIMS:,} claims: parsed, validated, matched, committed",
            finished - started,
            "s",
            baseline_name="x12sdk parse (models) of the same file",
        )
        report("ImportRemittance throughput", CLAIMS / (finished - started), "claims/s")
        # What the import holds at once (the parsed file, the claim index, each chunk's
        # aggregates; the collector paused while it runs: services/common/gc_tuning.py).
        report("ImportRemittance peak RSS growth", memory.peak_mb - memory.before_mb, "MB")
        report("ImportRemittance peak RSS growth per claim",
               (memory.peak_mb - memory.before_mb) * 1000 / CLAIMS, "kB")
        started = time.perf_counter()
        again = await asyncio.to_thread(app.import_remittance, ctx,
                                           ImportRemittance(prepared, index))
        report(f"re-import of the same file ({again.outcome.value})",
               time.perf_counter() - started, "s")  # fmt: skip
    finally:
        await pool.close()
        await asyncio.to_thread(app.close)
