from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.cli import main
from harness.models import load


def _args(real_bookcovers, *extra):
    return [
        "--data",
        str(real_bookcovers / "Medical"),
        str(real_bookcovers / "Health"),
        "--categories",
        "Medical",
        "--resamples",
        "100",
        *extra,
    ]


@pytest.mark.slow
def test_eval_writes_metrics_with_cis_and_per_query_ranks(real_bookcovers, tmp_path, capsys):
    out = tmp_path / "reports" / "tiny.json"
    assert main(["eval", "--model", "tiny:vit-xs", *_args(real_bookcovers, "--out", str(out))]) == 0
    data = json.loads(out.read_text())
    m = data["metrics"]["model"]["heldout/image_to_text/recall@5"]
    assert set(m) == {"value", "ci_low", "ci_high", "n", "interval"} and m["ci_low"] <= m["value"] <= m["ci_high"]
    ranks = data["per_query"]["heldout/image_to_text"]["ranks"]["model"]
    assert m["n"] == len(ranks) and m["value"] == pytest.approx(sum(r <= 5 for r in ranks) / len(ranks))
    assert data["data"]["load_report"] and "cross/text_to_image/mrr" in data["metrics"]["model"]
    printed = capsys.readouterr().out
    assert "heldout/image_to_text/recall@5" in printed
    # the same identity the suites record (weights + architecture + preprocessing + tokenizer)
    assert data["models"]["model"]["identity"] == load("tiny:vit-xs").identity
    # each interval as the metric registry declares it, not "CIs from N bootstrap resamples" for all
    assert "95% two-sided CIs: clopper-pearson (recall@K, accuracy, recall[C])" in " ".join(printed.split())
    assert "bca, 100 bootstrap resamples (mrr, median_rank, mean_rank, balanced_accuracy)" in " ".join(printed.split())


