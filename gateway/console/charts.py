"""Charts as inline SVG, drawn on the server (no script, no external library).

`offers_chart`: each party's offers in order, against the QPA line (and the billed amount), with
a text alternative for screen readers; the page also shows the same numbers as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 40


@dataclass(frozen=True)
class Point:
    label: str  # e.g. the offer date
    party: str  # "provider" | "payer"
    cents: int


def _dollars(cents: int) -> str:
    return f"${cents / 100:,.0f}"


def offers_chart(points: Sequence[Point], qpa_cents: int, billed_cents: int) -> Markup:
    values = [*(p.cents for p in points), qpa_cents, billed_cents]
    top = max([*values, 1]) * 1.1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    steps = max(len(points), 1)

    def x(i: int) -> float:
        return LEFT + plot_w * (i + 0.5) / steps

    def y(cents: int) -> float:
        return TOP + plot_h * (1 - cents / top)

    summary = ", ".join(f"{p.party} {_dollars(p.cents)} on {p.label}" for p in points)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Offers against the QPA</title>',
        f'<desc id="chart-desc">QPA {_dollars(qpa_cents)}, billed {_dollars(billed_cents)}. '
        f'Offers: {escape(summary) or "none yet"}.</desc>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>',
    ]
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        cents = int(top * fraction)
        parts.append(f'<text x="{LEFT - 6}" y="{y(cents) + 4:.1f}" text-anchor="end">'
                     f'{_dollars(cents)}</text>')
    for cls, cents, name in (("qpa", qpa_cents, "QPA"), ("billed", billed_cents, "Billed")):
        if cents > 0:
            parts.append(f'<line class="{cls}" x1="{LEFT}" y1="{y(cents):.1f}" '
                         f'x2="{WIDTH - RIGHT}" y2="{y(cents):.1f}"/>')
            parts.append(f'<text x="{WIDTH - RIGHT - 4}" y="{y(cents) - 5:.1f}" '
                         f'text-anchor="end">{name} {_dollars(cents)}</text>')
    for party in ("provider", "payer"):
        mine = [(i, p) for i, p in enumerate(points) if p.party == party]
        if len(mine) > 1:
            path = " ".join(f"{x(i):.1f},{y(p.cents):.1f}" for i, p in mine)
            parts.append(f'<polyline class="line-{party}" points="{path}"/>')
        for i, p in mine:
            parts.append(
                f'<circle class="{party}" cx="{x(i):.1f}" cy="{y(p.cents):.1f}" r="6">'
                f'<title>{party} {_dollars(p.cents)} on {escape(p.label)}</title></circle>')
            parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                         f'text-anchor="middle">{escape(p.label)}</text>')
    legend_y = HEIGHT - 6
    parts.append(f'<circle class="provider" cx="{LEFT + 6}" cy="{legend_y - 4}" r="5"/>'
                 f'<text x="{LEFT + 16}" y="{legend_y}">provider</text>'
                 f'<circle class="payer" cx="{LEFT + 96}" cy="{legend_y - 4}" r="5"/>'
                 f'<text x="{LEFT + 106}" y="{legend_y}">payer</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is a number or escaped
