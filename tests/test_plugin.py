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


def expected_properties(run: dict, gate: dict) -> dict[str, str]:
    """A gate's JUnit properties: its numbers as pytest writes them (str: floats by repr)."""
    return {k: str(v) for k, v in expected_numbers(run, gate).items()}


def expected_numbers(run: dict, gate: dict) -> dict[str, object]:
    """A gate's user properties as run.json gives them: the paired difference it was judged on, or for
    a min/max rule the role's estimate, then its rule."""
    numbers = {"metric": gate["metric"], "role": gate["role"]}
    if gate["rule_kind"] in ("delta", "non_inferior"):
        d = run["comparisons"][gate["role"]][gate["metric"]]
        numbers |= {"reference": run["reference"], "reference_value": d["reference"], "value": d["value"]}
        numbers |= {"delta": d["delta"], "ci_of": "delta", "ci_low": d["ci_low"], "ci_high": d["ci_high"]}
        numbers |= {"p_value": gate["p_value"], "test": d["test"], "interval": d["interval"], "n": d["n"]}
    else:
        est = run["metrics"][gate["role"]][gate["metric"]]
        numbers |= {"value": est["value"], "ci_of": "value", "ci_low": est["ci_low"], "ci_high": est["ci_high"]}
        numbers |= {"interval": est["interval"], "n": est["n"]}
    numbers |= {"rule": gate["rule"], "tier": gate["tier"], "outcome": gate["outcome"]}
    return {k: v for k, v in numbers.items() if v is not None}


def expected_row(run: dict, gate: dict) -> list[str]:
    """A gate's row of the Markdown gate table, from run.json's numbers (as GitHub shows the cells)."""
    from harness.report.console import fmt, fmt_ci

    if gate["rule_kind"] in ("delta", "non_inferior"):
        d = run["comparisons"][gate["role"]][gate["metric"]]
        value, delta = fmt(d["value"]), f"{fmt(d['delta'], True)} {fmt_ci(d['ci_low'], d['ci_high'])}"
    else:
        est = run["metrics"][gate["role"]][gate["metric"]]
        value, delta = f"{fmt(est['value'])} {fmt_ci(est['ci_low'], est['ci_high'], False)}", ""
    p = f"{gate['p_value']:.3g}" if gate["p_value"] is not None else ""
    icon = {"PASS": "✅", "WARN": "⚠️", "FAIL": "❌", "UNDECIDED": "❔"}[gate["outcome"]]
    return [gate["metric"], value, delta, p, gate["rule"], f"{icon} {gate['outcome']}"]


def markdown_tables(markdown: str) -> list[list[list[str]]]:
    """Each table's body rows as cell texts, parsed with GitHub's table rules (escapes undone)."""
    from markdown_it import MarkdownIt

    found: list[list[list[str]]] = []
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    for i, tok in enumerate(tokens):
        if tok.type == "table_open":
            found.append([])
        elif tok.type == "tr_open" and tokens[i - 1].type != "thead_open":
            found[-1].append([])
        elif tok.type == "inline" and tokens[i - 1].type == "td_open":
            found[-1][-1].append("".join(c.content for c in tok.children or [] if c.type in ("text", "code_inline")))
    return found


def check_ci_outputs(root: Path, out: str, summary: Path) -> None:
    """JUnit properties, the job summary's gate table and the annotations all carry run.json's numbers."""
    import xml.etree.ElementTree as ET

    run = json.loads((root / "reports" / "run.json").read_text())
    cases = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(root / "junit.xml").getroot().iter("testcase")
    }
    assert not any("NOTSET" in name for name in cases)
    gate_cases = {name: props for name, props in cases.items() if name.startswith("test_gate[") and props}
    assert len(gate_cases) == len(run["gates"]) >= 2
    for gate in run["gates"]:
        (props,) = [p for name, p in gate_cases.items() if name.startswith(f"test_gate[{gate['metric']}:")]
        assert props == expected_properties(run, gate)  # every number, equal to run.json's
    # the job summary: the verdict line, then one table row per gate, as GitHub parses it
    text = summary.read_text()
    assert text.startswith("### ❌ bookclip: FAIL")
    rows = markdown_tables(text)[0]
    assert rows == [expected_row(run, gate) for gate in run["gates"]]
    failing = [g for g in run["gates"] if g["outcome"] in ("FAIL", "UNDECIDED")]
    assert sum(line.startswith("::error title=bookclip ") for line in out.splitlines()) == len(failing)


