"""Operators through the gateway: reconciliation is healthy after a journey and names a gap that
is made on purpose (a payment whose fee is not assessed); every read model rebuilt from its
source stream equals the live one."""

from __future__ import annotations

import asyncio
import io
from datetime import date
from typing import Any

import grpc
import pytest

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from oonledger.operations.v1 import operations_pb2 as pb
from oonledger.operations.v1.operations_pb2_grpc import OperatorServiceStub
from oonledger.settlement.v1 import settlement_pb2
from services.common.runtime import ServiceRuntime
from services.ops import deadletters as deadletters_command
from services.ops import reconcile as reconcile_command
from services.ops.deadletters import CONSUMER, ORIGINAL_SUBJECT, REASON
from services.ops.rebuild import READ_MODELS, rebuild
from tests.e2e.journey import Vendor
from tests.e2e.test_journey import agreed_claim
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Index of the fees service's settlement-payments consumer in its background tasks
# (services/fees/main.py builds them in the order claims, settlement, negotiation, read models).
FEES_PAYMENTS_TASK = 1


async def pay_in_full(vendor: Vendor, bulk: int) -> str:
    claim_id, pcn, _ = await agreed_claim(vendor, bulk=bulk)
    await vendor.settlement_of(claim_id)  # opened from the agreement, so the 835 matches it
    imported, _ = await vendor.remit_835(pcn, 60_000, date(2026, 11, 20))
    assert imported.status == settlement_pb2.IMPORT_STATUS_POSTED, imported

    async def paid() -> bool:
        current = await vendor.settlement_of(claim_id)
        return current.status == settlement_pb2.SETTLEMENT_STATUS_PAID

    await eventually(paid, timeout=30)  # the payment is posted
    return claim_id


def gaps(report: pb.ReconciliationReport) -> dict[str, int]:
    return {f"{gap.service} {gap.check}": gap.gap for gap in report.gaps}


async def pause(runtime: ServiceRuntime, index: int) -> None:
    """Stop one background task of a running service (as if its consumer were stuck)."""
    name = f"{runtime.settings.service}:background-{index}"
    (task,) = [t for t in runtime._tasks if t.get_name() == name]
    task.cancel()
    await asyncio.wait([task])
    runtime._tasks.remove(task)


def resume(runtime: ServiceRuntime, index: int) -> None:
    assert runtime.parts is not None
    runtime._spawn(f"background-{index}", runtime.parts.background[index])


async def test_reconciliation_is_healthy_after_a_journey_and_names_a_missing_fee(
    stack: Any, channel: grpc.aio.Channel
) -> None:
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    admin = (("authorization", f"Bearer {await stack.partner(vendor.tenant, 'admin')}"),)
    reconciliation = OperatorServiceStub(channel)
    await vendor.publish_fee_schedule(rate_bps=2500)
    claim_id = await pay_in_full(vendor, bulk=3)
    await vendor.fee_account(claim_id, billed_cents=15_000)  # 25 % of the $600 recovered

    async def report() -> pb.ReconciliationReport:
        return await reconciliation.Reconcile(pb.ReconcileRequest(), metadata=admin, timeout=60)

    async def healthy() -> pb.ReconciliationReport | None:
        current = await report()
        return current if current.healthy and current.services[0].recorded else None

    first = await eventually(healthy, timeout=90)
    by_service = {counts.service: counts for counts in first.services}
    assert set(by_service) == {"claims", "negotiation", "settlement", "fees", "ledger"}
    assert by_service["ledger"].payments.payments == 1
    assert by_service["claims"].recorded == by_service["claims"].published > 0
    appended = {item.service: item.appended for item in by_service["ledger"].ledger}
    assert appended["settlement"] == by_service["settlement"].recorded

    # Only an admin reconciles.
    auditor = vendor.md("auditor")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await reconciliation.Reconcile(pb.ReconcileRequest(), metadata=auditor)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # The fees service stops assessing payments: the next payment has no fee, and says so.
    fees = stack.services["fees"]
    await pause(fees, FEES_PAYMENTS_TASK)
    try:
        await pay_in_full(vendor, bulk=2)

        async def missing_fee() -> pb.ReconciliationReport | None:
            current = await report()
            return current if "fees payments_without_one_fee" in gaps(current) else None

        broken = await eventually(missing_fee, timeout=90)
        assert not broken.healthy
        assert gaps(broken)["fees payments_without_one_fee"] == 1
        assert {c.service: c for c in broken.services}["ledger"].payments.payments == 2
    finally:
        resume(fees, FEES_PAYMENTS_TASK)
    healed = await eventually(healthy, timeout=90)
    assert {c.service: c for c in healed.services}["ledger"].payments.payments == 2

    # The operator command prints the same report (exit status 0: healthy).
    out = io.StringIO()
    status = await reconcile_command.run(
        ["--gateway", stack.grpc_address], {"OON_API_KEY": admin[0][1].split()[1]}, out)
    assert status == 0 and "healthy" in out.getvalue() and "GAP" not in out.getvalue()


