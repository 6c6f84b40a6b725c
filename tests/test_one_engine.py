"""One engine for every number: a metric declared once is computed, compared, gated and shown everywhere,
and every command that reports a number reports the same one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.evaluate.compare import compare_evaluations
from harness.evaluate.evaluation import EvalConfig, evaluate
from harness.evaluate.metrics import Metric, registered
from harness.gates import Evidence, judge, parse_gates
from harness.report.build import add_comparison, add_evaluation, new_report
from harness.report.console import make_console, print_run
from harness.report.html import render_html
from harness.report.model import RunReport
from harness.settings import StatSettings

ROOT = Path(__file__).resolve().parent.parent
TOY = Metric(
    "top2_share",
    "top2_share",
    higher_is_better=True,
    applies_to="retrieval",
    test="mcnemar",
    from_ranks=lambda r: (r <= 2).astype(float),
    description="a toy: correct answer in the top 2",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A small generated catalogue on disk, for the commands."""
    from harness.data.fixtures import make_fixture_catalogue

    return make_fixture_catalogue(tmp_path_factory.mktemp("fixture") / "books", books_per_category=40)


@pytest.fixture(scope="module")
def catalogue(real_bookcovers):
    from harness.data import load_catalogue

    catalogue, _ = load_catalogue([real_bookcovers / "Medical", real_bookcovers / "Health"])
    return catalogue.subset(np.arange(0, len(catalogue), 8))


def test_a_toy_metric_is_one_registry_entry(catalogue, tmp_path):
    from harness.models import load

    config = EvalConfig(resamples=200)
    key = "heldout/image_to_text/top2_share"
    with registered(TOY):
        a, b = (
            evaluate(load(spec), catalogue, categories=["Medical"], config=config)
            for spec in ("tiny:vit-xs", "tiny:vit-xs@1")
        )
        ranks = a.rankings["heldout/image_to_text"].ranks
        assert a.metrics[key].value == pytest.approx(np.mean(ranks <= 2))  # computed
        comparison = compare_evaluations(a, b)
        assert comparison.differences[key].test == "mcnemar"  # compared, with its declared test
        [gate] = parse_gates({key: {"delta": 0}})  # gateable
        [result] = judge([gate], {gate: Evidence(b.metrics[key], comparison.differences[key])})
        assert result.outcome in ("PASS", "FAIL", "UNDECIDED") and key in result.name
        report = new_report("compare", settings=StatSettings(200))
        add_evaluation(report, "baseline", a)
        add_evaluation(report, "candidate", b)
        add_comparison(report, "candidate", comparison, reference="baseline")
        report.gates = [result]
        path = report.write(tmp_path / "toy.json")
        stored = json.loads(path.read_text())
        assert key in stored["metrics"]["baseline"] and key in stored["comparisons"]["candidate"]  # JSON
        console = make_console(record=True, width=200)
        print_run(RunReport.read(path), console)
        assert f"{key} ↑" in console.export_text()  # console, with its direction
        assert f"{key} ↑" in render_html(RunReport.read(path))  # HTML
    assert key not in evaluate(load("tiny:vit-xs"), catalogue, categories=["Medical"], config=config).metrics


def test_interpolation_minimises_a_rank_metric(folder, tmp_path, capsys):
    from harness.data import FIXTURE_FINETUNE_CATEGORY

    args = [
        "--data",
        str(folder),
        "--categories",
        FIXTURE_FINETUNE_CATEGORY,
        "--resamples",
        "100",
        "--no-zero-shot",
        "--ks",
        "1,5",
    ]
    for metric in ("image_to_text/median_rank", "image_to_text/recall@5"):
        out, best = tmp_path / "sweep.json", tmp_path / "best.safetensors"
        assert (
            main(
                [
                    "interpolate",
                    "tiny:vit-xs",
                    "tiny:vit-xs@1",
                    *args,
                    "--alphas",
                    "0,0.5,1",
                    "--metric",
                    metric,
                    "--max-cross-drop",
                    "1000",
                    "--out",
                    str(out),
                    "--save-alpha",
                    str(best),
                ]
            )
            == 0
        )
        report = RunReport.read(out)
        sweep = report.sections["interpolation"]
        inside = next(iter(sweep["in_category"].values()))
        pick = min if metric.endswith("rank") else max
        expected = sweep["alphas"][inside.index(pick(inside))]  # every alpha is feasible here
        assert sweep["best_alpha"] == expected, (metric, inside)
        from harness.models import load

        assert load(str(best)).fingerprint == report.models[f"alpha={expected:g}"]["fingerprint"]
    capsys.readouterr()


