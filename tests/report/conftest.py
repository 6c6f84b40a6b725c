"""Synthetic but realistic run reports for the report tests.

Ranks come from a seeded RNG (a log-normal spread, like a CLIP model's ranks over a few
hundred titles); a 'good' candidate ranks better than the baseline, a 'degraded' one worse.
Metrics, CIs, comparisons, gates and sections are computed from those ranks the way a run
computes them, so every number in a report is consistent with its per-query data.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from harness.evaluate.compare import compare_values
from harness.evaluate.metrics import statistic_of, values_from_ranks
from harness.evaluate.stats import Estimate, statistic
from harness.report.examples import select_examples, thumbnail_b64
from harness.report.model import GateResult, RunReport
from harness.settings import StatSettings

HOSTILE_TITLE = "<script>alert(1)</script>"
VIEWS = {"heldout": 240, "cross": 300}
REALISTIC_VIEWS = {
    "train": 258,
    "heldout": 64,
    "cross": 400,
    "cross:Medical": 100,
    "cross:Health": 100,
    "cross:Biography": 100,
    "cross:Cookery": 100,
}
FAMILIES = (
    "repeated_letters",
    "dropped_letter",
    "adjacent_swap",
    "keyboard_typo",
    "ocr_confusion",
    "homoglyph",
    "case",
    "punctuation_stripped",
    "spacing",
    "unicode_normalisation",
    "article_moved",
    "ampersand_and",
    "numerals_words",
    "subtitle",
    "author_appended",
    "category_prefix",
    "word_dropped",
    "word_order_shuffled",
    "overlong",
)
PROBE_METRICS = (
    "flip_rate",
    "lost@5",
    "similarity_drop_p90",
    "similarity_drop_mean",
    "similarity_drop_p50",
    "recall@1",
    "mean_rank_change",
)
DIRECTIONS = ("image_to_text", "text_to_image")
METRICS = ("recall@1", "recall@5", "recall@10", "mrr", "median_rank", "mean_rank")
CATEGORIES = ("Mind-Body-Spirit", "Medical", "Health", "Biography")
WORDS = ("Quiet", "Power", "Healing", "Garden", "Mind", "Body", "River", "Hidden", "Life", "Light", "Heart", "Stone")


def _ranks(rng: np.random.Generator, n: int, gallery: int, scale: float) -> np.ndarray:
    return np.clip(np.floor(rng.lognormal(mean=scale, sigma=1.3, size=n)) + 1, 1, gallery).astype(int)


def cover_image(title: str, seed: int, size: int = 128) -> Image.Image:
    """A small drawn cover: coloured background, a band and a few text-like bars."""
    rng = np.random.default_rng(seed)
    colour = tuple(int(c) for c in rng.integers(40, 220, size=3))
    image = Image.new("RGB", (size * 3 // 4, size), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle([6, 14, size * 3 // 4 - 6, 44], fill=tuple(255 - c for c in colour))
    draw.text((10, 20), title[:12], fill=colour)
    for i in range(3):
        draw.rectangle([10, 60 + 12 * i, 10 + int(rng.integers(20, 70)), 66 + 12 * i], fill=(250, 250, 250))
    return image


def build_run(
    candidate: str = "good",
    *,
    seed: int = 0,
    fingerprint: str = "fp-data-1",
    name: str = "",
    per_query: bool = True,
    sections: bool = True,
    covers: list[Image.Image] | None = None,
    views: dict[str, int] | None = None,
    realistic: bool = False,
) -> RunReport:
    """A run report: the same baseline in every run, a candidate that is 'good', 'degraded' or 'same'.

    `realistic` gives it the shape of the embedded default's run: train, heldout, cross and one view
    per other category, twenty probe families with their title-hidden controls, zero-shot per view,
    and example books from every view (hundreds of metric keys)."""
    views = views or (REALISTIC_VIEWS if realistic else VIEWS)
    base_rng = np.random.default_rng(1000)  # the baseline model is the same in every run
    cand_rng = np.random.default_rng(seed)
    scale = {"good": 1.1, "degraded": 2.6, "same": None}[candidate]
    report = RunReport(
        name=name, seed=seed, run_id=f"run{seed:04d}{candidate[:3]}", created_at="2025-01-01T00:00:00+00:00"
    )
    report.environment = {"git": {"commit": "abc1234def5678", "dirty": False}, "machine": {"hostname": "ci"}}
    report.data = {
        "fingerprint": fingerprint,
        "view_sizes": dict(views),
        "load_report": {"kept": sum(views.values()), "total": sum(views.values()) + 3, "skipped": {"missing_image": 3}},
    }
    report.models = {
        "baseline": {"spec": "fixtures:tiny-baseline", "fingerprint": "b" * 64},
        "candidate": {"spec": f"runs/ft-{candidate}.safetensors", "fingerprint": f"{candidate}" * 8},
    }
    report.metrics = {"baseline": {}, "candidate": {}}
    for view, n in views.items():
        ids = [f"bk{view[:2]}{i:05d}" for i in range(n)]
        titles = [f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]} {i}" for i in range(n)]
        titles[3] = HOSTILE_TITLE
        for direction in DIRECTIONS:
            base = _ranks(base_rng, n, n, 1.8)
            cand = base.copy() if scale is None else _ranks(cand_rng, n, n, scale)
            key = f"{view}/{direction}"
            if per_query:
                report.per_query[key] = {
                    "item_ids": ids,
                    "titles": titles,
                    "ranks": {"baseline": base.tolist(), "candidate": cand.tolist()},
                }
            for metric in METRICS:
                for role, ranks in (("baseline", base), ("candidate", cand)):
                    value = float(statistic(values_from_ranks(ranks, metric), statistic_of(metric)))
                    spread = max(1e-3, abs(value) * 0.08) if metric.endswith("rank") else 0.05
                    report.metrics[role][f"{key}/{metric}"] = Estimate(value, value - spread, value + spread, n)
                report.comparisons.setdefault("candidate", {})[f"{key}/{metric}"] = compare_values(
                    f"{key}/{metric}",
                    values_from_ranks(base, metric),
                    values_from_ranks(cand, metric),
                    StatSettings(300, seed=seed),
                )
            flips = [
                {"book_id": ids[i], "title": titles[i], "reference_rank": int(base[i]), "rank": int(cand[i])}
                for i in range(n)
                if (base[i] <= 5) != (cand[i] <= 5)
            ]
            report.flips.setdefault("candidate", {})[f"{key}/recall@5"] = {
                "improved": [f for f in flips if f["rank"] <= 5],
                "regressed": [f for f in flips if f["reference_rank"] <= 5],
            }
    report.reference = "baseline"
    c = report.comparisons["candidate"]["heldout/image_to_text/recall@5"]
    report.gates = [
        GateResult(
            "heldout-r5-improves",
            "heldout/image_to_text/recall@5",
            "delta > 0 at 95%",
            "fail",
            "PASS" if c.ci_low > 0 else "FAIL",
            f"delta {c.delta:+.3f} [{c.ci_low:+.3f}, {c.ci_high:+.3f}]",
            rule_kind="delta",
            threshold=0.0,
            bound=0.0,
        ),
        GateResult(
            "cross-r5-noninferior",
            "cross/image_to_text/recall@5",
            "non-inferior by 0.02 at 95%",
            "fail",
            "PASS" if report.comparisons["candidate"]["cross/image_to_text/recall@5"].ci_low > -0.02 else "FAIL",
            "lower CI bound against -0.02",
            rule_kind="non_inferior",
            threshold=0.02,
            bound=-0.02,
        ),
        GateResult(
            "heldout-median-rank",
            "heldout/text_to_image/median_rank",
            "non-inferior by 2 at 95%",
            "warn",
            "PASS" if report.comparisons["candidate"]["heldout/text_to_image/median_rank"].ci_high < 2 else "WARN",
            "upper CI bound against +2",
            rule_kind="non_inferior",
            threshold=2.0,
            bound=2.0,
        ),
        GateResult(
            "probe-flip-rate",
            "probes/typo/flip_rate",
            "max 0.5",
            "warn",
            "WARN" if candidate == "degraded" else "PASS",
            "flip rate against 0.5",
            rule_kind="max",
            threshold=0.5,
            bound=0.5,
        ),
    ]
    for role, shift in (("baseline", 0.0), ("candidate", {"good": 0.05, "degraded": -0.2, "same": 0.0}[candidate])):
        for family, rate in (("typo", 0.22), ("case", 0.08), ("article", 0.12)):
            value = rate - shift / 2
            report.metrics[role][f"probes/{family}/flip_rate"] = Estimate(value, value - 0.03, value + 0.03, 200)
        for v in ("heldout", "cross"):
            report.metrics[role][f"{v}/zero_shot/accuracy"] = Estimate(0.55 + shift, 0.5 + shift, 0.6 + shift, 200)
    if realistic:
        _add_realistic(report, candidate, seed)
    if sections:
        _add_sections(report, candidate, covers or [])
    return report


def _add_realistic(report: RunReport, candidate: str, seed: int) -> None:
    """Probe families with title-hidden controls and zero-shot metrics of every view, for both roles."""
    rng = np.random.default_rng(seed + 7)
    base_rng = np.random.default_rng(77)
    worse = {"good": -0.05, "degraded": 0.25, "same": 0.0}[candidate]
    for family in FAMILIES:
        for suffix in ("", "@title_hidden"):
            for metric in PROBE_METRICS:
                key = f"probes/{family}{suffix}/{metric}"
                base = float(base_rng.uniform(0.05, 0.6))
                cand = min(1.0, max(0.0, base + worse + float(rng.normal(0, 0.03))))
                for role, value in (("baseline", base), ("candidate", cand)):
                    report.metrics[role][key] = Estimate(value, max(0.0, value - 0.06), value + 0.06, 120, "percentile")
                report.comparisons["candidate"][key] = compare_values(
                    key,
                    (base_rng.random(120) < base).astype(float),
                    (rng.random(120) < cand).astype(float),
                    StatSettings(200, seed=seed),
                )
    for view in report.data["view_sizes"]:
        key = f"{view}/zero_shot/accuracy"
        a, b = (base_rng.random(150) < 0.6).astype(float), (rng.random(150) < 0.6 - worse).astype(float)
        for role, values in (("baseline", a), ("candidate", b)):
            v = float(values.mean())
            report.metrics[role][key] = Estimate(v, v - 0.07, v + 0.07, 150, "percentile")
        report.comparisons["candidate"][key] = compare_values(key, a, b, StatSettings(200, seed=seed))


def _add_sections(report: RunReport, candidate: str, covers: list[Image.Image]) -> None:
    shift = {"good": 0.06, "degraded": -0.2, "same": 0.0}[candidate]
    report.sections["categories"] = {
        cat: {
            "baseline": {"recall@5": 0.30 + 0.05 * i, "mrr": 0.2 + 0.03 * i},
            "candidate": {"recall@5": 0.30 + 0.05 * i + shift, "mrr": 0.2 + 0.03 * i + shift / 2},
        }
        for i, cat in enumerate(CATEGORIES)
    }
    report.sections["probes"] = {
        "typo": {"n": 200, "examples": ["Helaing Garden", "Quiet Powr"]},
        "case": {"n": 200},
        "article": {"n": 120},
    }
    report.sections["zero_shot"] = {"categories": list(CATEGORIES), "templates": ["a book about {category}"]}
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    report.sections["interpolation"] = {
        "alphas": alphas,
        "in_category": {"recall@5": [0.30, 0.38, 0.44, 0.47, 0.48]},
        "cross_category": {"recall@5": [0.35, 0.36, 0.35, 0.31, 0.27]},
        "best_alpha": 0.5,
    }
    examples = []
    for view in ("heldout", "cross"):
        if f"{view}/image_to_text" in report.per_query:
            examples += _examples(report, view, covers)
    report.sections["examples"] = examples
    _add_slices(report)


def _add_slices(report: RunReport) -> None:
    """A Slices section from the run's own ranks, with two made-up slicings of its books."""
    from harness.evaluate.slice_discovery import discover
    from harness.evaluate.slices import SliceTable
    from harness.report.slices import store_section
    from harness.settings import StatSettings

    books = list(dict.fromkeys(i for e in report.per_query.values() for i in e["item_ids"]))
    if not books:
        return
    table = SliceTable(
        tuple(books),
        {
            "format": tuple(("Paperback", "Hardback")[i % 2] for i in range(len(books))),
            "colour": tuple("greyscale" if i % 5 == 0 else "colour" for i in range(len(books))),
        },
    )
    store_section(report, discover(report.per_query, table, settings=StatSettings(200, 0.95, 0)), table)


