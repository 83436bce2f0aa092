"""837 files of many claims for the import-job tests (e2e: 2,000 claims; tests/large: 50,000).

One claim is written by the shared writer (`services/x12/writer_837.py`, which writes one claim
per interchange); its subscriber loop (HL 22 .. the last line) is repeated under the same
billing provider with a new HL number and patient control number per claim, and the SE count
recomputed: one interchange, one transaction, `count` claims.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

from services.x12.claim_837 import (
    Address,
    BillingProvider,
    Claim837,
    ClaimKind,
    Patient,
    Payer,
    ServiceLine,
)
from services.x12.writer_837 import write_837

CREATED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BILLED_CENTS = 249_000


def _claim(pcn: str) -> Claim837:
    return Claim837(
        kind=ClaimKind.PROFESSIONAL,
        patient_control_number=pcn,
        billing_provider=BillingProvider(
            "METRO EMERGENCY PHYSICIANS", "1234567893", "123456789",
            Address("1200 MARKET ST", "PHILADELPHIA", "PA", "19107"),
        ),
        payer=Payer("87726", "EXAMPLE HEALTH PLAN"),
        patient=Patient("JANE", "ROE", date(1980, 4, 2), "W123456789"),
        lines=(
            ServiceLine("99285", 185_000, date(2026, 10, 3), modifiers=("25",),
                        place_of_service="23", diagnosis_pointers=(1,)),
            ServiceLine("12002", 64_000, date(2026, 10, 3), place_of_service="23",
                        diagnosis_pointers=(1,)),
        ),
        total_billed_cents=BILLED_CENTS,
        facility_code="23",
        diagnosis_codes=("S0990XA",),
        filing_indicator="CI",
    )


def pcn_of(prefix: str, position: int) -> str:
    return f"{prefix}{position:06d}"


def many_claims_837(count: int, prefix: str, control_number: int) -> bytes:
    """An 837P of `count` claims (PCNs `<prefix>000000`..), ISA13 = `control_number`."""
    marker = "PCNMARKER"
    text = write_837(_claim(marker), sender_id="METROEDPHYS", receiver_id="EXAMPLEHP",
                     contact_name="Billing Office", contact_phone="2155550100",
                     created=CREATED).text
    segments = [s for s in text.replace("\r", "").replace("\n", "").split("~") if s]
    first_subscriber = next(i for i, s in enumerate(segments) if s.startswith("HL*2*"))
    se = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    head = [s.replace(marker, f"{prefix}BATCH") for s in segments[:first_subscriber]]
    loop, tail = segments[first_subscriber + 1 : se], segments[se:]
    st = next(i for i, s in enumerate(head) if s.startswith("ST*"))
    body: list[str] = []
    for position in range(count):
        body.append(f"HL*{position + 2}*1*22*0")
        pcn = pcn_of(prefix, position)
        body.extend(s.replace(marker, pcn) for s in loop)
    se_segment = tail[0].split("*")
    se_segment[1] = str(len(head) - st + len(body) + 1)
    isa = head[0].split("*")
    isa[13] = f"{control_number:09d}"
    trailer = [*tail[1:-1], f"IEA*1*{control_number:09d}"]
    segments = ["*".join(isa), *head[1:], *body, "*".join(se_segment), *trailer]
    return ("~\n".join(segments) + "~\n").encode()


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
