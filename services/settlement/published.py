"""The settlement service's published language: domain event -> contract (docs/events.md).

The one place the settlement domain meets its integration-event contracts
(proto/oonledger/settlement/v1/events.proto): every event settlement records is listed here.

Identifiers of a patient's account (CLP01 patient control number, CLP07 payer claim number)
stay plain in the domain events (the event store is encrypted) and leave as their keyed hash
(`*_index`) and, where a person must read them back, sealed (`*_sealed`): services/common/phi.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from oonledger.settlement.v1 import events_pb2 as v1
from services.common.contracts import PublishedLanguage, from_fields
from services.common.phi import PATIENT_CONTROL_NUMBER, PAYER_CLAIM_NUMBER, PhiKeys
from services.settlement.domain import (
    InitialAdjudication,
    RemittanceChunk,
    RemittanceFile,
    RemittanceRecord,
    Settlement,
    SettlementWaitlist,
    UnmatchedClaimPayment,
    UnmatchedServiceLine,
)

# What an index looks like (PhiKeys.index: 64 hex digits).
_INDEX = re.compile(r"[0-9a-f]{64}")


def _tenant(event: Any) -> str:
    return str(event.meta["tenant_id"])


def _identifiers(keys: PhiKeys) -> Callable[[Any], Mapping[str, Any]]:
    """The index and sealed form of an exception's CLP01 and CLP07."""

    def extra(event: Any) -> Mapping[str, Any]:
        tenant = _tenant(event)
        pcn, icn = event.patient_control_number, event.payer_claim_control_number
        return {
            "patient_control_number_index": keys.index(tenant, PATIENT_CONTROL_NUMBER, pcn),
            "patient_control_number_sealed": keys.seal(pcn),
            "payer_claim_control_number_index": keys.index(tenant, PAYER_CLAIM_NUMBER, icn),
            "payer_claim_control_number_sealed": keys.seal(icn),
        }

    return extra


