"""CARC/RARC → remedy mapping (DOMAIN.md §2.2)."""

from __future__ import annotations

from datetime import date

import pytest

from services.claims.domain.denials import (
    Remedy,
    needs_rarc,
    primary_remedy,
    remedies_for,
    work_action,
)


@pytest.mark.parametrize(
    ("carc", "remedy"),
    [
        ("1", Remedy.NOTHING_TO_DO),
        ("2", Remedy.NOTHING_TO_DO),
        ("3", Remedy.NOTHING_TO_DO),
        ("16", Remedy.RESUBMIT_CORRECTED),
        ("4", Remedy.RESUBMIT_CORRECTED),
        ("18", Remedy.CLOSE_DUPLICATE),
        ("119", Remedy.WRITE_OFF),
        ("22", Remedy.BILL_OTHER_PAYER),
        ("29", Remedy.APPEAL),
        ("45", Remedy.NEGOTIATE),
        ("50", Remedy.APPEAL),
        ("96", Remedy.APPEAL),
        ("97", Remedy.APPEAL),
        ("131", Remedy.NOTHING_TO_DO),
        ("197", Remedy.ATTACH_DOCUMENTATION),
        ("242", Remedy.NEGOTIATE),
        ("243", Remedy.NEGOTIATE),
    ],
)
def test_carc_remedies(carc, remedy):
    (mapped,) = remedies_for((carc,), ())
    assert mapped.remedy is remedy
    assert mapped.code == f"CARC {carc}"
    assert mapped.explanation


def test_rarc_and_priority():
    remedies = remedies_for(("16", "45"), ("N290",))
    assert [r.code for r in remedies] == ["CARC 16", "CARC 45", "RARC N290"]
    assert primary_remedy(remedies) is Remedy.RESUBMIT_CORRECTED
    assert primary_remedy(remedies_for(("45",), ("N830",))) is Remedy.NEGOTIATE
    assert primary_remedy(()) is Remedy.NOTHING_TO_DO


def test_unknown_codes_ask_for_review_instead_of_failing():
    (mapped,) = remedies_for(("B7",), ())
    assert mapped.remedy is Remedy.ATTACH_DOCUMENTATION
    assert "Unknown" in mapped.explanation


def test_carcs_that_require_a_rarc():
    assert all(needs_rarc(c) for c in ("16", "17", "96", "125", "A1"))
    assert not needs_rarc("45")


def test_each_action_has_its_due_date_and_the_rule_that_set_it():
    received = date(2026, 10, 30)  # a Friday
    expected = {
        "16": (Remedy.RESUBMIT_CORRECTED, date(2027, 1, 28), "90 calendar days"),
        "18": (Remedy.CLOSE_DUPLICATE, date(2026, 11, 29), "duplicate"),
        # Calendar days: the NSA's business-day clock is negotiation's (on the case).
        "45": (Remedy.NEGOTIATE, date(2026, 11, 13), "hand to negotiation"),
        "50": (Remedy.APPEAL, date(2027, 4, 28), "2560.503-1"),
        "119": (Remedy.WRITE_OFF, date(2026, 11, 29), "write-off"),
        "197": (Remedy.ATTACH_DOCUMENTATION, date(2026, 12, 29), "documentation"),
    }
    for carc, (remedy, due, rule) in expected.items():
        action = work_action(remedies_for((carc,), ()), received)
        assert (action.remedy, action.due) == (remedy, due), carc
        assert rule in action.rule and action.reason.startswith(f"CARC {carc}: ")
        assert action.rule_set_version == "denials/2026.12"
    nothing = work_action(remedies_for(("2",), ()), received)
    assert (nothing.remedy, nothing.due, nothing.rule) == (Remedy.NOTHING_TO_DO, None, "")
