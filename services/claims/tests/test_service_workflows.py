"""ClaimsService against real PostgreSQL and NATS: corrections, appeals, export, the work
queue, stages reported by other services, concurrent writers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.claims.v1.claims_pb2_grpc import ClaimsServiceStub
from services.claims.adapters import mapping
from services.claims.domain import ServiceLine
from services.claims.main import build
from services.claims.tests.factories import emergency_claim, institutional_claim
from services.claims.tests.service_calls import (
    SHA,
    claim_input,
    denial,
    md,
    register,
    tenant,
)
from tests.support.plugin import channel_to, eventually, field_violations

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_resubmission_links_claims_and_shows_in_work_queue(stub):
    t = tenant()
    claim = await register(stub, t, patient_control_number="PCN-2026-0001")  # claim_input()'s
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitCorrectedClaim(
            pb.SubmitCorrectedClaimRequest(
                request_id="fix0",
                original_claim_id=claim.claim_id,
                frequency=pb.FREQUENCY_CODE_REPLACEMENT,
                corrected=claim_input(),
            ),
            metadata=md(t),
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await stub.RecordAdjudication(
        pb.RecordAdjudicationRequest(
            request_id="a", claim_id=claim.claim_id, adjudication=denial()
        ),
        metadata=md(t),
    )
    corrected = claim_input()
    corrected.lines[1].modifiers.append("59")
    request = pb.SubmitCorrectedClaimRequest(
        request_id="fix1",
        original_claim_id=claim.claim_id,
        frequency=pb.FREQUENCY_CODE_REPLACEMENT,
        corrected=corrected,
        reason="add modifier 59",
    )
    response = await stub.SubmitCorrectedClaim(request, metadata=md(t))
    retry = await stub.SubmitCorrectedClaim(request, metadata=md(t))
    assert retry.corrected.claim_id == response.corrected.claim_id
    assert response.original.status == pb.CLAIM_STATUS_REPLACED
    assert response.original.replaced_by_claim_id == response.corrected.claim_id
    assert response.corrected.original_claim_id == claim.claim_id
    assert list(response.corrected.changed_fields) == ["lines[1].modifiers"]
    assert response.corrected.frequency == pb.FREQUENCY_CODE_REPLACEMENT

    async def queued():
        items = (await stub.ClaimsWorkQueue(pb.ClaimsWorkQueueRequest(), metadata=md(t))).items
        return [i for i in items if i.kind == pb.WORK_ITEM_KIND_AWAITING_ADJUDICATION]

    (item,) = await eventually(queued)
    assert item.claim_id == response.corrected.claim_id
    clean = await stub.CheckCleanClaim(
        pb.CheckCleanClaimRequest(request_id="c", claim_id=response.corrected.claim_id),
        metadata=md(t),
    )
    assert clean.report.clean
    exported = await stub.Export837(
        pb.Export837Request(
            claim_id=response.corrected.claim_id,
            submitter_contact_name="Billing",
            submitter_contact_phone="215-555-0100",
        ),
        metadata=md(t),
    )
    assert "REF*F8*ICN-778899~" in exported.x12 and "*23:B:7*" in exported.x12
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.TriageClaim(
            pb.TriageClaimRequest(request_id="t", claim_id=claim.claim_id), metadata=md(t)
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_void_of_paid_claim_needs_reason(stub):
    t = tenant()
    claim = await register(stub, t)
    await stub.RecordAdjudication(
        pb.RecordAdjudicationRequest(
            request_id="a",
            claim_id=claim.claim_id,
            adjudication=pb.Adjudication(
                received_date="2026-10-30",
                allowed_cents=90_000,
                paid_cents=70_000,
                patient_responsibility_cents=20_000,
                carc_codes=["45"],
                payer_claim_control_number="ICN-55",
            ),
        ),
        metadata=md(t),
    )
    void = pb.SubmitCorrectedClaimRequest(
        request_id="v", original_claim_id=claim.claim_id, frequency=pb.FREQUENCY_CODE_VOID
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitCorrectedClaim(void, metadata=md(t))
    assert field_violations(err.value) == {"reason"}
    void.reason = "billed to the wrong payer"
    voided = await stub.SubmitCorrectedClaim(void, metadata=md(t))
    assert voided.original.status == pb.CLAIM_STATUS_VOIDED
    assert voided.corrected.frequency == pb.FREQUENCY_CODE_VOID


async def test_appeal_flow_and_late_appeal(stub):
    t = tenant()
    claim = await register(stub, t)
    await stub.RecordAdjudication(
        pb.RecordAdjudicationRequest(
            request_id="a", claim_id=claim.claim_id, adjudication=denial(carc=("50",))
        ),
        metadata=md(t),
    )
    doc = await stub.AttachDocument(
        pb.AttachDocumentRequest(
            request_id="d",
            claim_id=claim.claim_id,
            kind=pb.DOCUMENT_KIND_MEDICAL_RECORDS,
            sha256=SHA,
            location="s3://docs/r.pdf",
        ),
        metadata=md(t),
    )
    filed = await stub.FileAppeal(
        pb.FileAppealRequest(
            request_id="ap",
            claim_id=claim.claim_id,
            level=pb.APPEAL_LEVEL_FIRST_INTERNAL,
            grounds="Prudent layperson standard met",
            cited_document_ids=[doc.document_id],
            channel=pb.APPEAL_CHANNEL_PORTAL,
        ),
        metadata=md(t),
    )
    assert filed.appeal.deadline == (date(2026, 10, 30) + timedelta(days=180)).isoformat()
    assert filed.claim.status == pb.CLAIM_STATUS_IN_APPEAL
    decided = await stub.RecordAppealDecision(
        pb.RecordAppealDecisionRequest(
            request_id="dec",
            claim_id=claim.claim_id,
            appeal_id=filed.appeal.appeal_id,
            outcome=pb.APPEAL_OUTCOME_UPHELD,
            decision_date=date.today().isoformat(),
        ),
        metadata=md(t),
    )
    assert decided.claim.status == pb.CLAIM_STATUS_APPEAL_UPHELD
    assert decided.claim.triage.rule_set_version  # the upheld denial went back to triage

    late = await register(
        stub, t, lines=(ServiceLine("99285", 185_000, date(2026, 1, 5), 1, (), "23", "", (1,)),)
    )
    await stub.RecordAdjudication(
        pb.RecordAdjudicationRequest(
            request_id="a-late",  # a request id names one request per tenant
            claim_id=late.claim_id,
            adjudication=pb.Adjudication(
                received_date="2026-02-01", denied=True, carc_codes=["50"]
            ),
        ),
        metadata=md(t),
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.FileAppeal(
            pb.FileAppealRequest(
                request_id="ap",
                claim_id=late.claim_id,
                level=pb.APPEAL_LEVEL_FIRST_INTERNAL,
                grounds="late",
                channel=pb.APPEAL_CHANNEL_MAIL,
            ),
            metadata=md(t),
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "2026-07-31" in err.value.details()


async def test_export_requires_clean_claim_and_round_trips(stub):
    t = tenant()
    claim = (
        await stub.RegisterClaim(
            pb.RegisterClaimRequest(
                request_id="i", claim=mapping.claim_input(institutional_claim())
            ),
            metadata=md(t),
        )
    ).claim
    export = pb.Export837Request(
        claim_id=claim.claim_id,
        submitter_contact_name="Billing",
        submitter_contact_phone="2155550100",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Export837(export, metadata=md(t))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await stub.CheckCleanClaim(
        pb.CheckCleanClaimRequest(request_id="c", claim_id=claim.claim_id), metadata=md(t)
    )
    exported = await stub.Export837(export, metadata=md(t))
    assert exported.implementation_guide == "005010X223A2"
    other = tenant()
    imported = await stub.Import837(
        pb.Import837Request(
            request_id="rt",
            client_id=claim.input.client_id,
            x12=exported.x12,
            plan=claim.input.plan,
            facility=claim.input.facility,
        ),
        metadata=md(other),
    )
    again = await stub.GetClaim(
        pb.GetClaimRequest(claim_id=getattr(imported, "import").results[0].claim_id),
        metadata=md(other),
    )
    assert again.claim.input == claim.input



async def test_demo_seeds_claims_idempotently(stub, runtime, capsys):
    from deploy.local.demo.claims import seed_claims

    # The demo's partner key holds every role; claims' writes need a negotiator (or admin).
    metadata = (("x-tenant-id", tenant()), ("x-actor", "demo"), ("x-roles", "negotiator"))
    ids = await seed_claims(channel_to(runtime), metadata)
    assert len(ids) == 5
    assert await seed_claims(channel_to(runtime), metadata) == ids
    out = capsys.readouterr().out
    assert "FEDERAL_IDR" in out and "STATE_PROCESS" in out and "appeal upheld" in out


async def test_negotiation_and_settlement_events_move_the_claim_on(service_runner):
    """A real upstream envelope on the negotiation/settlement streams drives the claim status.

    Runs a claims service in a namespace of its own, so the hand-made upstream events never
    reach the real negotiation/settlement consumers of this test session.
    """
    from google.protobuf.timestamp_pb2 import Timestamp

    from oonledger.common.v1.envelope_pb2 import EventEnvelope

    isolated = await service_runner.start("claims", build, namespace="iso" + uuid.uuid4().hex[:8])
    stub = ClaimsServiceStub(channel_to(isolated))
    t = tenant()
    claim = await register(stub, t)
    js = isolated.infra.js
    settings = isolated.settings

    async def publish(service: str, aggregate: str, event_type: str, seq: int) -> None:
        now = Timestamp()
        now.GetCurrentTime()
        env = EventEnvelope(
            event_id=f"{service}:{seq}",
            service=service,
            notification_id=seq,
            tenant_id=t,
            claim_id=claim.claim_id,
            aggregate_type=aggregate,
            aggregate_id=str(uuid.uuid4()),
            aggregate_version=1,
            event_type=event_type,
            schema_version=1,
            occurred_at=now,
            recorded_at=now,
            payload=json.dumps({"claim_id": claim.claim_id}).encode(),
        )
        subject = f"{settings.subject_prefix_for(service)}.{aggregate}.{event_type}"
        for _ in range(2):  # a redelivery must not record twice
            await js.publish(subject, env.SerializeToString())

    seq = int(uuid.uuid4().int % 10**9)
    await publish("negotiation", "negotiation", "Opened", seq)

    async def status_is(expected):
        got = await stub.GetClaim(pb.GetClaimRequest(claim_id=claim.claim_id), metadata=md(t))
        return got.claim if got.claim.status == expected else None

    in_negotiation = await eventually(lambda: status_is(pb.CLAIM_STATUS_IN_NEGOTIATION))
    await publish("settlement", "settlement", "SettlementPaidInFull", seq + 1)
    settled = await eventually(lambda: status_is(pb.CLAIM_STATUS_SETTLED))
    assert settled.version == in_negotiation.version + 1 == 3
    await service_runner.stop(isolated)


async def test_concurrent_writers_conflict_is_aborted(runtime, stub):
    from services.claims.application import ClaimsApplication
    from services.claims.domain import Claim, TriagePolicy
    from services.common.context import CommandContext
    from services.common.errors import Conflict

    t = tenant()
    claim = await register(stub, t)
    app = runtime.parts.app
    assert isinstance(app, ClaimsApplication)

    def race() -> None:
        ctx = CommandContext(tenant_id=t, actor="a", now=datetime.now(UTC), request_id="one")
        first = app.load(uuid.UUID(claim.claim_id), t, Claim)
        second = app.load(uuid.UUID(claim.claim_id), t, Claim)
        first.triage_claim(ctx, TriagePolicy())
        second.check_clean(ctx.with_request("two"))
        app.save_all(first)
        with pytest.raises(Conflict):
            app.save_all(second)

    await runtime.infra.blocking(race)
    got = await stub.GetClaim(pb.GetClaimRequest(claim_id=claim.claim_id), metadata=md(t))
    assert got.claim.version == 2 and not got.claim.HasField("clean_claim")


async def test_work_queue_lists_blocking_findings_and_appeal_deadlines(stub):
    t = tenant()
    blocked = await register(stub, t, emergency=False)  # ED lines without the emergency flag
    report = await stub.CheckCleanClaim(
        pb.CheckCleanClaimRequest(request_id="c", claim_id=blocked.claim_id), metadata=md(t)
    )
    assert not report.report.clean
    assert "CC14-EMERGENCY" in {f.rule_id for f in report.report.findings if f.blocking}
    denied = await register(stub, t)
    # A medical-necessity denial alone: its action is an appeal (with RARC N290 it would be
    # resubmit-with-correction first: tests/test_work_queue_actions.py).
    not_necessary = denial(carc=("50",))
    del not_necessary.rarc_codes[:]
    await stub.RecordAdjudication(
        pb.RecordAdjudicationRequest(
            request_id="a", claim_id=denied.claim_id, adjudication=not_necessary
        ),
        metadata=md(t),
    )

    async def queue():
        items = (await stub.ClaimsWorkQueue(pb.ClaimsWorkQueueRequest(), metadata=md(t))).items
        kinds = {(i.kind, i.claim_id): i for i in items}
        return kinds if len(kinds) == 2 else None

    kinds = await eventually(queue)
    assert (pb.WORK_ITEM_KIND_BLOCKING_FINDINGS, blocked.claim_id) in kinds
    due = kinds[(pb.WORK_ITEM_KIND_APPEAL_DUE, denied.claim_id)]
    assert due.due_date == (date(2026, 10, 30) + timedelta(days=180)).isoformat()
    filed = await stub.FileAppeal(
        pb.FileAppealRequest(
            request_id="ap",
            claim_id=denied.claim_id,
            level=pb.APPEAL_LEVEL_FIRST_INTERNAL,
            grounds="records attached",
            channel=pb.APPEAL_CHANNEL_PORTAL,
        ),
        metadata=md(t),
    )

    async def awaiting_decision():
        items = (await stub.ClaimsWorkQueue(pb.ClaimsWorkQueueRequest(), metadata=md(t))).items
        due = [i for i in items if i.claim_id == denied.claim_id and "owes" in i.detail]
        return due[0] if due else None

    item = await eventually(awaiting_decision)
    assert item.due_date == filed.appeal.decision_due



async def test_group_commit_isolates_a_conflicting_creation(runtime):
    from concurrent.futures import Future

    from services.claims.domain import Claim
    from services.claims.tests.factories import ctx as command
    from services.common.errors import Conflict
    from services.common.group_commit import GroupCommitter
    from services.common.ids import deterministic_id

    app = runtime.parts.app
    t = tenant()

    def scenario() -> None:
        existing_id = deterministic_id(t, "claim", "first")
        app.save_all(Claim.register(command(t, "first"), existing_id, emergency_claim()))
        duplicate = Claim.register(command(t, "first"), existing_id, emergency_claim())
        fresh = [
            Claim.register(
                command(t, f"n{i}"), deterministic_id(t, "claim", f"n{i}"), emergency_claim()
            )
            for i in range(3)
        ]
        committer = GroupCommitter(app.save_events)
        try:
            futures: list[Future[None]] = [Future() for _ in range(4)]
            events = [c.collect_events() for c in (fresh[0], duplicate, fresh[1], fresh[2])]
            committer._commit(list(zip(events, futures, strict=True)))
            with pytest.raises(Conflict):
                futures[1].result()
            for done in (futures[0], futures[2], futures[3]):
                assert done.result() is None
            for claim in fresh:
                assert app.load(claim.id, t, Claim).version == 1
        finally:
            committer.close()

    await runtime.infra.blocking(scenario)

