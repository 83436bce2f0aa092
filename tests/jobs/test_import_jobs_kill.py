"""kill -9 of the importing service in the middle of an import job (docs/claims.md "Import
jobs", docs/settlement.md "835 import jobs"), at sizes `make test` affords: 2,000 claims in an
837, 2,000 payments in an 835. The scenarios (tests/e2e/import_kill.py) are those that
tests/large runs at 50,000: the service as a real process, SIGKILLed once the job committed part
of the file, started again; every claim or payment once, every fee and ledger entry, zero
reconciliation gaps, every service SERVING."""

from __future__ import annotations

import pytest

from tests.e2e.import_kill import (
    Figures,
    Fixtures,
    kill_claims_mid_837_job,
    kill_settlement_mid_835_job,
)
from tests.e2e.large_remittance import Timings
from tests.e2e.seeded_settlements import opened_in_settlement

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLAIMS_837 = 2_000
# Settlement measures an 835 job's posting every 0.5 s, beside it (docs/settlement.md), and
# posts 1,000-2,000 payments a second here: 2,000 payments give the killer (tests/e2e/
# job_killer.py) at least two looks at a job between its first and its last chunk; 1,000 once
# gave none (the first look found the job billing).
PAYMENTS_835 = 2_000


async def test_kill_9_of_claims_mid_837_job_resumes_and_stores_each_claim_once(
        stack, channel, service_runner, infra_urls, namespace, tmp_path):
    figures = Figures()
    await kill_claims_mid_837_job(
        Fixtures(stack, channel, service_runner, infra_urls, namespace, tmp_path), CLAIMS_837,
        max_gap=5.0, figures=figures)
    figures.show()


async def test_kill_9_of_settlement_mid_835_job_posts_and_bills_each_payment_once(
        stack, channel, service_runner, infra_urls, namespace, tmp_path):
    timings = Timings()
    try:
        await kill_settlement_mid_835_job(
            Fixtures(stack, channel, service_runner, infra_urls, namespace, tmp_path),
            PAYMENTS_835, max_gap=5.0, setup=opened_in_settlement, timings=timings)
    finally:
        print({name: round(value, 2) for name, value in timings.figures.items()})
