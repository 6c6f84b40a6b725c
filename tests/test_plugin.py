"""The pytest plugin and the suites, run as a user runs them: in a throwaway project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.data import fixture_catalogue, load_catalogue, split
from harness.models import load, save_checkpoint

pytest_plugins = ["pytester"]

SUITES = Path(__file__).resolve().parent.parent / "suites"


def project(pytester: pytest.Pytester, bookclip_table: str) -> Path:
    """A project holding a copy of suites/ and a pyproject with the given [tool.bookclip] table."""
    shutil.copytree(SUITES, pytester.path / "suites")
    pytester.makefile(".toml", pyproject=bookclip_table)
    return pytester.path


# Model and catalogue work happens in module-scoped fixtures, set up before pytester's: pytester
# restores sys.modules after each test, and torch or pandas half re-imported in one process break.
@pytest.fixture(scope="module")
def fixture_rows():
    return load_catalogue(fixture_catalogue())[0]


@pytest.fixture(scope="module")
def pretrained(fixture_rows):
    """The books the embedded baseline was trained on: the suites leave them out of heldout and cross."""
    from harness.evaluate.leakage import trained_groups

    groups = trained_groups(load("fixtures:tiny-baseline"), fixture_rows)
    assert groups, "the embedded baseline records its training rows"
    return groups


@pytest.fixture(scope="module")
def candidate_model():
    return load("tiny:vit-xs@7")


def candidate_project(pytester: pytest.Pytester, model, metadata: dict, gate: str) -> Path:
    """A project whose candidate is a checkpoint file of `model`'s weights carrying `metadata`,
    against the embedded baseline, with one warn-tier gate."""
    save_checkpoint(pytester.path / "candidate.safetensors", model.state_dict(), config=model.config, metadata=metadata)
    return project(
        pytester,
        '[tool.bookclip]\nbaseline = "fixtures:tiny-baseline"\n'
        'candidate = "candidate.safetensors"\nresamples = 100\n'
        f"[tool.bookclip.gates]\n{gate}\n",
    )


def test_malformed_gate_fails_at_collection_with_one_line(pytester):
    project(pytester, '[tool.bookclip.gates]\n"heldout/image_to_text/recal@5" = { delta = 0 }\n')
    result = pytester.runpytest_subprocess("suites", "--collect-only", "-q")
    assert result.ret != 0
    lines = [line for line in result.stderr.lines if "bookclip:" in line]
    assert len(lines) == 1 and "unknown metric" in lines[0] and "recal@5" in lines[0]
    assert "Traceback" not in result.stderr.str()


def test_unknown_config_key_is_a_usage_error(pytester):
    project(pytester, '[tool.bookclip]\nbaselin = "tiny:vit-xs"\n')
    result = pytester.runpytest_subprocess("suites", "--collect-only", "-q")
    assert result.ret != 0 and "unknown [tool.bookclip] key" in result.stderr.str()


def test_gates_parametrise_suites_and_k_selects(pytester):
    project(
        pytester,
        "[tool.bookclip.gates]\n"
        '"heldout/image_to_text/recall@5" = { delta = 0 }\n'
        '"cross/image_to_text/recall@5" = { non_inferior = 0.02 }\n'
        '"cross/zero_shot/balanced_accuracy" = { min = 0.2, tier = "warn" }\n',
    )
    result = pytester.runpytest_subprocess("suites", "--collect-only", "-q", "-k", "retrieval")
    ids = [line for line in result.outlines if "::" in line]
    assert ids and all("test_retrieval.py" in line for line in ids)
    assert any("heldout/image_to_text/recall@5:delta0" in line for line in ids)
    result = pytester.runpytest_subprocess("suites", "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert any("test_cross_category.py::test_gate[cross/image_to_text/recall@5:noninf0.02]" in line for line in ids)
    assert any("test_zero_shot.py::test_gate[cross/zero_shot/balanced_accuracy:min0.2]" in line for line in ids)


def test_plugin_costs_nothing_for_tests_that_do_not_use_it(pytester):
    pytester.makepyfile(test_plain="def test_x():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)
    assert "bookclip" not in result.stdout.str()


@pytest.mark.slow
def test_degraded_candidate_fails_named_gates_and_writes_report(pytester, monkeypatch):
    # The trained baseline against a randomly initialised "candidate": every gate must fail by name.
    # As in a GitHub Actions job, with --junitxml: CI pages get the numbers, not a bare FAILED.
    summary = pytester.path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    root = project(
        pytester,
        '[tool.bookclip]\nbaseline = "fixtures:tiny-baseline"\ncandidate = "tiny:vit-xs@7"\n'
        "resamples = 300\n"
        "[tool.bookclip.gates]\n"
        '"cross/image_to_text/recall@5" = { non_inferior = 0.02 }\n'
        '"heldout/text_to_image/recall@5" = { delta = 0 }\n'
        '"heldout/text_to_image/mrr" = { non_inferior = 0.01, tier = "warn" }\n',
    )
    result = pytester.runpytest_subprocess(
        "suites", "-p", "no:cacheprovider", "-k", "gate", "--junitxml", "junit.xml", "-o", "junit_family=xunit1"
    )
    assert result.ret == 1
    out = result.stdout.str()
    check_ci_outputs(root, out, summary)
    # every gate's whole message is in the summary; the warn-tier gate's only there (no pytest warning)
    summary = out.split("bookclip gates:", 1)[1]
    report_gates = json.loads((root / "reports" / "run.json").read_text())["gates"]
    for gate in report_gates:
        assert f"{gate['outcome']} {gate['metric']}: {gate['message']}" in summary.replace("\n", " ")
    warned = next(g for g in report_gates if g["tier"] == "warn")
    assert warned["outcome"] == "WARN" and out.count(warned["message"]) == 1
    assert "warnings summary" not in out or "bookclip" not in out.split("warnings summary", 1)[1].split("=====", 1)[0]
    assert "cross/image_to_text/recall@5: candidate" in out and 'non-inferior by 0.02 at 95%": FAIL' in out
    assert "heldout/text_to_image/recall@5" in out
    report = json.loads((root / "reports" / "run.json").read_text())
    outcomes = {g["metric"]: g["outcome"] for g in report["gates"]}
    assert outcomes == {
        "cross/image_to_text/recall@5": "FAIL",
        "heldout/text_to_image/recall@5": "FAIL",
        "heldout/text_to_image/mrr": "WARN",
    }
    assert report["models"]["candidate"]["spec"] == "tiny:vit-xs@7"
    assert report["comparisons"]["candidate"]["cross/image_to_text/recall@5"]["delta"] < 0
    assert report["comparisons"]["candidate"]["cross/image_to_text/recall@5"]["test"] == "mcnemar"
    assert set(report["per_query"]["heldout/image_to_text"]["ranks"]) == {"baseline", "candidate"}
    assert (root / "reports" / "run.html").is_file()


def check_ci_outputs(root: Path, out: str, summary: Path) -> None:
    """JUnit properties, the job summary's gate table and the annotations all carry run.json's numbers."""
    import xml.etree.ElementTree as ET

    from markdown_it import MarkdownIt

    run = json.loads((root / "reports" / "run.json").read_text())
    cases = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(root / "junit.xml").getroot().iter("testcase")
    }
    assert not any("NOTSET" in name for name in cases)
    for gate in run["gates"]:
        props = next(p for name, p in cases.items() if name.startswith(f"test_gate[{gate['metric']}:"))
        assert props["outcome"] == gate["outcome"] and props["rule"] == gate["rule"] and props["tier"] == gate["tier"]
        if gate["rule_kind"] in ("delta", "non_inferior"):
            d = run["comparisons"]["candidate"][gate["metric"]]
            for prop, key in (
                ("value", "value"),
                ("reference_value", "reference"),
                ("delta", "delta"),
                ("ci_low", "ci_low"),
                ("ci_high", "ci_high"),
                ("n", "n"),
                ("test", "test"),
            ):
                assert props[prop] == str(d[key]), prop  # the same float, written by repr
            assert float(props["p_value"]) == gate["p_value"] and props["ci_of"] == "delta"
    # the job summary: one table row per gate, as GitHub parses it
    tokens = MarkdownIt("commonmark").enable("table").parse(summary.read_text())
    first_cells = [
        tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "td_open" and tokens[i - 1].type == "tr_open"
    ]
    assert [c.replace("\\", "") for c in first_cells[: len(run["gates"])]] == [g["metric"] for g in run["gates"]]
    failing = [g for g in run["gates"] if g["outcome"] in ("FAIL", "UNDECIDED")]
    assert sum(line.startswith("::error title=bookclip ") for line in out.splitlines()) == len(failing)


@pytest.mark.slow
def test_better_candidate_passes_and_summary_names_suites(pytester):
    # A random baseline against the trained one as candidate: a real, significant improvement.
    root = project(
        pytester,
        '[tool.bookclip]\nbaseline = "tiny:vit-xs@3"\ncandidate = "fixtures:tiny-baseline"\n'
        "resamples = 300\n"
        "[tool.bookclip.gates]\n"
        '"cross/image_to_text/recall@5" = { delta = 0 }\n'
        '"cross/text_to_image/mrr" = { delta = 0.01 }\n'
        '"cross/image_to_text/median_rank" = { delta = 0 }\n',
    )
    result = pytester.runpytest_subprocess("suites", "-p", "no:cacheprovider", "-k", "gate", "-rs")
    result.assert_outcomes(passed=3, skipped=4)  # the four suites with no gate configured here
    out = result.stdout.str()
    for suite in ("retrieval", "zero_shot", "probes", "interpolation"):  # one skip each, saying why
        assert f"suite '{suite}' has no gates: add one under [tool.bookclip.gates]" in out
    assert "NOTSET" not in out
    assert "bookclip · cross_category" in out and "PASS" in out
    report = json.loads((root / "reports" / "run.json").read_text())
    assert all(g["outcome"] == "PASS" for g in report["gates"])
    assert report["schema_version"] == 2 and report["kind"] == "suites" and report["data"]["fingerprint"]
    assert "heldout/image_to_text/recall@5" in report["metrics"]["candidate"]


def test_real_checkpoint_specs_fail_offline_with_the_file_to_fetch(pytester, monkeypatch):
    # The documented real use, up to the weights download: one clear line per gate, no traceback.
    monkeypatch.setenv("BOOKCLIP_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(pytester.path))  # an empty ~/.cache: the weights are not there
    project(
        pytester,
        '[tool.bookclip]\nresamples = 100\n[tool.bookclip.gates]\n"heldout/image_to_text/recall@5" = { delta = 0 }\n',
    )
    result = pytester.runpytest_subprocess(
        "suites",
        "-p",
        "no:cacheprovider",
        "-k",
        "gate",
        "--bookclip-baseline",
        "openai:ViT-B/32",
        "--bookclip-candidate",
        "open_clip:ViT-B-32/laion2b_s34b_b79k",
    )
    assert result.ret == 1
    out = result.stdout.str()
    assert "heldout/image_to_text/recall@5: error: openai:ViT-B/32: weights not found locally" in out
    assert "Traceback" not in out
    assert "ViT-B-32.pt" in out and ".cache/clip" in out


@pytest.mark.slow
def test_cross_views_leave_out_books_the_candidate_rehearsed(pytester, fixture_rows, candidate_model, pretrained):
    """A candidate fine-tuned with replay (its metadata says so): the cross view shrinks by exactly
    the rehearsed books, and the report says how many."""
    root = candidate_project(
        pytester,
        candidate_model,
        {"training_config": {"replay_fraction": 0.3}},
        '"cross/image_to_text/recall@5" = { non_inferior = 0.5, tier = "warn" }',
    )
    result = pytester.runpytest_subprocess("suites", "-p", "no:cacheprovider", "-k", "cross_category")
    assert result.ret == 0, result.stdout.str()[-2000:]
    report = json.loads((root / "reports" / "run.json").read_text())
    catalogue = fixture_rows
    expected = split(catalogue, train_categories=["Mind-Body-Spirit"], replay_fraction=0.3, exclude_groups=pretrained)
    assert report["data"]["replay"] == {"fraction": 0.3, "rows": expected.replay_rows} and expected.replay_rows > 0
    assert report["data"]["view_sizes"]["cross"] == len(expected.cross)
    assert report["metrics"]["candidate"]["cross/image_to_text/recall@5"]["n"] == len(expected.cross)


@pytest.mark.slow
def test_candidate_trained_on_heldout_books_is_warned_and_recorded(pytester, fixture_rows, candidate_model, pretrained):
    """A candidate whose metadata says it was fine-tuned on a split with another seed: the suites
    say how many held-out books it saw, and the report records it per role."""
    catalogue = fixture_rows
    other_seed = split(catalogue, train_categories=["Mind-Body-Spirit"], seed=5)
    root = candidate_project(
        pytester,
        candidate_model,
        {
            "training_config": {"categories": ["Mind-Body-Spirit"], "seed": 5, "heldout_fraction": 0.2},
            "data_fingerprint": other_seed.train.fingerprint,
        },
        '"heldout/image_to_text/recall@5" = { delta = 0, tier = "warn" }',
    )
    result = pytester.runpytest_subprocess("suites", "-p", "no:cacheprovider", "-k", "retrieval")
    assert result.ret == 0, result.stdout.str()[-2000:]
    heldout = split(catalogue, train_categories=["Mind-Body-Spirit"], seed=0, exclude_groups=pretrained).heldout
    seen = int(heldout.frame["group_id"].isin(set(other_seed.train.frame["group_id"])).sum())
    assert seen > 0
    assert f"the candidate was trained on {seen} of the {len(heldout)} heldout books" in result.stdout.str()
    overlap = json.loads((root / "reports" / "run.json").read_text())["data"]["training_overlap"]
    assert overlap["candidate"] == {
        "known": True,
        "views": {"train": overlap["candidate"]["views"]["train"], "heldout": seen, "cross": 0},
    }
    assert overlap["baseline"]["known"] and overlap["baseline"]["views"]["heldout"] == 0
    assert overlap["baseline"]["views"]["cross"] == 0  # its pretraining books left the cross view
