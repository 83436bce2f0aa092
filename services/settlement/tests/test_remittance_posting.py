"""Posting the realistic scenario in memory: exact amounts, exceptions, and a balanced book."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from services.settlement.adapters.x12 import read_remittances
from services.settlement.domain import (
    RULE_PATIENT_CONTROL_NUMBER,
    RULE_TRUNCATED_PATIENT_CONTROL_NUMBER,
    Account,
    ClaimIndex,
    JournalTransaction,
    Settlement,
    SettlementSource,
    account_balances,
    check_remittance,
    match_remittance,
    post_remittance,
    verify_transactions,
)

from .builders import ctx
from .scenario import claim_facts, claim_reference, plan_share, scenario_835


def _open(facts, claim_id: str) -> Settlement:  # type: ignore[no-untyped-def]
    return Settlement.open(
        ctx(),
        claim_id=claim_id,
        source=SettlementSource.AGREEMENT,
        source_ref=f"NEG-{facts.key}",
        payer_key="87726",
        agreed_total_cents=facts.agreed_cents,
        patient_cost_sharing_cents=facts.cost_sharing_cents,
        already_paid_cents=facts.initial_paid_cents,
        decided_on=date(2026, 10, 1),
        due_date=date(2026, 10, 31),
        amount_owed_cents=facts.agreed_cents - facts.cost_sharing_cents - facts.initial_paid_cents,
        nsa_protected=True,
        initial_payment_icn=facts.icn,
    )


def _post(tag: str):  # type: ignore[no-untyped-def]
    facts = claim_facts(tag)
    index = ClaimIndex.build(claim_reference(f"claim-{k}", f) for k, f in facts.items())
    settlements = {f"claim-{k}": _open(facts[k], f"claim-{k}") for k in ("A", "B", "C")}
    opening = [
        JournalTransaction.from_dict(entry)
        for s in settlements.values()
        for e in s.collect_events()
        for entry in e.journal  # type: ignore[attr-defined]
    ]
    (remittance,) = read_remittances(scenario_835(tag))
    assert check_remittance(remittance) == []
    matches = match_remittance(remittance, index)
    outcome = post_remittance(ctx(), remittance, "rem-1", index, matches, settlements)
    events = {k: s.collect_events() for k, s in settlements.items()}
    return facts, remittance, outcome, settlements, events, opening


def test_each_claim_lands_with_the_exact_amount() -> None:
    facts, _, outcome, settlements, events, _ = _post("t1")
    a, b, c = (settlements[f"claim-{k}"] for k in "ABC")
    assert a.paid_cents == plan_share(facts["A"])
    assert a.interest_cents == 1_234
    assert b.paid_cents == plan_share(facts["B"]) - 7_500  # corrected, then WO recoupment
    assert b.recouped_cents == 7_500
    assert c.outstanding_cents == 10_000
    names = {k: [type(e).__name__ for e in v] for k, v in events.items()}
    assert names["claim-A"] == ["PaymentPosted", "InterestPosted", "SettlementPaidInFull"]
    assert names["claim-B"] == [
        "PaymentReversed",
        "PaymentPosted",
        "RecoupmentPosted",
        "SettlementUnderpaid",
    ]
    assert names["claim-C"] == ["PaymentPosted", "SettlementUnderpaid"]
    assert outcome.matched[1].rule == RULE_PATIENT_CONTROL_NUMBER
    assert outcome.matched[4].rule == RULE_TRUNCATED_PATIENT_CONTROL_NUMBER


def test_unmatched_and_unsettled_claims_become_exceptions() -> None:
    _, _, outcome, _, _, _ = _post("t2")
    reasons = {e.patient_control_number: e for e in outcome.exceptions}
    assert set(reasons) == {"Dt2", "UNKNOWNt2"}
    assert reasons["Dt2"].candidate_claim_id == "claim-D"
    assert "no settlement" in reasons["Dt2"].reason
    assert reasons["UNKNOWNt2"].candidate_claim_id == ""


def test_book_balances_and_cash_equals_the_payment() -> None:
    _, remittance, outcome, _, events, opening = _post("t3")
    from_remittance = [
        JournalTransaction.from_dict(entry)
        for evs in events.values()
        for e in evs
        for entry in getattr(e, "journal", [])
    ] + outcome.remittance_journal
    assert verify_transactions(opening + from_remittance) == []
    cash = account_balances(from_remittance)[Account.PROVIDER_CASH]
    assert cash == remittance.total_paid_cents == 345_734
    balances = account_balances(outcome.remittance_journal)
    assert balances[Account.UNAPPLIED_CASH] == -60_000  # D 40,000 + X 20,000
    assert balances[Account.PAYER_FORWARD_BALANCE] == -2_000


def test_reversal_without_an_original_payment_is_an_exception() -> None:
    facts = claim_facts("t4")
    index = ClaimIndex.build(claim_reference(f"claim-{k}", f) for k, f in facts.items())
    settlement = Settlement.open(
        ctx(),
        claim_id="claim-B",
        source=SettlementSource.AGREEMENT,
        source_ref="N",
        payer_key="87726",
        agreed_total_cents=facts["B"].agreed_cents,
        patient_cost_sharing_cents=facts["B"].cost_sharing_cents,
        already_paid_cents=0,  # nothing to reverse
        decided_on=date(2026, 10, 1),
        due_date=date(2026, 10, 31),
        amount_owed_cents=facts["B"].agreed_cents - facts["B"].cost_sharing_cents,
        nsa_protected=True,
    )
    (remittance,) = read_remittances(scenario_835("t4"))
    matches = match_remittance(remittance, index)
    outcome = post_remittance(ctx(), remittance, "rem", index, matches, {"claim-B": settlement})
    reasons = [e.reason for e in outcome.exceptions if e.status_code == "22"]
    assert reasons == ["reversal names no posted payment of that amount"]


def test_patient_share_above_nsa_cost_sharing_is_flagged_not_billed() -> None:
    facts = claim_facts("t5")
    index = ClaimIndex.build(claim_reference(f"claim-{k}", f) for k, f in facts.items())
    a = facts["A"]
    settlement = _open(a, "claim-A")
    settlement.collect_events()
    (remittance,) = read_remittances(scenario_835("t5"))
    # The payer says the patient owes 50.00 more than the in-network cost sharing.
    remittance = replace(
        remittance,
        claims=(
            replace(
                remittance.claims[0],
                patient_responsibility_cents=a.cost_sharing_cents + 5_000,
            ),
            *remittance.claims[1:],
        ),
    )
    matches = match_remittance(remittance, index)
    post_remittance(ctx(), remittance, "rem", index, matches, {"claim-A": settlement})
    flagged = [
        e for e in settlement.collect_events() if type(e).__name__ == "BalanceBillingRiskFlagged"
    ]
    assert len(flagged) == 1
    assert flagged[0].allowed_cents == a.cost_sharing_cents  # type: ignore[attr-defined]
    assert "149.410" in flagged[0].rule  # type: ignore[attr-defined]
    assert settlement.patient_balance_cents == a.cost_sharing_cents
