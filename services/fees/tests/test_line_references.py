"""What a fee line references (issue 16): the deposit, the claim's identifiers, the formula's
inputs; lines recorded before read them as empty; invoices net per ERA."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from services.fees.domain import (
    FeeBase,
    LineReferences,
    PaymentKind,
    ResolutionStage,
    assess_payment,
    era_totals,
    line_from_record,
    line_to_record,
)
from services.fees.tests.builders import account, fee_line, flat_rate, payment, version

DEPOSIT = dt.date(2026, 11, 23)
REFS = LineReferences(deposit_date=DEPOSIT, payer_claim_control_number_index="ab" * 32,
                      payer_claim_control_number_sealed="v1:sealed")


def test_a_line_carries_the_facts_references_and_the_formula_inputs() -> None:
    fact = replace(payment(60_000, trn="TRN-2", kind=PaymentKind.REVERSAL), references=REFS)
    state = account(stage=ResolutionStage.IDR, paid_cents=100_000, fee_billed_cents=25_000)
    terms = flat_rate(2500, base=FeeBase.FULL_AWARD, include_interest=True)
    line = assess_payment(state, replace(fact, amount_cents=-60_000), version(terms, 3)).line
    assert line is not None and line.amount_cents == -15_000
    assert (line.remittance_trn, line.references, line.schedule_version) == ("TRN-2", REFS, 3)
    assert (line.resolution_stage, line.fee_base, line.interest_included) == (
        "IDR", "FULL_AWARD", True)
    assert line_from_record(line_to_record(line)) == line


def test_a_line_recorded_before_references_reads_them_as_empty() -> None:
    record = line_to_record(fee_line("l1", DEPOSIT, 100))
    for name in ("deposit_date", "payer_claim_control_number_index",
                 "payer_claim_control_number_sealed", "plb_reference_index",
                 "plb_reference_sealed", "resolution_stage", "fee_base", "interest_included"):
        del record[name]  # type: ignore[misc]
    line = line_from_record(record)
    assert line.references == LineReferences() and line.fee_base == ""
    assert not line.interest_included


def test_an_invoice_nets_a_reversal_and_its_correction_per_era() -> None:
    first = fee_line("l1", dt.date(2026, 11, 16), 15_000)
    reversal = replace(fee_line("l2", DEPOSIT, -15_000), remittance_trn="TRN-2",
                       references=REFS)
    correction = replace(fee_line("l3", DEPOSIT, 17_500), remittance_trn="TRN-2",
                         references=REFS)
    totals = era_totals([first, reversal, correction])
    assert [(t.trace_number, t.deposit_date, t.net_cents, t.line_count) for t in totals] == [
        ("EFT-1", None, 15_000, 1), ("TRN-2", DEPOSIT, 2_500, 2)]