def language(keys: PhiKeys) -> PublishedLanguage:
    """The translations, with the deployment's PHI key (Settings.phi_keys())."""

    def initial_icn(event: Any) -> Mapping[str, Any]:
        # Since the claims service publishes only the ICN's index, that is what a settlement
        # keeps; one opened before it kept the plain ICN.
        icn = event.initial_payment_icn
        index = icn if _INDEX.fullmatch(icn) else keys.index(_tenant(event), PAYER_CLAIM_NUMBER,
                                                              icn)
        return {"initial_payment_icn_index": index}

    def payment_icn(event: Any) -> Mapping[str, Any]:
        icn = event.payer_claim_control_number
        return {
            "payer_claim_control_number_index": keys.index(_tenant(event), PAYER_CLAIM_NUMBER,
                                                           icn),
            "payer_claim_control_number_sealed": keys.seal(icn),
        }

    def reversal_icn(event: Any) -> Mapping[str, Any]:
        icn = event.payer_claim_control_number
        return {
            "payer_claim_control_number_index": (
                keys.index(_tenant(event), PAYER_CLAIM_NUMBER, icn) if icn else ""),
            "payer_claim_control_number_sealed": keys.seal(icn) if icn else "",
        }

    def plb_reference(event: Any) -> Mapping[str, Any]:
        # PLB03-2 names an ICN or a PCN: keyed as a payer claim number, sealed to read back.
        ref = event.plb_reference
        return {
            "plb_reference_index": keys.index(_tenant(event), PAYER_CLAIM_NUMBER, ref) if ref
            else "",
            "plb_reference_sealed": keys.seal(ref) if ref else "",
        }

    def legacy_journal(event: Any) -> Mapping[str, Any]:
        # A RemittanceImported recorded before chunks (domain v1) keeps its journal inline.
        return {"journal": list(getattr(event, "journal", []))}

    identifiers = _identifiers(keys)
    plain_identifiers = ("patient_control_number", "payer_claim_control_number")
    return PublishedLanguage(
        "settlement",
        {
            Settlement.SettlementOpened: from_fields(
                v1.SettlementOpened, internal=("initial_payment_icn",), extra=initial_icn),
            Settlement.PaymentPosted: from_fields(
                v1.PaymentPosted, internal=("payer_claim_control_number",), extra=payment_icn),
            Settlement.PaymentReversed: from_fields(
                v1.PaymentReversed, internal=("payer_claim_control_number",), extra=reversal_icn),
            Settlement.RecoupmentPosted: from_fields(
                v1.RecoupmentPosted, internal=("plb_reference",), extra=plb_reference),
            Settlement.InterestPosted: from_fields(
                v1.InterestPosted, internal=("plb_reference",), extra=plb_reference),
            Settlement.SettlementPaidInFull: from_fields(v1.SettlementPaidInFull),
            # Folded by the audit ledger.
            Settlement.SettlementUnderpaid: from_fields(v1.SettlementUnderpaid),
            Settlement.SettlementOverpaid: from_fields(v1.SettlementOverpaid),
            Settlement.SettlementOverdue: from_fields(v1.SettlementOverdue),
            # Settlement's own book and guards.
            Settlement.FeePosted: from_fields(v1.FeePosted),
            Settlement.BalanceBillingRiskFlagged: from_fields(v1.BalanceBillingRiskFlagged),
            Settlement.PatientResponsibilityRecorded: from_fields(
                v1.PatientResponsibilityRecorded),
            # The remittance import.
            RemittanceFile.RemittanceFileReceived: from_fields(v1.RemittanceFileReceived),
            # v1 events (earlier releases) kept their warnings / every reason inline.
            RemittanceFile.RemittanceFileAccepted: from_fields(
                v1.RemittanceFileAccepted, internal=("warnings",)),
            RemittanceFile.RemittanceFileQuarantined: from_fields(v1.RemittanceFileQuarantined),
            RemittanceRecord.RemittanceImported: from_fields(
                v1.RemittanceImported, extra=legacy_journal),
            RemittanceChunk.RemittanceChunkPosted: from_fields(v1.RemittanceChunkPosted),
            # A claim's first 835 payment or denial: claims records it as the adjudication.
            InitialAdjudication.InitialAdjudicationRemitted: from_fields(
                v1.InitialAdjudicationRemitted, internal=("payer_claim_control_number",),
                extra=payment_icn),
            # The exceptions queue.
            UnmatchedClaimPayment.UnmatchedClaimPaymentQueued: from_fields(
                v1.UnmatchedClaimPaymentQueued,
                # The CLP's SVCs of an item waiting for a settlement stay in the event store:
                # settlement matches them itself when it posts (settlement_waitlist.py).
                internal=(*plain_identifiers, "service_lines", "statement_from", "statement_to"),
                extra=identifiers),
            UnmatchedClaimPayment.UnmatchedClaimPaymentResolved: from_fields(
                v1.UnmatchedClaimPaymentResolved),
            UnmatchedClaimPayment.AutomaticPostingRefused: from_fields(
                v1.AutomaticPostingRefused),
            UnmatchedServiceLine.UnmatchedServiceLineQueued: from_fields(
                v1.UnmatchedServiceLineQueued, internal=plain_identifiers, extra=identifiers),
            UnmatchedServiceLine.UnmatchedServiceLineResolved: from_fields(
                v1.UnmatchedServiceLineResolved),
            # Payments waiting for a claim's settlement (posted when it opens).
            SettlementWaitlist.SettlementWaitlistStarted: from_fields(
                v1.SettlementWaitlistStarted),
            SettlementWaitlist.ClaimPaymentWaitlisted: from_fields(v1.ClaimPaymentWaitlisted),
            SettlementWaitlist.FeeLineWaitlisted: from_fields(v1.FeeLineWaitlisted),
        },
    )
