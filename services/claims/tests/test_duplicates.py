"""Duplicate claims (issue 19 item 4): a claim matching an open claim of the same client on
provider, patient control number, patient and service dates is refused as ALREADY_EXISTS naming
the open claim, in RegisterClaim, ImportClaims and Import837 alike, race-safe; a retry of the
same request id still answers its original result; corrections, withdrawn and voided claims."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import grpc
import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.common.v1 import import_job_pb2 as jobs_pb
from services.claims.tests.service_calls import (
    DATA,
    claim_input,
    denial,
    md,
    register,
    tenant,
)
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")
PCN = "PCN-2026-0001"  # the factory claim's (claim_input())


async def _refused(stub, t: str, request_id: str, claim: pb.ClaimInput) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RegisterClaim(
            pb.RegisterClaimRequest(request_id=request_id, claim=claim), metadata=md(t))
    return err.value


async def test_the_same_claim_under_another_request_id_is_refused_naming_the_open_one(stub):
    t = tenant()
    first = await stub.RegisterClaim(
        pb.RegisterClaimRequest(request_id="dup-a", claim=claim_input()), metadata=md(t))
    error = await _refused(stub, t, "dup-b", claim_input())
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert first.claim.claim_id in error.details()
    # The plain patient control number is not echoed (a keyed token was matched).
    assert "PCN-2026-0001" not in error.details()
    # A retry of the first request still answers the original result, not ALREADY_EXISTS.
    retry = await stub.RegisterClaim(
        pb.RegisterClaimRequest(request_id="dup-a", claim=claim_input()), metadata=md(t))
    assert (retry.claim.claim_id, retry.created) == (first.claim.claim_id, False)
    # The refused one stored nothing: only one claim in the tenant.
    listed = await stub.ListClaims(pb.ListClaimsRequest(), metadata=md(t))
    assert [c.claim_id for c in listed.claims] in ([], [first.claim.claim_id])
    # Lower case and blanks around the number are the same number.
    error = await _refused(stub, t, "dup-c", claim_input(patient_control_number=" pcn-2026-0001"))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_what_differs_makes_another_claim_and_tenants_do_not_see_each_other(stub):
    t, other = tenant(), tenant()
    await register(stub, t, patient_control_number=PCN)
    # Another tenant's identical claim is its own (and learns nothing of the first).
    await register(stub, other, patient_control_number=PCN)
    for changed in (
        {"patient_control_number": "PCN-2026-0002"},
        {"client_id": "another-client"},
    ):
        await register(stub, t, **{"patient_control_number": PCN, **changed})
    later = claim_input()
    for line in later.lines:
        line.service_date = "2026-10-04"
    await stub.RegisterClaim(pb.RegisterClaimRequest(request_id="later", claim=later),
                             metadata=md(t))
    patient = claim_input()
    patient.patient.member_id = "W999999999"
    await stub.RegisterClaim(pb.RegisterClaimRequest(request_id="other-patient", claim=patient),
                             metadata=md(t))


async def test_concurrent_identical_submissions_exactly_one_wins(stub):
    t = tenant()

    async def submit(i: int) -> pb.RegisterClaimResponse | grpc.aio.AioRpcError:
        try:
            return await stub.RegisterClaim(
                pb.RegisterClaimRequest(request_id=f"race-{i}", claim=claim_input()),
                metadata=md(t))
        except grpc.aio.AioRpcError as exc:
            return exc

    answers = await asyncio.gather(*(submit(i) for i in range(12)))
    won = [a for a in answers if isinstance(a, pb.RegisterClaimResponse)]
    lost = [a for a in answers if isinstance(a, grpc.aio.AioRpcError)]
    assert len(won) == 1, answers
    assert {e.code() for e in lost} == {grpc.StatusCode.ALREADY_EXISTS}
    assert all(won[0].claim.claim_id in e.details() for e in lost)


async def test_a_withdrawn_claim_is_not_open_and_its_successor_is(stub):
    t = tenant()
    first = await register(stub, t, request_id="w-1", patient_control_number=PCN)
    await stub.WithdrawClaim(pb.WithdrawClaimRequest(
        request_id="w-1-out", claim_id=first.claim_id, reason="sent twice"), metadata=md(t))
    second = await register(stub, t, request_id="w-2", patient_control_number=PCN)
    assert second.claim_id != first.claim_id
    error = await _refused(stub, t, "w-3", claim_input())
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert second.claim_id in error.details() and first.claim_id not in error.details()
    # Retrying the second after its key changed hands is still a retry.
    again = await stub.RegisterClaim(
        pb.RegisterClaimRequest(request_id="w-2", claim=claim_input()), metadata=md(t))
    assert (again.claim.claim_id, again.created) == (second.claim_id, False)


async def test_corrections_are_not_duplicates_a_replacement_stands_for_its_original(stub):
    t = tenant()
    claim = await register(stub, t, patient_control_number=PCN)
    await stub.RecordAdjudication(pb.RecordAdjudicationRequest(
        request_id="adj", claim_id=claim.claim_id, adjudication=denial()), metadata=md(t))
    replaced = await stub.SubmitCorrectedClaim(pb.SubmitCorrectedClaimRequest(
        request_id="fix", original_claim_id=claim.claim_id,
        frequency=pb.FREQUENCY_CODE_REPLACEMENT, corrected=claim_input(), reason="resend"),
        metadata=md(t))
    replacement = replaced.corrected.claim_id
    # A new original of the same claim duplicates the replacement, which stands now.
    error = await _refused(stub, t, "again", claim_input())
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert replacement in error.details()
    # Voided: nothing stands any more, the claim may be sent anew.
    await stub.RecordAdjudication(pb.RecordAdjudicationRequest(
        request_id="adj2", claim_id=replacement, adjudication=denial()), metadata=md(t))
    await stub.SubmitCorrectedClaim(pb.SubmitCorrectedClaimRequest(
        request_id="void", original_claim_id=replacement, frequency=pb.FREQUENCY_CODE_VOID,
        reason="billed in error"), metadata=md(t))
    anew = await register(stub, t, request_id="anew", patient_control_number=PCN)
    assert anew.claim_id not in (claim.claim_id, replacement)


async def test_updating_a_claim_into_an_open_claims_key_is_refused(stub):
    t = tenant()
    first = await register(stub, t, patient_control_number=PCN)
    second = await register(stub, t, patient_control_number="PCN-2026-0002")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.UpdateClaim(pb.UpdateClaimRequest(
            request_id="u", claim_id=second.claim_id, claim=claim_input()), metadata=md(t))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert first.claim_id in err.value.details()
    # Its old key was left: a claim with the second's former number is a duplicate of it still.
    error = await _refused(stub, t, "n2", claim_input(patient_control_number="PCN-2026-0002"))
    assert second.claim_id in error.details()


async def test_bulk_import_reports_duplicates_per_claim(stub):
    t = tenant()
    stored = await register(stub, t, patient_control_number="BULK-STORED")
    items = [pb.ImportItem(claim=claim_input(patient_control_number=f"BULK-{i}"))
             for i in range(5)]
    items.append(pb.ImportItem(claim=claim_input(patient_control_number="BULK-1")))  # in file
    items.append(pb.ImportItem(claim=claim_input(patient_control_number="BULK-STORED")))
    request = pb.ImportClaimsRequest(request_id=f"bulk-{uuid.uuid4().hex}", items=items)
    result = await stub.ImportClaims(request, metadata=md(t))
    assert (result.created_count, result.existing_count, result.rejected_count) == (5, 0, 2)
    in_file, of_stored = result.results[5], result.results[6]
    assert [e.field for e in in_file.errors] == ["items[5].claim"]
    assert "ALREADY_EXISTS" in in_file.errors[0].description
    assert result.results[1].claim_id in in_file.errors[0].description
    assert stored.claim_id in of_stored.errors[0].description
    # The retry of the whole import answers the same: existing claims, the same two findings.
    retry = await stub.ImportClaims(request, metadata=md(t))
    assert (retry.created_count, retry.existing_count, retry.rejected_count) == (0, 5, 2)
    # The same claims under another import request id: every one a duplicate, none stored.
    again = await stub.ImportClaims(
        pb.ImportClaimsRequest(request_id=f"bulk-{uuid.uuid4().hex}", items=items[:5]),
        metadata=md(t))
    assert (again.created_count, again.rejected_count) == (0, 5)
    assert [result.results[i].claim_id in again.results[i].errors[0].description
            for i in range(5)] == [True] * 5


async def test_an_837_sent_twice_reports_each_claim_as_a_duplicate_not_the_file(stub):
    t = tenant()

    def file(request_id: str) -> pb.Import837Request:
        return pb.Import837Request(
            request_id=request_id,
            client_id="client-ed",
            x12=(DATA / "ed_group_batch.837").read_text(),
            plan=pb.Plan(funding=pb.PLAN_FUNDING_SELF_FUNDED_ERISA, situs_state="PA"),
            facility=pb.Facility(network_status=pb.NETWORK_STATUS_IN_NETWORK, state="PA"),
        )

    first = getattr(await stub.Import837(file("837-a"), metadata=md(t)), "import")
    assert (first.created_count, first.rejected_count) == (2, 1)
    second = getattr(await stub.Import837(file("837-b"), metadata=md(t)), "import")
    assert (second.created_count, second.rejected_count) == (0, 3)
    for i in (0, 1):
        assert first.results[i].claim_id in second.results[i].errors[0].description
    # The resend of the first file itself is a retry.
    retry = getattr(await stub.Import837(file("837-a"), metadata=md(t)), "import")
    assert (retry.created_count, retry.existing_count) == (0, 2)


async def test_an_import_job_reports_duplicates_as_findings_of_those_claims(stub):
    t = tenant()
    content = (DATA / "ed_group_batch.837").read_bytes()
    facts = {"plan": pb.Plan(funding=pb.PLAN_FUNDING_SELF_FUNDED_ERISA, situs_state="PA"),
             "facility": pb.Facility(network_status=pb.NETWORK_STATUS_IN_NETWORK, state="PA")}
    first = getattr(await stub.Import837(pb.Import837Request(
        request_id="837-first", client_id="client-ed", x12=content.decode(), **facts),
        metadata=md(t)), "import")
    assert first.created_count == 2
    started = await stub.StartImport(pb.StartImportRequest(
        request_id="job-start", file_sha256=hashlib.sha256(content).hexdigest(),
        total_bytes=len(content), file_name="again.837", client_id="client-ed", **facts),
        metadata=md(t))
    job_id = started.job.job_id
    await stub.AppendImportChunk(pb.AppendImportChunkRequest(
        request_id="job-chunk", job_id=job_id, sequence=0, data=content), metadata=md(t))
    await stub.FinishImportUpload(pb.FinishImportUploadRequest(
        request_id="job-finish", job_id=job_id), metadata=md(t))

    async def ended() -> bool:
        job = (await stub.GetImportJob(pb.GetImportJobRequest(job_id=job_id),
                                       metadata=md(t))).job
        return job.state in (jobs_pb.IMPORT_JOB_STATE_SUCCEEDED, jobs_pb.IMPORT_JOB_STATE_FAILED)

    await eventually(ended, timeout=120)
    job = (await stub.GetImportJob(pb.GetImportJobRequest(job_id=job_id), metadata=md(t))).job
    assert job.state == jobs_pb.IMPORT_JOB_STATE_SUCCEEDED, job.error
    assert (job.progress.items_stored, job.progress.items_rejected) == (0, 3)
    for i in (0, 1):
        found = [f.message for f in job.findings if f.position == i]
        assert any("ALREADY_EXISTS" in m and first.results[i].claim_id in m for m in found), found


async def test_claims_stored_before_duplicate_detection_get_their_keys_reserved(runtime, stub):
    from services.claims.adapters.duplicate_backfill import MARKER, reserve_existing_claims
    from services.common.recorder import REQUESTS_TABLE

    t = tenant()
    old = await register(stub, t, request_id="legacy", patient_control_number="LEGACY-1")
    withdrawn = await register(stub, t, request_id="legacy-w", patient_control_number="LEGACY-2")
    await stub.WithdrawClaim(pb.WithdrawClaimRequest(
        request_id="legacy-w-out", claim_id=withdrawn.claim_id, reason="x"), metadata=md(t))
    # As stored before reservations existed: no reservation rows, no marker.
    table = f'"{runtime.settings.schema}"."{REQUESTS_TABLE}"'
    pool = runtime.infra.pool
    await pool.execute(f"DELETE FROM {table} WHERE tenant_id = $1 AND request_id LIKE "
                       "'duplicate-key %'", t)
    await pool.execute(f"DELETE FROM {table} WHERE tenant_id = $1 AND request_id = $2",
                       MARKER[0], MARKER[1])
    app = runtime.parts.app
    assert await asyncio.to_thread(reserve_existing_claims, app) >= 1
    error = await _refused(stub, t, "legacy-again", claim_input(patient_control_number="LEGACY-1"))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS and old.claim_id in error.details()
    # The withdrawn one reserved nothing; done once: a second run reserves nothing.
    await register(stub, t, request_id="legacy-2-new", patient_control_number="LEGACY-2")
    assert await asyncio.to_thread(reserve_existing_claims, app) == 0
