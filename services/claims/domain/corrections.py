"""Corrections of a claim: what a replacement changed, and when a claim may be replaced, voided,
updated, withdrawn or exported (issue 22: corrections without dead ends)."""

from __future__ import annotations

from dataclasses import fields

from services.claims.domain import intake
from services.claims.domain.claim_data import Adjudication, ClaimData, ClaimStatus, Frequency
from services.common.errors import FailedPrecondition, InvalidArgument

SUPERSEDED = frozenset({ClaimStatus.REPLACED, ClaimStatus.VOIDED})
# States of a claim the payer has not decided on: it may still be updated or withdrawn.
UNFILED = frozenset({ClaimStatus.REGISTERED, ClaimStatus.READY_TO_FILE})


def check_correctable(
    status: ClaimStatus,
    adjudication: Adjudication | None,
    frequency: Frequency,
    reason: str,
    reference: str,
) -> None:
    """A replacement (7) or void (8) corrects what the payer adjudicated, and its 837 names the
    payer's claim number of the original (REF*F8): from the adjudication, else `reference`."""
    if frequency is Frequency.ORIGINAL:
        raise InvalidArgument("a correction is frequency 7 (replacement) or 8 (void)", "frequency")
    if adjudication is None:
        raise FailedPrecondition(
            "the claim was never adjudicated: complete it (UpdateClaim) or withdraw it "
            "(WithdrawClaim), not a correction"
        )
    if status is ClaimStatus.IN_APPEAL:
        raise FailedPrecondition("an appeal is pending on this claim: wait for its decision")
    if frequency is Frequency.VOID and adjudication.paid_cents > 0 and not reason.strip():
        raise InvalidArgument("voiding a paid claim needs a reason", "reason")
    if not (adjudication.payer_claim_control_number or reference.strip()):
        raise InvalidArgument(
            "a replacement or void names the payer's claim number of the original (REF*F8): "
            "the recorded adjudication has none, so state it",
            "original_payer_claim_control_number",
        )


def require_unfiled(status: ClaimStatus, adjudication: Adjudication | None, action: str) -> None:
    """Update and withdraw are for a claim the payer has not adjudicated."""
    if adjudication is not None or status not in UNFILED:
        raise FailedPrecondition(
            f"cannot {action}: the payer adjudicated the claim (status {status.value}); "
            "send a replacement (7) or void (8) instead"
        )


def updated_data(current: ClaimData, frequency: Frequency, data: ClaimData) -> ClaimData:
    """The claim's new data as stored, refused on the intake rules; a correction keeps its PCN."""
    violations = intake.validate_claim(data, "claim.")
    if violations:
        raise InvalidArgument(violations)
    data = intake.canonical(data)
    if frequency is not Frequency.ORIGINAL and (
        data.patient_control_number != current.patient_control_number
    ):
        raise InvalidArgument(
            "a correction keeps the original patient control number",
            "claim.patient_control_number",
        )
    return data


def check_exportable(status: ClaimStatus, replaced_by: str) -> None:
    """Rule X12-SUPERSEDED: a replaced or voided claim is not sent again (its replacement or
    void is what the payer gets)."""
    if status in SUPERSEDED:
        raise FailedPrecondition(
            f"rule X12-SUPERSEDED: the claim was {status.value} by {replaced_by}; export that "
            "claim (frequency 7/8) instead of sending this one as an original again"
        )

_PHI_FIELDS = frozenset({"patient"})


def changed_fields(original: ClaimData, corrected: ClaimData) -> tuple[str, ...]:
    """Dotted names of the top-level and per-line fields that differ (PHI reported by section)."""
    changed: list[str] = []
    for f in fields(ClaimData):
        before, after = getattr(original, f.name), getattr(corrected, f.name)
        if before == after:
            continue
        if f.name == "lines":
            changed.extend(_line_changes(original, corrected))
        elif f.name in _PHI_FIELDS or not hasattr(before, "__dataclass_fields__"):
            changed.append(f.name)
        else:
            changed.extend(
                f"{f.name}.{sub.name}"
                for sub in fields(before)
                if getattr(before, sub.name) != getattr(after, sub.name)
            )
    return tuple(changed)


def _line_changes(original: ClaimData, corrected: ClaimData) -> list[str]:
    out: list[str] = []
    if len(original.lines) != len(corrected.lines):
        out.append("lines")
    for i, (a, b) in enumerate(zip(original.lines, corrected.lines, strict=False)):
        out.extend(
            f"lines[{i}].{f.name}" for f in fields(a) if getattr(a, f.name) != getattr(b, f.name)
        )
    return out
