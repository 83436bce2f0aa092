"""The 837 loops around a claim beyond what the ledger writes back: other payers (COB, loops
2320/2330 and 2430), attachments (PWK), the claim's and lines' providers (2310/2420) and the
institutional codes (HI condition, occurrence, occurrence span and value codes). Neutral values,
money in integer cents, dates as `datetime.date`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ProviderRole:
    """NM101 entity codes of the 2310/2420 provider loops."""

    RENDERING = "82"
    REFERRING = "DN"
    ORDERING = "DK"
    SUPERVISING = "DQ"
    ATTENDING = "71"
    OPERATING = "72"
    OTHER_OPERATING = "ZZ"
    SERVICE_FACILITY = "77"
    PURCHASED_SERVICE = "QB"
    PRIMARY_CARE = "P3"


@dataclass(frozen=True)
class ClaimProvider:
    """One NM1 of loop 2310x (claim) or 2420x (line): role (NM101), name, NPI (NM109 with XX)."""

    role: str
    last_name: str  # or the organisation name
    first_name: str = ""
    npi: str = ""


@dataclass(frozen=True)
class Attachment:
    """PWK: report type (PWK01, e.g. OZ, 09), transmission (PWK02, e.g. EL, FX, BM), the
    attachment control number (PWK06); `line` is the LX number, 0 at claim level."""

    report_type: str
    transmission_code: str
    control_number: str = ""
    line: int = 0


@dataclass(frozen=True)
class ClaimAdjustment:
    """One CAS triplet of another payer's adjudication (2320 claim level, 2430 line level)."""

    group: str
    reason: str
    amount_cents: int
    quantity: str = ""


@dataclass(frozen=True)
class OtherPayer:
    """Loop 2320 (SBR of another payer's subscriber) with its 2330A/2330B names and what that
    payer decided: AMT*D paid, AMT*EAF remaining patient liability, claim-level CAS."""

    responsibility: str  # SBR01: P primary, S secondary, T tertiary, ...
    relationship: str = ""  # SBR02
    filing_indicator: str = ""  # SBR09
    payer_id: str = ""  # 2330B NM109
    payer_name: str = ""  # 2330B NM103
    subscriber_last_name: str = ""  # 2330A NM103
    subscriber_first_name: str = ""
    member_id: str = ""  # 2330A NM109
    paid_cents: int | None = None  # AMT*D
    remaining_liability_cents: int | None = None  # AMT*EAF
    adjustments: tuple[ClaimAdjustment, ...] = ()
    adjudication_date: date | None = None  # DTP*573 of the 2330B loop


@dataclass(frozen=True)
class LineAdjudication:
    """Loop 2430: SVD (payer, paid amount, procedure, units), line CAS and DTP*573."""

    payer_id: str
    paid_cents: int
    procedure_code: str = ""
    units: str = ""
    adjustments: tuple[ClaimAdjustment, ...] = ()
    adjudication_date: date | None = None


@dataclass(frozen=True)
class OccurrenceCode:
    """HI BH/ABH (occurrence, one date) or BI (occurrence span, from..to)."""

    code: str
    start: date | None
    end: date | None = None


@dataclass(frozen=True)
class ValueCode:
    """HI BE: a value code with its amount (cents)."""

    code: str
    amount_cents: int
