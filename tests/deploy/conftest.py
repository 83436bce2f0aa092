"""Deployment tests: the `cluster` marker (multi-process failure tests, slower and opt-in)."""

from __future__ import annotations

import os

import pytest

OPT_IN = "OON_CLUSTER_TEST"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cluster: starts a 3-node NATS cluster (and replicas of every service) and kills some; "
        f"runs with `pytest -m cluster tests/deploy` or {OPT_IN}=1",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(OPT_IN) == "1" or "cluster" in str(config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason=f"cluster test: opt in with `-m cluster` or {OPT_IN}=1")
    for item in items:
        if item.get_closest_marker("cluster") is not None:
            item.add_marker(skip)
