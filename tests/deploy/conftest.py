"""Deployment tests: the `cluster` marker (the multi-node failure test, slow and opt-in)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cluster: starts a 3-node NATS cluster and two replicas of every service, then kills "
        "some (minutes; run with `pytest -m cluster tests/deploy` or OON_CLUSTER_TEST=1)",
    )
