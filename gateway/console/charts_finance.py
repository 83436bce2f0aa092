"""The ROI report as an inline SVG bar chart (as charts.py draws the offers): per payer, what
the payer paid at first, what was recovered above it, the vendor's fees and the client's net.
The page shows the same figures as a table."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from oonledger.fees.v1 import fees_pb2

WIDTH, LEFT, RIGHT, TOP = 640, 150, 70, 10
ROW, BAR, GAP = 64, 13, 2
SERIES = (("initial", "initial payments", "initial_payments_cents"),
          ("recovered", "recovered", "recovered_cents"),
          ("fees", "fees", "fees_cents"),
          ("net", "net to client", "net_to_client_cents"))


def _dollars(cents: int) -> str:
    return f"${cents / 100:,.0f}"


def roi_chart(groups: Sequence[fees_pb2.RoiGroup], title: str = "ROI by payer") -> Markup:
    rows = list(groups) or []
    height = TOP + ROW * max(len(rows), 1) + 30
    top = max([1, *(abs(getattr(g.figures, f)) for g in rows for _, _, f in SERIES)])
    plot_w = WIDTH - LEFT - RIGHT

    def width(cents: int) -> float:
        return plot_w * max(cents, 0) / top

    summary = "; ".join(
        f"{g.key}: " + ", ".join(f"{label} {_dollars(getattr(g.figures, f))}"
                                 for _, label, f in SERIES) for g in rows)
    parts = [
        f'<svg class="chart roi" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="roi-title roi-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="roi-title">{escape(title)}</title>',
        f'<desc id="roi-desc">{escape(summary) or "No payments in the period."}</desc>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{height - 30}"/>',
    ]
    for i, group in enumerate(rows):
        y0 = TOP + ROW * i + 4
        parts.append(f'<text x="{LEFT - 8}" y="{y0 + 2 * (BAR + GAP):.1f}" '
                     f'text-anchor="end">{escape(group.key[:22])}</text>')
        for j, (cls, label, field) in enumerate(SERIES):
            cents = getattr(group.figures, field)
            y = y0 + j * (BAR + GAP)
            parts.append(f'<rect class="bar-{cls}" x="{LEFT}" y="{y}" '
                         f'width="{width(cents):.1f}" height="{BAR}">'
                         f'<title>{escape(group.key)} {label} {_dollars(cents)}</title></rect>')
            parts.append(f'<text x="{LEFT + width(cents) + 4:.1f}" y="{y + BAR - 2}">'
                         f'{_dollars(cents)}</text>')
    legend_y = height - 10
    x = LEFT
    for cls, label, _ in SERIES:
        parts.append(f'<rect class="bar-{cls}" x="{x}" y="{legend_y - 10}" width="12" '
                     f'height="12"/><text x="{x + 16}" y="{legend_y}">{label}</text>')
        x += 26 + 7 * len(label)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is a number or escaped
