"""The claims service's published language: domain event -> contract (docs/events.md).

The one place the claims domain meets its integration-event contracts
(proto/oonledger/claims/v1/events.proto). Every event not listed leaves as canonical JSON.

The identifiers of a patient's account never leave in plain text (issue 21 item 5): the patient
control number travels as its keyed hash (`patient_control_number_index`) and sealed
(`patient_control_number_sealed`, for the read model that displays it); the payer's claim
control numbers travel as keyed hashes only. Both need the deployment's PHI key, so the language
is built with it: `language(settings.phi_keys())`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from oonledger.claims.v1 import events_pb2 as v1
from services.claims.domain import Claim
from services.common import phi
from services.common.contracts import (
    ENVELOPE_FACTS,
    PublishedLanguage,
    from_fields,
    message_from_dict,
)
from services.common.wire import event_fields


def language(keys: phi.PhiKeys) -> PublishedLanguage:
    """The claims service's translations, tokenizing account identifiers under `keys`."""
    return PublishedLanguage(
        "claims",
        {
            # The patient is PHI: it is never a field of the contract (wire.event_fields drops
            # it); the account identifiers are replaced by their index (and seal).
            Claim.ClaimRegistered: _claim_registered(keys),
            Claim.AdjudicationRecorded: _adjudication_recorded(keys),
            Claim.ClaimTriaged: from_fields(v1.ClaimTriaged),
            Claim.ClaimUpdated: _claim_updated(keys),
            Claim.ClaimWithdrawn: from_fields(v1.ClaimWithdrawn),
            # Folded by the audit ledger.
            Claim.ClaimStageReached: from_fields(v1.ClaimStageReached),
            Claim.AppealDecisionRecorded: from_fields(v1.AppealDecisionRecorded),
            # Consumed by nobody yet; the claim's record of negotiation's refusal.
            Claim.NegotiationRefusalRecorded: from_fields(v1.NegotiationRefusalRecorded),
        },
    )


def _tenant_of(event: Any) -> str:
    tenant = getattr(event, "tenant_id", "") or event.meta.get("tenant_id", "")
    if not tenant:
        raise ValueError(f"{type(event).__name__} names no tenant: cannot index its identifiers")
    return str(tenant)


def _published_claim(keys: phi.PhiKeys, tenant: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The claim as ClaimRegistered/ClaimUpdated publish it: the PCN as index and seal."""
    claim = dict(stored)
    pcn = claim.pop("patient_control_number")
    claim["patient_control_number_index"] = keys.index(tenant, phi.PATIENT_CONTROL_NUMBER, pcn)
    claim["patient_control_number_sealed"] = keys.seal(pcn)
    # A facility address is recorded only when stated (and not at all before it existed).
    claim["facility"] = {"address": None, **claim["facility"]}
    return claim


def _claim_updated(keys: phi.PhiKeys) -> Callable[[Any], Message]:
    def translate(event: Any) -> Message:
        fields = event_fields(event)
        fields["claim"] = _published_claim(keys, _tenant_of(event), fields["claim"])
        return message_from_dict(v1.ClaimUpdated, fields, internal=ENVELOPE_FACTS)

    return translate


def _claim_registered(keys: phi.PhiKeys) -> Callable[[Any], Message]:
    def translate(event: Any) -> Message:
        tenant = _tenant_of(event)
        fields = event_fields(event)
        fields["claim"] = _published_claim(keys, tenant, fields["claim"])
        fields["original_payer_claim_control_number_index"] = keys.index(
            tenant, phi.PAYER_CLAIM_NUMBER, fields.pop("original_payer_claim_control_number"))
        return message_from_dict(v1.ClaimRegistered, fields, internal=ENVELOPE_FACTS)

    return translate


def _adjudication_recorded(keys: phi.PhiKeys) -> Callable[[Any], Message]:
    def translate(event: Any) -> Message:
        tenant = _tenant_of(event)
        fields = event_fields(event)
        adjudication = dict(fields["adjudication"])
        adjudication["payer_claim_control_number_index"] = keys.index(
            tenant, phi.PAYER_CLAIM_NUMBER, adjudication.pop("payer_claim_control_number"))
        fields["adjudication"] = adjudication
        return message_from_dict(v1.AdjudicationRecorded, fields, internal=ENVELOPE_FACTS)

    return translate
