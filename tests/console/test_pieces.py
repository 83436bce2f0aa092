"""The console's pure pieces: deadline risk, the queue filter, dollar input, the offers chart."""

from __future__ import annotations

from datetime import date

from gateway.console.app import money
from gateway.console.cases import QueueFilter, QueueRow, risk
from gateway.console.charts import Point, offers_chart
from gateway.console.views.case import parse_dollars, percent_bp
from oonledger.negotiation.v1 import negotiation_pb2 as npb


def test_risk_follows_the_next_deadline() -> None:
    today = date(2026, 12, 4)
    assert [risk(d, today) for d in ("2026-12-03", "2026-12-04", "2026-12-11", "2026-12-12",
                                     "")] == ["overdue", "today", "week", "later", "none"]


def test_the_queue_filter_keeps_open_cases_of_the_chosen_client_payer_and_assignee() -> None:
    def row(status: str, client: str, payer: str, assignee: str) -> QueueRow:
        return QueueRow(npb.WorkItem(status=status, assignee=assignee), client, payer, "", 0,
                        "none")

    rows = [row("open", "a", "p", "me"), row("in_idr", "b", "p", "you"),
            row("agreed", "a", "p", "me"), row("open", "a", "q", "you")]
    assert [r for r in rows if QueueFilter().keeps(r)] == [rows[0], rows[1], rows[3]]
    assert [r for r in rows if QueueFilter(client="a", payer="p").keeps(r)] == [rows[0]]
    assert [r for r in rows if QueueFilter(assignee="you").keeps(r)] == [rows[1], rows[3]]
    assert [r for r in rows if QueueFilter(stage="agreed").keeps(r)] == [rows[2]]


def test_dollars_in_cents_out_exactly() -> None:
    assert parse_dollars("1,234.56") == 123_456
    assert parse_dollars("$910") == 91_000
    assert parse_dollars("0.1") == 10
    for bad in ("", "abc", "-5", "0", "1.234", "NaN", "Infinity", "1e3x"):
        assert parse_dollars(bad) is None, bad
    assert money(123_456) == "$1,234.56" and money(-5) == "-$0.05"


def test_a_cited_medicare_multiple_is_read_as_basis_points() -> None:
    assert [percent_bp(t) for t in ("", " 250 ", "250%", "187.555")] == [0, 25_000, 25_000, 18_756]
    for bad in ("abc", "-5", "0", "NaN", "Infinity", "1e9"):
        assert percent_bp(bad) is None, bad


def test_the_offers_chart_draws_each_offer_and_the_qpa_line_escaped() -> None:
    svg = str(offers_chart([Point("2026-12-01", "provider", 130_000),
                            Point("<script>", "payer", 91_000)], 52_000, 249_000))
    assert svg.count('<circle class="provider"') == 2  # one offer + the legend
    assert svg.count('<circle class="payer"') == 2
    assert 'class="qpa"' in svg and "QPA $520" in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'role="img"' in svg and "<desc" in svg
