"""The one tokenizer/envelope for 837 and 835: delimiters, segments, transactions, controls."""

from __future__ import annotations

from datetime import date

import pytest

from services.x12.envelope import (
    NotX12Error,
    X12Error,
    check_envelope,
    read_delimiters,
    split_transactions,
    tokenize,
)
from services.x12.writer_835 import ClaimSpec, RemittanceSpec, build_835

from .samples import DATA, SAMPLES, needs_samples, sample, sample_files

# Envelope defects documented in the samples README, by file (every other sample is clean).
ENVELOPE_DEFECTS = {
    "affect-therapeutics-edi-835-parser/nevada_medicaid.txt": ["IEA02 '100000301' differs"],
    "imsweb-x12-parser/x12_complex.txt": [
        "ST 987654: SE01 says '25'",
        "ST 987655: SE01 says '26'",
        "GE01 says '1' transactions, the group has 2",
    ],
    "imsweb-x12-parser/x12_multiple_gs.txt": [
        *["ST 987654: SE01 says '25' segments, the transaction has 34"] * 3,
        "IEA01 says '1' groups, the interchange has 3",
    ],
    "imsweb-x12-parser/x12_valid_different_separators.txt": ["SE01 says '25'"],
    "zentist-TigerShark/5010-835-example-2.txt": ["ST 1234: SE02 '0001' differs from ST02"],
    "zentist-TigerShark/5010-837-institutional-example.txt": [
        *["SE01 says '42' segments, the transaction has 43"] * 2,
        "IEA01 says '1' groups, the interchange has 2",
    ],
}
NOT_X12 = {"keironstoddart-edi-835-parser/blue_cross_nc_sample.txt"}  # ST..SE only, no ISA
TRANSACTIONS = {
    "affect-therapeutics-edi-835-parser/nevada_medicaid.txt": 3,
    "imsweb-x12-parser/x12_complex.txt": 2,
    "imsweb-x12-parser/x12_multiple_gs.txt": 3,
    "zentist-TigerShark/5010-837-institutional-example.txt": 2,
}


def _name(path) -> str:
    return path.relative_to(SAMPLES).as_posix()


@needs_samples
def test_every_835_and_837_sample_tokenizes() -> None:
    files = [p for p in sample_files() if _name(p) not in NOT_X12]
    kinds: set[str] = set()
    for path in files:
        delimiters, segments = tokenize(sample(_name(path)))
        tags = [s[0] for s in segments]
        assert tags[0] == "ISA" and tags[-1] == "IEA", path.name
        assert len(segments[0]) == 17, path.name  # ISA01..ISA16 whatever the padding
        assert all(t.isalnum() and 2 <= len(t) <= 3 for t in tags), path.name
        assert tags.count("ST") == tags.count("SE") >= 1, path.name
        assert delimiters.element not in (delimiters.component, delimiters.segment)
        kinds.update(s[1] for s in segments if s[0] == "ST")
    assert kinds == {"835", "837"}
    assert len(files) == 25


@needs_samples
def test_envelope_control_numbers_and_counts_of_every_sample() -> None:
    for path in sample_files():
        name = _name(path)
        if name in NOT_X12:
            with pytest.raises(NotX12Error, match="must start with an ISA"):
                check_envelope(sample(name))
            continue
        problems = check_envelope(sample(name))
        expected = ENVELOPE_DEFECTS.get(name, [])
        assert len(problems) == len(expected), (name, problems)
        for problem, fragment in zip(problems, expected, strict=True):
            assert fragment in problem, (name, problems)


@needs_samples
def test_every_sample_splits_into_re_enveloped_transactions() -> None:
    """Re-enveloping repairs GE01/IEA01 and keeps the ISA13/GS06 control numbers; only what is
    wrong inside a transaction (SE01/SE02) is still reported."""
    for path in sample_files():
        name = _name(path)
        if name in NOT_X12:
            continue
        _, transactions = split_transactions(sample(name))
        assert len(transactions) == TRANSACTIONS.get(name, 1), name
        for tx in transactions:
            assert tx.segments[0][0] == "ST" and tx.segments[-1][0] == "SE"
            assert all(
                p.startswith(f"ST {tx.control_number}: SE0") for p in check_envelope(tx.text)
            )


