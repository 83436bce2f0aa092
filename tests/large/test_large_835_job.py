"""Through the gateway: an 835 of 50,000 claim payments posts as an import job, with progress
at least once a second, survives a kill -9 of the settlement service half-way (resumes, posts
each payment once), and ends with one fee billed on each payment, every settlement event in the
ledger, the pipeline reconciled with zero gaps and every service SERVING (`make test-large`;
docs/settlement.md "835 import jobs"; issues 13 and 15). LARGE_IMPORT_CLAIMS sets the size
(default 50,000). The claims are imported through the gateway; settlement's matching facts and
open settlements are written directly (tests/e2e/seeded_settlements.py). The scenario is
tests/jobs/test_import_jobs_kill.py's at 1,000."""

from __future__ import annotations

import os

import pytest

from tests.e2e.import_kill import (
    Fixtures,
    kill_settlement_mid_835_job,
    watched_through_a_gateway_process,
)
from tests.e2e.large_remittance import Timings
from tests.e2e.seeded_settlements import opened_in_settlement

# Tens of minutes on a busy machine: past the suite's 300 s per-test timeout.
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(3600)]

CLAIMS = int(os.environ.get("LARGE_IMPORT_CLAIMS", "50000"))


async def test_an_835_of_50000_payments_posts_as_a_job_through_a_kill_9(
        stack, channel, service_runner, infra_urls, namespace, tmp_path):
    timings = Timings()
    try:
        fx = Fixtures(stack, channel, service_runner, infra_urls, namespace, tmp_path)
        async with watched_through_a_gateway_process(fx) as watched:
            await kill_settlement_mid_835_job(
                watched, CLAIMS, kill_at=CLAIMS // 2, max_gap=1.0, setup=opened_in_settlement,
                drain_timeout=1800, fees_wait=300, timings=timings)
    finally:
        print({name: round(value, 2) for name, value in timings.figures.items()})
