"""The HTML report: one self-contained file that opens from disk with no network.

The page reads top-down as a reviewer does: the verdict with a forest plot of every gate (first
screen), the evidence as pictures (a heatmap of differences, the probe matrix, recall@k curves,
per-category and zero-shot bars, all with CIs, the interpolation frontier), the books that moved
most in any view, and then every table, collapsed. Sections are lists of blocks
(harness.report.html_blocks) drawn by one Jinja2 template with autoescape, so every string from a
run is escaped. No script; a Content-Security-Policy allows only inline styles and data: images;
plots are inline SVG or matplotlib SVG images; each cover is embedded once, as a CSS class.
An HTML report section is a `Section` (a heading and a function of the run returning blocks) registered
under its anchor in `SECTIONS` (a harness.registry.Registry), drawn in registration order:

    SECTIONS.register("my-section", Section("My section", my_blocks))
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.io import atomic_write_text
from harness.plain_text import visible_page
from harness.registry import Registry
from harness.report.html_blocks import CSP, Block, environment, safely, stylesheet
from harness.report.html_books import cover_rules, example_blocks, flip_blocks
from harness.report.html_matrix import heatmap_blocks, probe_blocks
from harness.report.html_pictures import (
    category_blocks,
    detail_blocks,
    interpolation_blocks,
    recall_blocks,
    recall_curve,
    zero_shot_blocks,
)
from harness.report.html_verdict import verdict_blocks
from harness.report.model import RunReport
from harness.report.slices import slice_blocks


@dataclass(frozen=True)
class Section:
    """One section of the page: its heading and the blocks it draws from a run (`NoData` for a note)."""

    heading: str
    render: Callable[[RunReport], list[Block]] = field(repr=False)


SECTIONS: Registry[Section] = Registry(
    "report section",
    entries={
        "verdict": Section("Verdict", verdict_blocks),
        "heatmap": Section("Where the models differ", heatmap_blocks),
        "probes": Section("Perturbed-title probes", probe_blocks),
        "recall": Section("Recall@k", recall_blocks),
        "categories": Section("Per category", category_blocks),
        "zero-shot": Section("Zero-shot category", zero_shot_blocks),
        "interpolation": Section("Interpolation frontier", interpolation_blocks),
        "slices": Section("Slices: which kinds of books changed", slice_blocks),
        "examples": Section("Books that matter: largest rank losses and gains, in every view", example_blocks),
        "flips": Section("Flips", flip_blocks),
        "details": Section("Details: every number", detail_blocks),
    },
)


def write_html(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write the report's HTML page to `path` (atomically) and return the path."""
    path = Path(path)
    atomic_write_text(path, render_html(report))
    return path


def render_html(report: RunReport) -> str:
    """The whole page as a string."""
    from markupsafe import Markup

    sections = [
        {"id": anchor, "heading": section.heading, "blocks": safely(section.render, report)}
        for anchor, section in SECTIONS.items()
    ]
    git = (report.environment or {}).get("git") or {}
    meta = [f"run {report.run_id}", report.created_at]
    if git.get("commit"):
        meta.append(f"commit {str(git['commit'])[:10]}{' (dirty)' if git.get('dirty') else ''}")
    if report.data.get("fingerprint"):
        meta.append(f"data {str(report.data['fingerprint'])[:12]}")
    meta.append(f"seed {report.seed}")
    sizes = report.data.get("view_sizes")
    if isinstance(sizes, dict) and sizes:
        meta.append("views: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    models = [
        {"role": role, "spec": (m or {}).get("spec", "?"), "fingerprint": str((m or {}).get("fingerprint", ""))[:12]}
        for role, m in report.models.items()
    ]
    page = (
        environment()
        .get_template("page.html.j2")
        .render(
            csp=Markup(CSP),
            css=Markup(stylesheet()),
            cover_css=Markup(cover_rules(report)),
            title=f"bookclip {report.kind} {report.name or report.run_id}",
            heading=f"bookclip {report.kind}: {report.name}" if report.name else f"bookclip {report.kind}",
            meta=" · ".join(meta),
            models=models,
            sections=sections,
            schema=report.schema_version,
            run_id=report.run_id,
        )
    )
    return visible_page(page)  # data strings: no bidi reversal, no raw control characters, always UTF-8


__all__ = ["SECTIONS", "Block", "Section", "recall_curve", "render_html", "write_html"]
