"""835 shapes clearinghouses send (issue #15): several interchanges with their own delimiters,
reversal and correction pairs, PLB of every reason, interest, zero-pay, provider summary
(TS3/TS2); and refusals that name the segment, the rule and the value."""

from __future__ import annotations

from datetime import date

import pytest

from services.x12.reader_835 import RemittanceFormatError, read_remittances

from .samples import DATA

TEXT = (DATA / "reversal_plb.835").read_text()


def test_two_interchanges_with_their_own_delimiters() -> None:
    paid, zero = read_remittances(TEXT)
    assert (paid.trace_number, zero.trace_number) == ("EFT-301", "NOPAY-302")
    assert (paid.total_paid_cents, paid.payment_method) == (9_050, "ACH")


def test_reversal_and_correction_pair_and_interest() -> None:
    (paid, _) = read_remittances(TEXT)
    reversal, correction, other = paid.claims
    assert (reversal.status_code, reversal.charge_cents, reversal.paid_cents) == (
        "22",
        -10_000,
        -8_000,
    )
    assert reversal.adjustments[0].amount_cents == -2_000
    assert reversal.payer_claim_control_number == "ICN-1"
    assert (correction.frequency_code, correction.original_reference) == ("7", "ICN-1")
    assert correction.paid_cents == 9_000 and correction.interest_cents == 1_250
    assert other.service_lines[0].line_control_number == "LINE-1"


def test_plb_of_every_reason_keeps_sign_and_reference() -> None:
    (paid, _) = read_remittances(TEXT)
    assert [(p.reason, p.reference, p.amount_cents) for p in paid.provider_adjustments] == [
        ("WO", "ICN-9", 1_000),
        ("FB", "OVERPAY", -500),
        ("L6", "", -250),
        ("72", "ADV", 300),
        ("CS", "ADJ", 400),
        ("J1", "", 0),
        ("IR", "", 150),
        ("AH", "", -150),
    ]
    assert all(p.fiscal_period_end == date(2026, 12, 31) for p in paid.provider_adjustments)


def test_provider_summary_ts3_ts2() -> None:
    (paid, zero) = read_remittances(TEXT)
    (summary,) = paid.provider_summaries
    assert (summary.provider_id, summary.facility_code, summary.claim_count) == (
        "1234567893",
        "11",
        3,
    )
    assert summary.total_charge_cents == 40_000
    assert summary.drg_amounts_cents == (100_000, 20_000, 30_000, 4_000, 5_000, 6_000)
    assert zero.provider_summaries == ()


def test_zero_pay_transaction() -> None:
    (_, zero) = read_remittances(TEXT)
    assert (zero.handling_code, zero.payment_method, zero.total_paid_cents) == ("H", "NON", 0)
    (denied,) = zero.claims
    assert denied.status_code == "4" and denied.adjustments[0].reason == "29"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("SVC*HC:99213*", "SVC*HC*99213*"), r"segment 30 \(SVC01\): SVC01 must be one composite"),
        (("TS2*1000*", "TS2*1O00*"), r"segment 16 \(TS201\): must be an amount"),
        (("BPR*I*90.5*", "BPR*I*90.555*"), r"segment 4 \(BPR02\): an amount has at most two"),
        (("DTM*405*20261119", "DTM*405*20261319"), r"segment 6 \(DTM02\): date '20261319'"),
        (("LX*1~\nTS3", "TS2*1*2~\nLX*1~\nTS3"), r"TS2 must follow a TS3"),
    ],
)
def test_refusals_name_segment_element_rule_and_value(
    change: tuple[str, str], fragment: str
) -> None:
    assert change[0] in TEXT
    with pytest.raises(RemittanceFormatError, match=fragment):
        read_remittances(TEXT.replace(*change, 1))


def test_no_envelope_says_so() -> None:
    body = TEXT[TEXT.index("ST*835") :]
    with pytest.raises(RemittanceFormatError, match="no ISA/GS envelope"):
        read_remittances(body)
