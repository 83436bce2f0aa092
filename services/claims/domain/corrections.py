"""What a corrected (replacement) claim changed compared with the original."""

from __future__ import annotations

from dataclasses import fields

from services.claims.domain.claim_data import ClaimData

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
