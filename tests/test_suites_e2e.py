"""The README's main job, as a user runs it: `pytest suites/` on the embedded default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_suites(cache: Path, report_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOOKCLIP_CACHE_DIR": str(cache), "PYSPARK_PYTHON": sys.executable}
    # the timeout only guards against a hang; how long runs take is measured in benchmarks/
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/",
            "-q",
            "-p",
            "no:cacheprovider",
            "--bookclip-report-dir",
            str(report_dir),
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def cache_entries(folder: Path) -> dict[str, int]:
    """Every file under a cache folder with its modification time: a rebuilt entry changes it."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.spark
def test_embedded_default_passes_cold_then_warm_from_caches(tmp_path, tracking):
    cache, reports = tmp_path / "cache", tmp_path / "reports"
    cold = run_suites(cache, reports)  # logged to MLflow too: the `tracking` fixture sets MLFLOW_TRACKING_URI
    assert cold.returncode == 0, cold.stdout[-4000:] + cold.stderr[-2000:]
    out = cold.stdout
    check_logged_finetune(tracking, json.loads((reports / "run.json").read_text()), cache)
    # every suite runs and gates something: none is skipped, and nothing warns
    for suite in ("retrieval", "cross_category", "zero_shot", "probes", "interpolation", "regression"):
        assert f"bookclip · {suite}" in out or suite == "regression", f"no summary table for {suite}"
    summary = out.strip().splitlines()[-1]
    assert "passed" in summary and "skipped" not in summary and "warning" not in summary, summary
    assert "failed" not in summary  # the regression suite ran against fixtures/default-run.json, not skipped
    report = json.loads((reports / "run.json").read_text())
    assert report["models"]["baseline"]["spec"] == "fixtures:tiny-baseline"
    assert report["models"]["candidate"]["spec"] == "finetune"
    assert report["models"]["candidate"]["fingerprint"] != report["models"]["baseline"]["fingerprint"]
    assert all(g["outcome"] in ("PASS", "WARN") for g in report["gates"])
    assert {g["outcome"] for g in report["gates"] if g["tier"] == "fail"} == {"PASS"}
    # the fine-tune ran once, through TorchDistributor, and is now cached
    finetunes = list((cache / "finetune").glob("*/final.safetensors"))
    assert len(finetunes) == 1

    embeddings = cache_entries(cache / "embeddings")
    assert embeddings, "the cold run cached no embeddings"

    warm = run_suites(cache, reports)
    assert warm.returncode == 0, warm.stdout[-4000:]
    # warm means served from the caches: no embedding was computed or rewritten
    assert cache_entries(cache / "embeddings") == embeddings
    assert list((cache / "finetune").glob("*/final.safetensors")) == finetunes
    assert "TorchDistributor" not in warm.stdout + warm.stderr

    # the regression suite alone evaluates what it compares (it once failed with "no metrics for role")
    stored = tmp_path / "stored.json"
    stored.write_bytes((reports / "run.json").read_bytes())
    alone = run_suites(cache, tmp_path / "regression", "-k", "regression", "--bookclip-compare-to", str(stored))
    assert alone.returncode == 0 and "1 passed" in alone.stdout, alone.stdout[-3000:]
    again = json.loads((tmp_path / "regression" / "run.json").read_text())
    assert again["metrics"]["candidate"] and again["metrics"]["baseline"]
    # and a run that evaluates nothing leaves the last report as it was
    before = (reports / "run.json").stat().st_mtime_ns
    empty = run_suites(cache, reports, "-k", "disjoint")  # loads the views, evaluates no model
    assert empty.returncode == 0 and "nothing was evaluated: no run report written" in empty.stdout
    assert (reports / "run.json").stat().st_mtime_ns == before


