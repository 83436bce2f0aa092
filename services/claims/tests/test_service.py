"""ClaimsService against real PostgreSQL and NATS: intake, bulk import, reads, isolation."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import grpc
import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.claims.v1.events_pb2 import ClaimRegistered as ClaimRegisteredMessage
from services.claims.domain import ServiceLine
from services.claims.tests.factories import emergency_claim
from services.claims.tests.service_calls import (
    DATA,
    SHA,
    claim_input,
    denial,
    md,
    register,
    tenant,
)
from services.common.contracts import as_dict, decode
from tests.support.plugin import call_metadata, eventually, field_violations

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_register_get_and_idempotent_retry(stub):
    t = tenant()
    request = pb.RegisterClaimRequest(request_id="intake-1", claim=claim_input())
    first = await stub.RegisterClaim(request, metadata=md(t))
    again = await stub.RegisterClaim(request, metadata=md(t))
    assert first.created and not again.created
    assert first.claim.claim_id == again.claim.claim_id
    got = await stub.GetClaim(pb.GetClaimRequest(claim_id=first.claim.claim_id), metadata=md(t))
    assert got.claim.version == 1  # the retry stored nothing
    assert got.claim.input.patient.member_id == "W123456789"
    assert got.claim.total_billed_cents == 249_000
    assert got.claim.status == pb.CLAIM_STATUS_REGISTERED


async def test_bad_input_names_fields_and_stores_nothing(stub):
    t = tenant()
    bad = claim_input(provider=replace(emergency_claim().provider, npi="1234567890"))
    bad.lines[0].billed_cents = -5
    bad.lines[1].service_date = "2026-13-40"
    bad.diagnosis_codes.append("8901")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RegisterClaim(
            pb.RegisterClaimRequest(request_id="r-bad", claim=bad), metadata=md(t)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Every bad field in one answer: the unreadable date and the intake rules' findings.
    assert {
        "claim.lines[1].service_date",
        "claim.provider.npi",
        "claim.lines[0].billed_cents",
        "claim.diagnosis_codes[2]",
    } <= field_violations(err.value)
    bad.lines[1].service_date = "2026-10-03"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RegisterClaim(
            pb.RegisterClaimRequest(request_id="r-bad", claim=bad), metadata=md(t)
        )
    assert {
        "claim.provider.npi",
        "claim.lines[0].billed_cents",
        "claim.diagnosis_codes[2]",
    } == field_violations(err.value)
    # Nothing was stored under that request id: the same id now creates the claim.
    ok = await stub.RegisterClaim(
        pb.RegisterClaimRequest(request_id="r-bad", claim=claim_input()), metadata=md(t)
    )
    assert ok.created and ok.claim.version == 1


async def test_an_empty_claim_names_every_missing_field_at_once(stub):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RegisterClaim(
            pb.RegisterClaimRequest(request_id="r-empty", claim=pb.ClaimInput()),
            metadata=md(tenant()),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {
        "claim.claim_type",
        "claim.client_id",
        "claim.patient_control_number",
        "claim.lines",
    } <= field_violations(err.value), field_violations(err.value)


async def test_missing_request_id_is_invalid_and_missing_tenant_unauthenticated(stub):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RegisterClaim(
            pb.RegisterClaimRequest(claim=claim_input()),
            metadata=(("x-tenant-id", tenant()), ("x-roles", "negotiator")),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {"request_id"}
    # Without a tenant the call cannot be signed: the service does not know who calls.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetClaim(pb.GetClaimRequest(claim_id=str(uuid.uuid4())))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_stale_expected_version_is_aborted(stub):
    t = tenant()
    claim = await register(stub, t)
    await stub.TriageClaim(
        pb.TriageClaimRequest(request_id="t1", claim_id=claim.claim_id, expected_version=1),
        metadata=md(t),
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RecordAdjudication(
            pb.RecordAdjudicationRequest(
                request_id="a1", claim_id=claim.claim_id, adjudication=denial(), expected_version=1
            ),
            metadata=md(t),
        )
    assert err.value.code() == grpc.StatusCode.ABORTED
    got = await stub.GetClaim(pb.GetClaimRequest(claim_id=claim.claim_id), metadata=md(t))
    assert got.claim.version == 2 and not got.claim.HasField("adjudication")


async def test_triage_and_adjudication_and_documents(stub):
    t = tenant()
    claim = await register(stub, t)
    triaged = await stub.TriageClaim(
        pb.TriageClaimRequest(request_id="t", claim_id=claim.claim_id), metadata=md(t)
    )
    assert triaged.triage.route == pb.ROUTE_FEDERAL_IDR and triaged.triage.nsa_protected
    assert "EMERGENCY" in {r.code for r in triaged.triage.reasons}
    adjudicated = await stub.RecordAdjudication(
        pb.RecordAdjudicationRequest(
            request_id="a", claim_id=claim.claim_id, adjudication=denial()
        ),
        metadata=md(t),
    )
    assert adjudicated.claim.status == pb.CLAIM_STATUS_DENIED
    assert adjudicated.claim.denial_remedies[0].remedy == pb.REMEDY_RESUBMIT_CORRECTED
    doc = pb.AttachDocumentRequest(
        request_id="d",
        claim_id=claim.claim_id,
        kind=pb.DOCUMENT_KIND_MEDICAL_RECORDS,
        sha256=SHA,
        location="s3://docs/records.pdf",
        size_bytes=2048,
    )
    first = await stub.AttachDocument(doc, metadata=md(t))
    again = await stub.AttachDocument(doc, metadata=md(t))
    assert first.document_id == again.document_id
    assert len(again.claim.documents) == 1 and again.claim.version == first.claim.version
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.AttachDocument(
            pb.AttachDocumentRequest(
                request_id="d2",
                claim_id=claim.claim_id,
                kind=pb.DOCUMENT_KIND_EOB,
                sha256="x",
                location="ftp://x",
            ),
            metadata=md(t),
        )
    assert field_violations(err.value) == {"sha256", "location"}


async def test_import_claims_bulk_with_per_claim_results_and_retry(stub):
    t = tenant()
    items = [
        pb.ImportItem(claim=claim_input(patient_control_number=f"BULK-{i}")) for i in range(40)
    ]
    items[7].claim.provider.npi = "1234567890"
    items[9].claim.lines[0].service_date = "not-a-date"
    request = pb.ImportClaimsRequest(request_id="bulk-1", items=items)
    result = await stub.ImportClaims(request, metadata=md(t))
    assert (result.created_count, result.existing_count, result.rejected_count) == (38, 0, 2)
    assert [e.field for e in result.results[7].errors] == ["items[7].claim.provider.npi"]
    assert [e.field for e in result.results[9].errors] == ["items[9].claim.lines[0].service_date"]
    retry = await stub.ImportClaims(request, metadata=md(t))
    assert (retry.created_count, retry.existing_count, retry.rejected_count) == (0, 38, 2)
    assert [r.claim_id for r in retry.results] == [r.claim_id for r in result.results]
    # A retry that also carries new claims stores the new ones alongside the existing ones.
    more = [pb.ImportItem(claim=claim_input(patient_control_number=f"MORE-{i}")) for i in range(3)]
    longer = pb.ImportClaimsRequest(request_id="bulk-1", items=[*items, *more])
    mixed = await stub.ImportClaims(longer, metadata=md(t))
    assert (mixed.created_count, mixed.existing_count, mixed.rejected_count) == (3, 38, 2)
    for r in mixed.results[40:]:
        got = await stub.GetClaim(pb.GetClaimRequest(claim_id=r.claim_id), metadata=md(t))
        assert got.claim.version == 1
    # The same import request id with another claim at an index: that item is refused, the
    # others are retries; the claim first registered under the item's id is unchanged.
    changed = [*items]
    changed[0] = pb.ImportItem(claim=claim_input(patient_control_number="NOT-BULK-0"))
    reused = await stub.ImportClaims(
        pb.ImportClaimsRequest(request_id="bulk-1", items=changed), metadata=md(t))
    assert (reused.created_count, reused.existing_count, reused.rejected_count) == (0, 37, 3)
    assert [e.field for e in reused.results[0].errors] == ["items[0].request_id"]
    assert "already used for a different claim" in reused.results[0].errors[0].description
    first = await stub.GetClaim(pb.GetClaimRequest(claim_id=result.results[0].claim_id),
                                metadata=md(t))
    assert first.claim.input.patient_control_number == "BULK-0" and first.claim.version == 1


async def test_import_837_file(stub):
    t = tenant()
    response = await stub.Import837(
        pb.Import837Request(
            request_id="file-1",
            client_id="client-ed",
            x12=(DATA / "ed_group_batch.837").read_text(),
            plan=pb.Plan(funding=pb.PLAN_FUNDING_SELF_FUNDED_ERISA, situs_state="PA"),
            facility=pb.Facility(network_status=pb.NETWORK_STATUS_IN_NETWORK, state="PA"),
        ),
        metadata=md(t),
    )
    result = getattr(response, "import")
    assert (result.created_count, result.rejected_count) == (2, 1)
    assert response.locations[2] == "ST 0001 / CLM 3 / PCN ED-2026-1003"
    assert [e.field for e in result.results[2].errors] == ["items[2].claim.diagnosis_codes[0]"]
    got = await stub.GetClaim(
        pb.GetClaimRequest(claim_id=result.results[1].claim_id), metadata=md(t)
    )
    assert got.claim.input.patient.first_name == "EMMA"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Import837(
            pb.Import837Request(request_id="f2", client_id="c", x12="hello"), metadata=md(t)
        )
    assert field_violations(err.value) == {"x12"}


async def test_list_claims_filters_and_pages(stub):
    t = tenant()
    for i in range(5):
        await register(
            stub, t, patient_control_number=f"L-{i}", client_id="client-a" if i < 3 else "client-b"
        )
    claim = await register(
        stub,
        t,
        client_id="client-c",
        lines=(ServiceLine("99285", 90_000, date(2026, 6, 1), 1, (), "23", "", (1,)),),
    )
    await stub.TriageClaim(
        pb.TriageClaimRequest(request_id="t", claim_id=claim.claim_id), metadata=md(t)
    )

    async def listed(**kw) -> list[pb.ClaimSummary]:
        out, token = [], ""
        while True:
            page = await stub.ListClaims(
                pb.ListClaimsRequest(page_size=2, page_token=token, **kw), metadata=md(t)
            )
            out.extend(page.claims)
            token = page.next_page_token
            if not token:
                return out

    async def all_visible():
        return len(await listed()) == 6

    await eventually(all_visible)
    assert len(await listed(client_id="client-a")) == 3
    assert len(await listed(service_date_to="2026-07-01")) == 1

    async def routed():
        rows = await listed(route=pb.ROUTE_FEDERAL_IDR)
        return len(rows) == 1 and rows[0].claim_id == claim.claim_id

    await eventually(routed)
    assert len(await listed(status=pb.CLAIM_STATUS_REGISTERED, payer_id="87726")) == 6
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListClaims(
            pb.ListClaimsRequest(service_date_from="2026-12-01", service_date_to="2026-01-01"),
            metadata=md(t),
        )
    assert field_violations(err.value) == {"service_date_to"}



async def test_events_reach_jetstream_without_phi(runtime, stub):
    t = tenant()
    claim = await register(stub, t, patient_control_number="PHI-CHECK")
    js = runtime.infra.js
    subject = f"{runtime.settings.subject_prefix_for('claims')}.claim.ClaimRegistered"
    psub = await js.pull_subscribe(subject, stream=runtime.settings.stream_for("claims"))

    async def found():
        try:
            for msg in await psub.fetch(200, timeout=1):
                await msg.ack()
                from oonledger.common.v1.envelope_pb2 import EventEnvelope

                env = EventEnvelope.FromString(msg.data)
                if env.aggregate_id == claim.claim_id:
                    return env
        except TimeoutError:
            return None
        return None

    env = await eventually(found, timeout=20)
    # The published language: the contract message, which has no patient field at all.
    registered = decode(env)
    assert isinstance(registered, ClaimRegisteredMessage)
    assert env.tenant_id == t and env.claim_id == claim.claim_id
    assert "patient" not in as_dict(registered) and b"W123456789" not in env.payload
    assert registered.claim.payer.payer_id == "87726"
    await psub.unsubscribe()


async def test_tenant_isolation_on_every_rpc(stub):
    owner, intruder = tenant(), tenant()
    claim = await register(stub, owner)
    cid = claim.claim_id
    not_found_calls = [
        stub.GetClaim(pb.GetClaimRequest(claim_id=cid), metadata=md(intruder)),
        stub.RecordAdjudication(
            pb.RecordAdjudicationRequest(request_id="x", claim_id=cid, adjudication=denial()),
            metadata=md(intruder),
        ),
        stub.AttachDocument(
            pb.AttachDocumentRequest(
                request_id="x",
                claim_id=cid,
                kind=pb.DOCUMENT_KIND_EOB,
                sha256=SHA,
                location="s3://x/y",
            ),
            metadata=md(intruder),
        ),
        stub.TriageClaim(
            pb.TriageClaimRequest(request_id="x", claim_id=cid), metadata=md(intruder)
        ),
        stub.CheckCleanClaim(
            pb.CheckCleanClaimRequest(request_id="x", claim_id=cid), metadata=md(intruder)
        ),
        stub.SubmitCorrectedClaim(
            pb.SubmitCorrectedClaimRequest(
                request_id="x", original_claim_id=cid, frequency=pb.FREQUENCY_CODE_VOID, reason="r"
            ),
            metadata=md(intruder),
        ),
        stub.FileAppeal(
            pb.FileAppealRequest(
                request_id="x",
                claim_id=cid,
                level=pb.APPEAL_LEVEL_FIRST_INTERNAL,
                grounds="g",
                channel=pb.APPEAL_CHANNEL_FAX,
            ),
            metadata=md(intruder),
        ),
        stub.RecordAppealDecision(
            pb.RecordAppealDecisionRequest(
                request_id="x",
                claim_id=cid,
                appeal_id="a",
                outcome=pb.APPEAL_OUTCOME_UPHELD,
                decision_date="2026-11-01",
            ),
            metadata=md(intruder),
        ),
        stub.Export837(
            pb.Export837Request(
                claim_id=cid, submitter_contact_name="n", submitter_contact_phone="1"
            ),
            metadata=md(intruder),
        ),
    ]
    for call in not_found_calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # Creation with the owner's request id creates the intruder's own claim, never the owner's.
    mine = await stub.RegisterClaim(
        pb.RegisterClaimRequest(request_id="same-id", claim=claim_input()), metadata=md(owner)
    )
    theirs = await stub.RegisterClaim(
        pb.RegisterClaimRequest(request_id="same-id", claim=claim_input()), metadata=md(intruder)
    )
    assert theirs.created and theirs.claim.claim_id != mine.claim.claim_id
    imported = await stub.ImportClaims(
        pb.ImportClaimsRequest(
            request_id="same-bulk", items=[pb.ImportItem(request_id="same-id", claim=claim_input())]
        ),
        metadata=md(intruder),
    )
    assert imported.results[0].claim_id == theirs.claim.claim_id
    file_import = await stub.Import837(
        pb.Import837Request(
            request_id="f", client_id="c", x12=(DATA / "ed_group_batch.837").read_text()
        ),
        metadata=md(intruder),
    )
    assert cid not in {r.claim_id for r in getattr(file_import, "import").results}

    async def owner_listed():
        page = await stub.ListClaims(pb.ListClaimsRequest(), metadata=md(owner))
        return cid in {c.claim_id for c in page.claims}

    await eventually(owner_listed)
    page = await stub.ListClaims(pb.ListClaimsRequest(page_size=1000), metadata=md(intruder))
    assert cid not in {c.claim_id for c in page.claims}
    assert mine.claim.claim_id not in {c.claim_id for c in page.claims}
    queue = await stub.ClaimsWorkQueue(pb.ClaimsWorkQueueRequest(), metadata=md(intruder))
    assert cid not in {i.claim_id for i in queue.items}
    owner_view = await stub.GetClaim(pb.GetClaimRequest(claim_id=cid), metadata=md(owner))
    assert owner_view.claim.version == 1  # nothing the intruder did touched it



async def test_payload_limits_and_unknown_enums_are_invalid(stub, monkeypatch):
    from services.claims.adapters import grpc_api

    t = tenant()
    monkeypatch.setattr(grpc_api, "MAX_IMPORT_ITEMS", 3)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ImportClaims(
            pb.ImportClaimsRequest(
                request_id="big", items=[pb.ImportItem(claim=claim_input())] * 4
            ),
            metadata=md(t),
        )
    assert field_violations(err.value) == {"items"}
    monkeypatch.setattr(grpc_api, "MAX_X12_BYTES", 100)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Import837(
            pb.Import837Request(
                request_id="big", client_id="c", x12=(DATA / "ed_group_batch.837").read_text()
            ),
            metadata=md(t),
        )
    assert field_violations(err.value) == {"x12"}
    odd = claim_input()
    odd.plan.funding = 99
    odd.claim_type = 0
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RegisterClaim(
            pb.RegisterClaimRequest(request_id="odd", claim=odd), metadata=md(t)
        )
    assert field_violations(err.value) == {"claim.claim_type", "claim.plan.funding"}
    # Nothing was stored by the refused calls: the same request ids now create claims.
    again = await stub.RegisterClaim(
        pb.RegisterClaimRequest(request_id="odd", claim=claim_input()), metadata=md(t)
    )
    assert again.created
    bulk = await stub.ImportClaims(
        pb.ImportClaimsRequest(request_id="big", items=[
            pb.ImportItem(claim=claim_input(patient_control_number="BIG-1"))]),
        metadata=md(t),
    )
    assert bulk.created_count == 1




async def test_writes_need_a_negotiator_or_admin_and_the_export_finance_too(stub):
    """The application checks the role table's claims lines (services/common/auth.py)."""
    t = tenant()
    claim = await register(stub, t)
    auditor = call_metadata(t, roles=("auditor",))
    finance = call_metadata(t, roles=("finance",))
    for metadata in (auditor, finance):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.RegisterClaim(pb.RegisterClaimRequest(
                request_id=uuid.uuid4().hex, claim=claim_input()), metadata=metadata)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.TriageClaim(pb.TriageClaimRequest(
                request_id=uuid.uuid4().hex, claim_id=claim.claim_id), metadata=metadata)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Reads are for every role; the export for finance too (here refused as not clean, which
    # is checked after the role).
    got = await stub.GetClaim(pb.GetClaimRequest(claim_id=claim.claim_id), metadata=auditor)
    assert got.claim.version == 1
    for metadata, code in ((auditor, grpc.StatusCode.PERMISSION_DENIED),
                           (finance, grpc.StatusCode.FAILED_PRECONDITION)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Export837(pb.Export837Request(
                claim_id=claim.claim_id, submitter_contact_name="A", submitter_contact_phone="1"),
                metadata=metadata)
        assert err.value.code() == code