@pytest.mark.slow
def test_eval_compare_suites_and_report_agree_bit_for_bit(tmp_path):
    """One pair on one catalogue through four commands: every shared number is identical."""
    from harness.data import FIXTURE_FINETUNE_CATEGORY, fixture_catalogue

    data, base, cand = str(fixture_catalogue()), "fixtures:tiny-baseline", "tiny:vit-xs@1"
    common = ["--data", data, "--categories", FIXTURE_FINETUNE_CATEGORY]
    env_cli = [sys.executable, "-m", "harness.cli"]

    def run(*argv: str) -> None:
        proc = subprocess.run([*env_cli, *argv], capture_output=True, text=True, timeout=1800, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]

    run("eval", "--model", base, *common, "--out", str(tmp_path / "eval.json"))
    run("compare", base, cand, *common, "--out", str(tmp_path / "compare.json"))
    project = tmp_path / "project"
    (project / "suites").mkdir(parents=True)
    for suite in (ROOT / "suites").glob("test_*.py"):
        (project / "suites" / suite.name).write_text(suite.read_text())
    (project / "pyproject.toml").write_text(
        f'[tool.bookclip]\nbaseline = "{base}"\ncandidate = "{cand}"\ncategories = ["{FIXTURE_FINETUNE_CATEGORY}"]\n'
        '[tool.bookclip.gates]\n"heldout/image_to_text/recall@5" = { delta = 0, tier = "warn" }\n'
        '"cross/text_to_image/median_rank" = { non_inferior = 5, tier = "warn" }\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider", "-k", "retrieval or cross_category"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    shown = subprocess.run(
        [*env_cli, "report", str(project / "reports" / "run.json"), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    eval_run, compare_run = (json.loads((tmp_path / f).read_text()) for f in ("eval.json", "compare.json"))
    suites_run, reported = json.loads((project / "reports" / "run.json").read_text()), json.loads(shown.stdout)

    baseline = eval_run["metrics"]["model"]
    assert baseline  # the eval's model is the baseline of the other runs
    for other in (
        compare_run["metrics"]["baseline"],
        suites_run["metrics"]["baseline"],
        reported["metrics"]["baseline"],
    ):
        shared = set(baseline) & set(other)
        assert len(shared) > 20 and all(baseline[k] == other[k] for k in shared)
    differences = compare_run["comparisons"]["candidate"]
    for other in (suites_run["comparisons"]["candidate"], reported["comparisons"]["candidate"]):
        shared = set(differences) & set(other)
        assert "heldout/image_to_text/recall@5" in shared and "cross/text_to_image/median_rank" in shared
        assert all(differences[k] == other[k] for k in shared)  # value, CI, p-value and test name
    assert (
        compare_run["metrics"]["candidate"]["heldout/image_to_text/recall@5"]
        == suites_run["metrics"]["candidate"]["heldout/image_to_text/recall@5"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("command", ["eval", "compare", "interpolate", "probe"])
def test_report_reads_the_out_of_every_command(command, folder, tmp_path, capsys):
    from harness.data import FIXTURE_FINETUNE_CATEGORY

    out = tmp_path / f"{command}.json"
    common = ["--data", str(folder), "--resamples", "100", "--ks", "1,5"]
    argv = {
        "eval": ["eval", "--model", "tiny:vit-xs", *common, "--categories", FIXTURE_FINETUNE_CATEGORY],
        "compare": [
            "compare",
            "tiny:vit-xs",
            "tiny:vit-xs@1",
            "tiny:vit-xs@2",
            *common,
            "--categories",
            FIXTURE_FINETUNE_CATEGORY,
        ],
        "interpolate": [
            "interpolate",
            "tiny:vit-xs",
            "tiny:vit-xs@1",
            *common,
            "--categories",
            FIXTURE_FINETUNE_CATEGORY,
            "--alphas",
            "0,1",
        ],
        "probe": [
            "probe",
            "--model",
            "tiny:vit-xs",
            "--compare",
            "tiny:vit-xs@1",
            "--data",
            str(folder),
            "--resamples",
            "100",
            "--items",
            "20",
            "--edit-items",
            "2",
            "--edit-time",
            "5",
            "--no-control",
        ],
    }[command]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    html = tmp_path / f"{command}.html"
    assert main(["report", str(out), "--html", str(html)]) == 0
    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    report = RunReport.read(out)
    assert report.kind == command and report.metrics
    key = next(iter(next(iter(report.metrics.values()))))
    assert key in printed and f"{command} run" in printed
    page = html.read_text()
    assert key in page and f"bookclip {command}" in page
    if command == "compare":
        assert report.compared_roles == ["candidate", "candidate-2"] and "candidate-2" in printed