def check_logged_finetune(client, report: dict, cache: Path) -> None:
    """The suites' MLflow run: a parent, baseline and candidate nested runs, and the cached fine-tune's
    curve on the candidate, each of rank 0's logged steps once."""
    from harness.finetune.runlog import RunFiles

    experiments = [e.experiment_id for e in client.search_experiments()]
    (parent,) = client.search_runs(experiments, filter_string=f"tags.`bookclip.run_id` = '{report['run_id']}'")
    children = client.search_runs(experiments, filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    candidate = next(c for c in children if c.info.run_name == "candidate")
    assert sorted(c.info.run_name for c in children) == ["baseline", "candidate"]
    (run_dir,) = (cache / "finetune").glob("*/run")
    steps = [r["step"] for r in RunFiles(run_dir).read_train_log()]
    assert steps and sorted(m.step for m in client.get_metric_history(candidate.info.run_id, "train/loss")) == steps


@pytest.mark.slow
def test_k_runs_only_retrieval_and_skips_unused_work(tmp_path):
    cache, reports = tmp_path / "cache", tmp_path / "reports"
    # a randomly initialised candidate: the in-category gates must fail, by name
    proc = run_suites(cache, reports, "-k", "retrieval", "--bookclip-candidate", "tiny:vit-xs@1")
    assert proc.returncode == 1
    assert "FAILED suites/test_retrieval.py::test_gate[heldout/image_to_text/recall@5:delta0]" in proc.stdout
    assert "test_probes.py" not in proc.stdout and "test_cross_category.py" not in proc.stdout
    report = json.loads((reports / "run.json").read_text())
    assert {g["metric"].split("/")[0] for g in report["gates"]} == {"heldout"}
    assert "probes" not in report["sections"] and "interpolation" not in report["sections"]
    assert not (cache / "finetune").exists()


@pytest.mark.slow
@pytest.mark.spark
def test_xdist_workers_share_one_finetune_and_one_report(tmp_path):
    cache, reports = tmp_path / "cache", tmp_path / "reports"
    junit = tmp_path / "junit.xml"
    proc = run_suites(cache, reports, "-n", "2", "-k", "retrieval or cross_category", "--junitxml", str(junit))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # both workers needed the candidate; the file lock let exactly one of them fine-tune
    assert len(list((cache / "finetune").glob("*/final.safetensors"))) == 1
    assert len(list((cache / "finetune").glob("*/run/manifest.json"))) <= 1
    report = json.loads((reports / "run.json").read_text())
    metrics = sorted(g["metric"] for g in report["gates"])
    assert "heldout/image_to_text/recall@5" in metrics and "cross/image_to_text/recall@5" in metrics
    assert "bookclip · retrieval" in proc.stdout and "bookclip · cross_category" in proc.stdout
    # each worker's gate numbers reach the controller's JUnit XML, equal to the merged run.json's
    import xml.etree.ElementTree as ET

    props = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(junit).getroot().iter("testcase")
        if case.get("name", "").startswith("test_gate[")
    }
    assert len(props) == len(report["gates"])
    for gate in report["gates"]:
        found = next(p for name, p in props.items() if name.startswith(f"test_gate[{gate['metric']}:"))
        difference = report["comparisons"]["candidate"][gate["metric"]]
        assert found["delta"] == str(difference["delta"]) and found["outcome"] == gate["outcome"]
        assert float(found["p_value"]) == gate["p_value"] and found["n"] == str(difference["n"])


@pytest.mark.slow
def test_plain_finetune_fails_the_cross_category_gates_by_name(tmp_path):
    """The other side of the default: fine-tuned with `--method plain` (no replay, no distillation),
    the candidate improves its category and forgets the others; the cross-category gates say so."""
    import tomllib

    cache, reports = tmp_path / "cache", tmp_path / "reports"
    env = {**os.environ, "BOOKCLIP_CACHE_DIR": str(cache), "PYSPARK_PYTHON": sys.executable}
    run = tmp_path / "plain"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "finetune",
            "--method",
            "plain",
            "--replay-fraction",
            "0",
            "--launcher",
            "inline",
            "--out",
            str(run),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    proc = run_suites(
        cache, reports, "--bookclip-candidate", str(run / "model.safetensors"), "-k", "retrieval or cross_category"
    )
    assert proc.returncode == 1, proc.stdout[-4000:]
    gates = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["bookclip"]["gates"]
    for metric in ("cross/image_to_text/recall@5", "cross/text_to_image/recall@5"):
        margin = gates[metric]["non_inferior"]
        assert f"FAILED suites/test_cross_category.py::test_gate[{metric}:noninf{margin}]" in proc.stdout
    assert "FAILED suites/test_retrieval.py" not in proc.stdout  # it does learn its own category
    report = json.loads((reports / "run.json").read_text())
    assert report["data"]["training_overlap"]["candidate"]["views"]["cross"] == 0
    assert report["data"]["training_overlap"]["baseline"]["views"]["cross"] == 0
