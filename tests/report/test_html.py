from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import pytest

from harness.report.html import render_html, write_html


class _Page(HTMLParser):
    """Collects tags, image sources and visible text, the way a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[dict[str, str]] = []
        self.text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        for name in ("href", "src"):
            if name in attrs and tag != "img":
                self.links.append(attrs[name])

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def full_page(make_run):
    return render_html(make_run("degraded", seed=4, name="nightly"))


def test_page_is_self_contained_and_script_free(full_page):
    page = _parse(full_page)
    assert "script" not in page.tags and page.links == []
    assert "Content-Security-Policy" in full_page and "default-src 'none'" in full_page
    assert not re.search(r"(?:src|href)=\"(?:https?:|//)", full_page)
    assert page.images and all(i["src"].startswith("data:image/") for i in page.images)


def test_plots_are_svg_and_covers_are_jpeg_css_classes(full_page):
    images = _parse(full_page).images
    assert sorted(i["alt"] for i in images) == [
        "interpolation frontier",
        "rank histograms",
        "recall@5 per category",
        "recall@k curves",
        "zero-shot accuracy",
    ]
    for image in images:
        svg = base64.b64decode(image["src"].split(",", 1)[1])
        assert b"<svg" in svg and b"Matplotlib" in svg
    covers = re.findall(
        r"\.(cv-[0-9a-f]{12}) \{ background-image: url\(data:image/jpeg;base64,([A-Za-z0-9+/=]+)\); \}", full_page
    )
    assert len(covers) >= 4
    for name, data in covers:
        assert base64.b64decode(data)[:3] == b"\xff\xd8\xff"
        assert f'class="cover {name}"' in full_page
    assert full_page.count("<svg") >= 3  # the forest plot, the heatmap and the probe matrix are inline


def test_hostile_title_and_author_appear_as_text(full_page, hostile_title):
    page = _parse(full_page)
    text = "".join(page.text)
    assert hostile_title in text and "A. <b>Writer</b>" in text
    assert hostile_title not in full_page  # only its escaped form is in the markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in full_page
    assert "<b>Writer</b>" not in full_page and "A. &lt;b&gt;Writer&lt;/b&gt;" in full_page


def test_every_section_is_present_with_its_data(full_page):
    for heading in (
        "Verdict",
        "Where the models differ",
        "Recall@k",
        "Rank of the correct title",
        "Per category",
        "Zero-shot category",
        "Perturbed-title probes",
        "Interpolation frontier",
        "Slices: which kinds of books changed",
        "Largest rank losses",
        "Largest rank gains",
        "Flips",
        "Details: every number",
    ):
        assert heading in full_page
    assert 'class="note">No' not in full_page
    assert "gates failed" in full_page  # the degraded candidate fails its gate
    assert "heldout/image_to_text/recall@5" in full_page


def test_sections_without_data_are_omitted_with_a_note(make_run):
    bare = make_run("good", per_query=False, sections=False)
    bare.flips = {}
    page = render_html(bare)
    for note in (
        "No per-category results in this run.",
        "No interpolation sweep in this run.",
        "No example books in this run.",
        "No per-query flips",
    ):
        assert note in page
    assert "From the stored recall@k metrics" in page  # curves fall back to the stored R@k points
    empty = render_html(type(bare)())
    assert "No differences against a reference in this run." in empty and "no gates in this run" in empty
    assert "No metrics, data or environment information in this run." in empty


def test_malformed_sections_do_not_break_the_page(make_run):
    report = make_run("good", seed=9, sections=False, per_query=False)
    report.sections = {
        "interpolation": {"alphas": [0, 1], "in_category": {"recall@5": "bad"}, "best_alpha": "x"},
        "categories": {"Medical": "not a dict"},
        "examples": [
            {
                "title": "<i>x</i>",
                "thumbnail": '"><script>alert(2)</script>',
                "top5": {"candidate": [{"title": "<u>y</u>", "similarity": None}]},
            }
        ],
        "probes": {"typo": {"flip": [1, 2, {"a": 3}]}},
    }
    page = render_html(report)
    assert "no cover" in page and "<script>" not in page and "<i>x</i>" not in page and "<u>" not in page
    assert "Per-category results hold no recall@5." in page
    assert "holds no metric series" in page


def test_write_html_writes_the_rendered_page_atomically(tmp_path, make_run):
    report = make_run("good", seed=3, sections=False, per_query=False)
    path = write_html(report, tmp_path / "out" / "report.html")
    assert path.read_text(encoding="utf-8") == render_html(report)  # deterministic, too
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]
