"""Triage: NSA scope (DOMAIN.md §1.1) and every row of the routing table (§1.10)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.claims.domain import (
    Adjudication,
    ClaimType,
    DocumentKind,
    Facility,
    NetworkStatus,
    Plan,
    PlanFunding,
    Route,
    ServiceClass,
    ServiceLine,
)
from services.claims.domain.triage import RULE_SET_VERSION, TriagePolicy, triage
from services.claims.tests.factories import emergency_claim, institutional_claim

NO_DOCS: frozenset[DocumentKind] = frozenset()


def plan(funding: PlanFunding, situs: str, opt_in: bool = False) -> Plan:
    return Plan(name="P", funding=funding, situs_state=situs, state_law_opt_in=opt_in)


def codes(decision) -> set[str]:
    return {r.code for r in decision.reasons}


@pytest.mark.parametrize(
    ("row", "plan_", "route", "reason"),
    [
        (
            "fully insured, state law",
            plan(PlanFunding.FULLY_INSURED, "NY"),
            Route.STATE_PROCESS,
            "FULLY_INSURED_STATE_LAW",
        ),
        (
            "fully insured, no state law",
            plan(PlanFunding.FULLY_INSURED, "PA"),
            Route.FEDERAL_IDR,
            "FULLY_INSURED_NO_STATE_LAW",
        ),
        (
            "self-funded opted in",
            plan(PlanFunding.SELF_FUNDED_ERISA, "NJ", opt_in=True),
            Route.STATE_PROCESS,
            "SELF_FUNDED_OPTED_IN",
        ),
        (
            "self-funded not opted in",
            plan(PlanFunding.SELF_FUNDED_ERISA, "NJ"),
            Route.FEDERAL_IDR,
            "SELF_FUNDED_NOT_OPTED_IN",
        ),
        (
            "self-funded, state allows no opt-in",
            plan(PlanFunding.SELF_FUNDED_ERISA, "NY", True),
            Route.FEDERAL_IDR,
            "SELF_FUNDED_NOT_OPTED_IN",
        ),
        (
            "governmental plan, state reaches it",
            plan(PlanFunding.NON_FEDERAL_GOVERNMENTAL, "NY"),
            Route.STATE_PROCESS,
            "STATE_REACHES_PLAN",
        ),
        (
            "governmental plan, default federal",
            plan(PlanFunding.NON_FEDERAL_GOVERNMENTAL, "PA"),
            Route.FEDERAL_IDR,
            "STATE_DOES_NOT_REACH_PLAN",
        ),
        (
            "church plan, state reaches it",
            plan(PlanFunding.CHURCH, "TX"),
            Route.STATE_PROCESS,
            "STATE_REACHES_PLAN",
        ),
        (
            "church plan, default federal",
            plan(PlanFunding.CHURCH, "GA"),
            Route.FEDERAL_IDR,
            "STATE_DOES_NOT_REACH_PLAN",
        ),
        ("FEHB carrier", plan(PlanFunding.FEHB, "NY"), Route.FEDERAL_IDR, "FEHB"),
    ],
)
def test_routing_table_rows(row, plan_, route, reason):
    decision = triage(emergency_claim(plan=plan_), None, NO_DOCS)
    assert decision.route is route, row
    assert decision.nsa_protected
    assert reason in codes(decision)
    assert decision.rule_set_version == RULE_SET_VERSION


def test_state_law_excluding_air_ambulance_routes_federal():
    air = emergency_claim(
        emergency=False,
        plan=plan(PlanFunding.FULLY_INSURED, "NY"),
        lines=(ServiceLine("A0431", 4_500_000, date(2026, 10, 3), 1, (), "42", "", (1,)),),
    )
    decision = triage(air, None, NO_DOCS)
    assert decision.service_class is ServiceClass.AIR_AMBULANCE
    assert decision.route is Route.FEDERAL_IDR
    assert {"AIR_AMBULANCE", "STATE_LAW_EXCLUDES_SERVICE"} <= codes(decision)


def test_state_law_not_yet_effective_routes_federal():
    early = emergency_claim(
        plan=plan(PlanFunding.FULLY_INSURED, "OH"),
        lines=(ServiceLine("99285", 100_000, date(2021, 6, 1), 1, (), "23", "", (1,)),),
    )
    assert triage(early, None, NO_DOCS).route is Route.FEDERAL_IDR


def test_maryland_hospital_services_take_the_all_payer_model():
    md = institutional_claim(facility=Facility("Hopkins", "", NetworkStatus.OUT_OF_NETWORK, "MD"))
    decision = triage(md, None, NO_DOCS)
    assert decision.route is Route.ALL_PAYER_MODEL
    assert not decision.worth_negotiating


@pytest.mark.parametrize(
    "funding",
    [
        PlanFunding.MEDICARE,
        PlanFunding.MEDICARE_ADVANTAGE,
        PlanFunding.MEDICAID,
        PlanFunding.CHIP,
        PlanFunding.TRICARE,
        PlanFunding.VA_IHS,
    ],
)
def test_public_programs_have_no_nsa_idr(funding):
    decision = triage(emergency_claim(plan=plan(funding, "PA")), None, NO_DOCS)
    assert decision.route is Route.NOT_ELIGIBLE
    assert not decision.nsa_protected
    assert not decision.worth_negotiating
    assert "PUBLIC_PROGRAM" in codes(decision)


def test_uninsured_is_a_different_program():
    decision = triage(emergency_claim(plan=plan(PlanFunding.UNINSURED, "PA")), None, NO_DOCS)
    assert decision.route is Route.NOT_ELIGIBLE
    assert "UNINSURED" in codes(decision)


def test_ground_ambulance_is_excluded():
    ground = emergency_claim(
        lines=(ServiceLine("A0427", 180_000, date(2026, 10, 3), 1, (), "41", "", (1,)),)
    )
    decision = triage(ground, None, NO_DOCS)
    assert decision.route is Route.NOT_ELIGIBLE
    assert "GROUND_AMBULANCE" in codes(decision)


def test_oon_clinician_at_in_network_facility_is_protected():
    surgery = emergency_claim(
        emergency=False,
        lines=(ServiceLine("27447", 900_000, date(2026, 10, 3), 1, (), "22", "", (1,)),),
    )
    decision = triage(surgery, None, NO_DOCS)
    assert decision.nsa_protected
    assert "OON_CLINICIAN_AT_IN_NETWORK_FACILITY" in codes(decision)


def test_notice_and_consent_waives_non_ancillary_protection():
    surgery = emergency_claim(
        emergency=False,
        lines=(ServiceLine("27447", 900_000, date(2026, 10, 3), 1, (), "22", "", (1,)),),
    )
    decision = triage(surgery, None, frozenset({DocumentKind.NOTICE_AND_CONSENT}))
    assert not decision.nsa_protected
    assert decision.route is Route.NOT_ELIGIBLE
    assert "NOTICE_AND_CONSENT_WAIVER" in codes(decision)


def test_ancillary_services_cannot_be_waived():
    anesthesia = emergency_claim(
        emergency=False,
        lines=(ServiceLine("01402", 350_000, date(2026, 10, 3), 1, ("AA",), "22", "", (1,)),),
    )
    decision = triage(anesthesia, None, frozenset({DocumentKind.NOTICE_AND_CONSENT}))
    assert decision.nsa_protected
    assert decision.service_class is ServiceClass.ANCILLARY_AT_IN_NETWORK_FACILITY


def test_office_visit_at_oon_practice_is_out_of_scope():
    office = emergency_claim(
        emergency=False,
        facility=Facility("", "", NetworkStatus.NOT_APPLICABLE, "PA"),
        lines=(ServiceLine("99214", 30_000, date(2026, 10, 3), 1, (), "11", "", (1,)),),
    )
    decision = triage(office, None, NO_DOCS)
    assert not decision.nsa_protected
    assert "NOT_IN_SCOPE" in codes(decision)


def test_unknown_plan_funding_assumes_federal_and_says_so():
    decision = triage(emergency_claim(plan=Plan()), None, NO_DOCS)
    assert decision.route is Route.FEDERAL_IDR
    assert "PLAN_FUNDING_UNKNOWN" in codes(decision)


def adjudication(**kw: object) -> Adjudication:
    base = Adjudication(date(2026, 10, 30), 249_000, 60_000, 45_000, 15_000)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_underpaid_claim_is_worth_negotiating():
    claim = emergency_claim(emergency=False)
    decision = triage(
        claim, adjudication(), NO_DOCS, TriagePolicy(high_dollar_threshold_cents=10**9)
    )
    assert decision.worth_negotiating
    assert "UNDERPAID_VS_BILLED" in codes(decision)


def test_below_disclosed_qpa_is_a_signal():
    decision = triage(
        emergency_claim(emergency=False),
        adjudication(
            allowed_cents=200_000,
            paid_cents=100_000,
            patient_responsibility_cents=0,
            qpa_cents=150_000,
            qpa_disclosed=True,
        ),
        NO_DOCS,
        TriagePolicy(high_dollar_threshold_cents=10**9),
    )
    assert "BELOW_QPA" in codes(decision)


def test_coverage_denial_goes_to_appeal_not_negotiation():
    decision = triage(
        emergency_claim(),
        adjudication(
            allowed_cents=0,
            paid_cents=0,
            patient_responsibility_cents=0,
            denied=True,
            carc_codes=("50",),
        ),
        NO_DOCS,
    )
    assert not decision.worth_negotiating
    assert "COVERAGE_DENIAL" in codes(decision)


def test_small_fairly_paid_claim_is_not_worth_it():
    small = emergency_claim(
        emergency=False,
        lines=(ServiceLine("27447", 50_000, date(2026, 10, 3), 1, (), "22", "", (1,)),),
    )
    decision = triage(
        small,
        adjudication(
            billed_cents=50_000,
            allowed_cents=45_000,
            paid_cents=40_000,
            patient_responsibility_cents=5_000,
        ),
        NO_DOCS,
    )
    assert not decision.worth_negotiating
    assert "NO_NEGOTIATION_SIGNAL" in codes(decision)


def test_high_dollar_and_narrow_network_signals():
    claim = emergency_claim(
        emergency=False, plan=Plan("P", PlanFunding.FULLY_INSURED, "PA", narrow_network=True)
    )
    decision = triage(claim, None, NO_DOCS)
    assert {"HIGH_DOLLAR", "NARROW_NETWORK_OR_MARKETPLACE", "AWAITING_ADJUDICATION"} <= codes(
        decision
    )


def test_missing_documents_for_outreach():
    decision = triage(emergency_claim(), adjudication(), frozenset({DocumentKind.CLAIM_FORM}))
    assert decision.missing_documents == (
        DocumentKind.ITEMIZED_BILL,
        DocumentKind.ERA_835,
        DocumentKind.MEDICAL_RECORDS,
    )
    complete = frozenset(
        {
            DocumentKind.CLAIM_FORM,
            DocumentKind.ITEMIZED_BILL,
            DocumentKind.EOB,
            DocumentKind.MEDICAL_RECORDS,
        }
    )
    assert triage(emergency_claim(), adjudication(), complete).missing_documents == ()


def test_triage_is_deterministic():
    claim = institutional_claim(claim_type=ClaimType.INSTITUTIONAL)
    assert triage(claim, None, NO_DOCS) == triage(claim, None, NO_DOCS)
