from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory, make_run):
    root = tmp_path_factory.mktemp("runs")
    good = make_run("good", seed=1, name="main").write(root / "main.json")
    bad = make_run("degraded", seed=2).write(root / "run.json")
    return root, good, bad


def test_degraded_run_against_good_exits_nonzero_and_names_regressions(runs, capsys, tmp_path):
    _, good, bad = runs
    code = main(["report", str(bad), "--against", str(good), "--out", str(tmp_path / "result.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert "verdict: REGRESSION" in out
    for key in ("heldout/image_to_text/recall@5", "cross/text_to_image/mrr", "gate heldout-r5-improves"):
        assert key in out.split("regressed:", 1)[1]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["verdict"] == "regression" and result["exit_code"] == 1
    assert "heldout/image_to_text/median_rank" in result["regressions"]
    assert main(["report", str(bad), "--against", str(good), "--fail-on", "never"]) == 0


def test_identical_runs_compare_clean(runs, capsys):
    _, good, _ = runs
    assert main(["report", str(good), "--against", str(good), "--fail-on", "warn"]) == 0
    assert "verdict: CLEAN" in capsys.readouterr().out


def test_history_latest_against_main(runs, capsys, tmp_path):
    _, good, bad = runs
    history = tmp_path / "history"
    assert main(["report", str(good), "--save", "main", "--runs-dir", str(history)]) == 0
    assert main(["report", str(bad), "--save", "nightly", "--runs-dir", str(history)]) == 0
    capsys.readouterr()
    assert main(["report", "--list", "--runs-dir", str(history)]) == 0
    listing = capsys.readouterr().out
    assert "0001_main_" in listing and "0002_nightly_" in listing
    assert main(["report", "latest", "--against", "main", "--runs-dir", str(history)]) == 1
    assert "verdict: REGRESSION" in capsys.readouterr().out
    assert main(["report", "main", "--against", "main", "--runs-dir", str(history)]) == 0


def test_html_and_show(runs, capsys, tmp_path):
    _, good, _ = runs
    assert main(["report", str(good), "--html", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(good)]) == 0
    out = capsys.readouterr().out
    assert "verdict:" in out and "heldout/image_to_text/recall@5" in out
    assert main(["report", str(good), "--full"]) == 0
    assert "heldout-r5-improves" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["report"], "needs a RUN"),
        (["report", "nope.json"], "does not exist"),
        (["report", "{good}", "--out", "x.json"], "--out writes the regression result"),
        (["report", "{good}", "--against", "{good}", "--role", "teacher"], "no metrics for role 'teacher'"),
    ],
)
def test_user_errors_are_one_line(runs, capsys, argv, message):
    _, good, _ = runs
    assert main([a.format(good=good) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bookclip: error:") and message in err and "\n" not in err


def test_bookclip_command_exit_code(runs):
    _, good, bad = runs
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", str(bad), "--against", str(good)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "REGRESSION" in proc.stdout
