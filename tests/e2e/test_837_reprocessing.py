"""Issue 22 items 1 and 3 through the gateway, as a billing clerk works: every exported 837 passes
pyx12 with zero errors in the adopted versions and carries its own control numbers; export →
Import837 gives back the same claim for originals, replacements and voids of 837P and 837I, and a
re-imported frequency 7/8 links to its original (REF*F8 + PCN) instead of becoming a new original;
corrections have no dead ends (a replacement needs the payer's claim number, a superseded original
is not exported again, an incomplete claim is completed or withdrawn)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import grpc
import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from services.claims.adapters import mapping
from services.claims.domain import Patient
from services.claims.tests.factories import emergency_claim, institutional_claim
from services.x12.tests.pyx12_validation import pyx12_errors
from tests.e2e.journey import Vendor, rid
from tests.support.plugin import eventually, field_violations

pytestmark = pytest.mark.asyncio(loop_scope="session")

GUIDES = {"professional": "005010X222A1", "institutional": "005010X223A2"}


def claim_input(kind: str, pcn: str) -> pb.ClaimInput:
    if kind == "institutional":
        return mapping.claim_input(institutional_claim(patient_control_number=pcn))
    # DMG03 "U": the subscriber's gender not stated to the payer (valid in X222A1).
    data = emergency_claim(patient_control_number=pcn)
    return mapping.claim_input(replace(data, patient=replace(data.patient, gender="U")))


async def register(vendor: Vendor, kind: str, pcn: str) -> pb.Claim:
    claim = (await vendor.claims.RegisterClaim(pb.RegisterClaimRequest(
        request_id=rid(), claim=claim_input(kind, pcn)), metadata=vendor.md("negotiator"),
        timeout=15)).claim
    await clean(vendor, claim.claim_id)
    return claim


async def clean(vendor: Vendor, claim_id: str) -> None:
    report = (await vendor.claims.CheckCleanClaim(pb.CheckCleanClaimRequest(
        request_id=rid(), claim_id=claim_id), metadata=vendor.md("negotiator"),
        timeout=15)).report
    assert report.clean, report


async def get(vendor: Vendor, claim_id: str) -> pb.Claim:
    return (await vendor.claims.GetClaim(pb.GetClaimRequest(claim_id=claim_id),
                                         metadata=vendor.md("negotiator"), timeout=15)).claim


async def export(vendor: Vendor, claim_id: str, kind: str) -> str:
    reply = await vendor.claims.Export837(pb.Export837Request(
        claim_id=claim_id, sender_id="OONLEDGER", receiver_id="CLEARINGHOUSE",
        submitter_contact_name="Billing", submitter_contact_phone="2155550100"),
        metadata=vendor.md("finance"), timeout=30)
    assert reply.implementation_guide == GUIDES[kind]
    assert pyx12_errors(reply.x12) == []
    segments = [s.strip() for s in reply.x12.split("~") if s.strip()]
    assert any(s.startswith("NM1*77*") for s in segments)  # the service facility (2310C/E)
    if kind == "professional":  # the emergency indicator on every line (SV109)
        assert all(s.split("*")[9] == "Y" for s in segments if s.startswith("SV1*"))
        assert any(s.startswith("DMG*D8*") and s.endswith("*U") for s in segments)
    return reply.x12


async def import_837(vendor: Vendor, x12: str, like: pb.Claim) -> Any:
    reply = await vendor.claims.Import837(pb.Import837Request(
        request_id=rid(), client_id=like.input.client_id, x12=x12, plan=like.input.plan,
        facility=like.input.facility), metadata=vendor.md("negotiator"), timeout=30)
    (result,) = getattr(reply, "import").results
    assert not result.errors, (result.errors, reply.findings)
    return result


async def adjudicate(vendor: Vendor, claim_id: str, icn: str) -> None:
    await vendor.claims.RecordAdjudication(pb.RecordAdjudicationRequest(
        request_id=rid(), claim_id=claim_id, adjudication=pb.Adjudication(
            received_date="2026-10-30", billed_cents=0, denied=True, carc_codes=["16"],
            rarc_codes=["N290"], payer_claim_control_number=icn)),
        metadata=vendor.md("negotiator"), timeout=15)


async def correct(vendor: Vendor, original: pb.Claim, frequency: int, **fields: Any) -> pb.Claim:
    reply = await vendor.claims.SubmitCorrectedClaim(pb.SubmitCorrectedClaimRequest(
        request_id=rid(), original_claim_id=original.claim_id, frequency=frequency,
        reason="billed in error", **fields), metadata=vendor.md("negotiator"), timeout=15)
    await clean(vendor, reply.corrected.claim_id)
    return reply.corrected


def envelope(x12: str) -> tuple[str, str, str]:
    by_tag = {s.strip().split("*")[0]: s.strip().split("*") for s in x12.split("~") if s.strip()}
    return by_tag["ISA"][13], by_tag["GS"][6], by_tag["ST"][2]


@pytest.mark.parametrize("kind", sorted(GUIDES))
async def test_export_and_import_give_back_the_same_claim_and_a_7_or_8_links_to_its_original(
        stack, channel, kind):
    """The billing office (vendor) exports; the same files are imported by a second tenant that
    knows the originals and their payer claim numbers (a clearinghouse's copy of the book)."""
    stack.require("claims")
    office, book = await Vendor.enrol(stack, channel), await Vendor.enrol(stack, channel)
    exports: list[str] = []
    for frequency in (pb.FREQUENCY_CODE_REPLACEMENT, pb.FREQUENCY_CODE_VOID):
        pcn, icn = f"RT{uuid.uuid4().hex[:10].upper()}", f"ICN{uuid.uuid4().hex[:9].upper()}"
        original = await register(office, kind, pcn)
        exports.append(await export(office, original.claim_id, kind))
        copied = await import_837(book, exports[-1], original)
        copy = await get(book, copied.claim_id)
        assert copy.input == original.input and copy.frequency == pb.FREQUENCY_CODE_ORIGINAL
        for vendor, claim_id in ((office, original.claim_id), (book, copy.claim_id)):
            await adjudicate(vendor, claim_id, icn)

        corrected_input = claim_input(kind, pcn)
        corrected_input.lines[0].billed_cents += 1_000
        fields = ({"corrected": corrected_input} if frequency == pb.FREQUENCY_CODE_REPLACEMENT
                  else {})
        correction = await correct(office, original, frequency, **fields)
        exports.append(await export(office, correction.claim_id, kind))
        assert f"REF*F8*{icn}~" in exports[-1]
        # The replaced/voided original is not sent again as an original (X12-SUPERSEDED).
        with pytest.raises(grpc.aio.AioRpcError) as superseded:
            await export(office, original.claim_id, kind)
        assert superseded.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        linked = await import_837(book, exports[-1], correction)
        again = await get(book, linked.claim_id)
        assert again.input == correction.input  # the 837I keeps its bill type (131, not 137)
        assert again.frequency == frequency
        assert again.original_claim_id == copy.claim_id  # a correction of it, not a new original
        superseded_copy = await get(book, copy.claim_id)
        assert superseded_copy.status == (pb.CLAIM_STATUS_REPLACED
                                          if frequency == pb.FREQUENCY_CODE_REPLACEMENT
                                          else pb.CLAIM_STATUS_VOIDED)
        assert superseded_copy.replaced_by_claim_id == again.claim_id
        # Importing the same file again answers the same correction.
        assert (await import_837(book, exports[-1], correction)).claim_id == again.claim_id
    # Every interchange, group and transaction has its own control number.
    assert len({envelope(x12)[0] for x12 in exports}) == len(exports)
    assert len({envelope(x12)[1] for x12 in exports}) == len(exports)


async def test_a_replacement_needs_the_payers_claim_number_and_leaves_no_dead_end(stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    original = await register(vendor, "professional", f"RT{uuid.uuid4().hex[:10].upper()}")
    await vendor.claims.RecordAdjudication(pb.RecordAdjudicationRequest(
        request_id=rid(), claim_id=original.claim_id, adjudication=pb.Adjudication(
            received_date="2026-10-30", billed_cents=0, denied=True, carc_codes=["16"])),
        metadata=vendor.md("negotiator"), timeout=15)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await correct(vendor, original, pb.FREQUENCY_CODE_REPLACEMENT,
                      corrected=original.input)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "original_payer_claim_control_number" in field_violations(refused.value)
    # Nothing was marked: the original can still be exported and corrected with the number.
    assert (await get(vendor, original.claim_id)).status == pb.CLAIM_STATUS_DENIED
    correction = await correct(vendor, original, pb.FREQUENCY_CODE_REPLACEMENT,
                               corrected=original.input,
                               original_payer_claim_control_number="ICN-STATED-1")
    assert "REF*F8*ICN-STATED-1~" in await export(vendor, correction.claim_id, "professional")


async def test_an_incomplete_claim_is_completed_or_withdrawn(stack, channel):
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    pcns = [f"IN{uuid.uuid4().hex[:10].upper()}" for _ in range(2)]
    incomplete = []
    for pcn in pcns:
        data = emergency_claim(patient_control_number=pcn)
        data = replace(data, patient=Patient(data.patient.first_name, data.patient.last_name,
                                             data.patient.birth_date, "", "F"))
        claim = (await vendor.claims.RegisterClaim(pb.RegisterClaimRequest(
            request_id=rid(), claim=mapping.claim_input(data)),
            metadata=vendor.md("negotiator"), timeout=15)).claim
        report = (await vendor.claims.CheckCleanClaim(pb.CheckCleanClaimRequest(
            request_id=rid(), claim_id=claim.claim_id), metadata=vendor.md("negotiator"),
            timeout=15)).report
        assert not report.clean
        incomplete.append(claim)
    completed, withdrawn = incomplete

    async def queued() -> set[str]:
        reply = await vendor.claims.ClaimsWorkQueue(
            pb.ClaimsWorkQueueRequest(), metadata=vendor.md("negotiator"), timeout=15)
        return {i.claim_id for i in reply.items}

    assert await eventually(lambda: _holding(queued, withdrawn.claim_id), timeout=60)
    await vendor.claims.UpdateClaim(pb.UpdateClaimRequest(
        request_id=rid(), claim_id=completed.claim_id, claim=claim_input("professional",
                                                                         pcns[0])),
        metadata=vendor.md("negotiator"), timeout=15)
    await clean(vendor, completed.claim_id)
    await export(vendor, completed.claim_id, "professional")
    await vendor.claims.WithdrawClaim(pb.WithdrawClaimRequest(
        request_id=rid(), claim_id=withdrawn.claim_id, reason="patient was covered elsewhere"),
        metadata=vendor.md("negotiator"), timeout=15)
    assert (await get(vendor, withdrawn.claim_id)).status == pb.CLAIM_STATUS_WITHDRAWN
    # It leaves the work queue (it was there with its blocking findings).
    assert await eventually(lambda: _holding(queued, withdrawn.claim_id, False), timeout=60)
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await export(vendor, withdrawn.claim_id, "professional")
    assert gone.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def _holding(queued: Any, claim_id: str, expected: bool = True) -> bool:
    return (claim_id in await queued()) is expected
