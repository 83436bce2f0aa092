"""The ordered matching rules of DOMAIN.md §2.4."""

from __future__ import annotations

from datetime import date

from services.settlement.domain import (
    RULE_ORIGINAL_REFERENCE,
    RULE_PATIENT_CONTROL_NUMBER,
    RULE_PAYER_CLAIM_CONTROL_NUMBER,
    RULE_TRUNCATED_PATIENT_CONTROL_NUMBER,
    ClaimIndex,
    ClaimPayment,
    ClaimReference,
    Match,
    NoMatch,
    match_claim,
)

DOS = date(2026, 8, 14)


def ref(
    claim_id: str, pcn: str, icns: tuple[str, ...] = (), charge: int = 10_000
) -> ClaimReference:
    return ClaimReference(claim_id, pcn, frozenset(icns), "1234567893", "", DOS, charge)


def clp(
    pcn: str, icn: str = "", f8: str = "", charge: int = 10_000, status: str = "1"
) -> ClaimPayment:
    return ClaimPayment(
        1, pcn, status, charge, 5_000, 0, payer_claim_control_number=icn,
        original_reference=f8, statement_from=DOS,
    )  # fmt: skip


INDEX = ClaimIndex.build(
    [
        ref("c1", "PCN-1", ("ICN-1",)),
        ref("c2", "ABCDEFGHIJKLMNOPQRSTUVWXYZ-0001"),
        ref("c3", "ABCDEFGHIJKLMNOPQRSTUVWXYZ-0002", charge=20_000),
        ref("c4", "ZZZ", ("ICN-4",)),
    ]
)


def match(payment: ClaimPayment) -> Match | NoMatch:
    return match_claim(INDEX, payment, payee_npi="1234567893")


def test_rule_1_exact_patient_control_number_wins_first() -> None:
    assert match(clp("PCN-1", icn="ICN-4")) == Match("c1", RULE_PATIENT_CONTROL_NUMBER)


def test_rule_2_payer_claim_control_number() -> None:
    assert match(clp("OTHER", icn="ICN-4")) == Match("c4", RULE_PAYER_CLAIM_CONTROL_NUMBER)


def test_rule_3_original_reference() -> None:
    assert match(clp("OTHER", icn="NEW", f8="ICN-1")) == Match("c1", RULE_ORIGINAL_REFERENCE)


def test_rule_4_truncated_number_needs_the_same_facts() -> None:
    truncated = "ABCDEFGHIJKLMNOPQRST"  # 20 characters: both c2 and c3 start with it
    assert match(clp(truncated, charge=20_000)) == Match(
        "c3", RULE_TRUNCATED_PATIENT_CONTROL_NUMBER
    )
    # Reversals carry negated charges; the match compares magnitudes.
    assert match(clp(truncated, charge=-20_000, status="22")) == Match(
        "c3", RULE_TRUNCATED_PATIENT_CONTROL_NUMBER
    )
    ambiguous = ClaimIndex.build([ref("a", "LONGNUMBER-1"), ref("b", "LONGNUMBER-2")])
    result = match_claim(ambiguous, clp("LONGNUMBER"), payee_npi="1234567893")
    assert isinstance(result, NoMatch) and "several" in result.reason


def test_truncated_number_with_another_payee_does_not_match() -> None:
    result = match_claim(INDEX, clp("ABCDEFGHIJKLMNOPQRST", charge=20_000), payee_npi="999")
    assert isinstance(result, NoMatch)


def test_unknown_claim_is_no_match_with_a_reason() -> None:
    result = match(clp("NOPE"))
    assert isinstance(result, NoMatch) and result.reason


def test_linked_icn_is_used_by_later_reversals() -> None:
    index = ClaimIndex.build([ref("c9", "P9")])
    index.link_icn("c9", "ICN-NEW")
    assert match_claim(index, clp("X", icn="ICN-NEW")) == Match(
        "c9", RULE_PAYER_CLAIM_CONTROL_NUMBER
    )
