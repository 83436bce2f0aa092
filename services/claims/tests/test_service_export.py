"""Issue 22 through the claims service's gRPC API: 837 exports a clearinghouse accepts (pyx12,
unique control numbers under concurrency, the round trip of a 7/8) and corrections without
dead ends (the payer's claim number, superseded originals)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import grpc
import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from services.claims.adapters import mapping
from services.claims.tests.factories import emergency_claim, institutional_claim
from services.claims.tests.service_calls import denial, md, tenant, unique_pcn
from services.x12.tests.pyx12_validation import pyx12_errors
from tests.support.plugin import eventually, field_violations

pytestmark = pytest.mark.asyncio(loop_scope="session")

FACTORIES = {"professional": emergency_claim, "institutional": institutional_claim}


def envelope_numbers(x12: str) -> tuple[str, str, str]:
    segments = [s.strip().split("*") for s in x12.split("~") if s.strip()]
    by_tag = {s[0]: s for s in segments}
    return by_tag["ISA"][13], by_tag["GS"][6], by_tag["ST"][2]


async def registered(stub, t: str, kind: str = "professional",
                     pcn: str = "PCN-2026-0001") -> pb.Claim:
    claim = (
        await stub.RegisterClaim(
            pb.RegisterClaimRequest(
                request_id=uuid.uuid4().hex,
                claim=mapping.claim_input(FACTORIES[kind](patient_control_number=pcn))
            ),
            metadata=md(t),
        )
    ).claim
    report = await stub.CheckCleanClaim(
        pb.CheckCleanClaimRequest(request_id=uuid.uuid4().hex, claim_id=claim.claim_id),
        metadata=md(t),
    )
    assert report.report.clean, report.report
    return claim


async def export(stub, t: str, claim_id: str, sender: str = "") -> pb.Export837Response:
    return await stub.Export837(
        pb.Export837Request(
            claim_id=claim_id,
            sender_id=sender,
            submitter_contact_name="Billing",
            submitter_contact_phone="2155550100",
        ),
        metadata=md(t),
    )


async def correct(stub, t, original_id, frequency, adjudication=None, **fields):
    if adjudication is not None:
        await stub.RecordAdjudication(
            pb.RecordAdjudicationRequest(
                request_id=uuid.uuid4().hex, claim_id=original_id, adjudication=adjudication
            ),
            metadata=md(t),
        )
    return await stub.SubmitCorrectedClaim(
        pb.SubmitCorrectedClaimRequest(
            request_id=uuid.uuid4().hex,
            original_claim_id=original_id,
            frequency=frequency,
            reason="billed in error",
            **fields,
        ),
        metadata=md(t),
    )


@pytest.mark.parametrize("kind", sorted(FACTORIES))
async def test_every_exported_file_passes_pyx12_and_a_7_or_8_round_trips(stub, kind):
    t = tenant()
    original = await registered(stub, t, kind)
    exported = await export(stub, t, original.claim_id)
    assert pyx12_errors(exported.x12) == []
    replacement = await correct(
        stub, t, original.claim_id, pb.FREQUENCY_CODE_REPLACEMENT, denial(),
        corrected=mapping.claim_input(FACTORIES[kind]()),
    )
    # Another claim (the first stands, replaced: the same claim again would be a duplicate).
    second = await registered(stub, t, kind, unique_pcn())
    void = await correct(stub, t, second.claim_id, pb.FREQUENCY_CODE_VOID, denial())
    for correction in (replacement.corrected, void.corrected):
        await stub.CheckCleanClaim(
            pb.CheckCleanClaimRequest(request_id=uuid.uuid4().hex, claim_id=correction.claim_id),
            metadata=md(t),
        )
        exported = await export(stub, t, correction.claim_id)
        assert pyx12_errors(exported.x12) == [], correction.frequency
        assert "REF*F8*ICN-778899~" in exported.x12
        # Import837 elsewhere: the same claim, still a 7/8 naming the payer's original number.
        other = tenant()
        imported = await stub.Import837(
            pb.Import837Request(
                request_id="rt",
                client_id=correction.input.client_id,
                x12=exported.x12,
                plan=correction.input.plan,
                facility=correction.input.facility,
            ),
            metadata=md(other),
        )
        (result,) = getattr(imported, "import").results
        again = (
            await stub.GetClaim(pb.GetClaimRequest(claim_id=result.claim_id), metadata=md(other))
        ).claim
        assert again.input == correction.input  # the 837I keeps bill type 131
        assert again.frequency == correction.frequency
        await stub.CheckCleanClaim(
            pb.CheckCleanClaimRequest(request_id="c", claim_id=again.claim_id),
            metadata=md(other),
        )
        re_exported = await export(stub, other, again.claim_id)
        assert "REF*F8*ICN-778899~" in re_exported.x12


async def test_concurrent_exports_never_share_a_control_number(stub):
    t = tenant()
    claims = [await registered(stub, t, pcn=unique_pcn()) for _ in range(4)]
    exports = await asyncio.gather(
        *(export(stub, t, claims[i % 4].claim_id, "CLINICA") for i in range(40))
    )
    numbers = [envelope_numbers(e.x12) for e in exports]
    for position in range(3):  # ISA13, GS06, ST02 each unique
        assert len({n[position] for n in numbers}) == len(numbers)
    assert sorted(int(n[0]) for n in numbers) == list(range(1, 41))
    assert pyx12_errors(exports[0].x12) == []
    # Another sender counts on its own; the counter survives (it is a table, not memory) and
    # is the sender's: another tenant exporting under the same sender id continues it.
    (other,) = [await export(stub, t, claims[0].claim_id, "CLINICB")]
    assert envelope_numbers(other.x12)[0] == "000000001"
    t2 = tenant()
    elsewhere = await registered(stub, t2)
    later = await export(stub, t2, elsewhere.claim_id, "CLINICA")
    assert envelope_numbers(later.x12)[0] == "000000041"


async def test_a_correction_needs_the_payers_claim_number(stub):
    t = tenant()
    original = await registered(stub, t)
    without_icn = denial()
    without_icn.payer_claim_control_number = ""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(
            stub, t, original.claim_id, pb.FREQUENCY_CODE_REPLACEMENT, without_icn,
            corrected=mapping.claim_input(emergency_claim()),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {"original_payer_claim_control_number"}
    unchanged = (
        await stub.GetClaim(pb.GetClaimRequest(claim_id=original.claim_id), metadata=md(t))
    ).claim
    assert unchanged.status != pb.CLAIM_STATUS_REPLACED and not unchanged.replaced_by_claim_id
    # Stated with the correction, it is what the replacement's 837 names.
    fixed = await correct(
        stub, t, original.claim_id, pb.FREQUENCY_CODE_REPLACEMENT,
        corrected=mapping.claim_input(emergency_claim()),
        original_payer_claim_control_number="ICN-FROM-EOB",
    )
    await stub.CheckCleanClaim(
        pb.CheckCleanClaimRequest(request_id="c", claim_id=fixed.corrected.claim_id),
        metadata=md(t),
    )
    exported = await export(stub, t, fixed.corrected.claim_id)
    assert "REF*F8*ICN-FROM-EOB~" in exported.x12
    assert pyx12_errors(exported.x12) == []


@pytest.mark.parametrize("frequency", [pb.FREQUENCY_CODE_REPLACEMENT, pb.FREQUENCY_CODE_VOID])
async def test_a_superseded_original_is_not_exported_again(stub, frequency):
    t = tenant()
    original = await registered(stub, t)
    await export(stub, t, original.claim_id)
    extra = {"corrected": mapping.claim_input(emergency_claim())}
    await correct(
        stub, t, original.claim_id, frequency, denial(),
        **(extra if frequency == pb.FREQUENCY_CODE_REPLACEMENT else {}),
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await export(stub, t, original.claim_id)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "X12-SUPERSEDED" in err.value.details()


async def test_an_incomplete_claim_is_completed_then_exported(stub):
    t = tenant()
    data = emergency_claim()
    incomplete = replace(data, provider=replace(data.provider, tin=""))
    claim = (
        await stub.RegisterClaim(
            pb.RegisterClaimRequest(request_id="r", claim=mapping.claim_input(incomplete)),
            metadata=md(t),
        )
    ).claim
    checked = await stub.CheckCleanClaim(
        pb.CheckCleanClaimRequest(request_id="c1", claim_id=claim.claim_id), metadata=md(t)
    )
    assert not checked.report.clean

    async def queued():
        items = (await stub.ClaimsWorkQueue(pb.ClaimsWorkQueueRequest(), metadata=md(t))).items
        return [i for i in items if i.claim_id == claim.claim_id]

    assert await eventually(queued)  # its blocking findings
    # A correction is not the way (the payer never saw it) ...
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(
            stub, t, claim.claim_id, pb.FREQUENCY_CODE_REPLACEMENT,
            corrected=mapping.claim_input(data),
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "UpdateClaim" in err.value.details()
    # ... completing it is.
    update = pb.UpdateClaimRequest(
        request_id="u1", claim_id=claim.claim_id, claim=mapping.claim_input(data)
    )
    updated = (await stub.UpdateClaim(update, metadata=md(t))).claim
    assert updated.input.provider.tin == "123456789"
    assert updated.status == pb.CLAIM_STATUS_REGISTERED and not updated.clean_claim.rule_set_version
    assert (await stub.UpdateClaim(update, metadata=md(t))).claim.version == updated.version
    checked = await stub.CheckCleanClaim(
        pb.CheckCleanClaimRequest(request_id="c2", claim_id=claim.claim_id), metadata=md(t)
    )
    assert checked.report.clean
    exported = await export(stub, t, claim.claim_id)
    assert "REF*EI*123456789~" in exported.x12 and pyx12_errors(exported.x12) == []
    assert await eventually(lambda: _absent(queued))
    bad = pb.UpdateClaimRequest(
        request_id="u2", claim_id=claim.claim_id, claim=mapping.claim_input(data)
    )
    bad.claim.lines[0].units = 0
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.UpdateClaim(bad, metadata=md(t))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {"claim.lines[0].units"}


async def _absent(probe) -> bool:
    return not await probe()


async def test_an_incomplete_claim_is_withdrawn_and_leaves_the_queue(stub):
    t = tenant()
    data = emergency_claim()
    claim = (
        await stub.RegisterClaim(
            pb.RegisterClaimRequest(
                request_id="r",
                claim=mapping.claim_input(replace(data, provider=replace(data.provider, tin=""))),
            ),
            metadata=md(t),
        )
    ).claim
    await stub.CheckCleanClaim(
        pb.CheckCleanClaimRequest(request_id="c", claim_id=claim.claim_id), metadata=md(t)
    )

    async def queued():
        items = (await stub.ClaimsWorkQueue(pb.ClaimsWorkQueueRequest(), metadata=md(t))).items
        return [i for i in items if i.claim_id == claim.claim_id]

    assert await eventually(queued)  # blocking findings
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.WithdrawClaim(
            pb.WithdrawClaimRequest(request_id="w0", claim_id=claim.claim_id), metadata=md(t)
        )
    assert field_violations(err.value) == {"reason"}
    withdrawn = await stub.WithdrawClaim(
        pb.WithdrawClaimRequest(
            request_id="w", claim_id=claim.claim_id, reason="registered twice"
        ),
        metadata=md(t),
    )
    assert withdrawn.claim.status == pb.CLAIM_STATUS_WITHDRAWN
    assert await eventually(lambda: _absent(queued))
    for call in (
        stub.UpdateClaim(
            pb.UpdateClaimRequest(
                request_id="u", claim_id=claim.claim_id, claim=mapping.claim_input(data)
            ),
            metadata=md(t),
        ),
        export(stub, t, claim.claim_id),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "withdrawn" in err.value.details()


async def test_an_adjudicated_claim_is_corrected_not_updated_or_withdrawn(stub):
    t = tenant()
    claim = await registered(stub, t)
    await stub.RecordAdjudication(
        pb.RecordAdjudicationRequest(request_id="a", claim_id=claim.claim_id,
                                     adjudication=denial()),
        metadata=md(t),
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.WithdrawClaim(
            pb.WithdrawClaimRequest(request_id="w", claim_id=claim.claim_id, reason="x"),
            metadata=md(t),
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "replacement (7) or void (8)" in err.value.details()


async def test_a_re_imported_correction_answers_itself_and_a_second_one_is_refused(stub):
    """The tenant imports its own exported 7: the original is already replaced by that very
    claim, so the import answers it; a different 7 of the same original is refused (correct
    the replacement instead), and a 7 whose original the tenant does not hold stands alone."""
    t = tenant()
    original = await registered(stub, t)
    replacement = (await correct(
        stub, t, original.claim_id, pb.FREQUENCY_CODE_REPLACEMENT, denial(),
        corrected=mapping.claim_input(emergency_claim()),
    )).corrected
    await stub.CheckCleanClaim(
        pb.CheckCleanClaimRequest(request_id="c", claim_id=replacement.claim_id), metadata=md(t))
    exported = (await export(stub, t, replacement.claim_id)).x12

    async def import_file(x12: str, who: str = t) -> pb.ImportResult:
        reply = await stub.Import837(pb.Import837Request(
            request_id=uuid.uuid4().hex, client_id=original.input.client_id, x12=x12,
            plan=original.input.plan, facility=original.input.facility), metadata=md(who))
        (result,) = getattr(reply, "import").results
        return result

    async def linked() -> pb.ImportResult | None:  # the read model knows the original's PCN
        result = await import_file(exported)
        return result if result.claim_id == replacement.claim_id else None

    again = await eventually(linked, timeout=60)
    assert not again.created
    other = exported.replace("HC:99285:25*1850*", "HC:99285:25*1860*").replace(
        "CLM*PCN-2026-0001*2490*", "CLM*PCN-2026-0001*2500*")
    assert other != exported
    refused = await import_file(other)
    assert {e.field for e in refused.errors} == {"items[0].claim.frequency"}
    assert replacement.claim_id in refused.errors[0].description
    alone = await import_file(exported, tenant())
    assert alone.created and not alone.errors
