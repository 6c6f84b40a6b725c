"""Matplotlib figures for the HTML report, returned as `data:image/svg+xml;base64,...` URIs.

The figures are drawn with the object API on matplotlib's non-interactive SVG canvas (no
pyplot, no GUI backend, no global state touched), keeping text as SVG text (small, sharp,
searchable), and are embedded through <img>, where an SVG cannot run script whatever its
labels say.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec

import matplotlib
import numpy as np

from harness import plain_text
from harness.errors import BookclipError
from harness.io import atomic_write_text, cache_dir, sha256_hex
from harness.plain_text import strip_control

# matplotlib's figure, canvas and ticker modules are imported where a picture is drawn: a report whose
# pictures are all kept (see `kept`) needs only matplotlib's settings
if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType  # matplotlib >= 3.8; only the type checker reads it

ROLE_COLORS = {"baseline": "#6b7b8c", "candidate": "#e0711c"}
_EXTRA_COLORS = ("#2a7ab0", "#3a9a5b", "#a04a9a", "#b0a02a")
_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "bookclip",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "legend.fontsize": 8,
    "legend.frameon": False,
    "text.usetex": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
}


def role_color(role: str, index: int = 0) -> str:
    return ROLE_COLORS.get(role, _EXTRA_COLORS[index % len(_EXTRA_COLORS)])


def label(text: object) -> str:
    """User text for a plot label: '$' would start mathtext, so it is escaped; control and bidi-override
    characters are shown as visible escapes (matplotlib would otherwise warn about them, echoing an ESC)."""
    return strip_control(str(text).replace("\\", "\\\\").replace("$", r"\$"))


def to_data_uri(fig: Figure) -> str:
    """Render `fig` as SVG (deterministic: fixed hash salt, no date) and wrap it in a data URI."""
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    buffer = io.BytesIO()
    with matplotlib.rc_context(_STYLE), warnings.catch_warnings():
        # text stays SVG text that the browser draws with its own fonts: a glyph missing from matplotlib's
        # layout font (a title in another script) is drawn by the browser, so the warning says nothing
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        FigureCanvasSVG(fig).print_svg(buffer, metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


FIGURES_VERSION = "figures-v1"
_URI_PREFIX = "data:image/svg+xml;base64,"
P = ParamSpec("P")


def kept(draw: Callable[P, str]) -> Callable[P, str]:
    """`draw` with its data URI kept under cache_dir()/figures, keyed by its arguments (in their order: it
    is the panels' and legends' order), the source of this module and of the label escaping, matplotlib's
    version and settings. A report drawn again from the same numbers (every warm `pytest suites/`) reads
    its pictures: drawing them was about a second of such a run."""

    @functools.wraps(draw)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> str:
        try:
            arguments = json.dumps([args, kwargs], default=_plain_argument)
        except (TypeError, ValueError):  # an argument without a faithful plain form: draw it
            return draw(*args, **kwargs)
        key = sha256_hex(FIGURES_VERSION, draw.__qualname__, _drawing_code(), _matplotlib_state(), arguments)
        try:
            path = cache_dir() / "figures" / f"{key[:40]}.txt"
        except BookclipError:  # no usable cache folder
            return draw(*args, **kwargs)
        try:
            stored, _, checksum = path.read_text(encoding="ascii").rpartition("\n")
            if stored.startswith(_URI_PREFIX) and checksum == sha256_hex(key, stored):
                return stored
        except (OSError, ValueError):  # none yet, or damaged: drawn again
            pass
        uri = draw(*args, **kwargs)
        with contextlib.suppress(OSError, BookclipError):  # a cache that cannot be written costs the next run
            atomic_write_text(path, f"{uri}\n{sha256_hex(key, uri)}")
        return uri

    return drawn


def _plain_argument(value: object) -> object:
    if isinstance(value, np.ndarray):
        return {"dtype": str(value.dtype), "shape": list(value.shape), "values": value.tolist()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {"mapping": list(value.items())}  # a list keeps the order; a dict is JSON as it is
    raise TypeError(f"no plain form for {type(value).__name__}")


@functools.cache
def _drawing_code() -> str:
    return sha256_hex(*(Path(module).read_bytes() for module in (__file__, plain_text.__file__)))


def _matplotlib_state() -> str:
    # rcParams outside _STYLE (fonts, sizes from a matplotlibrc) change the pictures too; reading "backend"
    # would resolve it by importing pyplot, and pictures are drawn on the SVG canvas whatever it says
    params = matplotlib.rcParams
    return f"{matplotlib.__version__} {sorted((k, repr(params[k])) for k in params if k != 'backend')!r}"


def _log_rank_axis(ax: Axes, top: float) -> None:
    """Log x axis with plain 1, 2, 5, 10, ... labels and no minor ticks (they cost most of the layout time)."""
    from matplotlib.ticker import FixedLocator, NullLocator, StrMethodFormatter

    ax.set_xscale("log")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if t <= max(top, 2)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


def _figure(panels: int, *, width: float = 4.2, height: float = 2.9, max_cols: int = 2) -> tuple[Figure, list]:
    from matplotlib.figure import Figure

    cols = min(max_cols, max(1, panels))
    rows = math.ceil(panels / cols)
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig, axes[:panels]


@kept
def recall_curves(
    curves: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
    errors: Mapping[str, Mapping[str, tuple[Sequence[float], ...]]] | None = None,
) -> str:
    """One panel per view/direction: recall@k against k (log axis) for each role; `errors` holds
    view -> role -> (ks, values, ci_lows, ci_highs) of the stored estimates, drawn as error bars."""
    errors = errors or {}
    with matplotlib.rc_context(_STYLE):
        fig, axes = _figure(len(curves), width=3.7, height=2.6, max_cols=3)
        for ax, (view, roles) in zip(axes, curves.items(), strict=True):
            for i, (role, (ks, values)) in enumerate(roles.items()):
                ax.plot(
                    ks,
                    values,
                    label=label(role),
                    color=role_color(role, i),
                    lw=1.8,
                    marker="o" if len(ks) <= 12 else None,
                    ms=3,
                )
                bars = (errors.get(view) or {}).get(role)
                if bars:
                    at, mid, low, high = (np.asarray(x, dtype=float) for x in bars)
                    ax.errorbar(
                        at,
                        mid,
                        yerr=[np.clip(mid - low, 0, None), np.clip(high - mid, 0, None)],
                        fmt="none",
                        ecolor=role_color(role, i),
                        elinewidth=1.4,
                        capsize=3,
                    )
            _log_rank_axis(ax, max((max(ks) for ks, _ in roles.values() if len(ks)), default=1))
            ax.set_ylim(0, 1.02)
            ax.set_title(label(view))
            ax.set_xlabel("k")
            ax.set_ylabel("recall@k")
            ax.legend(loc="lower right")
        return to_data_uri(fig)


@kept
def rank_histograms(ranks: Mapping[str, Mapping[str, Sequence[float] | np.ndarray]]) -> str:
    """One panel per view/direction: log-binned histogram of the best positive's rank, per role."""
    with matplotlib.rc_context(_STYLE):
        fig, axes = _figure(len(ranks))
        for ax, (view, roles) in zip(axes, ranks.items(), strict=True):
            top = max((float(np.max(r)) for r in roles.values() if len(r)), default=1.0)
            bins = np.unique(np.round(np.geomspace(1, max(top, 2.0) + 1, 20)))
            for i, (role, values) in enumerate(roles.items()):
                ax.hist(
                    np.asarray(values, dtype=float),
                    bins=bins,
                    histtype="step",
                    lw=1.8,
                    label=label(role),
                    color=role_color(role, i),
                )
            _log_rank_axis(ax, bins[-1])
            ax.set_title(label(view))
            ax.set_xlabel("rank of the correct title")
            ax.set_ylabel("queries")
            ax.legend(loc="upper right")
        return to_data_uri(fig)


