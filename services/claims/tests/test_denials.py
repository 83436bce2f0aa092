"""CARC/RARC → remedy mapping (DOMAIN.md §2.2)."""

from __future__ import annotations

import pytest

from services.claims.domain.denials import Remedy, needs_rarc, primary_remedy, remedies_for


@pytest.mark.parametrize(
    ("carc", "remedy"),
    [
        ("1", Remedy.NOTHING_TO_DO),
        ("2", Remedy.NOTHING_TO_DO),
        ("3", Remedy.NOTHING_TO_DO),
        ("16", Remedy.RESUBMIT_CORRECTED),
        ("4", Remedy.RESUBMIT_CORRECTED),
        ("18", Remedy.NOTHING_TO_DO),
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
