"""Deterministic identifiers: a retried creation derives the same id and finds what exists."""

from __future__ import annotations

import uuid

_ROOT = uuid.UUID("6f0e5a2c-3d1b-5c8e-9a47-0b1d2c3e4f50")


def deterministic_id(tenant_id: str, kind: str, key: str) -> uuid.UUID:
    """uuid5 over (tenant, kind, caller key): the same request always names the same aggregate."""
    return uuid.uuid5(_ROOT, f"{tenant_id}\x1f{kind}\x1f{key}")
