"""The audit report as one self-contained, printable HTML page (no scripts, no external files)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape

from services.ledger.domain.report import ClaimReport, mark_label

STYLE = """
body { font-family: Helvetica, Arial, sans-serif; font-size: 10pt; margin: 2em; }
h1 { font-size: 16pt; } h2 { font-size: 12pt; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #999; padding: 2px 4px; text-align: left; vertical-align: top; }
td.money { text-align: right; white-space: nowrap; }
.verdict { font-weight: bold; padding: 6px; border: 2px solid #333; }
.BROKEN { background: #fdd; } .PENDING { background: #ffd; } .VERIFIED { background: #dfd; }
tr.broken td { background: #fdd; } tr.pending td { background: #ffd; }
@media print { body { margin: 0; } }
"""


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%SZ}" if moment else "-"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], money: Sequence[int] = (),
           classes: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for n, row in enumerate(rows):
        cells = "".join(
            f'<td class="money">{escape(c)}</td>' if i in money else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        css = f' class="{classes[n]}"' if classes and classes[n] else ""
        body.append(f"<tr{css}>{cells}</tr>")
    if not body:
        return "<p>None recorded.</p>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(report: ClaimReport) -> bytes:
    v = report.verification
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Audit report — claim {escape(report.claim_id)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Audit report — claim {escape(report.claim_id)}</h1>",
        f"<p>Tenant {escape(report.tenant_id)}; state as of {_when(report.as_of)}.</p>",
        f'<p class="verdict {escape(v.status)}">Verification: {escape(report.verdict_line())}</p>',
    ]
    if v.breaks or v.log_problems:
        items = [f"<li>{escape(d)}</li>" for _, _, d in v.breaks]
        items += [f"<li>log: {escape(p)}</li>" for p in v.log_problems]
        parts.append(f"<ul>{''.join(items)}</ul>")
    parts.append("<h2>Summary</h2>")
    parts.append(_table(("", ""), report.summary))
    parts.append("<h2>Offers</h2>")
    parts.append(_table(
        ("When", "Party", "Amount", "% of QPA", "By", "Event"),
        ((_when(o.at), o.party, o.amount, o.pct_of_qpa, o.by, o.event_type)
         for o in report.offers), money=(2, 3)))
    parts.append("<h2>Decisions</h2>")
    parts.append(_table(
        ("Decision", "Action", "Proposed", "By", "Rationale", "Outcome", "Decided", "By"),
        ((d.decision_id, d.action, _when(d.proposed_at), d.proposed_by or "-", d.rationale,
          d.outcome, _when(d.decided_at), d.decided_by or "-") for d in report.decisions)))
    parts.append("<h2>Deadlines</h2>")
    parts.append(_table(("Deadline", "Due (US Eastern)", "Outcome"),
                        ((d.name, d.due_date, d.outcome) for d in report.deadlines)))
    parts.append("<h2>Payments</h2>")
    parts.append(_table(("When", "Reference", "Amount", "Event"),
                        ((_when(p.at), p.label, p.amount, p.event_type)
                         for p in report.payments), money=(2,)))
    parts.append("<h2>Fees</h2>")
    parts.append(_table(("When", "Kind", "Amount", "Event"),
                        ((_when(f.at), f.label, f.amount, f.event_type) for f in report.fees),
                        money=(2,)))
    parts.append("<h2>Timeline</h2>")
    rows = list(report.timeline)
    parts.append(_table(
        ("When", "#", "Service", "Event", "By", "Details", "Hash", "Proof"),
        ((_when(t.at), str(t.seq), t.service, t.event_type, t.by, t.details, t.hash_prefix,
          mark_label(t.mark)) for t in rows),
        classes=[mark_label(t.mark).split(":")[0].lower() for t in rows]))
    if report.unfolded:
        parts.append("<h2>Events the summary does not interpret</h2>")
        parts.append("<ul>" + "".join(f"<li>{escape(u)}</li>" for u in report.unfolded) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts).encode("utf-8")
