"""Charts drawn on the server as SVG: no chart library, nothing for the browser to run.

Every chart is shown with its numbers in a table beside or below it (UI.md), so screen
readers and people copying into a report get the figures; the SVG itself is
``aria-hidden``-free but labelled as an image with a title.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup


@dataclass(frozen=True)
class Series:
    name: str  # shown in the legend (already translated)
    css: str  # swatch class in app.css: allocated, committed, spent
    colour: str


ALLOCATED = ("allocated", "#9fb3cc")
COMMITTED = ("committed", "#d9a441")
SPENT = ("spent", "#1f3a5f")


def grouped_bars(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, str]],
    values: Sequence[Sequence[int]],
    format_value: object = str,
    width: int = 640,
) -> Markup:
    """Horizontal grouped bars: one group per label, one bar per series.

    ``series`` is ``[(name, css_class, colour), ...]``; ``values[i][j]`` is label i's value
    in series j (integers, e.g. fen). ``format_value`` writes the number at a bar's end.
    """
    bar_h, gap, label_w, right = 12, 10, 110, 120
    group_h = bar_h * len(series) + gap
    height = max(group_h * len(labels) + 10, 40)
    top = max((max(row) for row in values), default=0) or 1
    plot_w = width - label_w - right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, label in enumerate(labels):
        y0 = 5 + i * group_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y0 + (group_h - gap) / 2 + 4}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        for j, (_name, _css, colour) in enumerate(series):
            value = values[i][j]
            w = max(round(plot_w * value / top), 1 if value else 0)
            y = y0 + j * bar_h
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h - 2}" fill="{colour}"/>'
            )
            text = format_value(value)  # type: ignore[operator]
            parts.append(
                f'<text x="{label_w + w + 4}" y="{y + bar_h - 3}">{escape(str(text))}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def legend(series: Sequence[tuple[str, str, str]]) -> Markup:
    items = "".join(
        f'<span><span class="swatch {escape(css)}"></span>{escape(name)}</span>'
        for name, css, _colour in series
    )
    return Markup(f'<div class="legend">{items}</div>')
