"""Faults under load lose nothing (issue 21, "Done when").

Every service runs as its own process (supervised, as `make run` does) on a PostgreSQL and a
NATS of the suite's own; a steady load of claims goes through the gateway from intake to an
agreement and an 835 payment, each request retried with its own request id until acknowledged.
Meanwhile every service is killed with SIGKILL once, NATS is killed and restarted on the same
port and store, PostgreSQL crashes and restarts within about 10 s, then stops for 60 s. After
the load stops and the pipeline drains, each test below checks one promise: every acknowledged
request is in every read model and in the ledger exactly once, nothing is dead-lettered, and
each read model equals a rebuild from scratch.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from oonledger.claims.v1 import claims_pb2
from oonledger.fees.v1 import fees_pb2
from oonledger.negotiation.v1 import negotiation_pb2 as npb
from oonledger.operations.v1 import operations_pb2 as opb
from oonledger.settlement.v1 import settlement_pb2
from services.ops.rebuild import READ_MODELS, rebuild
from tests.faults.load import CLIENT, FEE, OWED, Load
from tests.faults.system import System, infrastructure, running_system
from tests.support.plugin import eventually

pytestmark = [pytest.mark.faults, pytest.mark.timeout(720),
              pytest.mark.asyncio(loop_scope="session")]

RATE = float(os.environ.get("OON_FAULTS_RATE", "4"))  # journeys started per second
CONCURRENCY = int(os.environ.get("OON_FAULTS_CONCURRENCY", "20"))
LONG_OUTAGE = 60.0
SHORT_OUTAGE = 10.0
CRASH_ORDER = ("ledger", "claims", "negotiation", "settlement", "fees", "gateway")


@dataclass
class Run:
    system: System
    load: Load
    timeline: list[str] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)

    def note(self, what: str) -> None:
        elapsed = time.monotonic() - self.began
        line = f"{elapsed:6.1f} s  {what} (paid so far: {self.load.completed()})"
        self.timeline.append(line)
        print(line, flush=True)

    def summary(self) -> str:
        ack = self.load.acknowledged
        return "\n".join([
            *self.timeline,
            f"journeys started {self.load.started}; acknowledged: registered "
            f"{len(ack.registered)}, triaged {len(ack.triaged)}, agreed {len(ack.agreed)}, "
            f"paid {len(ack.paid)}",
            f"answers retried: {dict(self.load.retried)}; 835 retries answered "
            f"ALREADY_IMPORTED: {self.load.reimported}",
            f"failures: {self.load.failures[:5]}",
        ])

    def md(self, role: str) -> tuple[tuple[str, str], ...]:
        return self.load.md(role)


async def progressed(run: Run, more: int, timeout: float) -> None:
    """The load moves again: `more` claims whose journey started from now on are paid, from
    intake to payment (a bounded poll)."""
    mark = run.load.started
    await eventually(lambda: run.load.completed(started_after=mark) >= more, timeout=timeout,
                     interval=0.5)


async def outage(seconds: float) -> None:
    """The fault's own length (the load keeps running meanwhile), not a wait for a state."""
    await asyncio.sleep(seconds)


async def inflict_faults(run: Run) -> None:
    system = run.system
    await progressed(run, 3, timeout=120)
    run.note("load steady")
    for name in CRASH_ORDER:
        took = await system.crash_service(name)
        run.note(f"kill -9 {name}: SERVING again after {took:.1f} s")
    await progressed(run, 2, timeout=120)
    system.crash_nats()
    run.note("kill -9 nats-server")
    await asyncio.to_thread(system.restart_nats)
    run.note("nats-server restarted (same port, same store)")
    await progressed(run, 3, timeout=120)
    run.note("load moving after the NATS crash")
    await asyncio.to_thread(system.stop_postgres, "immediate")
    run.note("PostgreSQL crashed (pg_ctl stop -m immediate)")
    await outage(SHORT_OUTAGE)
    await asyncio.to_thread(system.start_postgres)
    run.note("PostgreSQL restarted")
    await progressed(run, 3, timeout=180)
    run.note("load moving after the quick restart")
    await asyncio.to_thread(system.stop_postgres, "fast")
    run.note(f"PostgreSQL stopped for {LONG_OUTAGE:.0f} s")
    await outage(LONG_OUTAGE)
    await asyncio.to_thread(system.start_postgres)
    run.note("PostgreSQL started again")
    await progressed(run, 5, timeout=180)
    run.note("load moving after the long outage")


async def reconcile(run: Run) -> opb.ReconciliationReport:
    return await run.load.call(run.load.operator, "Reconcile", opb.ReconcileRequest(), "admin")


