"""The waitlist backfill command refuses an incomplete environment (its work is tested against
the settlement service: services/settlement/tests/test_waitlist_backfill.py)."""

from __future__ import annotations

import pytest

from services.ops import backfill_waitlists


def test_an_incomplete_environment_is_refused(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DATABASE_URL", "NATS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OON_DATA_DIR", str(tmp_path))  # no running local system to borrow from
    assert backfill_waitlists.main(["--tenant", "t1"]) == 2
    assert "DATABASE_URL" in capsys.readouterr().err