def _examples(report: RunReport, view: str, covers: list[Image.Image]) -> list[dict[str, Any]]:
    entry = report.per_query[f"{view}/image_to_text"]
    base, cand = entry["ranks"]["baseline"], entry["ranks"]["candidate"]
    worst, best = select_examples(base, cand, count=3)
    chosen = [3, *[i for i in worst + best if i != 3]]  # the hostile title is always shown
    examples = []
    for j, i in enumerate(chosen):
        title = entry["titles"][i]
        image = covers[j % len(covers)] if covers else cover_image(title, seed=i)
        top5 = {}
        for role, rank in (("baseline", base[i]), ("candidate", cand[i])):
            rows = [
                {"title": entry["titles"][(i + k + 1) % len(base)], "similarity": 0.31 - 0.01 * k, "correct": False}
                for k in range(5)
            ]
            if rank <= 5:
                rows[rank - 1] = {"title": title, "similarity": 0.31 - 0.01 * (rank - 1), "correct": True}
            top5[role] = rows
        examples.append(
            {
                "book_id": entry["item_ids"][i],
                "title": title,
                "view": view,
                "author": "A. <b>Writer</b>" if i == 3 else f"Author {i}",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "thumbnail": thumbnail_b64(image),
                "top5": top5,
                "rank": {"baseline": int(base[i]), "candidate": int(cand[i])},
            }
        )
    return examples


@pytest.fixture(scope="session")
def make_run() -> Callable[..., RunReport]:
    return build_run


@pytest.fixture(scope="session")
def hostile_title() -> str:
    return HOSTILE_TITLE


def decode_b64_image(data: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data)))


@pytest.fixture
def decode_image() -> Callable[[str], Any]:
    return decode_b64_image
