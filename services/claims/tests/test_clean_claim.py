"""Clean-claim check: every rule with a passing and a failing claim."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.claims.domain import (
    ClaimType,
    Facility,
    NetworkStatus,
    Patient,
    Payer,
    Plan,
    PlanFunding,
    Provider,
    ServiceLine,
)
from services.claims.domain.clean_claim import RULE_SET_VERSION, RULES, TIMELY_FILING, check
from services.claims.tests.factories import TODAY, emergency_claim, institutional_claim


def line(**kw: object) -> ServiceLine:
    base = ServiceLine("99285", 185_000, date(2026, 10, 3), 1, ("25",), "23", "", (1,))
    return replace(base, **kw)  # type: ignore[arg-type]


def rule_ids(claim) -> set[str]:
    return {f.rule_id for f in check(claim, TODAY).findings if f.blocking}


def test_the_reference_claims_are_clean():
    for claim in (emergency_claim(), institutional_claim()):
        report = check(claim, TODAY)
        assert report.clean, report.findings
        assert report.rule_set_version == RULE_SET_VERSION


FAILING = {
    "CC01-NPI": emergency_claim(provider=Provider("X", "1234567890", "12-3456789")),
    "CC02-TIN": emergency_claim(provider=Provider("X", "1234567893", "")),
    "CC03-PATIENT": emergency_claim(patient=Patient("Jane", "", None, "")),
    "CC04-PAYER": emergency_claim(payer=Payer("87726", "")),
    "CC05-DIAGNOSIS": emergency_claim(diagnosis_codes=(), lines=(line(diagnosis_pointers=()),)),
    "CC06-POINTER": emergency_claim(lines=(line(diagnosis_pointers=(3,)),)),
    "CC07-PROCEDURE": emergency_claim(lines=(line(procedure_code="9928"),)),
    "CC08-MODIFIER": emergency_claim(lines=(line(modifiers=("25", "25")),)),
    "CC09-UNITS": emergency_claim(lines=(line(units=0),)),
    "CC10-PLACE": emergency_claim(lines=(line(place_of_service="30"),)),
    "CC11-DATES": emergency_claim(lines=(line(service_date=date(2026, 12, 1)),)),
    "CC12-AMOUNTS": emergency_claim(total_billed_cents=1),
    "CC13-NSA-FACTS": emergency_claim(facility=Facility("F", "", NetworkStatus.UNSPECIFIED, "PA")),
    "CC14-EMERGENCY": emergency_claim(emergency=False),
    "CC15-PCN": emergency_claim(patient_control_number="X" * 39),
    "CC16-ADDRESS": emergency_claim(provider=Provider("X", "1234567893", "12-3456789")),
    "CC17-STAY": institutional_claim(admission_type_code="", patient_status_code=""),
    "CC18-TIMELY-FILING": emergency_claim(lines=(line(service_date=date(2025, 10, 1)),)),
    "CC19-MODIFIER-25": emergency_claim(lines=(
        line(modifiers=()), line(procedure_code="12002", modifiers=()))),
}


def test_every_rule_has_a_failing_case():
    assert {rule.__name__ for rule in RULES}
    assert len(FAILING) == len(RULES)


@pytest.mark.parametrize("rule_id", sorted(FAILING))
def test_rule_fails_and_blocks(rule_id):
    report = check(FAILING[rule_id], TODAY)
    assert rule_id in {f.rule_id for f in report.findings if f.blocking}
    assert not report.clean
    assert all(f.field for f in report.findings)


@pytest.mark.parametrize("rule_id", sorted(FAILING))
def test_rule_passes_on_the_clean_claim(rule_id):
    assert rule_id not in rule_ids(emergency_claim())


def test_institutional_needs_bill_type_and_revenue_codes():
    bad = institutional_claim(bill_type="", lines=(line(revenue_code="", place_of_service=""),))
    assert "CC10-PLACE" in rule_ids(bad)
    fields = {f.field for f in check(bad, TODAY).findings}
    assert {"bill_type", "lines[0].revenue_code"} <= fields


def test_institutional_lines_need_no_diagnosis_pointer():
    claim = institutional_claim()
    assert claim.claim_type is ClaimType.INSTITUTIONAL
    assert "CC06-POINTER" not in rule_ids(claim)


def test_unknown_plan_funding_and_situs_block():
    claim = emergency_claim(plan=Plan())
    fields = {f.field for f in check(claim, TODAY).findings if f.rule_id == "CC13-NSA-FACTS"}
    assert fields == {"plan.funding", "plan.situs_state"}
    assert "CC13-NSA-FACTS" not in rule_ids(
        emergency_claim(plan=Plan("P", PlanFunding.FULLY_INSURED, "NY"))
    )


def test_warnings_do_not_block():
    # Within 60 days of the plan type's 180-day limit: a warning naming the last day.
    old = emergency_claim(lines=(line(service_date=date(2026, 7, 2)),))
    report = check(old, TODAY)
    assert report.clean
    assert any(f.rule_id == "CC18-TIMELY-FILING" and not f.blocking and "2026-12-29" in f.message
               for f in report.findings)
    flagged = emergency_claim(lines=(line(place_of_service="22", procedure_code="27447"),))
    report = check(flagged, TODAY)
    assert report.clean
    assert any(f.rule_id == "CC14-EMERGENCY" and not f.blocking for f in report.findings)


def test_birth_date_after_service_is_caught():
    claim = emergency_claim(patient=Patient("Jane", "Roe", date(2026, 10, 5), "W1"))
    assert "CC11-DATES" in rule_ids(claim)


# -- issue 22 item 5: tables of required modifiers and timely filing, versioned ----------------
def _finding(claim, rule_id):
    return next(f for f in check(claim, TODAY).findings if f.rule_id == rule_id)


def test_an_em_on_the_day_of_a_minor_procedure_needs_modifier_25():
    em = ServiceLine("99284", 120_000, date(2026, 10, 3), 1, (), "23", "", (1,))
    repair = ServiceLine("12002", 64_000, date(2026, 10, 3), 1, (), "23", "", (1,))
    claim = emergency_claim(lines=(em, repair))
    finding = _finding(claim, "CC19-MODIFIER-25")
    assert finding.blocking and finding.field == "lines[0].modifiers"
    assert finding.rule_version == "required-modifiers/2026.12"
    assert "100-04" in finding.message and "12002" in finding.message
    assert "CC19-MODIFIER-25" not in rule_ids(
        emergency_claim(lines=(replace(em, modifiers=("25",)), repair)))
    # Another day's procedure, or an institutional claim, is not the pair.
    assert "CC19-MODIFIER-25" not in rule_ids(
        emergency_claim(lines=(em, replace(repair, service_date=date(2026, 10, 4)))))


def test_an_ncci_ptp_pair_needs_a_distinct_service_modifier_on_column_two():
    therapy = ServiceLine("97530", 20_000, date(2026, 10, 3), 1, (), "11", "", (1,))
    manual = ServiceLine("97140", 15_000, date(2026, 10, 3), 1, (), "11", "", (1,))
    claim = emergency_claim(emergency=False, lines=(therapy, manual))
    finding = _finding(claim, "CC20-PTP-MODIFIER")
    assert finding.field == "lines[1].modifiers" and finding.rule_version
    assert "CC20-PTP-MODIFIER" not in rule_ids(
        emergency_claim(emergency=False, lines=(therapy, replace(manual, modifiers=("XS",)))))


def test_timely_filing_follows_the_payer_and_the_plan_type():
    service = date(2026, 7, 1)  # 142 days before TODAY
    claim = emergency_claim(lines=(line(service_date=service),))
    # Self-funded ERISA default: 180 days (to 2026-12-28): a warning from 60 days before.
    warning = _finding(claim, "CC18-TIMELY-FILING")
    assert not warning.blocking and "2026-12-28" in warning.message
    assert "default" in warning.message and warning.rule_version == "timely-filing/2026.12.1"
    strict = replace(claim, payer=Payer("EXAMPLE90", "Example 90-day payer"))
    finding = _finding(strict, "CC18-TIMELY-FILING")
    assert finding.blocking and finding.rule_version == "timely-filing/2026.12.1"
    assert "2026-09-29" in finding.message and "self_funded_erisa" in finding.message
    # The same payer's plan type without a row of its own falls back to the plan-type default.
    medicare = replace(strict, plan=Plan("MA", PlanFunding.MEDICARE_ADVANTAGE, "PA"))
    assert "CC18-TIMELY-FILING" not in rule_ids(medicare)
    very_old = emergency_claim(lines=(line(service_date=date(2025, 11, 1)),))
    assert "424.44" not in _finding(very_old, "CC18-TIMELY-FILING").message
    medicare_old = replace(very_old, plan=Plan("M", PlanFunding.MEDICARE, "PA"))
    assert "424.44" in _finding(medicare_old, "CC18-TIMELY-FILING").message


def test_every_timely_filing_row_cites_its_source_and_kind():
    rows = dict(TIMELY_FILING["plan_types"])
    rows.update({f"payer {k}": v for k, v in TIMELY_FILING["payers"].items()})
    assert {f.value for f in PlanFunding} - {"uninsured"} <= set(TIMELY_FILING["plan_types"])
    for name, row in rows.items():
        assert row["kind"] in ("regulation", "default"), name
        assert len(row["source"]) > 40, name
        if row["kind"] == "regulation":
            assert "CFR" in row["source"] or "U.S.C." in row["source"], name
    assert TIMELY_FILING["plan_types"]["medicare"]["days"] == 365
