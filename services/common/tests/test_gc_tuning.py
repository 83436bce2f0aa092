"""The service processes' garbage-collector settings (services/common/gc_tuning.py)."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from services.common import gc_tuning


def test_thresholds_default_override_and_keep() -> None:
    assert gc_tuning.thresholds(None) == gc_tuning.THRESHOLDS
    assert gc_tuning.thresholds("") == gc_tuning.THRESHOLDS
    assert gc_tuning.thresholds("1000, 5, 7") == (1000, 5, 7)
    assert gc_tuning.thresholds("default") is None


@pytest.mark.parametrize("bad", ["1,2", "a,b,c", "0,1,1", "-5,1,1", "1,2,3,4"])
def test_bad_thresholds_are_refused_with_the_setting_named(bad: str) -> None:
    with pytest.raises(ValueError, match="OON_GC_THRESHOLDS"):
        gc_tuning.thresholds(bad)


def test_after_start_freezes_the_heap_and_sets_thresholds() -> None:
    # In a child process: freezing the test runner's own heap would outlive this test.
    code = (
        "import gc, os\n"
        "os.environ['OON_GC_THRESHOLDS'] = '12345,6,7'\n"
        "from services.common import gc_tuning\n"
        "before = gc.get_freeze_count()\n"
        "gc_tuning.after_start()\n"
        "print(before, gc.get_freeze_count(), *gc.get_threshold())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    before, frozen, *thresholds = (int(x) for x in out)
    assert before == 0 and frozen > 1000
    assert thresholds == [12345, 6, 7]
    assert gc.get_threshold() != (12345, 6, 7)  # this process untouched
