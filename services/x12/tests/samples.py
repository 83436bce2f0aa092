"""The shared public X12 samples (/work/shared/x12-samples, see its README): read, never copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.plugin import x12_samples_dir

SAMPLES = x12_samples_dir()
DATA = Path(__file__).parent / "data"
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"shared X12 sample folder {SAMPLES} is absent"
)


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def sample_files() -> list[Path]:
    """Every data file of the sample folder (not its README), sorted."""
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix != ".md")
