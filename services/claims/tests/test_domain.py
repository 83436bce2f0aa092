"""The Claim aggregate: given events → when command → then events or error."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from uuid import UUID

import pytest

from services.claims.domain import (
    Adjudication,
    AppealChannel,
    AppealLevel,
    AppealOutcome,
    Claim,
    ClaimStatus,
    Document,
    DocumentKind,
    Frequency,
    Route,
    ServiceLine,
    TriagePolicy,
)
from services.claims.tests.factories import NOW, ctx, emergency_claim
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound

CLAIM_ID = UUID("00000000-0000-5000-8000-000000000001")
SHA = "a" * 64


def registered() -> Claim:
    claim = Claim.register(ctx(request_id="reg"), CLAIM_ID, emergency_claim())
    claim.collect_events()
    return claim


def denial(**kw: object) -> Adjudication:
    base = Adjudication(
        date(2026, 10, 30),
        249_000,
        0,
        0,
        0,
        carc_codes=("16",),
        rarc_codes=("N290",),
        payer_claim_control_number="ICN-778899",
        denied=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def event_types(claim: Claim) -> list[str]:
    return [type(e).__name__ for e in claim.collect_events()]


def test_register_records_phi_separately():
    claim = Claim.register(ctx(), CLAIM_ID, emergency_claim())
    (event,) = claim.collect_events()
    assert type(event).__name__ == "ClaimRegistered"
    assert event.PHI_FIELDS == frozenset({"patient"})
    assert "patient" not in event.claim
    assert event.patient["member_id"] == "W123456789"
    assert event.claim["lines"][0]["billed_cents"] == 185_000
    assert event.claim["billed_cents"] == 249_000
    assert event.meta["tenant_id"] == "tenant-a" and event.meta["claim_id"] == str(CLAIM_ID)
    assert claim.status is ClaimStatus.REGISTERED


def test_register_rejects_bad_input_naming_every_field():
    bad = emergency_claim(
        provider=replace(emergency_claim().provider, npi="1234567890"),
        lines=(ServiceLine("9928", -1, date(2026, 10, 3), 0, ("XYZ",), "2", "", (7,)),),
        diagnosis_codes=("8901",),
    )
    with pytest.raises(InvalidArgument) as err:
        Claim.register(ctx(), CLAIM_ID, bad)
    fields = {v.field for v in err.value.violations}
    assert {
        "claim.provider.npi",
        "claim.lines[0].procedure_code",
        "claim.lines[0].billed_cents",
        "claim.lines[0].units",
        "claim.lines[0].modifiers[0]",
        "claim.lines[0].place_of_service",
        "claim.lines[0].diagnosis_pointers[0]",
        "claim.diagnosis_codes[0]",
    } <= fields


def test_adjudication_denied_maps_remedies():
    claim = registered()
    claim.record_adjudication(ctx(request_id="adj"), denial())
    (event,) = claim.collect_events()
    assert type(event).__name__ == "AdjudicationRecorded"
    assert event.primary_remedy == "resubmit_corrected"
    assert event.adjudication["carc_codes"] == ["16"]
    assert claim.status is ClaimStatus.DENIED


def test_adjudication_retry_records_nothing():
    claim = registered()
    claim.record_adjudication(ctx(request_id="adj"), denial())
    claim.record_adjudication(ctx(request_id="adj"), denial())
    assert event_types(claim) == ["AdjudicationRecorded"]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"paid_cents": -1, "denied": False}, "adjudication.paid_cents"),
        ({"allowed_cents": 300_000}, "adjudication.allowed_cents"),
        ({"received_date": NOW.date() + timedelta(days=1)}, "adjudication.received_date"),
        ({"received_date": date(2026, 9, 1)}, "adjudication.received_date"),
        ({"paid_cents": 10, "denied": True}, "adjudication.paid_cents"),
        ({"carc_codes": ("CO-45",)}, "adjudication.carc_codes[0]"),
        ({"qpa_disclosed": True, "qpa_cents": 0}, "adjudication.qpa_cents"),
    ],
)
def test_bad_adjudication_is_rejected(kw, field):
    claim = registered()
    with pytest.raises(InvalidArgument) as err:
        claim.record_adjudication(ctx(request_id="adj"), denial(**kw))
    assert field in {v.field for v in err.value.violations}
    assert claim.collect_events() == []


def test_attach_document_validates_and_dedupes():
    claim = registered()
    doc = Document("doc-1", DocumentKind.MEDICAL_RECORDS, SHA, "s3://bucket/records.pdf", 1024)
    with pytest.raises(InvalidArgument) as err:
        claim.attach_document(ctx(request_id="d0"), replace(doc, sha256="XYZ", location="/tmp/x"))
    assert {v.field for v in err.value.violations} == {"sha256", "location"}
    claim.attach_document(ctx(request_id="d1"), doc)
    claim.attach_document(ctx(request_id="d2"), doc)
    assert event_types(claim) == ["DocumentAttached"]
    assert claim.document_kinds == {DocumentKind.MEDICAL_RECORDS}


def test_triage_records_route_and_reasons():
    claim = registered()
    decision = claim.triage_claim(ctx(request_id="t1"), TriagePolicy())
    (event,) = claim.collect_events()
    assert type(event).__name__ == "ClaimTriaged"
    assert event.route == "federal_idr" and event.nsa_protected
    assert decision.route is Route.FEDERAL_IDR
    assert {r["code"] for r in event.reasons} >= {"EMERGENCY", "SELF_FUNDED_NOT_OPTED_IN"}
    assert claim.triage_claim(ctx(request_id="t1"), TriagePolicy()) == decision
    assert claim.collect_events() == []


def test_clean_check_marks_ready_to_file():
    claim = registered()
    report = claim.check_clean(ctx(request_id="c1"))
    assert report.clean
    assert claim.status is ClaimStatus.READY_TO_FILE


def test_clean_check_with_blocking_findings_stays_registered():
    claim = Claim.register(ctx(), CLAIM_ID, emergency_claim(emergency=False))
    report = claim.check_clean(ctx(request_id="c1"))
    assert not report.clean
    assert claim.status is ClaimStatus.REGISTERED


def test_correction_requires_an_adjudication():
    claim = registered()
    with pytest.raises(FailedPrecondition, match="never adjudicated"):
        claim.check_correctable(Frequency.REPLACEMENT, "fix NPI")


def test_void_of_a_paid_claim_needs_a_reason():
    claim = registered()
    claim.record_adjudication(
        ctx(request_id="adj"),
        denial(
            denied=False,
            carc_codes=("45",),
            rarc_codes=(),
            allowed_cents=80_000,
            paid_cents=60_000,
            patient_responsibility_cents=20_000,
        ),
    )
    with pytest.raises(InvalidArgument, match="reason"):
        claim.check_correctable(Frequency.VOID, "")
    claim.check_correctable(Frequency.VOID, "billed to the wrong payer")


def test_replacement_links_both_claims_and_lists_changes():
    original = registered()
    original.record_adjudication(ctx(request_id="adj"), denial())
    fixed_data = emergency_claim(
        lines=(
            ServiceLine("99285", 185_000, date(2026, 10, 3), 1, ("25",), "23", "", (1, 2)),
            ServiceLine("12002", 64_000, date(2026, 10, 3), 1, ("59",), "23", "", (1,)),
        )
    )
    new_id = UUID("00000000-0000-5000-8000-000000000002")
    replacement = Claim.register(
        ctx(request_id="fix"),
        new_id,
        fixed_data,
        frequency=Frequency.REPLACEMENT,
        original=original,
        correction_reason="add modifier 59",
    )
    original.supersede(ctx(request_id="fix"), Frequency.REPLACEMENT, new_id, "add modifier 59")
    assert replacement.changed_fields == ("lines[1].modifiers",)
    assert replacement.original_payer_claim_control_number == "ICN-778899"
    assert replacement.frequency is Frequency.REPLACEMENT
    assert original.status is ClaimStatus.REPLACED
    with pytest.raises(FailedPrecondition, match="replaced"):
        original.triage_claim(ctx(request_id="t9"), TriagePolicy())


def adjudicated_denial() -> Claim:
    claim = registered()
    claim.record_adjudication(ctx(request_id="adj"), denial(carc_codes=("50",), rarc_codes=()))
    claim.attach_document(
        ctx(request_id="doc"),
        Document("doc-1", DocumentKind.MEDICAL_RECORDS, SHA, "s3://b/records.pdf", 10),
    )
    claim.collect_events()
    return claim


def test_file_appeal_within_the_erisa_window():
    claim = adjudicated_denial()
    appeal = claim.file_appeal(
        ctx(request_id="ap"),
        "ap-1",
        AppealLevel.FIRST_INTERNAL,
        "ED visit met the prudent layperson standard",
        ("doc-1",),
        AppealChannel.PORTAL,
        None,
    )
    assert appeal.deadline == date(2026, 10, 30) + timedelta(days=180)
    assert claim.status is ClaimStatus.IN_APPEAL
    assert event_types(claim) == ["AppealFiled"]


def test_appeal_after_its_window_is_refused():
    claim = adjudicated_denial()
    late = ctx(request_id="ap", now=NOW.replace(year=2027, month=5))
    with pytest.raises(FailedPrecondition, match="appeal window closed on 2027-04-28"):
        claim.file_appeal(
            late, "ap-1", AppealLevel.FIRST_INTERNAL, "late", (), AppealChannel.MAIL, None
        )
    assert claim.collect_events() == []


def test_appeal_cites_only_attached_documents():
    claim = adjudicated_denial()
    with pytest.raises(InvalidArgument) as err:
        claim.file_appeal(
            ctx(request_id="ap"),
            "ap-1",
            AppealLevel.FIRST_INTERNAL,
            "g",
            ("nope",),
            AppealChannel.FAX,
            None,
        )
    assert err.value.violations[0].field == "cited_document_ids[0]"


def test_second_level_needs_an_upheld_first_level():
    claim = adjudicated_denial()
    with pytest.raises(FailedPrecondition, match="upheld internal appeal"):
        claim.file_appeal(
            ctx(request_id="ap"),
            "ap-2",
            AppealLevel.SECOND_INTERNAL,
            "g",
            (),
            AppealChannel.FAX,
            None,
        )


def test_upheld_appeal_is_fed_back_into_triage():
    claim = adjudicated_denial()
    claim.file_appeal(
        ctx(request_id="ap"),
        "ap-1",
        AppealLevel.FIRST_INTERNAL,
        "g",
        ("doc-1",),
        AppealChannel.PORTAL,
        None,
    )
    claim.collect_events()
    with pytest.raises(InvalidArgument, match="decision_date"):
        claim.record_appeal_decision(
            ctx(request_id="dec"), "ap-1", AppealOutcome.UPHELD, date(2026, 1, 1), 0, TriagePolicy()
        )
    with pytest.raises(NotFound):
        claim.record_appeal_decision(
            ctx(request_id="dec"), "ap-x", AppealOutcome.UPHELD, NOW.date(), 0, TriagePolicy()
        )
    record = claim.record_appeal_decision(
        ctx(request_id="dec"), "ap-1", AppealOutcome.UPHELD, NOW.date(), 0, TriagePolicy()
    )
    assert record.outcome is AppealOutcome.UPHELD
    assert event_types(claim) == ["AppealDecisionRecorded", "ClaimTriaged"]
    assert claim.status is ClaimStatus.APPEAL_UPHELD
    with pytest.raises(FailedPrecondition, match="already decided"):
        claim.record_appeal_decision(
            ctx(request_id="dec2"), "ap-1", AppealOutcome.OVERTURNED, NOW.date(), 0, TriagePolicy()
        )
    second = claim.file_appeal(
        ctx(request_id="ap2"),
        "ap-2",
        AppealLevel.SECOND_INTERNAL,
        "g",
        (),
        AppealChannel.PORTAL,
        None,
    )
    assert second.adverse_determination_date == NOW.date()


def test_paid_in_full_claim_has_nothing_to_appeal():
    claim = registered()
    claim.record_adjudication(
        ctx(request_id="adj"),
        denial(
            denied=False, carc_codes=(), rarc_codes=(), allowed_cents=249_000, paid_cents=249_000
        ),
    )
    with pytest.raises(FailedPrecondition, match="paid in full"):
        claim.file_appeal(
            ctx(request_id="ap"),
            "ap-1",
            AppealLevel.FIRST_INTERNAL,
            "g",
            (),
            AppealChannel.PORTAL,
            None,
        )


def test_other_tenant_context_cannot_record():
    claim = registered()
    with pytest.raises(PermissionError):
        claim.triage_claim(ctx(tenant="tenant-b", request_id="x"), TriagePolicy())
