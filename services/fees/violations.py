"""Field violations: what is wrong with which input field, collected before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str
