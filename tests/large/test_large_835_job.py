"""Through the gateway: an 835 of 50,000 claim payments posts as an import job, with progress
at least once a second, and ends with every payment posted once, one fee billed on each, and
every settlement event in the ledger (`make test-large`; docs/settlement.md "835 import
jobs"). The claims are imported through the gateway; settlement's matching facts and open
settlements are written directly, as bench/large_835_bench.py does (opening 50,000 settlements
one agreement event at a time takes most of an hour on 2 cores, and is not what this checks)."""

from __future__ import annotations

import pytest

from bench.large_835_bench import seeded_settlements
from tests.e2e.journey import Vendor
from tests.e2e.large_remittance import Timings, post_large_835

# Tens of minutes on a busy machine: past the suite's 300 s per-test timeout.
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(3600)]

CLAIMS = 50_000


async def test_an_835_of_50000_payments_posts_as_a_job_and_bills_each_once(stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    timings = Timings()
    try:
        # Progress at least every 3 s (slack: the whole stack shares this interpreter).
        await post_large_835(vendor, CLAIMS, timings, setup=seeded_settlements,
                             read_models=False, as_job=True, max_gap=3.0)
    finally:
        print({name: round(value, 2) for name, value in timings.figures.items()})
