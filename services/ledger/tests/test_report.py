"""The audit report's model and renderings (pure: no database, no network)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pypdf
import pytest

from services.ledger.adapters.report_html import render_html
from services.ledger.adapters.report_pdf import render_pdf
from services.ledger.domain.moments import parse_moment
from services.ledger.domain.report import Verification, build_report, pct_of_qpa
from services.ledger.tests.factories import BASE_TIME, facts, negotiated_claim
from services.ledger.tests.memory_log import MemoryLog

AS_OF = datetime(2026, 12, 4, tzinfo=UTC)


def verified(size: int) -> Verification:
    return Verification("VERIFIED", size, size, 0, size, bytes(32), BASE_TIME, "k1", [], [])


def test_percent_of_qpa_is_integer_arithmetic_rounded_half_up() -> None:
    assert pct_of_qpa(360_000, 90_000) == "400.0%"
    assert pct_of_qpa(150_000, 90_000) == "166.7%"
    assert pct_of_qpa(1, 2_000) == "0.1%"  # 0.05 % rounds up
    assert pct_of_qpa(1, 2_001) == "0.0%"
    assert pct_of_qpa(-45_000, 90_000) == "-50.0%"
    assert pct_of_qpa(100, 0) == "n/a (no QPA)"


def test_decisions_name_who_proposed_and_who_approved_or_rejected() -> None:
    t, c = "t", "c"
    events = [
        facts(t, c, "DecisionProposed", notification_id=1, payload={
            "decision_id": "d1", "action": "accept", "rationale": "fair"}),
        facts(t, c, "DecisionApproved", notification_id=2, payload={
            "decision_id": "d1", "approved_by": "pat@p.example", "auto_approval_rule_id": ""}),
        facts(t, c, "DecisionProposed", notification_id=3, payload={
            "decision_id": "d2", "action": "idr"}),
        facts(t, c, "DecisionRejected", notification_id=4, payload={
            "decision_id": "d2", "rejected_by": "sam@p.example", "reason": "too early"}),
        facts(t, c, "DecisionProposed", notification_id=5, payload={"decision_id": "d3"}),
        facts(t, c, "DecisionApproved", notification_id=6, payload={
            "decision_id": "d3", "approved_by": "", "auto_approval_rule_id": "r9"}),
    ]
    entries = MemoryLog().append(events)
    rows = {d.decision_id: d for d in build_report(c, entries, verified(6), AS_OF).decisions}
    assert rows["d1"].outcome == "approved" and rows["d1"].decided_by == "pat@p.example"
    assert rows["d1"].proposed_by == "alice@provider.example" and rows["d1"].rationale == "fair"
    assert rows["d2"].outcome == "rejected: too early" and rows["d2"].decided_by == "sam@p.example"
    assert rows["d3"].decided_by == "auto-approval rule r9"


@pytest.mark.parametrize(("event", "day", "outcome"), [
    ("SettlementPaidInFull", 10, "met on 2026-12-12"),
    ("SettlementPaidInFull", 20, "missed: completed on 2026-12-22"),
    ("SettlementOverdue", 20, "missed: SettlementOverdue on 2026-12-22"),
    (None, 0, "missed: not completed by the due date"),
])
def test_deadlines_are_met_or_missed_by_the_us_eastern_day(
    event: str | None, day: int, outcome: str
) -> None:
    events = negotiated_claim("t", "c")  # payment due 2026-12-17
    if event:
        at = datetime(2026, 12, 2, 17, tzinfo=UTC) + timedelta(days=day)
        events.append(facts("t", "c", event, notification_id=50, occurred_at=at,
                            service="settlement", aggregate_id="set-c"))
    entries = MemoryLog().append(events)
    as_of = datetime(2027, 1, 5, tzinfo=UTC)
    rows = {d.name: d for d in build_report("c", entries, verified(13), as_of).deadlines}
    assert rows["payment_due"].outcome == outcome


def test_a_broken_entry_is_marked_in_both_renderings() -> None:
    entries = MemoryLog().append(negotiated_claim("t", "c<script>"))
    broken = Verification("BROKEN", 12, 11, 0, 12, bytes(32), BASE_TIME, "k1",
                          [(entries[4].log_index, "content_altered", "entry #5: altered")], [])
    report = build_report("c<script>", entries, broken, AS_OF)
    assert [t.mark for t in report.timeline].count("content_altered") == 1
    html = render_html(report).decode()
    assert "<script>" not in html and "c&lt;script&gt;" in html
    assert html.count('class="broken"') == 1 and "BROKEN: content_altered" in html
    pdf = pypdf.PdfReader(io.BytesIO(render_pdf(report)))
    text = " ".join(" ".join(p.extract_text() for p in pdf.pages).split())
    assert "BROKEN: content_altered" in text and "entry #5: altered" in text


def test_the_report_as_of_an_instant_shows_only_what_had_happened() -> None:
    entries = MemoryLog().append(negotiated_claim("t", "c"))
    # A bare date is the end of that US Eastern day: everything of 2026-11-02 is in.
    assert len(build_report("c", entries, verified(12), parse_moment("2026-11-02")).timeline) == 12
    early = build_report("c", entries, verified(12), BASE_TIME + timedelta(minutes=4))
    assert len(early.timeline) == 5 and [o.amount for o in early.offers] == ["$3,600.00"]
