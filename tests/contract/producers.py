"""One domain event per contracted integration event, built from the producers' own value types.

The producer contract test translates each through its service's published.py and compares the
message with the golden file: a domain change that reaches the wire without an intended contract
change fails there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from uuid import UUID

from services.claims.domain import (
    Address,
    Adjudication,
    Claim,
    ClaimData,
    ClaimType,
    Facility,
    NetworkStatus,
    Patient,
    Payer,
    Plan,
    PlanFunding,
    Provider,
    ServiceLine,
    event_data,
)
from services.common.aggregate import TenantAggregate
from services.fees.domain.assessment import (
    FeeCause,
    FeeLine,
    FeeLineKind,
    LineReferences,
    line_to_record,
)
from services.fees.domain.fee_account import FeeAccount
from services.fees.domain.invoicing import ClientBilling
from services.fees.domain.schedule import FeeBase, FeeSchedule, FeeTerms, Tier, terms_to_record
from services.negotiation.domain import (
    ClaimFacts,
    ClientPolicy,
    CoolingOffRegister,
    FederalIdrDispute,
    Negotiation,
)
from services.negotiation.domain.compliance import (
    BatchWindow,
    ComplianceLine,
    ComplianceReport,
    ComplianceStatus,
)
from services.negotiation.domain.compliance_record import ComplianceRecord, report_record
from services.negotiation.domain.deadlines import Counting, DeadlineCode
from services.settlement.domain import (
    Account,
    InitialAdjudication,
    JournalTransaction,
    LineMatch,
    Posting,
    RemittanceChunk,
    RemittanceFile,
    RemittanceRecord,
    Settlement,
    SettlementWaitlist,
    UnmatchedClaimPayment,
    UnmatchedServiceLine,
    transfer,
)

CLAIM_ID = "5d1c2b9e-8f00-4c1a-9a57-0f4c3a1e2b77"
AGGREGATE = UUID("0b7f6b0e-3c55-4a53-8a3e-6f1d2c4b5a69")
AT = dt.datetime(2026, 10, 1, 14, 30, tzinfo=dt.UTC)
META = {"tenant_id": "tenant-golden", "claim_id": CLAIM_ID, "actor": "golden"}


def _event(cls: type, version: int = 2, **fields: Any) -> Any:
    extra: dict[str, Any] = {}
    if issubclass(cls, TenantAggregate.Created):
        extra = {"tenant_id": "tenant-golden", "originator_topic": "golden"}
    return cls(originator_id=AGGREGATE, originator_version=version, timestamp=AT, meta=META,
               **extra, **fields)


# -- claims ------------------------------------------------------------------------------------
CLAIM = ClaimData(
    client_id="client-acme-er",
    claim_type=ClaimType.PROFESSIONAL,
    patient_control_number="PCN-1001",
    provider=Provider("Acme Emergency Physicians", "1234567893", "123456789",
                      Address("1 Main St", "Austin", "TX", "78701")),
    payer=Payer("87726", "UnitedHealthcare"),
    lines=(
        ServiceLine("99285", 250_000, dt.date(2026, 3, 2), units=1, modifiers=("25",),
                    place_of_service="23", diagnosis_pointers=(1,), line_control_number="L1"),
        ServiceLine("93010", 15_000, dt.date(2026, 3, 2), place_of_service="23",
                    diagnosis_pointers=(1, 2), line_control_number="L2"),
    ),
    patient=Patient("Jane", "Doe", dt.date(1980, 5, 17), "M123"),
    plan=Plan("Choice Plus", PlanFunding.SELF_FUNDED_ERISA, "TX"),
    facility=Facility("St. Mary ER", "1992753880", NetworkStatus.IN_NETWORK, "TX"),
    emergency=True,
    diagnosis_codes=("R07.9", "I20.0"),
    total_billed_cents=265_000,
)
ADJUDICATION = Adjudication(
    received_date=dt.date(2026, 4, 1), billed_cents=265_000, allowed_cents=60_000,
    paid_cents=45_000, patient_responsibility_cents=15_000, qpa_cents=70_000,
    qpa_disclosed=True, carc_codes=("45",), rarc_codes=("N830",),
    payer_claim_control_number="ICN-77", denied=False,
)


def claim_registered() -> Any:
    return _event(Claim.ClaimRegistered, version=1, claim=event_data.claim_to_dict(CLAIM),
                  patient=event_data.patient_to_dict(CLAIM.patient), frequency="1",
                  original_claim_id="", original_payer_claim_control_number="",
                  changed_fields=[], correction_reason="")


def adjudication_recorded() -> Any:
    return _event(
        Claim.AdjudicationRecorded, adjudication=event_data.adjudication_to_dict(ADJUDICATION),
        remedies=[{"code": "45", "meaning": "Charge exceeds fee schedule",
                   "remedy": "negotiate", "explanation": "Open negotiation under the NSA"}],
        primary_remedy="negotiate", status="paid", client_id=CLAIM.client_id, payer_id="87726",
        appeal_filing_deadline="2026-09-28", action_due_date="2026-04-15",
        action_rule="negotiate: triage and hand to negotiation within 14 calendar days of the "
        "remittance (house rule; the NSA notice deadline is on the negotiation case)",
        action_reason="CARC 45: Charge exceeds fee schedule. Open negotiation under the NSA",
        rule_set_version="denials/2026.12")


def claim_triaged() -> Any:
    return _event(
        Claim.ClaimTriaged, version=3, adjudicated=True, rule_set_version="triage-2026-01",
        route="federal_idr", nsa_protected=True, worth_negotiating=True,
        service_class="emergency",
        reasons=[{"code": "NSA_EMERGENCY", "explanation": "emergency services at an ER"}],
        missing_documents=[], client_id=CLAIM.client_id, payer_id="87726")


def claim_updated() -> Any:
    updated = replace(CLAIM, facility=replace(
        CLAIM.facility, address=Address("1 ER Way", "Austin", "TX", "787010001")))
    return _event(Claim.ClaimUpdated, version=2, claim=event_data.claim_to_dict(updated),
                  patient=event_data.patient_to_dict(updated.patient),
                  changed_fields=["facility.address"])


def claim_withdrawn() -> Any:
    return _event(Claim.ClaimWithdrawn, version=2, reason="registered twice by mistake")


def claim_stage_reached() -> Any:
    return _event(Claim.ClaimStageReached, version=4, status="in_negotiation",
                  source_event_id="negotiation:311")


def document_attached() -> Any:
    return _event(Claim.DocumentAttached, version=3, document={
        "document_id": "doc-7", "kind": "medical_records", "sha256": "ab" * 32,
        "location": "s3://acme-docs/claims/doc-7.pdf", "size_bytes": 48_213})


def clean_claim_checked() -> Any:
    return _event(Claim.CleanClaimChecked, version=2, rule_set_version="clean-claim/2026.12",
                  clean=False, findings=[
                      {"rule_id": "CC07", "field": "lines[0].modifiers",
                       "message": "99285 billed with 12002 the same day needs modifier 25",
                       "blocking": True, "rule_version": "required-modifiers/2026.12"}],
                  status="registered")


def claim_replaced() -> Any:
    return _event(Claim.ClaimReplaced, version=7,
                  replacement_claim_id="8a6f0d3e-2b1c-4f5e-9d7a-1c2b3a4d5e6f",
                  reason="corrected units on line 2")


def claim_voided() -> Any:
    return _event(Claim.ClaimVoided, version=7,
                  void_claim_id="9b7e1c4f-3a2d-4e6f-8c9b-2d3c4b5a6e7f",
                  reason="billed to the wrong payer")


def appeal_filed() -> Any:
    return _event(Claim.AppealFiled, version=5, appeal={
        "appeal_id": "appeal-1", "level": "first_internal", "cited_document_ids": ["doc-7"],
        "channel": "portal", "adverse_determination_date": "2026-04-01",
        "filed_date": "2026-04-10", "deadline": "2026-09-28",
        "window_rule": "29 CFR 2560.503-1(h)(3)(i): 180 days", "decision_due": "2026-05-10"},
        grounds="the ED visit met the prudent layperson standard",
        rule_set_version="appeals/2026.12")


def appeal_decision_recorded() -> Any:
    return _event(Claim.AppealDecisionRecorded, version=6, appeal_id="appeal-1",
                  outcome="overturned", decision_date="2026-05-20",
                  additional_paid_cents=12_000, status="paid", expected_additional_cents=0,
                  paid_cents=57_000, denied=False, next_level="", next_level_deadline="",
                  next_level_rule="", appeals_exhausted=False)


def negotiation_refusal_recorded() -> Any:
    return _event(Claim.NegotiationRefusalRecorded, version=5,
                  reason="qpa_cents: must be positive", source_event_id="negotiation:4021",
                  notice_due_on="2026-05-12", rule_set_version="nsa-2026.1")


# -- negotiation ---------------------------------------------------------------------------------
def negotiation_refused() -> Any:
    return _event(ClaimFacts.NegotiationRefused, version=3, claim_id=CLAIM_ID,
                  reason="qpa_cents: must be positive", fields=["qpa_cents"], route="federal_idr",
                  notice_due_on=dt.date(2026, 5, 12), rule_set_version="nsa-2026.1")


def opened() -> Any:
    return _event(
        Negotiation.Opened, version=1, claim_id=CLAIM_ID, provider_npi="1234567893",
        provider_tin="123456789", payer_id="87726", plan_id="87726:Choice Plus",
        plan_funding="self_funded_erisa", service_code="99285",
        service_date=dt.date(2026, 3, 2), billed_cents=265_000, qpa_cents=70_000,
        patient_cost_sharing_cents=15_000, already_paid_cents=45_000, bill_received_on=None,
        initial_payment_received_on=dt.date(2026, 4, 1), route="federal_idr", assignee="")


def idr_initiated() -> Any:
    return _event(
        FederalIdrDispute.IdrInitiated, version=9, claim_id=CLAIM_ID, dispute_number="DISP-000123",
        initiated_on=dt.date(2026, 6, 1), initiating_party="provider",
        rule_set_version="nsa-2025-01-01", administrative_fee_cents=11_500, batched=False,
        bundled=False, batch_negotiation_ids=[], fee_bearing=True,
        lines=[dict(line_number=1, qpa_cents=50_000, patient_cost_sharing_cents=10_000,
                    already_paid_cents=30_000),
               dict(line_number=3, qpa_cents=20_000, patient_cost_sharing_cents=5_000,
                    already_paid_cents=15_000)],
        line_items=2)


def settlement_agreed() -> Any:
    return _event(
        Negotiation.SettlementAgreed, version=7, claim_id=CLAIM_ID, offer_id="offer-3",
        decision_id="decision-2", agreed_on=dt.date(2026, 10, 1), agreed_total_cents=120_000,
        patient_cost_sharing_cents=15_000, already_paid_cents=45_000,
        amount_owed_cents=60_000, payment_due_on=dt.date(2026, 10, 31), during_idr=True,
        dispute_number="DISP-000123", administrative_fee_cents=11_500,
        idre_fee_paid_cents=60_000, idre_fee_refund_cents=30_000,
        report_due_on=dt.date(2026, 10, 6), rule_set_version="nsa-2025-01-01")


def idr_determined() -> Any:
    return _event(
        FederalIdrDispute.IdrDetermined, version=12, claim_id=CLAIM_ID,
        dispute_number="DISP-000123",
        determined_on=dt.date(2026, 9, 15), prevailing_party="provider",
        default_determination=False, award_total_cents=160_000,
        patient_cost_sharing_cents=15_000, already_paid_cents=45_000,
        amount_owed_cents=100_000, payment_due_on=dt.date(2026, 10, 15),
        administrative_fee_cents=11_500, idre_fee_paid_cents=60_000,
        idre_fee_refund_cents=60_000, fee_refund_due_on=dt.date(2026, 10, 27),
        rule_set_version="nsa-2025-01-01",
        line_awards=[dict(line_number=1, prevailing_party="provider", award_cents=120_000,
                          patient_cost_sharing_cents=10_000, already_paid_cents=30_000,
                          amount_owed_cents=80_000),
                     dict(line_number=3, prevailing_party="provider", award_cents=40_000,
                          patient_cost_sharing_cents=5_000, already_paid_cents=15_000,
                          amount_owed_cents=20_000)])


def idr_closed() -> Any:
    return _event(
        FederalIdrDispute.IdrClosed, version=10, claim_id=CLAIM_ID, dispute_number="DISP-000123",
        closed_on=dt.date(2026, 7, 1), outcome="ineligible", reason="not a qualified item",
        administrative_fee_cents=11_500, idre_fee_paid_cents=0, idre_fee_refund_cents=0)


def idr_settled() -> Any:
    return _event(
        FederalIdrDispute.IdrSettled, version=7, claim_id=CLAIM_ID, dispute_number="DISP-000123",
        settled_on=dt.date(2026, 8, 12))


def idr_fee_recorded() -> Any:
    return _event(
        FederalIdrDispute.IdrFeeRecorded, version=6, claim_id=CLAIM_ID,
        dispute_number="DISP-000123", party="payer", fee_kind="idre", movement="refunded",
        amount_cents=25_000, occurred_on=dt.date(2026, 8, 3), source="portal_receipt",
        source_reference="RCPT-88412")


def offer_made() -> Any:
    return _event(Negotiation.OfferMade, version=3, offer_id="ours-1", party="provider",
                  amount_cents=180_000, percent_of_qpa_bp=25_714,
                  basis={"qpa_cents": 70_000, "law_cited": "45 CFR 149.510"}, channel="portal",
                  notes="median of comparable ER claims", document_refs=["doc-7"],
                  made_on=dt.date(2026, 4, 15))


def counter_offer_made() -> Any:
    return _event(Negotiation.CounterOfferMade, version=4, offer_id="theirs-1", party="payer",
                  amount_cents=120_000, percent_of_qpa_bp=17_143, basis={}, channel="email",
                  notes="", document_refs=[], made_on=dt.date(2026, 4, 20),
                  in_reply_to="ours-1")


def notice_sent() -> Any:
    return _event(Negotiation.OpenNegotiationNoticeSent, sent_on=dt.date(2026, 4, 10),
                  channel="portal", portal_reference="UHC-ON-5521")


def escalation_raised() -> Any:
    return _event(Negotiation.EscalationRaised, version=4, deadline_code="T3",
                  due_on=dt.date(2026, 5, 28), level=1, escalated_to="supervisor",
                  business_days_left=2, as_of=dt.date(2026, 5, 26))


def deadline_extended() -> Any:
    return _event(Negotiation.DeadlineExtended, version=5, deadline_code="T6",
                  new_due_on=dt.date(2026, 7, 20), reason="extenuating circumstances",
                  reference="CMS-EXT-17")


def assignee_changed() -> Any:
    return _event(Negotiation.AssigneeChanged, version=3, assignee="nego-ana")


def decision_proposed() -> Any:
    return _event(Negotiation.DecisionProposed, version=5, decision_id="accept-1", action="accept",
                  offer_id="theirs-1", counter_amount_cents=0,
                  rationale="within 5 % of the QPA-based target")


def decision_approved() -> Any:
    return _event(Negotiation.DecisionApproved, version=6, decision_id="accept-1",
                  approved_by="apikey:approver-1", auto_approval_rule_id="")


def decision_rejected() -> Any:
    return _event(Negotiation.DecisionRejected, version=6, decision_id="counter-2",
                  rejected_by="apikey:approver-1", reason="hold out for 150 % of QPA")


def payer_response_received() -> Any:
    return _event(Negotiation.PayerResponseReceived, version=4,
                  received_on=dt.date(2026, 4, 18), channel="email",
                  summary="payer asks for the itemized bill")


def idr_eligibility_determined() -> Any:
    return _event(FederalIdrDispute.IdrEligibilityDetermined, version=3, eligible=True,
                  decided_on=dt.date(2026, 6, 12), reason="")


def idre_selected() -> Any:
    return _event(FederalIdrDispute.IdreSelected, version=2, idre_id="IDRE-0042",
                  method="joint", selected_on=dt.date(2026, 6, 10), idre_fee_cents=60_000)


def policy_started() -> Any:
    return _event(ClientPolicy.PolicyStarted, version=1)


def policy_set() -> Any:
    return _event(ClientPolicy.PolicySet, version=2, auto_approval_rules=[
        {"rule_id": "r-150-qpa", "min_basis_points_of_billed": None,
         "min_basis_points_of_qpa": 15_000}],
        escalation_chain=[{"role": "supervisor", "business_days_left": 5},
                          {"role": "manager", "business_days_left": 2}])


def register_opened() -> Any:
    return _event(CoolingOffRegister.RegisterOpened, version=1,
                  initiating_party_key="npi:1234567893", other_party_key="payer:87726",
                  service_family="emergency")


def period_recorded() -> Any:
    return _event(CoolingOffRegister.PeriodRecorded, version=2, dispute_number="DISP-2026-0042",
                  starts_on=dt.date(2026, 7, 15), ends_on=dt.date(2026, 10, 13),
                  negotiation_id=str(AGGREGATE))


def claim_facts_noted() -> Any:
    return _event(ClaimFacts.ClaimFactsNoted, version=1, claim_id=CLAIM_ID,
                  provider_npi="1234567893", provider_tin="123456789", payer_id="87726",
                  plan_id="87726:Acme PPO", plan_funding="self_funded_erisa",
                  service_code="99285", service_date=dt.date(2026, 3, 2), billed_cents=249_000,
                  line_count=2)


def adjudication_noted() -> Any:
    return _event(ClaimFacts.AdjudicationNoted, version=2, received_on=dt.date(2026, 3, 30),
                  paid_cents=45_000, patient_responsibility_cents=15_000, qpa_cents=70_000,
                  denied=False)


def appeal_payment_noted() -> Any:
    return _event(ClaimFacts.AppealPaymentNoted, version=3, paid_cents=57_000, denied=False)


def already_paid_updated() -> Any:
    return _event(Negotiation.AlreadyPaidUpdated, version=4, claim_id=CLAIM_ID,
                  already_paid_cents=75_000, previous_already_paid_cents=45_000,
                  amount_in_dispute_cents=175_000, source="appeal decision")


def negotiation_closed() -> Any:
    return _event(Negotiation.NegotiationClosed, version=5, claim_id=CLAIM_ID,
                  reason="no longer warranted: the payer paid what was billed after an appeal",
                  closed_on=dt.date(2026, 6, 2))


def idr_offer_submitted() -> Any:
    return _event(FederalIdrDispute.IdrOfferSubmitted, version=11, party="provider",
                  amount_cents=160_000, percent_of_qpa_bp=22_857,
                  submitted_on=dt.date(2026, 7, 1), idre_fee_paid_cents=60_000,
                  line_offers=[dict(line_number=1, amount_cents=120_000),
                               dict(line_number=3, amount_cents=40_000)])


def compliance_record_opened() -> Any:
    return _event(ComplianceRecord.ComplianceRecordOpened, version=1, claim_id=CLAIM_ID,
                  negotiation_id="0b7a2f4e-7d3c-5e1a-8c2b-6f1e9a0d4c33")


def compliance_report_stated() -> Any:
    line = ComplianceLine(
        code=DeadlineCode.T3, title="Initiate federal IDR", status=ComplianceStatus.TIMELY,
        counting=Counting.BUSINESS, anchor_on=dt.date(2026, 6, 2), due_on=dt.date(2026, 7, 20),
        opens_on=dt.date(2026, 7, 15), rule_set_version="nsa-2026-06-11",
        act_on=dt.date(2026, 7, 15), day_number=31)
    pending = ComplianceLine(code=DeadlineCode.T8, title="Pay the amount owed",
                             status=ComplianceStatus.NOT_APPLICABLE, recorded_here=False)
    report = ComplianceReport(
        negotiation_id="0b7a2f4e-7d3c-5e1a-8c2b-6f1e9a0d4c33", claim_id=CLAIM_ID,
        as_of=dt.date(2026, 7, 15), status="in_idr", rule_set_version="nsa-2026-06-11",
        calendar="us-federal-5usc6103a-observed", holidays=(dt.date(2026, 7, 3),),
        lines=(line, pending),
        batch_window=BatchWindow(False, dt.date(2026, 4, 20), dt.date(2026, 6, 2),
                                 dt.date(2026, 4, 20), True, "nsa-2026-06-11"),
        cooling_off=())
    return _event(ComplianceRecord.ComplianceReportStated, version=3, claim_id=CLAIM_ID,
                  negotiation_id=report.negotiation_id, source_event_type="IdrInitiated",
                  source_event_id="9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
                  source_occurred_at=dt.datetime(2026, 7, 15, 14, 30, tzinfo=dt.UTC),
                  report=report_record(report))


def cooling_off_started() -> Any:
    return _event(FederalIdrDispute.CoolingOffStarted, version=13, dispute_number="DISP-000123",
                  initiating_party_key="1234567893", other_party_key="87726:Choice Plus",
                  service_family="99281-99285", starts_on=dt.date(2026, 9, 16),
                  ends_on=dt.date(2026, 12, 15))


# -- settlement ----------------------------------------------------------------------------------
SETTLEMENT = "3f9c1b2a-1111-4e2f-8d3c-5a6b7c8d9e0f"
PAYMENT = transfer(f"{SETTLEMENT}/2/pay-1", "payment EFT-991", Account.PROVIDER_CASH,
                   Account.PAYER_RECEIVABLE, 100_000)
MATCH = LineMatch(svc=1, procedure_code="99285", modifiers=("25",),
                  service_date=dt.date(2026, 3, 2), charge_cents=250_000, paid_cents=100_000,
                  reported_line_control_number="L1", outcome="matched", rule="line_control",
                  claim_line=1, claim_line_control_number="L1")


def settlement_opened() -> Any:
    opening = JournalTransaction(
        f"{SETTLEMENT}/1/open", "idr_determination DISP-000123: total out-of-network rate",
        (Posting(Account.PAYER_RECEIVABLE, 145_000),
         Posting(Account.PATIENT_RESPONSIBILITY, 15_000),
         Posting(Account.SETTLEMENT_REVENUE, -160_000)))
    return _event(
        Settlement.SettlementOpened, version=1, claim_id=CLAIM_ID, source="idr_determination",
        source_ref="DISP-000123", payer_key="87726", agreed_total_cents=160_000,
        patient_cost_sharing_cents=15_000, already_paid_cents=45_000,
        amount_owed_cents=100_000,
        # The claims service publishes the ICN's index: what the settlement keeps.
        initial_payment_icn="6f1c4a0be3d2f5a7c9e8b1d0a3f6c2e5b8d7a4f1c0e3b6a9d2f5c8e1b4a7d0f3",
        decided_on=dt.date(2026, 9, 15),
        due_date=dt.date(2026, 10, 15), nsa_protected=True, journal=[opening.as_dict()])


def payment_posted() -> Any:
    return _event(
        Settlement.PaymentPosted, payment_id="pay-1", amount_cents=100_000, method="eft",
        reference="EFT-991", payer_claim_control_number="ICN-78",
        paid_on=dt.date(2026, 10, 10), remittance_id="era-2026-10-10-1",
        journal=[PAYMENT.as_dict()], line_matches=[MATCH.to_dict()], trace_number="EFT-991",
        deposit_date=dt.date(2026, 10, 10))


def payment_reversed() -> Any:
    reversal = PAYMENT.reversed_by(f"{SETTLEMENT}/3/reverse-pay-1", "reversal of EFT-991")
    return _event(
        Settlement.PaymentReversed, version=3, payment_id="pay-1", amount_cents=100_000,
        reason="payer reversal (CLP02=22)", remittance_id="era-2026-10-20-1",
        reference="EFT-1002", reversed_on=dt.date(2026, 10, 20),
        journal=[reversal.as_dict()], line_matches=[], trace_number="EFT-1002",
        deposit_date=dt.date(2026, 10, 20), payer_claim_control_number="ICN-78",
        reversed_trace_number="EFT-991")


def recoupment_posted() -> Any:
    tx = transfer(f"{SETTLEMENT}/4/wo-1", "recoupment WO", Account.PAYER_RECEIVABLE,
                  Account.PROVIDER_CASH, 2_500)
    return _event(
        Settlement.RecoupmentPosted, version=4, recoupment_id="wo-1", amount_cents=2_500,
        reference="EFT-1003", remittance_id="era-2026-10-25-1",
        posted_on=dt.date(2026, 10, 25), journal=[tx.as_dict()], trace_number="EFT-1003",
        deposit_date=dt.date(2026, 10, 25), plb_reference="ICN-78")


def interest_posted() -> Any:
    tx = transfer(f"{SETTLEMENT}/5/int-1", "prompt-pay interest", Account.PROVIDER_CASH,
                  Account.INTEREST_INCOME, 1_234)
    return _event(
        Settlement.InterestPosted, version=5, interest_id="int-1", amount_cents=1_234,
        reference="EFT-1004", remittance_id="era-2026-10-26-1",
        posted_on=dt.date(2026, 10, 26), journal=[tx.as_dict()], trace_number="EFT-1004",
        deposit_date=dt.date(2026, 10, 26), plb_reference="ICN-78")


def settlement_paid_in_full() -> Any:
    return _event(Settlement.SettlementPaidInFull, version=3, plan_share_cents=145_000,
                  paid_cents=145_000)


def settlement_underpaid() -> Any:
    return _event(Settlement.SettlementUnderpaid, version=3, plan_share_cents=145_000,
                  paid_cents=100_000, shortfall_cents=45_000)


def settlement_overpaid() -> Any:
    return _event(Settlement.SettlementOverpaid, version=3, plan_share_cents=145_000,
                  paid_cents=150_000, excess_cents=5_000)


def settlement_overdue() -> Any:
    return _event(Settlement.SettlementOverdue, version=4, due_date=dt.date(2026, 10, 15),
                  as_of=dt.date(2026, 10, 16), outstanding_cents=45_000)


def fee_posted() -> Any:
    tx = transfer(f"{SETTLEMENT}/6/fee", "contingency fee invoice line EFT-991",
                  Account.FEE_EXPENSE, Account.FEE_PAYABLE, 25_000)
    return _event(Settlement.FeePosted, version=6, fee_line_id="fee-line-1",
                  kind="INVOICE_LINE", amount_cents=25_000, remittance_trn="EFT-991",
                  journal=[tx.as_dict()])


def balance_billing_risk_flagged() -> Any:
    return _event(Settlement.BalanceBillingRiskFlagged, version=7, reported_cents=40_000,
                  allowed_cents=15_000, rule="PHS Act 2799B-1/2; 45 CFR 149.410/420",
                  remittance_id="era-2026-10-10-1")


def patient_responsibility_recorded() -> Any:
    tx = transfer(f"{SETTLEMENT}/8/patient", "patient responsibility changed",
                  Account.PATIENT_RESPONSIBILITY, Account.SETTLEMENT_REVENUE, -5_000)
    return _event(Settlement.PatientResponsibilityRecorded, version=8, amount_cents=10_000,
                  previous_cents=15_000, journal=[tx.as_dict()])


FILE_ID = "7e0c9d1a-2b3c-4d5e-8f70-1a2b3c4d5e6f"
REMITTANCE = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
UNAPPLIED = transfer(f"{REMITTANCE}/clp2/unapplied", "CLP 2: no claim with this patient "
                     "control number, payer claim number or F8 reference", Account.PROVIDER_CASH,
                     Account.UNAPPLIED_CASH, 20_000)


def remittance_file_received() -> Any:
    return _event(RemittanceFile.RemittanceFileReceived, version=1,
                  content_sha256="3b5d5c3712955042212316173ccf37be80a1c1e0b4f3d3f1a1f6e0b4f2c1d0e9",
                  file_name="era-2026-10-10.835", size_bytes=48_213)


def remittance_file_accepted() -> Any:
    return _event(RemittanceFile.RemittanceFileAccepted, remittance_ids=[REMITTANCE],
                  trace_numbers=["EFT-991"], warning_count=1)


def remittance_file_quarantined() -> Any:
    return _event(RemittanceFile.RemittanceFileQuarantined,
                  reasons=["transaction-balance at TRN EFT-992: BPR02 1000.00 != 999.99"],
                  reason_count=1, trace_numbers=["EFT-992"])


def remittance_imported() -> Any:
    return _event(RemittanceRecord.RemittanceImported, version=1, file_id=FILE_ID,
                  trace_number="EFT-991", payer_id="87726", payer_name="UNITEDHEALTHCARE",
                  payee_npi="1234567893", payment_method="ACH",
                  payment_date=dt.date(2026, 10, 10), total_paid_cents=120_000, claim_count=2,
                  matched_count=1, exception_count=1, chunk_count=1)


def remittance_chunk_posted() -> Any:
    return _event(RemittanceChunk.RemittanceChunkPosted, version=1, remittance_id=REMITTANCE,
                  file_id=FILE_ID, trace_number="EFT-991", number=1, first_ordinal=1,
                  last_ordinal=2, matched_count=1, exception_count=1,
                  journal=[UNAPPLIED.as_dict()],
                  warnings=["patient-responsibility at CLP 1: CLP05 150.00 != PR 100.00"])


def unmatched_claim_payment_queued() -> Any:
    return _event(UnmatchedClaimPayment.UnmatchedClaimPaymentQueued, version=1,
                  remittance_id=REMITTANCE, trace_number="EFT-991", payer_id="87726",
                  payment_method="ACH", payment_date=dt.date(2026, 10, 10), ordinal=2,
                  patient_control_number="PCN-2002", payer_claim_control_number="ICN-79",
                  status_code="1", charge_cents=55_000, paid_cents=20_000,
                  patient_responsibility_cents=0, first_service_date=dt.date(2026, 3, 2),
                  reason="no claim with this patient control number, payer claim number or "
                         "F8 reference", candidate_claim_id="", service_lines=[],
                  statement_from=None, statement_to=None)


def initial_adjudication_remitted() -> Any:
    return _event(InitialAdjudication.InitialAdjudicationRemitted, version=1, claim_id=CLAIM_ID,
                  remittance_id=REMITTANCE, trace_number="EFT-991", payer_id="87726", ordinal=1,
                  status_code="1", received_date=dt.date(2026, 4, 1), billed_cents=265_000,
                  allowed_cents=60_000, paid_cents=45_000, patient_responsibility_cents=15_000,
                  payer_claim_control_number="ICN-77", carc_codes=["45", "2"], rarc_codes=[],
                  denied=False)


def unmatched_claim_payment_resolved() -> Any:
    return _event(UnmatchedClaimPayment.UnmatchedClaimPaymentResolved, claim_id=CLAIM_ID,
                  cause="settlement_opened")


def automatic_posting_refused() -> Any:
    return _event(UnmatchedClaimPayment.AutomaticPostingRefused, claim_id=CLAIM_ID,
                  reason="amount_cents: must be between -100000000000 and 100000000000 cents "
                  "($1 billion)", refused_at="2026-12-06T03:40:00+00:00")


def settlement_waitlist_started() -> Any:
    return _event(SettlementWaitlist.SettlementWaitlistStarted, version=1, claim_id=CLAIM_ID)


def claim_payment_waitlisted() -> Any:
    return _event(SettlementWaitlist.ClaimPaymentWaitlisted, claim_id=CLAIM_ID,
                  exception_id="9b7f3c2e-4d1a-5e6f-8a9b-0c1d2e3f4a5b", remittance_id=REMITTANCE,
                  ordinal=2)


def fee_line_waitlisted() -> Any:
    return _event(SettlementWaitlist.FeeLineWaitlisted, claim_id=CLAIM_ID,
                  fee_line_id="fee-2c41d7a9", kind="INVOICE_LINE", amount_cents=4_500,
                  remittance_trn="")


def unmatched_service_line_queued() -> Any:
    return _event(UnmatchedServiceLine.UnmatchedServiceLineQueued, version=1, claim_id=CLAIM_ID,
                  payment_id=f"{REMITTANCE}:clp1", remittance_id=REMITTANCE,
                  trace_number="EFT-991", ordinal=1, patient_control_number="PCN-1001",
                  payer_claim_control_number="ICN-78", status_code="1", line_ordinal=2,
                  procedure_code="93010", modifiers=[], service_date=dt.date(2026, 3, 2),
                  charge_cents=15_000, paid_cents=0, line_control_number="",
                  outcome="ambiguous", candidate_lines=[2, 3],
                  reason="2 lines fit procedure, modifiers, date and charge")


def unmatched_service_line_resolved() -> Any:
    return _event(UnmatchedServiceLine.UnmatchedServiceLineResolved, claim_id=CLAIM_ID,
                  line_control_number="L2")


# -- fees --------------------------------------------------------------------------------------
def fee_assessed() -> Any:
    line = FeeLine(
        line_id="fee-line-1", kind=FeeLineKind.INVOICE_LINE, cause=FeeCause.PAYMENT,
        amount_cents=25_000, line_date=dt.date(2026, 10, 10), claim_id=CLAIM_ID,
        client_id="client-acme-er", remittance_trn="EFT-991", schedule_version=2,
        source_event_id="settlement:4711", cumulative_recovered_cents=100_000,
        cumulative_fee_cents=25_000,
        # The ICN's index and sealed form (as settlement published them) are left out: a
        # pre-contract payload of this event reads them as "" (test_contract_breaks).
        references=LineReferences(deposit_date=dt.date(2026, 10, 10)),
        resolution_stage="OPEN_NEGOTIATION", fee_base="INCREMENTAL")
    return _event(
        FeeAccount.FeeAssessed, version=4, source_event_id="settlement:4711",
        payment_kind="PAYMENT", amount_cents=100_000, interest_cents=0,
        posting_date=dt.date(2026, 10, 10), remittance_trn="EFT-991", payer_id="87726",
        schedule_version=2, recovered_cents=100_000, fee_after_cents=25_000,
        line=line_to_record(line))


def idr_fee_passed_through() -> Any:
    line = FeeLine(
        line_id="fee-line-2", kind=FeeLineKind.INVOICE_LINE, cause=FeeCause.IDR_FEE_PASS_THROUGH,
        amount_cents=71_500, line_date=dt.date(2026, 9, 15), claim_id=CLAIM_ID,
        client_id="client-acme-er", remittance_trn="", schedule_version=2,
        source_event_id="negotiation:4100", cumulative_recovered_cents=0,
        cumulative_fee_cents=71_500)
    return _event(
        FeeAccount.IdrFeePassedThrough, version=3, source_event_id="negotiation:4100",
        amount_cents=71_500, fee_date=dt.date(2026, 9, 15), dispute_number="DISP-000123",
        schedule_version=2, line=line_to_record(line))


def fee_account_opened() -> Any:
    return _event(FeeAccount.FeeAccountOpened, version=1, claim_id=CLAIM_ID,
                  client_id="client-acme-er")


def claim_facts_recorded() -> Any:
    return _event(FeeAccount.ClaimFactsRecorded, version=3, source_event_id="claims:812",
                  stage=None, initial_payment_cents=45_000, payer_id="87726",
                  service_code=None)


def fee_schedule_created() -> Any:
    return _event(FeeSchedule.FeeScheduleCreated, version=1, client_id="client-acme-er")


def fee_schedule_version_published() -> Any:
    terms = FeeTerms(default_tiers=(Tier(0, 3000), Tier(500_000, 2000)),
                     idr_tiers=(Tier(0, 3500),), base=FeeBase.INCREMENTAL,
                     minimum_cents=2_500, cap_cents=2_500_000, flat_fee_cents=5_000,
                     pass_through_idr_fees=True)
    # Built without _event: the event's own `version` field is the schedule version.
    return FeeSchedule.FeeScheduleVersionPublished(
        originator_id=AGGREGATE, originator_version=3, timestamp=AT, meta=META, version=2,
        effective_from=dt.date(2026, 7, 1), effective_until=None, terms=terms_to_record(terms),
        supersedes_version=1)


def client_billing_opened() -> Any:
    return _event(ClientBilling.ClientBillingOpened, version=1, client_id="client-acme-er")


def invoice_issued() -> Any:
    return _event(ClientBilling.InvoiceIssued, version=2,
                  invoice_id="6c0f3a52-8d9e-5b1a-9f4e-2a7c1d3b5e80", client_id="client-acme-er",
                  period_start=dt.date(2026, 10, 1), period_end=dt.date(2026, 10, 31),
                  charges_cents=25_000, credits_cents=-2_500, total_cents=22_500, line_count=2)


def invoice_lines_recorded() -> Any:
    credit = FeeLine(
        line_id="fee-line-3", kind=FeeLineKind.CREDIT_MEMO, cause=FeeCause.RECOUPMENT,
        amount_cents=-2_500, line_date=dt.date(2026, 10, 25), claim_id=CLAIM_ID,
        client_id="client-acme-er", remittance_trn="EFT-1003", schedule_version=2,
        source_event_id="settlement:4790", cumulative_recovered_cents=90_000,
        cumulative_fee_cents=22_500,
        references=LineReferences(deposit_date=dt.date(2026, 10, 25)),
        resolution_stage="OPEN_NEGOTIATION", fee_base="INCREMENTAL")
    return _event(ClientBilling.InvoiceLinesRecorded, version=3,
                  invoice_id="6c0f3a52-8d9e-5b1a-9f4e-2a7c1d3b5e80",
                  lines=[fee_assessed().line, line_to_record(credit)])


PRODUCERS: dict[tuple[str, str], Callable[[], Any]] = {
    ("claims", "ClaimRegistered"): claim_registered,
    ("claims", "AdjudicationRecorded"): adjudication_recorded,
    ("claims", "ClaimTriaged"): claim_triaged,
    ("claims", "ClaimUpdated"): claim_updated,
    ("claims", "ClaimWithdrawn"): claim_withdrawn,
    ("claims", "ClaimStageReached"): claim_stage_reached,
    ("claims", "AppealDecisionRecorded"): appeal_decision_recorded,
    ("claims", "DocumentAttached"): document_attached,
    ("claims", "CleanClaimChecked"): clean_claim_checked,
    ("claims", "ClaimReplaced"): claim_replaced,
    ("claims", "ClaimVoided"): claim_voided,
    ("claims", "AppealFiled"): appeal_filed,
    ("claims", "NegotiationRefusalRecorded"): negotiation_refusal_recorded,
    ("negotiation", "NegotiationRefused"): negotiation_refused,
    ("negotiation", "Opened"): opened,
    ("negotiation", "IdrInitiated"): idr_initiated,
    ("negotiation", "ComplianceRecordOpened"): compliance_record_opened,
    ("negotiation", "ComplianceReportStated"): compliance_report_stated,
    ("negotiation", "SettlementAgreed"): settlement_agreed,
    ("negotiation", "IdrDetermined"): idr_determined,
    ("negotiation", "IdrClosed"): idr_closed,
    ("negotiation", "IdrSettled"): idr_settled,
    ("negotiation", "IdrFeeRecorded"): idr_fee_recorded,
    ("negotiation", "OfferMade"): offer_made,
    ("negotiation", "CounterOfferMade"): counter_offer_made,
    ("negotiation", "OpenNegotiationNoticeSent"): notice_sent,
    ("negotiation", "EscalationRaised"): escalation_raised,
    ("negotiation", "DeadlineExtended"): deadline_extended,
    ("negotiation", "IdrOfferSubmitted"): idr_offer_submitted,
    ("negotiation", "CoolingOffStarted"): cooling_off_started,
    ("negotiation", "AssigneeChanged"): assignee_changed,
    ("negotiation", "DecisionProposed"): decision_proposed,
    ("negotiation", "DecisionApproved"): decision_approved,
    ("negotiation", "DecisionRejected"): decision_rejected,
    ("negotiation", "PayerResponseReceived"): payer_response_received,
    ("negotiation", "IdrEligibilityDetermined"): idr_eligibility_determined,
    ("negotiation", "IdreSelected"): idre_selected,
    ("negotiation", "PolicyStarted"): policy_started,
    ("negotiation", "PolicySet"): policy_set,
    ("negotiation", "RegisterOpened"): register_opened,
    ("negotiation", "PeriodRecorded"): period_recorded,
    ("negotiation", "ClaimFactsNoted"): claim_facts_noted,
    ("negotiation", "AdjudicationNoted"): adjudication_noted,
    ("negotiation", "AppealPaymentNoted"): appeal_payment_noted,
    ("negotiation", "AlreadyPaidUpdated"): already_paid_updated,
    ("negotiation", "NegotiationClosed"): negotiation_closed,
    ("settlement", "SettlementOpened"): settlement_opened,
    ("settlement", "PaymentPosted"): payment_posted,
    ("settlement", "PaymentReversed"): payment_reversed,
    ("settlement", "RecoupmentPosted"): recoupment_posted,
    ("settlement", "InterestPosted"): interest_posted,
    ("settlement", "SettlementPaidInFull"): settlement_paid_in_full,
    ("settlement", "SettlementUnderpaid"): settlement_underpaid,
    ("settlement", "SettlementOverpaid"): settlement_overpaid,
    ("settlement", "SettlementOverdue"): settlement_overdue,
    ("settlement", "FeePosted"): fee_posted,
    ("settlement", "BalanceBillingRiskFlagged"): balance_billing_risk_flagged,
    ("settlement", "PatientResponsibilityRecorded"): patient_responsibility_recorded,
    ("settlement", "RemittanceFileReceived"): remittance_file_received,
    ("settlement", "RemittanceFileAccepted"): remittance_file_accepted,
    ("settlement", "RemittanceFileQuarantined"): remittance_file_quarantined,
    ("settlement", "RemittanceImported"): remittance_imported,
    ("settlement", "RemittanceChunkPosted"): remittance_chunk_posted,
    ("settlement", "InitialAdjudicationRemitted"): initial_adjudication_remitted,
    ("settlement", "UnmatchedClaimPaymentQueued"): unmatched_claim_payment_queued,
    ("settlement", "UnmatchedClaimPaymentResolved"): unmatched_claim_payment_resolved,
    ("settlement", "UnmatchedServiceLineQueued"): unmatched_service_line_queued,
    ("settlement", "UnmatchedServiceLineResolved"): unmatched_service_line_resolved,
    ("settlement", "SettlementWaitlistStarted"): settlement_waitlist_started,
    ("settlement", "ClaimPaymentWaitlisted"): claim_payment_waitlisted,
    ("settlement", "FeeLineWaitlisted"): fee_line_waitlisted,
    ("settlement", "AutomaticPostingRefused"): automatic_posting_refused,
    ("fees", "FeeAssessed"): fee_assessed,
    ("fees", "IdrFeePassedThrough"): idr_fee_passed_through,
    ("fees", "FeeAccountOpened"): fee_account_opened,
    ("fees", "ClaimFactsRecorded"): claim_facts_recorded,
    ("fees", "FeeScheduleCreated"): fee_schedule_created,
    ("fees", "FeeScheduleVersionPublished"): fee_schedule_version_published,
    ("fees", "ClientBillingOpened"): client_billing_opened,
    ("fees", "InvoiceIssued"): invoice_issued,
    ("fees", "InvoiceLinesRecorded"): invoice_lines_recorded,
}
