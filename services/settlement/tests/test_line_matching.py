"""Rule 5 of DOMAIN.md §2.4: each 835 service line (SVC) to one line of the 837 claim."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.settlement.adapters.x12 import read_remittances
from services.settlement.domain import (
    AMBIGUOUS,
    MATCHED,
    RULE_LINE_CONTROL_NUMBER,
    RULE_PROCEDURE_DATE_CHARGE,
    UNMATCHED,
    ClaimLine,
    ClaimPayment,
    ServiceLine,
    match_lines,
)
from services.settlement.domain.matching import service_date_of, submitted_procedure
from tests.support.plugin import x12_samples_dir

DOS = date(2026, 8, 14)

LINES = (
    ClaimLine(1, "LCN-1", "99285", ("25",), DOS, 150_000),
    ClaimLine(2, "LCN-2", "93010", (), DOS, 8_000),
    ClaimLine(3, "LCN-3", "71046", ("26", "XU"), DOS, 12_500),
)


def svc(
    code: str,
    charge: int,
    *modifiers: str,
    lcn: str = "",
    on: date | None = DOS,
    paid: int = 1_000,
    submitted: tuple[str, ...] = (),
) -> ServiceLine:
    return ServiceLine(
        procedure=("HC", code, *modifiers),
        charge_cents=charge,
        paid_cents=paid,
        service_date=on,
        line_control_number=lcn,
        submitted_procedure=submitted,
    )


def clp(*lines: ServiceLine, status: str = "1", statement: tuple[date, date] | None = None):
    start, end = statement or (DOS, DOS)
    return ClaimPayment(
        1, "PCN", status, sum(x.charge_cents for x in lines), sum(x.paid_cents for x in lines),
        0, statement_from=start, statement_to=end, service_lines=lines,
    )  # fmt: skip


def test_ref_6r_takes_precedence_over_procedure_date_and_charge() -> None:
    # The SVC looks exactly like line 1, but its REF*6R echoes line 2's control number.
    (found,) = match_lines(clp(svc("99285", 150_000, "25", lcn="LCN-2")), LINES)
    assert (found.outcome, found.rule, found.claim_line) == (MATCHED, RULE_LINE_CONTROL_NUMBER, 2)
    assert found.claim_line_control_number == "LCN-2"


def test_fallback_procedure_modifiers_date_and_charge() -> None:
    first, third = match_lines(
        clp(svc("99285", 150_000, "25"), svc("71046", 12_500, "XU", "26")), LINES
    )
    assert (first.outcome, first.rule, first.claim_line) == (
        MATCHED,
        RULE_PROCEDURE_DATE_CHARGE,
        1,
    )
    # Modifiers compare as a set: the payer may echo them in another order.
    assert (third.claim_line, third.claim_line_control_number) == (3, "LCN-3")


def test_unknown_ref_6r_falls_back_and_says_so() -> None:
    (found,) = match_lines(clp(svc("93010", 8_000, lcn="PAYER-OWN-9")), LINES)
    assert (found.outcome, found.rule, found.claim_line) == (MATCHED, RULE_PROCEDURE_DATE_CHARGE, 2)
    (missing,) = match_lines(clp(svc("93010", 8_001, lcn="PAYER-OWN-9")), LINES)
    assert missing.outcome == UNMATCHED and "REF*6R PAYER-OWN-9" in missing.reason


def test_two_identical_lines_are_ambiguous_never_guessed() -> None:
    twins = (
        ClaimLine(1, "", "96372", (), DOS, 4_000),
        ClaimLine(2, "", "96372", (), DOS, 4_000),
        ClaimLine(3, "", "99285", (), DOS, 150_000),
    )
    (found,) = match_lines(clp(svc("96372", 4_000)), twins)
    assert found.outcome == AMBIGUOUS and found.claim_line == 0
    assert found.candidates == (1, 2) and "several" in found.reason
    # A REF*6R naming two lines is just as ambiguous.
    doubled = (
        replace(twins[0], line_control_number="X"),
        replace(twins[1], line_control_number="X"),
    )
    (echoed,) = match_lines(clp(svc("96372", 4_000, lcn="X")), doubled)
    assert echoed.outcome == AMBIGUOUS and echoed.candidates == (1, 2)


def test_a_line_that_matches_nothing_is_kept_with_the_reason() -> None:
    wrong_charge = svc("99285", 149_999, "25", paid=70_000)
    wrong_modifier = svc("99285", 150_000)
    wrong_date = svc("93010", 8_000, on=date(2026, 8, 15))
    results = match_lines(clp(wrong_charge, wrong_modifier, wrong_date), LINES)
    assert [r.outcome for r in results] == [UNMATCHED] * 3
    assert [r.svc for r in results] == [1, 2, 3]  # one result per SVC, in file order
    assert results[0].paid_cents == 70_000 and results[0].charge_cents == 149_999
    assert all(r.reason and r.claim_line == 0 for r in results)


def test_no_known_lines_is_unmatched() -> None:
    (found,) = match_lines(clp(svc("99285", 150_000, "25")), ())
    assert found.outcome == UNMATCHED and "no 837 lines" in found.reason


def test_submitted_procedure_svc06_is_what_the_837_billed() -> None:
    recoded = svc("99284", 150_000, submitted=("HC", "99285", "25"))
    (found,) = match_lines(clp(recoded), LINES)
    assert (found.claim_line, found.procedure_code, found.modifiers) == (1, "99285", ("25",))


def test_reversal_negated_charge_matches_the_same_line() -> None:
    (found,) = match_lines(clp(svc("93010", -8_000, paid=-5_000), status="22"), LINES)
    assert (found.outcome, found.claim_line, found.paid_cents) == (MATCHED, 2, -5_000)


def test_date_from_a_one_day_statement_but_not_from_a_range() -> None:
    (one_day,) = match_lines(clp(svc("93010", 8_000, on=None)), LINES)
    assert one_day.claim_line == 2
    ranged = clp(svc("93010", 8_000, on=None), statement=(DOS, date(2026, 8, 16)))
    (found,) = match_lines(ranged, LINES)
    assert found.outcome == UNMATCHED


def test_revenue_code_line_of_an_institutional_claim() -> None:
    lines = (ClaimLine(1, "", "", (), DOS, 90_000, revenue_code="0450"),)
    line = ServiceLine(
        procedure=("NU", "0450"), charge_cents=90_000, paid_cents=0, service_date=DOS
    )
    (found,) = match_lines(clp(line), lines)
    assert found.claim_line == 1


def test_claim_line_round_trips_through_its_stored_form() -> None:
    for line in (*LINES, ClaimLine(4, "", "", (), None, 0)):
        assert ClaimLine.from_dict(line.to_dict()) == line


_codes = st.sampled_from(["99285", "99284", "93010", "71046", "96372", "36415"])
_modifiers = st.lists(st.sampled_from(["25", "26", "59", "XU", "TC"]), max_size=2, unique=True)
_days = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 1, 10))
_keys = st.tuples(_codes, _modifiers.map(tuple), _days, st.integers(1, 10**9))


@given(
    keys=st.lists(
        _keys, min_size=1, max_size=8, unique_by=lambda k: (k[0], frozenset(k[1]), k[2], k[3])
    ),
    echo=st.booleans(),
    reverse=st.booleans(),
    data=st.data(),
)
def test_every_svc_built_from_a_line_matches_exactly_that_line(
    keys: list[tuple[str, tuple[str, ...], date, int]],
    echo: bool,
    reverse: bool,
    data: st.DataObject,
) -> None:
    lines = tuple(
        ClaimLine(n, f"L{n}", code, mods, day, charge)
        for n, (code, mods, day, charge) in enumerate(keys, start=1)
    )
    chosen = data.draw(st.permutations(lines))
    sign = -1 if reverse else 1
    svcs = tuple(
        ServiceLine(
            procedure=("HC", line.procedure_code, *reversed(line.modifiers)),
            charge_cents=sign * line.charge_cents,
            paid_cents=sign * (line.charge_cents // 2),
            service_date=line.service_date,
            line_control_number=line.line_control_number if echo else "",
        )
        for line in chosen
    )
    results = match_lines(clp(*svcs, status="22" if reverse else "1"), lines)
    assert len(results) == len(svcs)
    assert [r.claim_line for r in results] == [line.number for line in chosen]
    assert {r.rule for r in results} == {
        RULE_LINE_CONTROL_NUMBER if echo else RULE_PROCEDURE_DATE_CHARGE
    }
    # Money is carried as the 835 stated it, integer cents, never rounded or re-signed.
    assert [r.charge_cents for r in results] == [s.charge_cents for s in svcs]
    assert [r.paid_cents for r in results] == [s.paid_cents for s in svcs]


SAMPLES = x12_samples_dir()
# Public 835s whose SVCs carry REF*6R (read only from the shared folder, never copied here).
SAMPLES_WITH_6R = [
    "keironstoddart-edi-835-parser/united_healthcare_legacy_sample.txt",
    "zentist-TigerShark/5010-835-example-1.txt",
    "zentist-TigerShark/5010-835-example-2.txt",
]


def _as_billed(claim: ClaimPayment, *, with_control_numbers: bool) -> tuple[ClaimLine, ...]:
    """The 837 lines the provider would have sent for this CLP (what the payer echoes)."""
    lines = []
    for number, line in enumerate(claim.service_lines, start=1):
        _, code, modifiers = submitted_procedure(line)
        lines.append(
            ClaimLine(
                number,
                line.line_control_number if with_control_numbers else "",
                code,
                modifiers,
                service_date_of(line, claim),
                abs(line.charge_cents),
            )
        )
    return tuple(lines)


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"shared X12 sample folder {SAMPLES} is absent")
@pytest.mark.parametrize("name", SAMPLES_WITH_6R)
def test_public_samples_match_by_ref_6r_and_the_fallback_never_picks_a_wrong_line(
    name: str,
) -> None:
    remittances = read_remittances((SAMPLES / name).read_text(encoding="utf-8"))
    echoed = 0
    for remittance in remittances:
        for claim in remittance.claims:
            billed = _as_billed(claim, with_control_numbers=True)
            for result, line in zip(match_lines(claim, billed), claim.service_lines, strict=True):
                if (
                    line.line_control_number
                    and sum(b.line_control_number == line.line_control_number for b in billed) == 1
                ):
                    echoed += 1
                    assert result.rule == RULE_LINE_CONTROL_NUMBER
                    assert result.claim_line_control_number == line.line_control_number
            # Without control numbers the fallback names the same line, or says it cannot.
            plain = _as_billed(claim, with_control_numbers=False)
            for result in match_lines(claim, plain):
                assert result.outcome in (MATCHED, AMBIGUOUS, UNMATCHED)
                if result.matched:
                    assert result.claim_line == result.svc
                else:
                    assert result.reason
    assert echoed > 0, f"{name} has no REF*6R the matcher used"