@kept
def grouped_bars(
    groups: Mapping[str, Mapping[str, float]],
    *,
    title: str,
    xlabel: str,
    errors: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
    xlim: tuple[float, float] | None = None,
) -> str:
    """Horizontal bars: one row per group (e.g. category), one bar per role; `errors` (group -> role ->
    (ci_low, ci_high)) are drawn as whiskers; `xlim` fixes the scale (rates: 0 to 1)."""
    errors = errors or {}
    names = list(groups)
    roles = list(dict.fromkeys(role for values in groups.values() for role in values))
    # margins sized from the label lengths: constrained layout took about half of this function's
    # time, and a report draws dozens of these
    char_in = 0.075  # width of one 9 pt character, generously
    left = 0.3 + char_in * max((len(label(n)) for n in names), default=4)
    right = 0.7 + char_in * max((len(label(r)) for r in roles), default=4)  # legend handle + text
    width, height = left + 3.6 + right, 1.0 + 0.22 * len(names) * max(1, len(roles))
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(width, height))
        fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - 0.4 / height, bottom=0.55 / height)
        ax = fig.subplots()
        bar = 0.8 / max(1, len(roles))
        y = np.arange(len(names))
        for i, role in enumerate(roles):
            values = [groups[n].get(role, np.nan) for n in names]
            pos = y + (i - (len(roles) - 1) / 2) * bar
            ax.barh(pos, values, height=bar, label=label(role), color=role_color(role, i))
            whiskers = [
                (p, v, errors[n][role]) for p, v, n in zip(pos, values, names, strict=True) if role in errors.get(n, {})
            ]
            if whiskers:
                ax.errorbar(
                    [v for _, v, _ in whiskers],
                    [p for p, _, _ in whiskers],
                    fmt="none",
                    ecolor="#1d232a",
                    elinewidth=1.1,
                    capsize=2.5,
                    xerr=[
                        [max(0.0, v - lo) for _, v, (lo, _) in whiskers],
                        [max(0.0, hi - v) for _, v, (_, hi) in whiskers],
                    ],
                )
        if xlim is not None:
            ax.set_xlim(*xlim)
        ax.set_yticks(y, [label(n) for n in names])
        ax.set_ylim(len(names) - 0.5, -0.5)  # first group on top, no empty rows around the bars
        ax.set_title(label(title))
        ax.set_xlabel(label(xlabel))
        ax.grid(axis="y", visible=False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside, never over bars
        return to_data_uri(fig)


@kept
def interpolation_frontier(
    alphas: Sequence[float],
    in_category: Mapping[str, Sequence[float]],
    cross_category: Mapping[str, Sequence[float]],
    best_alpha: float | None,
) -> str:
    """Left: each metric against alpha (in-category solid, cross-category dashed).
    Right: the frontier, in-category against cross-category for the first shared metric."""
    alpha_values = np.asarray(alphas, dtype=float)
    shared = [m for m in in_category if m in cross_category]
    with matplotlib.rc_context(_STYLE):
        fig, axes = _figure(2 if shared else 1, width=4.4, height=3.2)
        ax = axes[0]
        for i, metric in enumerate(dict.fromkeys([*in_category, *cross_category])):
            color = _EXTRA_COLORS[i % len(_EXTRA_COLORS)]
            if metric in in_category:
                ax.plot(
                    alpha_values,
                    in_category[metric],
                    color=color,
                    marker="o",
                    ms=3,
                    label=label(f"{metric} in-category"),
                )
            if metric in cross_category:
                ax.plot(
                    alpha_values,
                    cross_category[metric],
                    color=color,
                    ls="--",
                    marker="s",
                    ms=3,
                    label=label(f"{metric} cross-category"),
                )
        if best_alpha is not None:
            ax.axvline(best_alpha, color="#c0392b", lw=1, ls=":", label=f"best alpha {best_alpha:g}")
        ax.set_xlabel("alpha (0 = baseline, 1 = fine-tuned)")
        ax.set_title("metrics along the interpolation")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best")
        if shared:
            metric = shared[0]
            x, y = np.asarray(in_category[metric], float), np.asarray(cross_category[metric], float)
            ax = axes[1]
            ax.plot(x, y, color="#2a7ab0", marker="o", ms=4)
            for a, xi, yi in zip(alpha_values, x, y, strict=True):
                ax.annotate(f"{a:g}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
            if best_alpha is not None and np.any(np.isclose(alpha_values, best_alpha)):
                j = int(np.argmin(np.abs(alpha_values - best_alpha)))
                ax.plot([x[j]], [y[j]], marker="*", ms=12, color="#c0392b", ls="none", label="best")
                ax.legend(loc="best")
            ax.set_xlabel(label(f"in-category {metric}"))
            ax.set_ylabel(label(f"cross-category {metric}"))
            ax.set_title("frontier")
        return to_data_uri(fig)
