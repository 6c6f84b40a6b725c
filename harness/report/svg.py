"""Inline SVG charts for the HTML report, as data: a chart is a size, a label and a list of shapes.

The page template draws every shape with its attributes escaped (Jinja2 autoescape), so a title in a
label or tooltip stays text. Only the tags and attribute names below can be drawn; values are data.
Scales map numbers to pixels: linear for rates and similarities, a signed log for ranks (rank
changes can be negative, so log10(1 + |x|) keeps the sign).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

TAGS = frozenset({"line", "rect", "circle", "text", "path", "g"})
ATTRIBUTES = frozenset(
    {
        "x",
        "y",
        "x1",
        "x2",
        "y1",
        "y2",
        "cx",
        "cy",
        "r",
        "width",
        "height",
        "fill",
        "stroke",
        "stroke-width",
        "stroke-dasharray",
        "text-anchor",
        "font-size",
        "font-weight",
        "fill-opacity",
        "class",
        "d",
        "dominant-baseline",
    }
)
OUTCOME_COLORS = {"PASS": "#1e7d3c", "FAIL": "#c0392b", "WARN": "#b7791f", "UNDECIDED": "#7d3c98"}
MUTED = "#5d6b78"
GRID = "#dde3e9"


@dataclass(frozen=True)
class Shape:
    tag: str
    attrs: dict[str, Any]
    text: str = ""
    title: str = ""  # the tooltip

    def __post_init__(self) -> None:
        if self.tag not in TAGS or not set(self.attrs) <= ATTRIBUTES:
            raise ValueError(f"cannot draw <{self.tag}> with {sorted(set(self.attrs) - ATTRIBUTES)}")


@dataclass
class Chart:
    width: int
    height: int
    label: str  # aria-label: what the chart shows
    shapes: list[Shape] = field(default_factory=list)
    kind: str = "chart"  # css class, and how tests find it

    def add(self, tag: str, text: str = "", title: str = "", **attrs: Any) -> None:
        clean = {k.replace("_", "-"): (round(v, 2) if isinstance(v, float) else v) for k, v in attrs.items()}
        self.shapes.append(Shape(tag, clean, str(text), str(title)))

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        color: str = GRID,
        width: float = 1,
        dash: str = "",
        title: str = "",
    ) -> None:
        extra = {"stroke_dasharray": dash} if dash else {}
        self.add("line", title=title, x1=x1, y1=y1, x2=x2, y2=y2, stroke=color, stroke_width=width, **extra)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        anchor: str = "start",
        size: int = 12,
        color: str = "#1d232a",
        bold: bool = False,
        title: str = "",
    ) -> None:
        self.add(
            "text",
            text=text,
            title=title,
            x=x,
            y=y,
            text_anchor=anchor,
            font_size=size,
            fill=color,
            **({"font_weight": "600"} if bold else {}),
        )


class Scale:
    """Numbers in [low, high] onto pixels [left, right]; `log` is the signed log10(1 + |x|)."""

    def __init__(self, low: float, high: float, left: float, right: float, *, log: bool = False) -> None:
        self.log = log
        lo, hi = self._t(low), self._t(high)
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        self.lo, self.hi, self.left, self.right = lo, hi, left, right

    def _t(self, x: float) -> float:
        return math.copysign(math.log10(1 + abs(x)), x) if self.log else x

    def __call__(self, x: float) -> float:
        t = self._t(x)
        return self.left + (t - self.lo) / (self.hi - self.lo) * (self.right - self.left)

    def ticks(self) -> list[float]:
        lo, hi = self.lo, self.hi
        if self.log:
            low, high = (math.copysign(10 ** abs(t) - 1, t) for t in (lo, hi))
            for steps in ((1,), (1, 3), (1, 2, 5)):  # the densest set of round numbers that stays readable
                marks = [0.0] + [float(m * 10**e) for e in range(0, 7) for m in steps]
                ticks = sorted(v for p in marks for v in {p, -p} if low <= v <= high)
                if len(ticks) >= 4:
                    break
            return ticks
        return nice_ticks(lo, hi)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    if span <= 0 or not math.isfinite(span):
        return [low]
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def domain(values: Iterable[float | None], *, include: Iterable[float] = (), pad: float = 0.06) -> tuple[float, float]:
    """The smallest [low, high] holding every finite value, padded on both sides."""
    finite = [float(v) for v in [*values, *include] if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    extra = (high - low) * pad or max(abs(high) * pad, 0.01)
    return low - extra, high + extra


def tick_label(value: float, log: bool) -> str:
    if log:
        return f"{value:+g}" if value else "0"
    return f"{value:g}"


def mix(color: str, strength: float) -> str:
    """`color` blended with white: strength 0 is white, 1 the colour itself."""
    strength = min(1.0, max(0.0, strength))
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 + (c - 255) * strength):02x}" for c in rgb)
