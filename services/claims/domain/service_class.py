"""What kind of service a claim is, in the terms the No Surprises Act uses (DOMAIN.md §1.1)."""

from __future__ import annotations

from enum import StrEnum

from services.claims.domain import codes
from services.claims.domain.claim_data import ClaimData, ClaimType, NetworkStatus

# HCPCS ambulance codes: A0430/A0431 fixed/rotary-wing base, A0435/A0436 air mileage;
# A0425-A0429 and A0433/A0434 are ground.
AIR_AMBULANCE_CODES = frozenset({"A0430", "A0431", "A0435", "A0436"})
GROUND_AMBULANCE_CODES = frozenset({"A0425", "A0426", "A0427", "A0428", "A0429", "A0433", "A0434"})
# Emergency-department revenue codes 0450-0459 and E/M codes 99281-99285 (+ critical care 99291).
ED_REVENUE_PREFIX = "045"
ED_EVALUATION_CODES = frozenset({"99281", "99282", "99283", "99284", "99285", "99291", "99292"})


class ServiceClass(StrEnum):
    EMERGENCY = "emergency"
    AIR_AMBULANCE = "air_ambulance"
    GROUND_AMBULANCE = "ground_ambulance"
    ANCILLARY_AT_IN_NETWORK_FACILITY = "ancillary_at_in_network_facility"
    NON_EMERGENCY_AT_IN_NETWORK_FACILITY = "non_emergency_at_in_network_facility"
    OTHER_NON_EMERGENCY = "other_non_emergency"


def is_ancillary_code(code: str) -> bool:
    """Anesthesiology, pathology/lab, radiology, neonatology, hospitalist/intensivist care.

    Ancillary services at an in-network facility are protected and cannot be waived by
    notice and consent. Code ranges per the CPT sections (configurable list in a later rule set).
    """
    if not code[:5].isdigit():
        return False
    n = int(code[:5])
    return (
        100 <= n <= 1999  # anesthesia 00100-01999
        or 70010 <= n <= 79999  # radiology
        or 80047 <= n <= 89398  # pathology and laboratory
        or 99221 <= n <= 99239  # hospital inpatient/observation care (hospitalists)
        or 99291 <= n <= 99292  # critical care (intensivists)
        or 99466 <= n <= 99480  # neonatal / pediatric critical care
    )


def looks_like_emergency(data: ClaimData) -> bool:
    """Lines that only happen in an emergency department (used to cross-check the flag)."""
    for line in data.lines:
        if line.place_of_service == codes.POS_EMERGENCY_ROOM:
            return True
        if line.revenue_code.startswith(ED_REVENUE_PREFIX):
            return True
        if line.procedure_code in ED_EVALUATION_CODES:
            return True
    return False


def classify(data: ClaimData) -> ServiceClass:
    procedures = {line.procedure_code for line in data.lines}
    if procedures & AIR_AMBULANCE_CODES:
        return ServiceClass.AIR_AMBULANCE
    if procedures and procedures <= GROUND_AMBULANCE_CODES:
        return ServiceClass.GROUND_AMBULANCE
    if data.emergency:
        return ServiceClass.EMERGENCY
    if data.facility.network_status is NetworkStatus.IN_NETWORK:
        if data.claim_type is ClaimType.PROFESSIONAL and all(
            is_ancillary_code(code) for code in procedures
        ):
            return ServiceClass.ANCILLARY_AT_IN_NETWORK_FACILITY
        return ServiceClass.NON_EMERGENCY_AT_IN_NETWORK_FACILITY
    return ServiceClass.OTHER_NON_EMERGENCY
