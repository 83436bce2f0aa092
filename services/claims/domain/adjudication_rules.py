"""What a payer's adjudication must satisfy before it is recorded, and whether it is adverse."""

from __future__ import annotations

import re
from datetime import date

from services.claims.domain.claim_data import Adjudication, ClaimData
from services.common.errors import FieldViolation, InvalidArgument


def is_adverse(adjudication: Adjudication, data: ClaimData) -> bool:
    """Denied, or paid less than billed: an adverse benefit determination one may appeal."""
    billed = adjudication.billed_cents or data.billed_cents
    return (
        adjudication.denied
        or adjudication.paid_cents + (adjudication.patient_responsibility_cents) < billed
    )


def validate_adjudication(a: Adjudication, data: ClaimData, today: date) -> None:
    bad: list[FieldViolation] = []
    prefix = "adjudication."
    for name in (
        "billed_cents",
        "allowed_cents",
        "paid_cents",
        "patient_responsibility_cents",
        "qpa_cents",
    ):
        if getattr(a, name) < 0:
            bad.append(FieldViolation(prefix + name, "must not be negative"))
    billed = a.billed_cents or data.billed_cents
    if a.allowed_cents > billed:
        bad.append(FieldViolation(prefix + "allowed_cents", "exceeds the billed amount"))
    if a.paid_cents + a.patient_responsibility_cents > billed:
        bad.append(
            FieldViolation(
                prefix + "paid_cents", "paid plus patient responsibility exceeds the billed amount"
            )
        )
    if a.received_date > today:
        bad.append(FieldViolation(prefix + "received_date", "in the future"))
    if data.lines and a.received_date < data.first_service_date:
        bad.append(FieldViolation(prefix + "received_date", "before the first date of service"))
    if a.qpa_disclosed and a.qpa_cents <= 0:
        bad.append(FieldViolation(prefix + "qpa_cents", "a disclosed QPA must be positive"))
    if a.denied and a.paid_cents:
        bad.append(FieldViolation(prefix + "paid_cents", "a denied claim pays nothing"))
    for i, code in enumerate(a.carc_codes):
        if not re.match(r"^([1-9]\d{0,3}|[A-Z]\d{1,2}|[A-Z])$", code):
            bad.append(FieldViolation(f"{prefix}carc_codes[{i}]", f"{code!r} is not a CARC"))
    for i, code in enumerate(a.rarc_codes):
        if not re.match(r"^(M|MA|N)\d{1,4}$", code):
            bad.append(FieldViolation(f"{prefix}rarc_codes[{i}]", f"{code!r} is not a RARC"))
    if len(a.payer_claim_control_number) > 50:
        bad.append(FieldViolation(prefix + "payer_claim_control_number", "at most 50 characters"))
    if bad:
        raise InvalidArgument(bad)