@pytest.mark.slow
def test_gate_numbers_reach_junit_and_the_summary_under_xdist(pytester, monkeypatch):
    # two workers judge the gates of different suites; the controller's JUnit XML and job summary
    # carry each one's numbers, a min rule's (the estimate and its CI) as well as the paired rules'
    summary = pytester.path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    root = project(
        pytester,
        '[tool.bookclip]\nbaseline = "fixtures:tiny-baseline"\ncandidate = "tiny:vit-xs@7"\n'
        "resamples = 100\n"
        "[tool.bookclip.gates]\n"
        '"heldout/image_to_text/recall@5" = { delta = 0 }\n'
        '"cross/image_to_text/recall@5" = { non_inferior = 0.02 }\n'
        '"cross/zero_shot/balanced_accuracy" = { min = 0.1, tier = "warn" }\n',
    )
    # what a JSON-report plugin reads: each test report's user_properties, as the controller receives it
    pytester.makeconftest(
        """
        import json

        def pytest_configure(config):
            global WORKER
            WORKER = hasattr(config, "workerinput")

        def pytest_runtest_logreport(report):
            if not WORKER and report.when == "call":
                with open("user_properties.jsonl", "a") as fh:
                    fh.write(json.dumps([report.nodeid, report.user_properties]) + "\\n")
        """
    )
    result = pytester.runpytest_subprocess(
        "suites",
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "-k",
        "gate",
        "--junitxml",
        "junit.xml",
        "-o",
        "junit_family=xunit1",
    )
    assert result.ret == 1
    out = result.stdout.str()
    assert "2 workers" in out
    check_ci_outputs(root, out, summary)
    run = json.loads((root / "reports" / "run.json").read_text())
    assert {g["rule_kind"] for g in run["gates"]} == {"delta", "non_inferior", "min"}
    received = [json.loads(line) for line in (root / "user_properties.jsonl").read_text().splitlines()]
    for gate in run["gates"]:
        (properties,) = [dict(p) for node, p in received if f"test_gate[{gate['metric']}:" in node]
        assert properties == expected_numbers(run, gate)  # typed: the floats themselves, not their text


@pytest.mark.slow
def test_a_crafted_gate_name_neither_breaks_the_summary_nor_injects_a_workflow_command(pytester, monkeypatch):
    # A category in a gate key is text from the user's data: `|`, `::` and `%0A` reach the gate's name,
    # its test id, the job summary and the annotation (a line break in a key is refused by the config;
    # tests/report/test_markdown.py puts one through the same code).
    crafted = "cross:x | y::error title=owned::pwned %0A::warning::z/image_to_text/recall@5"
    summary = pytester.path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    root = project(
        pytester,
        '[tool.bookclip]\nbaseline = "fixtures:tiny-baseline"\ncandidate = "tiny:vit-xs@7"\nresamples = 100\n'
        '[tool.bookclip.gates]\n"cross/image_to_text/recall@5" = { non_inferior = 0.02 }\n'
        f'"{crafted}" = {{ delta = 0 }}\n',
    )
    result = pytester.runpytest_subprocess("suites", "-p", "no:cacheprovider", "-k", "cross_category")
    assert result.ret == 1
    run = json.loads((root / "reports" / "run.json").read_text())
    gates = {g["metric"]: g for g in run["gates"]}
    assert set(gates) == {"cross/image_to_text/recall@5", crafted}
    assert gates[crafted]["outcome"] == "FAIL"  # no such view: an error, named
    # the table: one row per gate, six cells each, the crafted name shown as written
    rows = markdown_tables(summary.read_text())[0]
    assert [row[0] for row in rows] == [g["metric"] for g in run["gates"]] and all(len(row) == 6 for row in rows)
    # the runner reads each output line that starts with '::' as a command: only bookclip's annotations do,
    # and each unescapes to its own title and message
    commands = [line.strip() for line in result.outlines + result.errlines if line.strip().startswith("::")]
    assert len(commands) == 2, commands
    for line, gate in zip(commands, run["gates"], strict=True):
        head, message = line[2:].split("::", 1)  # a property escapes ':', so the first '::' ends the properties
        command, title = head.split(" ", 1)
        assert command == "error" and unescape_workflow(title) == f"title=bookclip {gate['name']}"
        assert unescape_workflow(message) == f"{gate['metric']}: {gate['message']}"
        assert "\n" not in unescape_workflow(message)


def unescape_workflow(text: str) -> str:
    """As the Actions runner unescapes a workflow command's property or message."""
    for escaped, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, char)
    return text


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
