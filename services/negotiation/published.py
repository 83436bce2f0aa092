"""The negotiation service's published language: domain event -> contract (docs/events.md).

The one place the negotiation domain meets its integration-event contracts
(proto/oonledger/negotiation/v1/events.proto). The federal IDR events are recorded by the
`FederalIdrDispute` aggregate and keep their contract names. Events not listed leave as
canonical JSON (none any more: every event the relay publishes has a contract).
"""

from __future__ import annotations

from oonledger.negotiation.v1 import events_pb2 as v1
from services.common.contracts import PublishedLanguage, from_fields
from services.negotiation.domain import (
    ClaimFacts,
    ClientPolicy,
    CoolingOffRegister,
    FederalIdrDispute,
    Negotiation,
)
from services.negotiation.domain.compliance_record import ComplianceRecord

LANGUAGE = PublishedLanguage(
    "negotiation",
    {
        Negotiation.Opened: from_fields(v1.Opened),
        FederalIdrDispute.IdrInitiated: from_fields(v1.IdrInitiated),
        Negotiation.SettlementAgreed: from_fields(v1.SettlementAgreed),
        FederalIdrDispute.IdrDetermined: from_fields(v1.IdrDetermined),
        FederalIdrDispute.IdrClosed: from_fields(v1.IdrClosed),
        FederalIdrDispute.IdrSettled: from_fields(v1.IdrSettled),
        FederalIdrDispute.IdrFeeRecorded: from_fields(v1.IdrFeeRecorded),
        # Folded by the audit ledger.
        Negotiation.OfferMade: from_fields(v1.OfferMade),
        Negotiation.CounterOfferMade: from_fields(v1.CounterOfferMade),
        Negotiation.OpenNegotiationNoticeSent: from_fields(v1.OpenNegotiationNoticeSent),
        Negotiation.EscalationRaised: from_fields(v1.EscalationRaised),
        Negotiation.DeadlineExtended: from_fields(v1.DeadlineExtended),
        FederalIdrDispute.IdrOfferSubmitted: from_fields(v1.IdrOfferSubmitted),
        FederalIdrDispute.CoolingOffStarted: from_fields(v1.CoolingOffStarted),
        # Recorded by the audit ledger only.
        Negotiation.AssigneeChanged: from_fields(v1.AssigneeChanged),
        Negotiation.DecisionProposed: from_fields(v1.DecisionProposed),
        Negotiation.DecisionApproved: from_fields(v1.DecisionApproved),
        Negotiation.DecisionRejected: from_fields(v1.DecisionRejected),
        Negotiation.PayerResponseReceived: from_fields(v1.PayerResponseReceived),
        FederalIdrDispute.IdrEligibilityDetermined: from_fields(v1.IdrEligibilityDetermined),
        FederalIdrDispute.IdreSelected: from_fields(v1.IdreSelected),
        ClientPolicy.PolicyStarted: from_fields(v1.PolicyStarted),
        ClientPolicy.PolicySet: from_fields(v1.PolicySet),
        CoolingOffRegister.RegisterOpened: from_fields(v1.RegisterOpened),
        CoolingOffRegister.PeriodRecorded: from_fields(v1.PeriodRecorded),
        ClaimFacts.ClaimFactsNoted: from_fields(v1.ClaimFactsNoted, internal=("line_count",)),
        ClaimFacts.AdjudicationNoted: from_fields(v1.AdjudicationNoted),
        ClaimFacts.AppealPaymentNoted: from_fields(v1.AppealPaymentNoted),
        # Folded by the audit ledger: the case's compliance report as it stood after an act.
        ComplianceRecord.ComplianceRecordOpened: from_fields(v1.ComplianceRecordOpened),
        ComplianceRecord.ComplianceReportStated: from_fields(v1.ComplianceReportStated),
        Negotiation.AlreadyPaidUpdated: from_fields(v1.AlreadyPaidUpdated),
        Negotiation.NegotiationClosed: from_fields(v1.NegotiationClosed),
        # Consumed by claims: the claim's work queue shows the reason.
        ClaimFacts.NegotiationRefused: from_fields(v1.NegotiationRefused),
    },
)
