"""The fault suite (`make test-faults`): opt-in with `-m faults`, never part of `make test`."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "faults" in str(config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="fault suite: run it with `make test-faults` (-m faults)")
    for item in items:
        if item.get_closest_marker("faults") is not None:
            item.add_marker(skip)
