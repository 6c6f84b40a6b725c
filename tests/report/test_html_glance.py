"""The page reads verdict first: forest plot of every gate, heatmap of differences, probe matrix;
tables collapsed; every string escaped by the template; covers embedded once."""

from __future__ import annotations

import json
import re

import pytest

from harness.errors import ConfigError
from harness.report.html import SECTIONS, render_html
from harness.report.html_blocks import environment
from harness.report.html_verdict import forest_plot
from harness.report.model import GateResult, RunReport


@pytest.fixture(scope="module")
def realistic(make_run):
    return make_run("degraded", seed=5, realistic=True)


@pytest.fixture(scope="module")
def page(realistic):
    return render_html(realistic)


def _section(page: str, anchor: str) -> str:
    return page.split(f'<section id="{anchor}">', 1)[1].split("</section>", 1)[0]


def test_template_escapes_by_default():
    assert environment().autoescape is True or environment().autoescape("page.html.j2")


def test_verdict_comes_first_with_a_forest_plot_before_any_table(page, realistic):
    assert SECTIONS.names()[0] == "verdict"
    body = page.split("<main>", 1)[1]
    assert body.index('<section id="verdict">') < body.index("<table")
    verdict = _section(page, "verdict")
    assert verdict.index('class="chart forest"') < verdict.index("<details>")  # gate table collapsed below it
    assert "FAIL: 1 of 4 gates failed" in verdict or "FAIL:" in verdict
    for gate in realistic.gates:
        assert gate.metric in verdict


def test_forest_plot_keeps_units_apart(realistic):
    chart = forest_plot(realistic)
    titles = [
        s.text
        for s in chart.shapes
        if s.tag == "text" and s.attrs.get("font-weight") == "600" and s.text.startswith(("model minus", "value"))
    ]
    # recall gates (rates), the median-rank gate (ranks, log) and the absolute flip-rate gate: three panels
    assert titles == [
        "model minus reference: rates (0 to 1)",
        "model minus reference: ranks (log scale)",
        "value: rates (0 to 1)",
    ]
    dashed = [s for s in chart.shapes if s.tag == "line" and "stroke-dasharray" in s.attrs]
    assert len(dashed) == len(realistic.gates)  # every gate's margin or threshold is drawn
    colours = {s.attrs["fill"] for s in chart.shapes if s.tag == "circle"}
    assert "#c0392b" in colours  # the failed gate is red


def test_heatmap_marks_significant_cells_and_probe_matrix_has_controls(page, realistic):
    heatmap = _section(page, "heatmap")
    assert 'class="chart heatmap"' in heatmap and "cross:Medical/image_to_text" in heatmap
    significant = [
        k
        for k, d in realistic.comparisons["candidate"].items()
        if d.significant and k.count("/") == 2 and not k.startswith("probes/")
    ]
    assert significant and heatmap.count(" •</text>") >= len(significant) // 2
    assert "significantly worse" in heatmap
    probes = _section(page, "probes")
    assert 'class="chart probes"' in probes and "title hidden" in probes
    for metric in ("flip_rate", "lost@5", "similarity_drop_p90"):
        assert f">{metric}</text>" in probes
    assert "interval: percentile" in probes  # each value's interval method in its tooltip


def test_full_tables_are_collapsed_at_the_end_with_interval_methods(page):
    details = _section(page, "details")
    assert re.search(r"<details><summary>retrieval metrics \(\d+\)</summary>", details)
    assert re.search(r"<details><summary>probes metrics \(\d{3,}\)</summary>", details)
    assert 'title="percentile interval, n=' in details
    before = page.split('<section id="examples">', 1)[0].split("<main>", 1)[1]  # the cards' top-5 lists aside
    assert "<table" not in re.sub(r"<details>.*?</details>", "", before, flags=re.S)  # every table is collapsed


def test_books_that_matter_come_from_every_view_worst_first(page, realistic):
    examples = _section(page, "examples")
    assert '<span class="viewtag">cross</span>' in examples and '<span class="viewtag">heldout</span>' in examples
    losses = examples.split("Largest rank losses", 1)[1].split("<details>", 1)[0]
    ranks = [
        (int(a), int(b))
        for a, b in re.findall(
            r"baseline</span> rank (\d+) &rarr; <span class=\"role-candidate\">"
            r"candidate</span> rank (\d+)",
            losses,
        )
    ]
    changes = [b - a for a, b in ranks]
    assert changes and changes == sorted(changes, reverse=True)


def test_each_cover_is_embedded_once(page, realistic):
    thumbs = [e["thumbnail"] for e in realistic.sections["examples"]]
    assert len(thumbs) > len(set(thumbs))  # the hostile book is shown from two views
    for thumb in set(thumbs):
        assert page.count(thumb) == 1


def test_crafted_markup_in_any_field_renders_as_text(make_run, tmp_path):
    evil = "<img src=x onerror=alert(1)>"
    report = make_run("good", seed=8, name=evil)
    report.models[evil] = {"spec": evil, "fingerprint": evil}
    report.data["view_sizes"] = {evil: 3}
    report.sections["categories"] = {evil: {"baseline": {"recall@5": 0.3}}}
    report.sections["examples"][0].update({"view": evil, "category": evil, "book_id": evil})
    report.gates.append(
        GateResult(evil, "heldout/image_to_text/recall@5", evil, "fail", "FAIL", evil, rule_kind="delta", role=evil)
    )
    crafted = RunReport.read(report.write(tmp_path / "crafted.json"))  # a crafted run.json, read back
    page = render_html(crafted)
    assert evil not in page and "onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page
    raw = json.loads((tmp_path / "crafted.json").read_text())
    raw["gates"][0]["outcome"] = evil  # outcomes and tiers are enumerations: refused with one line
    with pytest.raises(ConfigError, match="outcome"):
        RunReport.from_dict(raw)
