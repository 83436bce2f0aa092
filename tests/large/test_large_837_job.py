"""Through the gateway: an 837 of 50,000 claims imports as a job, with progress at least once a
second, survives a kill -9 of the claims service half-way (resumes, stores each claim once),
and ends with every claim stored, the pipeline reconciled with zero gaps and every service
SERVING (`make test-large`; docs/claims.md "Import jobs"; issue 15). LARGE_IMPORT_CLAIMS sets
the size (default 50,000). The scenario is tests/jobs/test_import_jobs_kill.py's at 2,000."""

from __future__ import annotations

import os

import pytest

from tests.e2e.import_kill import (
    Figures,
    Fixtures,
    kill_claims_mid_837_job,
    watched_through_a_gateway_process,
)

# Tens of minutes on a busy machine: past the suite's 300 s per-test timeout.
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(3600)]

CLAIMS = int(os.environ.get("LARGE_IMPORT_CLAIMS", "50000"))


async def test_an_837_of_50000_claims_imports_as_a_job_through_a_kill_9(
        stack, channel, service_runner, infra_urls, namespace, tmp_path):
    figures = Figures()
    try:
        fx = Fixtures(stack, channel, service_runner, infra_urls, namespace, tmp_path)
        async with watched_through_a_gateway_process(fx) as watched:
            await kill_claims_mid_837_job(watched, CLAIMS, kill_at=CLAIMS // 2, max_gap=1.0,
                                          drain_timeout=1800, figures=figures)
    finally:
        figures.show()
