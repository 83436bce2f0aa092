"""The rebuild command names every read model and refuses an unknown one."""

from __future__ import annotations

import pytest

from services.ops import rebuild


def test_list_names_every_read_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert rebuild.main(["--list"]) == 0
    printed = capsys.readouterr().out
    for model in rebuild.READ_MODELS:
        assert f"{model.service} {model.name}" in printed


def test_an_unknown_read_model_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert rebuild.main(["claims", "no-such-model"]) == 2
    assert "no read model claims 'no-such-model'" in capsys.readouterr().err
    assert rebuild.main(["claims"]) == 2  # a service alone lists them, as a usage error
