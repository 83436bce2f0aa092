"""Publish claims and negotiation events onto JetStream exactly as those services' relays do."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from nats.js import JetStreamContext

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.phi import PATIENT_CONTROL_NUMBER, PAYER_CLAIM_NUMBER, normalized
from services.common.settings import Settings
from services.common.wire import published_fields, subject_for, to_timestamp

from .scenario import DOS, PAYEE_NPI, ClaimFacts

AGGREGATES = {"claims": "Claim", "negotiation": "Negotiation", "fees": "FeeAccount"}
# One increasing sequence for every publisher in the process: the eventsourcing tracking check
# behind ApplicationProcessor treats an id at or below the highest seen as already processed,
# exactly as a real upstream's notification log (strictly increasing) would never violate.
_NOTIFICATION_IDS = itertools.count(random.randrange(10**9, 10**10))


@dataclass
class Upstream:
    js: JetStreamContext
    settings: Settings
    tenant_id: str

    async def emit(
        self, service: str, event_type: str, claim_id: str, payload: dict[str, Any]
    ) -> None:
        notification_id = next(_NOTIFICATION_IDS)
        now = datetime.now(UTC)
        # A contracted event travels as its contract message, as the real relay sends it.
        published = published_fields(service, event_type, payload)
        envelope = EventEnvelope(
            event_id=f"{service}:{notification_id}",
            service=service,
            notification_id=notification_id,
            tenant_id=self.tenant_id,
            claim_id=claim_id,
            aggregate_type=AGGREGATES[service],
            aggregate_id=claim_id,
            aggregate_version=1,
            event_type=event_type,
            schema_version=published.schema_version,
            occurred_at=to_timestamp(now),
            recorded_at=to_timestamp(now),
            actor="test",
            request_id=f"upstream-{notification_id}",
            correlation_id=f"upstream-{notification_id}",
            payload=published.payload,
            payload_content_type=published.content_type,
        )
        prefix = self.settings.subject_prefix_for(service)
        await self.js.publish(
            subject_for(prefix, envelope),
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": envelope.event_id},
        )

    async def claim(
        self,
        claim_id: str,
        facts: ClaimFacts,
        *,
        nsa_protected: bool = True,
        lines: list[dict[str, Any]] | None = None,
    ) -> None:
        """ClaimRegistered (with its 837 lines, one 99285 line by default), the adjudication
        and the triage, as the claims service publishes them: the patient control number and
        the ICN as keyed hashes only (services/common/phi.py)."""
        keys = self.settings.phi_keys()
        pcn = normalized(facts.patient_control_number)
        await self.emit(
            "claims",
            "ClaimRegistered",
            claim_id,
            {
                "claim": {
                    "client_id": "client-1",
                    "patient_control_number_index": keys.index(
                        self.tenant_id, PATIENT_CONTROL_NUMBER, pcn),
                    "patient_control_number_sealed": keys.seal(facts.patient_control_number),
                    "provider": {"name": "EP", "npi": PAYEE_NPI, "tin": "123456789"},
                    "payer": {"payer_id": "87726", "name": "EXAMPLE HEALTH PLAN"},
                    "lines": lines
                    or [
                        {
                            "procedure_code": "99285",
                            "modifiers": [],
                            "billed_cents": facts.charge_cents,
                            "service_date": DOS.isoformat(),
                            "line_control_number": f"{facts.key}1",
                        }
                    ],
                    "total_billed_cents": facts.charge_cents,
                },
                "original_payer_claim_control_number_index": "",
            },
        )
        await self.emit(
            "claims",
            "AdjudicationRecorded",
            claim_id,
            {
                "adjudication": {
                    "payer_claim_control_number_index": keys.index(
                        self.tenant_id, PAYER_CLAIM_NUMBER, facts.icn),
                    "received_date": DOS.isoformat(),
                },
                "client_id": "client-1",
                "payer_id": "87726",
            },
        )
        await self.emit(
            "claims",
            "ClaimTriaged",
            claim_id,
            {
                "route": "federal_idr" if nsa_protected else "not_eligible",
                "nsa_protected": nsa_protected,
                "payer_id": "87726",
            },
        )

    async def agreed(self, claim_id: str, facts: ClaimFacts, on: date) -> None:
        await self.emit(
            "negotiation",
            "SettlementAgreed",
            claim_id,
            {
                "claim_id": claim_id,
                "offer_id": f"offer-{claim_id}",
                "agreed_on": on.isoformat(),
                "agreed_total_cents": facts.agreed_cents,
                "patient_cost_sharing_cents": facts.cost_sharing_cents,
                "already_paid_cents": facts.initial_paid_cents,
                "amount_owed_cents": facts.agreed_cents
                - facts.cost_sharing_cents
                - facts.initial_paid_cents,
                "payment_due_on": (on + timedelta(days=30)).isoformat(),
                "during_idr": False,
                "dispute_number": "",
            },
        )

    async def determined(self, claim_id: str, facts: ClaimFacts, on: date, award: int) -> None:
        await self.emit(
            "negotiation",
            "IdrDetermined",
            claim_id,
            {
                "claim_id": claim_id,
                "dispute_number": f"DISP-{claim_id}",
                "determined_on": on.isoformat(),
                "prevailing_party": "provider",
                "award_total_cents": award,
                "patient_cost_sharing_cents": facts.cost_sharing_cents,
                "already_paid_cents": facts.initial_paid_cents,
                "amount_owed_cents": award - facts.cost_sharing_cents - facts.initial_paid_cents,
                "payment_due_on": (on + timedelta(days=30)).isoformat(),
                "rule_set_version": "nsa-2025-01-01",
            },
        )

    async def fee_assessed(self, claim_id: str, line_id: str, kind: str, amount: int) -> None:
        await self.emit(
            "fees",
            "FeeAssessed",
            claim_id,
            {
                "source_event_id": f"settlement:{line_id}",
                "payment_kind": "PAYMENT",
                "line": {
                    "line_id": line_id,
                    "kind": kind,
                    "amount_cents": amount,
                    "claim_id": claim_id,
                    "remittance_trn": "EFT-FEE",
                },
            },
        )
