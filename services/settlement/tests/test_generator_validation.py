"""The generated 835s are valid X12 to the maintained validator (pyx12), not just to our reader."""

from __future__ import annotations

from services.x12.tests.pyx12_validation import pyx12_errors

from .scenario import scenario_835, unbalanced_835


def test_realistic_scenario_passes_pyx12() -> None:
    assert pyx12_errors(scenario_835("v1")) == []


def test_pyx12_does_not_check_money_so_our_balancing_must() -> None:
    # pyx12 accepts the unbalanced file: balancing (DOMAIN.md §2.3) is ours to enforce.
    assert pyx12_errors(unbalanced_835("v2")) == []