async def drained(run: Run) -> opb.ReconciliationReport:
    """Every service has consumed, published and ledgered everything: reconciliation healthy
    with every payment counted by the ledger."""
    paid = len(run.load.acknowledged.paid)

    async def quiet() -> opb.ReconciliationReport | None:
        report = await reconcile(run)
        ledger = {c.service: c for c in report.services}.get("ledger")
        if report.healthy and ledger is not None and ledger.payments.payments == paid:
            return report
        return None

    try:
        return await eventually(quiet, timeout=240, interval=1.0)  # type: ignore[return-value]
    except AssertionError:
        report = await reconcile(run)
        raise AssertionError(f"the pipeline did not drain within 240 s: gaps "
                             f"{[(g.service, g.check, g.gap, g.detail) for g in report.gaps]} "
                             f"unreachable {list(report.unreachable)}\n{run.summary()}") from None


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def run() -> AsyncIterator[Run]:
    async with running_system() as system:
        load = Load(system, rate=RATE, concurrency=CONCURRENCY)
        current = Run(system, load)
        try:
            current.note("system SERVING")
            await load.publish_fee_schedule()
            load.start()
            try:
                await inflict_faults(current)
            finally:
                await load.stop_and_finish(timeout=300)
                current.note("load stopped; every journey finished")
            assert not load.failures, "\n".join(load.failures[:10]) + "\n" + current.summary()
            await drained(current)
            current.note("pipeline drained (reconciliation healthy)")
            print(current.summary(), flush=True)
            yield current
        except BaseException:
            for service in system.services():
                print(f"--- {service.name} log tail\n{system.log_tail(service.name)}")
            raise
        finally:
            await load.close()


async def test_every_acknowledged_claim_is_listed_once_as_it_is(run: Run) -> None:
    ack = run.load.acknowledged
    listed: Counter[str] = Counter()
    summaries: dict[str, claims_pb2.ClaimSummary] = {}
    token = ""
    while True:
        page = await run.load.call(run.load.claims, "ListClaims", claims_pb2.ListClaimsRequest(
            page_size=500, page_token=token), "negotiator")
        for summary in page.claims:
            listed[summary.claim_id] += 1
            summaries[summary.claim_id] = summary
        token = page.next_page_token
        if not token:
            break
    assert len(ack.registered) >= 20, run.summary()
    assert {c: n for c, n in listed.items() if n != 1} == {}, "listed more than once"
    assert set(listed) == set(ack.registered), (
        f"acknowledged but not listed: {sorted(set(ack.registered) - set(listed))[:5]}; "
        "listed but never acknowledged (half-stored): "
        f"{sorted(set(listed) - set(ack.registered))[:5]}")
    differing = []
    for claim_id in sorted(listed):  # the list agrees with the claim itself
        claim = (await run.load.call(run.load.claims, "GetClaim", claims_pb2.GetClaimRequest(
            claim_id=claim_id), "negotiator")).claim
        summary = summaries[claim_id]
        if (summary.status, summary.route, summary.version) != (
                claim.status, claim.triage.route, claim.version):
            differing.append((claim_id, summary.status, claim.status, summary.route,
                              claim.triage.route, summary.version, claim.version))
    assert differing == [], f"ListClaims disagrees with GetClaim: {differing[:5]}"
    assert all(summaries[c].patient_control_number == p for c, p in ack.registered.items())


async def test_every_triaged_claim_has_one_negotiation_on_the_work_queue(run: Run) -> None:
    ack = run.load.acknowledged
    reply = await run.load.call(run.load.negotiation, "ListWorkQueue",
                                npb.ListWorkQueueRequest(page_size=1000), "negotiator")
    items = Counter(item.claim_id for item in reply.items)
    assert {c: n for c, n in items.items() if n != 1} == {}, "a claim negotiated twice"
    assert set(items) == ack.triaged, (
        f"triaged without a negotiation: {sorted(ack.triaged - set(items))[:5]}; "
        f"negotiations of unknown claims: {sorted(set(items) - ack.triaged)[:5]}")
    differing = []
    for item in reply.items:
        assert item.negotiation_id == ack.negotiations[item.claim_id]
        case = (await run.load.call(run.load.negotiation, "GetNegotiation",
                                    npb.GetNegotiationRequest(negotiation_id=item.negotiation_id),
                                    "negotiator")).negotiation
        if item.status != case.status or (item.claim_id in ack.agreed) != (case.status == "agreed"):
            differing.append((item.claim_id, item.status, case.status))
    assert differing == [], f"work queue disagrees with the negotiations: {differing[:5]}"


async def test_every_paid_claim_has_one_payment_in_its_settlement(run: Run) -> None:
    ack = run.load.acknowledged
    assert ack.paid == ack.agreed == ack.triaged == set(ack.registered), run.summary()
    wrong = []
    for claim_id in sorted(ack.paid):
        settlement = (await run.load.call(
            run.load.settlement, "GetSettlement",
            settlement_pb2.GetSettlementRequest(claim_id=claim_id), "finance")).settlement
        posted = [p.amount_cents for p in settlement.payments if p.payment_id != "initial"]
        if settlement.status != settlement_pb2.SETTLEMENT_STATUS_PAID or posted != [OWED]:
            wrong.append((claim_id, settlement.status, list(settlement.payments)))
    assert wrong == [], f"settlements not paid exactly once: {wrong[:3]}"


