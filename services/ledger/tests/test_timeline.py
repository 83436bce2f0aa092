"""Readable money and timeline lines for auditors."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.common.money import format_usd
from services.ledger.domain.timeline import describe_payload, timeline
from services.ledger.tests.factories import negotiated_claim
from services.ledger.tests.memory_log import MemoryLog


@given(st.integers(-(10**15), 10**15))
def test_cents_render_as_dollars_and_back(cents: int) -> None:
    text = format_usd(cents)
    assert parse_dollars(text) == cents
    assert text.startswith("-$" if cents < 0 else "$")
    assert text[-3] == "."


def test_known_amounts() -> None:
    assert format_usd(0) == "$0.00"
    assert format_usd(5) == "$0.05"
    assert format_usd(-5) == "-$0.05"
    assert format_usd(123456789) == "$1,234,567.89"


def test_payload_details_show_money_parties_and_dates() -> None:
    text = describe_payload(
        b'{"agreed_total_cents":240000,"claim":{"billed_cents":480000},'
        b'"party":"payer","payment_due_on":"2026-12-17","notes":"long text"}'
    )
    assert text == (
        "agreed_total=$2,400.00 claim.billed=$4,800.00 party=payer payment_due_on=2026-12-17"
    )
    assert describe_payload(b"\xff") == "<1 bytes, not JSON>"


def test_timeline_has_one_line_per_event_in_chain_order() -> None:
    log = MemoryLog()
    entries = log.append(negotiated_claim("t", "c"))
    lines = timeline(entries)
    assert len(lines) == len(entries)
    assert "#1" in lines[0] and "ClaimRegistered" in lines[0] and "billed=$4,800.00" in lines[0]
    assert "CounterOfferMade" in lines[5] and "party=payer" in lines[5]
    assert entries[0].entry_hash.hex()[:12] in lines[0]


def parse_dollars(text: str) -> int:
    """Inverse of format_usd."""
    negative = text.startswith("-")
    digits = text.lstrip("-").lstrip("$").replace(",", "")
    dollars, _, cents = digits.partition(".")
    value = int(dollars) * 100 + int(cents.ljust(2, "0")[:2])
    return -value if negative else value
