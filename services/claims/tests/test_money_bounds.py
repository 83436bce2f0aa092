"""Property tests: a claim's amounts and its total stay within the money ceiling, checked by the
domain before a claim is registered (from any source: RegisterClaim, imports, 837 files)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.claims.domain import Claim, ServiceLine, validate_claim
from services.claims.tests.factories import ctx, emergency_claim
from services.common.errors import InvalidArgument
from services.common.money import MAX_AMOUNT_CENTS, cents_from_decimal, x12_amount

LINE = ServiceLine("99285", 0, date(2026, 10, 3), 1, (), "23", "", (1,))
AMOUNTS = st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=8)


def fields(billed: list[int]) -> set[str]:
    lines = tuple(replace(LINE, billed_cents=b) for b in billed)
    return {v.field for v in validate_claim(emergency_claim(lines=lines))}


@given(AMOUNTS)
def test_each_line_and_the_total_are_within_the_ceiling_or_refused(billed: list[int]) -> None:
    refused = fields(billed)
    too_big = {f"claim.lines[{i}].billed_cents" for i, b in enumerate(billed)
               if b > MAX_AMOUNT_CENTS}
    assert too_big <= refused
    if too_big:
        return
    assert ("claim.lines" in refused) == (sum(billed) > MAX_AMOUNT_CENTS)


@given(st.lists(st.integers(0, MAX_AMOUNT_CENTS // 8), min_size=1, max_size=8))
def test_a_claim_within_the_ceiling_registers_and_its_total_is_exact(billed: list[int]) -> None:
    lines = tuple(replace(LINE, billed_cents=b) for b in billed)
    claim = Claim.register(ctx(), uuid4(), emergency_claim(lines=lines))
    assert claim.data.billed_cents == sum(billed) <= MAX_AMOUNT_CENTS


@given(st.integers(MAX_AMOUNT_CENTS + 1, 2**63 - 1))
def test_a_stated_total_beyond_the_ceiling_is_refused(total: int) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Claim.register(ctx(), uuid4(), emergency_claim(total_billed_cents=total))
    assert "claim.total_billed_cents" in {v.field for v in caught.value.violations}


@given(st.integers(MAX_AMOUNT_CENTS + 1, 2**63 - 1))
def test_an_837_amount_beyond_the_ceiling_parses_but_the_claim_is_refused(cents: int) -> None:
    # The X12 codec refuses only what int64 cannot hold; the claim rules hold the ceiling.
    assert cents_from_decimal(x12_amount(cents)) == cents
    assert "claim.lines[0].billed_cents" in fields([cents])