async def test_every_payment_has_exactly_one_fee(run: Run) -> None:
    ack = run.load.acknowledged
    lines = (await run.load.call(run.load.fees, "ListFeeLines", fees_pb2.ListFeeLinesRequest(
        client_id=CLIENT), "finance")).lines
    per_claim = Counter(line.claim_id for line in lines)
    assert per_claim == Counter({claim_id: 1 for claim_id in ack.paid}), (
        f"fee lines per claim differ: {dict(per_claim - Counter(ack.paid))} extra, "
        f"{sorted(ack.paid - set(per_claim))[:5]} missing")
    wrong = []
    for claim_id in sorted(ack.paid):
        account = (await run.load.call(
            run.load.fees, "GetFeeAccount", fees_pb2.GetFeeAccountRequest(claim_id=claim_id),
            "finance")).account
        if account.fee_billed_cents != FEE or account.paid_cents != OWED:
            wrong.append((claim_id, account.fee_billed_cents, account.paid_cents))
    assert wrong == [], f"fee accounts not billed once: {wrong[:3]}"


async def test_reconciliation_is_healthy_and_the_ledger_has_every_payment_once(run: Run) -> None:
    report = await reconcile(run)
    assert report.healthy, [(g.service, g.check, g.gap, g.detail) for g in report.gaps]
    assert list(report.gaps) == [] and list(report.unreachable) == []
    by_service = {counts.service: counts for counts in report.services}
    payments = by_service["ledger"].payments
    assert payments.payments == len(run.load.acknowledged.paid)
    assert (payments.payments_without_one_fee, payments.fees_without_payment) == (0, 0)
    appended = {item.service: item.appended for item in by_service["ledger"].ledger}
    for service in ("claims", "negotiation", "settlement", "fees"):
        assert appended[service] == by_service[service].recorded == by_service[service].published


async def test_no_infrastructure_fault_was_dead_lettered(run: Run) -> None:
    listed = await run.load.call(run.load.operator, "ListDeadLetters",
                                 opb.ListDeadLettersRequest(), "admin")
    assert [(d.consumer, d.event_type, d.reason) for d in listed.dead_letters] == []
    async with infrastructure(run.system, "claims") as (settings, _, js):
        info = await js.stream_info(settings.stream_for("deadletter"))  # type: ignore[attr-defined]
        assert info.state.messages == 0, "the dead-letter stream holds messages (any tenant)"


async def test_faults_are_answered_with_codes_clients_retry(run: Run) -> None:
    """Issue 21 item 4: an infrastructure fault is UNAVAILABLE (or a deadline), never UNKNOWN
    or INTERNAL; a request refused that way and then accepted with the same id is listed."""
    unexpected = [f"{service.name}: {excerpt}" for service in run.system.services()
                  for excerpt in run.system.log_excerpts(service.name, "unexpected error")]
    assert dict(run.load.misreported) == {}, "\n".join(unexpected[:5])


async def test_every_read_model_equals_a_rebuild_from_scratch(run: Run) -> None:
    """Last: the rebuild replaces the live rows (with equal ones, when nothing was lost)."""
    # Every read model the checks above read is among those rebuilt: ListClaims, the work
    # queue, settlements (and the claim facts 835 matching uses), fee accounts and lines.
    assert {(m.service, m.name) for m in READ_MODELS} >= {
        ("claims", "read-model"), ("negotiation", "work-queue"), ("settlement", "claim-facts"),
        ("settlement", "settlement-read-models"), ("fees", "fee-read-models")}
    for model in READ_MODELS:
        async with infrastructure(run.system, model.service) as (settings, pool, js):
            live = await table_rows(pool, settings.schema, model.tables)
            done = await rebuild(model, settings, pool, js)  # type: ignore[arg-type]
            assert done.position == done.total, (model.name, done)
            rebuilt = await table_rows(pool, settings.schema, model.tables)
        for table in model.tables:
            lost = set(live[table]) - set(rebuilt[table])
            gained = set(rebuilt[table]) - set(live[table])
            assert rebuilt[table] == live[table], (
                f"{model.service} {model.name}: {table} differs from its rebuild; "
                f"live only: {sorted(lost)[:3]}; rebuilt only: {sorted(gained)[:3]}")


async def table_rows(pool: Any, schema: str, tables: tuple[str, ...]) -> dict[str, list[str]]:
    async with pool.acquire() as conn:
        return {table: sorted(await conn.fetchval(
            f"SELECT coalesce(array_agg(row_to_json(t)::text), '{{}}') "
            f'FROM "{schema}".{table} t')) for table in tables}
