"""Through the gateway: an 835 of 1,000 claims posts completely, every payment gets exactly one
fee, and the ledger has every settlement event (the 5,000- and 50,000-claim versions are
bench/large_835_bench.py)."""

from __future__ import annotations

import pytest

from tests.e2e.journey import Vendor
from tests.e2e.large_remittance import Timings, post_large_835

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLAIMS = 1_000


async def test_an_835_of_1000_claims_posts_bills_each_payment_once_and_reaches_the_ledger(
        stack, channel):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    timings = Timings()
    await post_large_835(vendor, CLAIMS, timings)
    print({name: round(value, 2) for name, value in timings.figures.items()})
