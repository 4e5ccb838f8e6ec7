"""Small server-side SVG charts for the metrics page (no JavaScript, no CDN). Pure functions:
numbers in, SVG text out; every label is XML-escaped."""
from __future__ import annotations

from typing import List, Sequence, Tuple
from xml.sax.saxutils import escape, quoteattr

WIDTH = 640
HEIGHT = 180
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 36, 28, 12


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value``: 1, 2, 5, 10, 20, 50, ..."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def bar_chart(labels: Sequence[str], values: Sequence[int], title: str, css: str = "bar") -> str:
    """Vertical bars, one per label (days); the y axis starts at 0."""
    count = max(1, len(values))
    top = _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / count
    parts: List[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-label={quoteattr(title)}>',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 8}" '
        f'y2="{PAD_TOP + plot_h}" class="axis"/>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 4}" class="tick" text-anchor="end">{top}</text>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    every = max(1, count // 8)
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = plot_h * value / top if top else 0
        x = PAD_LEFT + index * slot + slot * 0.15
        y = PAD_TOP + plot_h - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" '
            f'class="{escape(css)}"><title>{escape(label)}: {value}</title></rect>'
        )
        if index % every == 0:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 8}" class="tick" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(items: Sequence[Tuple[str, int]], title: str) -> str:
    """Horizontal bars with their labels and counts (top topics)."""
    row_h, label_w = 22, 260
    height = max(1, len(items)) * row_h + 8
    top = max((value for _, value in items), default=0) or 1
    plot_w = WIDTH - label_w - 48
    parts: List[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'class="chart" role="img" aria-label={quoteattr(title)}>',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, value) in enumerate(items):
        y = 4 + index * row_h
        width = plot_w * value / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" class="label" text-anchor="end">'
            f"{escape(label[:40])}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" '
            f'class="bar"/><text x="{label_w + width + 4:.1f}" y="{y + 15}" class="tick">'
            f"{value}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