def test_a_generated_835_has_a_sound_envelope() -> None:
    spec = RemittanceSpec(
        "T1",
        date(2026, 11, 2),
        (ClaimSpec("P1", 10_000, 5_000, date(2026, 9, 1)),),
        interchange_control_number=4711,
    )
    text = build_835(spec)
    assert check_envelope(text) == []
    segments = tokenize(text)[1]
    assert segments[0][13] == "000004711" and segments[-1] == ["IEA", "1", "000004711"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("SE*", "SE*9"), "SE01 says"),
        (("*0001~\nGE", "*0002~\nGE"), "SE02 '0002' differs from ST02"),
        (("GE*1*", "GE*2*"), "GE01 says '2' transactions, the group has 1"),
        (("GE*1*1~", "GE*1*7~"), "GE02 '7' differs from GS06"),
        (("IEA*1*", "IEA*3*"), "IEA01 says '3' groups"),
        (("IEA*1*000000001", "IEA*1*000000002"), "IEA02 '000000002' differs from ISA13"),
        (("IEA*1*000000001~\n", ""), "ISA 000000001 has no IEA"),
        (("GE*1*1~\n", ""), "GS 1 has no GE"),
    ],
)
def test_each_envelope_defect_is_named(change: tuple[str, str], fragment: str) -> None:
    text = build_835(
        RemittanceSpec("T1", date(2026, 11, 2), (ClaimSpec("P1", 10_000, 5_000, date(2026, 9, 1)),))
    )
    broken = text.replace(*change, 1)
    assert broken != text
    problems = check_envelope(broken)
    assert len(problems) == 1 and fragment in problems[0], problems


def test_delimiters_from_fixed_width_isa() -> None:
    isa = (
        "ISA*00*          *00*          *ZZ*A              *ZZ*B              "
        "*261102*1200*^*00501*000000001*0*P*>~"
    )
    assert read_delimiters(isa).component == ">"
    assert read_delimiters(isa).segment == "~"
    assert read_delimiters(isa).repetition == "^"


def test_delimiters_from_collapsed_isa_and_bom() -> None:
    text = "\ufeffISA|00||00||ZZ|A|ZZ|B|261102|1200|^|00501|1|0|P|:\nGS|HP\n"
    delimiters, segments = tokenize(text)
    assert (delimiters.element, delimiters.component, delimiters.segment) == ("|", ":", "\n")
    assert segments[1] == ["GS", "HP"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello world", "must start with an ISA"),
        ("ISA*00*" + "x" * 120, "16 elements"),
        ("ISA0000", "element separator is missing"),
        ("ISA*00*" + "*" * 14 + ":", "no segment terminator after ISA16"),
    ],
)
def test_not_x12_is_refused(text: str, message: str) -> None:
    with pytest.raises(NotX12Error, match=message):
        read_delimiters(text)


def test_transactions_are_re_enveloped_one_by_one() -> None:
    _, transactions = split_transactions((DATA / "ed_group_batch.837").read_text())
    (tx,) = transactions
    assert tx.control_number == "0001" and tx.implementation_guide == "005010X222A2"
    assert tx.text.endswith("GE*1*4711~IEA*1*000004711~")
    assert check_envelope(tx.text) == []


def test_an_interchange_without_transactions_is_refused() -> None:
    text = (DATA / "ed_group_batch.837").read_text()
    head = "\n".join(line for line in text.splitlines() if line[:3] in ("ISA", "GS*"))
    with pytest.raises(X12Error, match=r"no ST\.\.SE transaction set"):
        split_transactions(head)
    with pytest.raises(X12Error, match="no ISA/GS envelope"):
        split_transactions(text.replace("GS*", "XX*"))