@pytest.mark.slow
def test_compare_prints_side_by_side_and_writes_json(real_bookcovers, tmp_path, capsys):
    out = tmp_path / "cmp.json"
    code = main(
        ["compare", "tiny:vit-xs", "tiny:vit-xs@1", *_args(real_bookcovers, "--views", "heldout", "--out", str(out))]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "tiny:vit-xs@1" in printed and "delta [CI]" in printed
    data = json.loads(out.read_text())
    delta = data["comparisons"]["candidate"]["heldout/image_to_text/recall@5"]
    values = [data["metrics"][role]["heldout/image_to_text/recall@5"]["value"] for role in ("baseline", "candidate")]
    assert delta["delta"] == pytest.approx(values[1] - values[0])
    assert {"ci_low", "ci_high", "p_value", "gained", "lost", "test"} <= set(delta)
    assert "heldout/image_to_text/recall@5" in data["flips"]["candidate"]
    for role, spec in (("baseline", "tiny:vit-xs"), ("candidate", "tiny:vit-xs@1")):
        assert data["models"][role]["identity"] == load(spec).identity
    line = " ".join(printed.split()).split("differences against baseline paired over the same queries: ")[1]
    assert "tango (recall@K, accuracy, recall[C])" in line and "paired-percentile, 100 bootstrap resamples (" in line


def test_unknown_placeholder_is_one_line_and_exit_2(real_bookcovers, capsys):
    code = main(["eval", "--model", "tiny:vit-xs", *_args(real_bookcovers, "--template", "{title} {year}")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "{year}" in err


def test_k_larger_than_pool_from_the_command_line(real_bookcovers, capsys):
    code = main(["eval", "--model", "tiny:vit-xs", *_args(real_bookcovers, "--views", "heldout", "--ks", "1,5000")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("bookclip: error: recall@5000") and "\n" not in err


@pytest.mark.slow
def test_eval_on_the_fixture_catalogue_in_a_subprocess(tmp_path):
    from harness.data import FIXTURE_FINETUNE_CATEGORY, fixture_catalogue

    root = fixture_catalogue()
    out = tmp_path / "fixture.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "eval",
            "--model",
            "tiny:vit-xs",
            "--data",
            str(root),
            "--categories",
            FIXTURE_FINETUNE_CATEGORY,
            "--resamples",
            "100",
            "--json",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["metrics"] == json.loads(out.read_text())["metrics"]
    assert printed["kind"] == "eval" and printed["metrics"]["model"]["heldout/text_to_image/recall@1"]["n"] > 0


@pytest.mark.slow
def test_cross_view_leaves_out_books_a_checkpoint_rehearsed(real_bookcovers, tmp_path, capsys):
    """A fine-tune's replay fraction, read from its metadata, keeps rehearsed books out of `cross`."""
    from harness.data import load_catalogue, split
    from harness.models import load, save_checkpoint

    model = load("tiny:vit-xs")
    rehearsed = tmp_path / "rehearsed.safetensors"
    save_checkpoint(
        rehearsed, model.state_dict(), config=model.config, metadata={"training_config": {"replay_fraction": 0.5}}
    )
    sizes = {}
    for name, spec, extra in (
        ("plain", "tiny:vit-xs", ()),
        ("metadata", str(rehearsed), ()),
        ("flag", "tiny:vit-xs", ("--replay-fraction", "0.5")),
    ):
        out = tmp_path / f"{name}.json"
        assert (
            main(
                [
                    "eval",
                    "--model",
                    spec,
                    *_args(real_bookcovers, "--views", "cross", "--no-zero-shot", "--out", str(out), *extra),
                ]
            )
            == 0
        )
        sizes[name] = json.loads(out.read_text())["data"]["view_sizes"]["cross"]
    capsys.readouterr()
    catalogue, _ = load_catalogue([real_bookcovers / "Medical", real_bookcovers / "Health"])
    expected = split(catalogue, train_categories=["Medical"], replay_fraction=0.5)
    assert sizes["metadata"] == sizes["flag"] == len(expected.cross) < sizes["plain"]
    assert sizes["plain"] == len(expected.cross) + expected.replay_rows


def _tuned_on_seed_1(real_bookcovers, spec: str, path):
    """A checkpoint of `spec`'s weights whose metadata says it was fine-tuned on Medical's seed-1
    split of the Medical + Health catalogue; returns (path, catalogue, that split)."""
    from harness.data import load_catalogue, split
    from harness.models import load, save_checkpoint

    catalogue, _ = load_catalogue([real_bookcovers / "Medical", real_bookcovers / "Health"])
    seed1 = split(catalogue, train_categories=["Medical"], seed=1)
    model = load(spec)
    save_checkpoint(
        path,
        model.state_dict(),
        config=model.config,
        metadata={
            "training_config": {"categories": ["Medical"], "seed": 1, "heldout_fraction": 0.2},
            "data_fingerprint": seed1.train.fingerprint,
        },
    )
    return path, catalogue, seed1


@pytest.mark.slow
def test_eval_warns_when_the_model_trained_on_heldout_books(real_bookcovers, tmp_path, capsys):
    from harness.data import split

    path, catalogue, seed1 = _tuned_on_seed_1(real_bookcovers, "tiny:vit-xs", tmp_path / "seed1.safetensors")
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "eval",
                "--model",
                str(path),
                *_args(real_bookcovers, "--views", "heldout", "--no-zero-shot", "--out", str(out)),
            ]
        )
        == 0
    )
    heldout = split(catalogue, train_categories=["Medical"], seed=0).heldout
    seen = int(heldout.frame["group_id"].isin(set(seed1.train.frame["group_id"])).sum())
    assert seen > 0
    assert f"was trained on {seen} of the {len(heldout)} heldout books" in capsys.readouterr().err
    [overlap] = json.loads(out.read_text())["data"]["training_overlap"]
    assert overlap["known"] and overlap["views"] == {"heldout": seen}


@pytest.mark.slow
def test_interpolate_sweeps_saves_the_best_alpha_and_checks_training_overlap(real_bookcovers, tmp_path, capsys):
    from harness.models import fingerprint_state_dict, load

    tuned_path, _, _ = _tuned_on_seed_1(real_bookcovers, "tiny:vit-xs@1", tmp_path / "tuned.safetensors")
    out, best = tmp_path / "sweep.json", tmp_path / "best.safetensors"
    # a generous constraint, so some alpha is feasible and gets saved
    code = main(
        [
            "interpolate",
            "tiny:vit-xs",
            str(tuned_path),
            *_args(real_bookcovers, "--no-zero-shot"),
            "--alphas",
            "0,0.5,1",
            "--max-cross-drop",
            "1",
            "--out",
            str(out),
            "--save-alpha",
            str(best),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "was trained on" in captured.err and "heldout books" in captured.err
    data = json.loads(out.read_text())
    sweep = data["sections"]["interpolation"]
    assert data["kind"] == "interpolate" and list(data["models"]) == ["alpha=0", "alpha=0.5", "alpha=1"]
    assert sweep["alphas"] == [0.0, 0.5, 1.0] and sweep["best_alpha"] in (0.0, 0.5, 1.0)
    assert data["reference"] == "alpha=0" and set(data["comparisons"]) == {"alpha=0.5", "alpha=1"}
    baseline_overlap, tuned_overlap = data["data"]["training_overlap"]
    assert not baseline_overlap["known"] and tuned_overlap["known"] and tuned_overlap["views"]["heldout"] > 0
    saved = load(str(best))
    point = data["models"][f"alpha={sweep['best_alpha']:g}"]
    assert fingerprint_state_dict(saved.state_dict()) == point["fingerprint"]
    assert f"wrote alpha={sweep['best_alpha']:g}" in captured.out


@pytest.mark.slow
def test_any_score_kernel_gives_the_same_ranks(real_bookcovers, tmp_path, capsys):
    """`--score-kernel bfloat16` computes the products in reduced precision; the ranks are the float32 run's,
    and the report says which kernel ran, under which bound, and how many pairs it rescored."""
    runs = {}
    for kernel in ("float32", "bfloat16"):
        out = tmp_path / f"{kernel}.json"
        assert (
            main(
                [
                    "eval",
                    "--model",
                    "tiny:vit-xs",
                    "--score-kernel",
                    kernel,
                    *_args(real_bookcovers, "--no-zero-shot", "--out", str(out)),
                ]
            )
            == 0
        )
        runs[kernel] = json.loads(out.read_text())
    capsys.readouterr()
    for view, entry in runs["float32"]["per_query"].items():
        assert entry["ranks"]["model"] == runs["bfloat16"]["per_query"][view]["ranks"]["model"], view
    exact = runs["bfloat16"]["sections"]["engine"]["ranks"]["exact"]
    assert exact["kernel"] == "bfloat16" and exact["rescored_pairs"] > 0 and exact["relative_bound"] > 2**-8
    assert main(["eval", "--model", "tiny:vit-xs", "--score-kernel", "fp8", *_args(real_bookcovers)]) == 2
    assert "unknown score kernel 'fp8'" in capsys.readouterr().err