async def table_rows(runtime: ServiceRuntime, tables: tuple[str, ...]) -> dict[str, list[str]]:
    assert runtime.infra is not None
    schema = runtime.settings.schema
    async with runtime.infra.pool.acquire() as conn:
        return {
            table: sorted(await conn.fetchval(
                f'SELECT coalesce(array_agg(row_to_json(t)::text), \'{{}}\') '
                f'FROM "{schema}".{table} t'))
            for table in tables
        }


async def test_every_read_model_rebuilt_from_its_stream_equals_the_live_one(
    stack: Any, channel: grpc.aio.Channel
) -> None:
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    await vendor.publish_fee_schedule(rate_bps=2500)
    claim_id = await pay_in_full(vendor, bulk=3)
    await vendor.fee_account(claim_id, billed_cents=15_000)
    admin = (("authorization", f"Bearer {await stack.partner(vendor.tenant, 'admin')}"),)

    async def drained() -> bool:
        report = await OperatorServiceStub(channel).Reconcile(
            pb.ReconcileRequest(), metadata=admin, timeout=60)
        return report.healthy  # every read model has consumed everything

    await eventually(drained, timeout=90)
    for model in READ_MODELS:
        runtime = stack.services[model.service]
        assert runtime.infra is not None
        live = await table_rows(runtime, model.tables)
        progress: list[Any] = []
        done = await rebuild(model, runtime.settings, runtime.infra.pool, runtime.infra.js,
                             progress.append)
        assert done.position == done.total and progress, (model.name, done)
        rebuilt = await table_rows(runtime, model.tables)
        for table in model.tables:
            before, after = set(live[table]), set(rebuilt[table])
            lost, gained = before - after, after - before
            assert rebuilt[table] == live[table], (
                f"{model.service} {model.name}: {table} differs after a rebuild; "
                f"live only: {lost}; rebuilt only: {gained}")


async def test_a_dead_lettered_claim_comes_back_once_through_the_operator_command(
    stack: Any, channel: grpc.aio.Channel
) -> None:
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    key = await stack.partner(vendor.tenant, "admin")
    (claim_id, _), = await vendor.import_claims(1)
    claims = stack.services["claims"]
    settings, infra = claims.settings, claims.infra
    assert infra is not None
    table = f'"{settings.schema}".claims_read'

    async def row() -> str | None:
        async with infra.pool.acquire() as conn:
            return await conn.fetchval(
                f"SELECT row_to_json(t)::text FROM {table} t WHERE claim_id = $1", claim_id)

    before = await eventually(row, timeout=20)
    # As if the read model's consumer had dead-lettered the claim's registration: its effect
    # and tracking record gone, the message in the dead-letter stream with a reason.
    subject = f"{settings.subject_prefix_for('claims')}.claim.ClaimRegistered"
    registered = await infra.js.get_last_msg(settings.stream_for("claims"), subject)
    envelope = EventEnvelope.FromString(registered.data)
    assert envelope.aggregate_id == claim_id
    async with infra.pool.acquire() as conn, conn.transaction():
        await conn.execute(f"DELETE FROM {table} WHERE claim_id = $1", claim_id)
        await conn.execute(
            f'DELETE FROM "{settings.schema}".projection_tracking WHERE consumer = \'read-model\' '
            "AND upstream = 'claims' AND notification_id = $1", envelope.notification_id)
    durable = "claims-read-model"
    await infra.js.publish(
        f"{settings.subject_prefix_for('deadletter')}.{durable}", registered.data,
        headers={REASON: "failed 6 times: database unavailable", CONSUMER: durable,
                 ORIGINAL_SUBJECT: registered.subject or ""})
    assert await row() is None

    environ = {"OON_API_KEY": key}
    gateway = ["--gateway", stack.grpc_address]

    async def command(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        status = await deadletters_command.run([*gateway, *argv], environ, out)
        return status, out.getvalue()

    status, listed = await command("list")
    assert status == 0 and "ClaimRegistered" in listed and "database unavailable" in listed
    assert durable in listed
    status, replayed = await command("replay", "--consumer", durable, "--all")
    assert status == 0 and replayed.strip().endswith("applied"), replayed
    assert await row() == before  # the effect is back, once
    assert await command("list") == (0, "")
    assert await command("replay", "--all") == (0, "")  # nothing left to replay

    # A copy of an event already applied: replayed without a second effect.
    await infra.js.publish(
        f"{settings.subject_prefix_for('deadletter')}.{durable}", registered.data,
        headers={REASON: "timeout", CONSUMER: durable, ORIGINAL_SUBJECT: registered.subject or ""})
    status, replayed = await command("replay", "--all")
    assert status == 0 and replayed.strip().endswith("already applied"), replayed
    assert await row() == before
    assert await command("list", "--consumer", "nobody-here") == (2, "")
