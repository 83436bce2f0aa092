"""What a federal IDR dispute knows of its negotiation (federal_idr_dispute.py)."""

from __future__ import annotations

from dataclasses import dataclass

from services.negotiation.domain.vocabulary import Party


@dataclass(frozen=True)
class DisputedClaim:
    """What a dispute needs to know of its negotiation (read when each command runs)."""

    claim_id: str
    qpa_cents: int
    patient_cost_sharing_cents: int
    already_paid_cents: int
    service_code: str
    provider_key: str  # cooling-off party keys (cooling_off.py)
    payer_key: str
    settled: bool  # the parties agreed in negotiation after initiation: the process ends

    def party_keys(self, initiating_party: str) -> tuple[str, str]:
        """(initiating party key, other party key) for cooling-off across cases."""
        if initiating_party == Party.PROVIDER:
            return (self.provider_key, self.payer_key)
        return (self.payer_key, self.provider_key)
