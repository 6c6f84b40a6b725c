"""The bookclip pytest plugin (entry point `bookclip`).

It adds `--bookclip-*` options (the same keys as `[tool.bookclip]`), the `suite(name)` marker,
session fixtures `bookclip`, `baseline` and `candidate`, and parametrises any test that asks
for a `gate` with the configured gates of its suite. Nothing heavy is imported until a test
asks for a fixture, so projects and tests that do not use it pay nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from harness.errors import BookclipError

if TYPE_CHECKING:
    from harness.config import RunConfig  # noqa: F401 -- named in the StashKey["RunConfig"] string below
    from harness.gates import Gate
    from harness.models.clip_model import ClipModel
    from harness.session import EvaluationSession

CONFIG_KEY = pytest.StashKey["RunConfig"]()
SESSION_KEY = pytest.StashKey["EvaluationSession"]()
SELECTED_KEY = pytest.StashKey["list[Gate]"]()
WORKER_REPORTS_KEY = pytest.StashKey["list[str]"]()
T = TypeVar("T")

_OPTIONS = (
    # option, key, help
    (
        "--bookclip-data",
        "data",
        "catalogue to evaluate: CSV files, globs or a directory of <Category>/<Category>.csv "
        "(default: the generated fixture catalogue)",
    ),
    ("--bookclip-image-root", "image_root", "directory that img_paths are resolved under (default: beside the CSVs)"),
    ("--bookclip-baseline", "baseline", "baseline model spec (default: fixtures:tiny-baseline)"),
    (
        "--bookclip-candidate",
        "candidate",
        "candidate model spec, or 'finetune' to fine-tune the baseline on the "
        "configured categories (cached) (default: finetune)",
    ),
    (
        "--bookclip-categories",
        "categories",
        "comma-separated fine-tuning (in-category) categories (default: Mind-Body-Spirit)",
    ),
    ("--bookclip-config", None, "a TOML file with the [tool.bookclip] keys; overrides pyproject.toml"),
    ("--bookclip-report-dir", "report_dir", "where the JSON and HTML run reports go (default: reports)"),
    ("--bookclip-compare-to", "compare_to", "a stored run report (JSON) that test_regression compares against"),
    ("--bookclip-save", "save", "store this run in the run history under NAME (see `bookclip report --list`)"),
    ("--bookclip-seed", "seed", "seed for splits, bootstrap and fine-tuning (default: 0)"),
    (
        "--bookclip-engine",
        "engine",
        "where embeddings and ranks are computed: local (default), spark-local, spark-cluster",
    ),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bookclip", "bookclip: model-quality gates for CLIP book-cover models")
    for flag, _key, help_text in _OPTIONS:
        group.addoption(flag, action="store", default=None, help=help_text)
    group.addoption(
        "--bookclip-mlflow",
        action="store_true",
        default=None,
        help="log the run to MLflow (needs the mlflow extra; also on when MLFLOW_TRACKING_URI is set)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "suite(name): the bookclip evaluation suite a test belongs to; `gate` parameters come from that suite's gates",
    )
    from harness.config import load_config

    overrides = {key: config.getoption(flag.lstrip("-").replace("-", "_")) for flag, key, _ in _OPTIONS if key}
    overrides["mlflow"] = config.getoption("bookclip_mlflow")
    try:
        cfg = load_config(
            rootdir=Path(config.rootpath), config_file=config.getoption("bookclip_config"), overrides=overrides
        )
    except BookclipError as exc:
        from harness.plain_text import strip_control

        raise pytest.UsageError(f"bookclip: {strip_control(exc)}") from None  # a gate key may carry ESC
    report_dir = Path(config.rootpath) / cfg.report_dir
    if report_dir.exists() and not report_dir.is_dir():  # else the whole run completes, then no report is written
        raise pytest.UsageError(
            f"bookclip: report_dir {ascii(cfg.report_dir)} is not a directory; name a folder for the run reports"
        )
    config.stash[CONFIG_KEY] = cfg


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gate" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("suite")
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"bookclip: {metafunc.definition.nodeid} asks for `gate` but has no "
            "@pytest.mark.suite(name) marker saying which suite's gates it checks"
        )
    suite = marker.args[0]
    gates = [g for g in metafunc.config.stash[CONFIG_KEY].gates if g.suite == suite]
    if not gates:  # one skip that says why, not pytest's `[NOTSET]` for an empty parameter set
        reason = f"suite {suite!r} has no gates: add one under [tool.bookclip.gates]"
        metafunc.parametrize("gate", [pytest.param(None, id="no-gates", marks=pytest.mark.skip(reason=reason))])
        return
    metafunc.parametrize("gate", gates, ids=[gate_id(g) for g in gates])


def gate_id(gate: Gate) -> str:
    rule = {"min": "min", "max": "max", "delta": "delta", "non_inferior": "noninf"}[gate.rule]
    return f"{gate.metric}:{rule}{gate.threshold:g}"


def pytest_collection_finish(session: pytest.Session) -> None:
    # The gates that will actually run (after -k, -m, --lf): Holm's correction spans these.
    from harness.gates import Gate

    selected = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        gate = callspec.params.get("gate") if callspec is not None else None
        if isinstance(gate, Gate):  # a suite with no gates holds one skipped `no-gates` item
            selected.append(gate)
    session.config.stash[SELECTED_KEY] = selected


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    # In a suite, a failed gate or a user error (bad data path, missing weights) reads as one
    # line that names what failed and why, not as a traceback.
    from harness.gates import Gate, GateFailure

    try:
        return (yield)
    except (GateFailure, BookclipError) as exc:
        if item.get_closest_marker("suite") is None:
            raise
        message = str(exc) if isinstance(exc, GateFailure) else f"bookclip: {exc}"
    finally:
        # The gate's numbers travel with its test report: --junitxml writes them as <property>
        # elements (under xdist too), so CI pages show delta, CI and p-value, not a bare pass.
        callspec = getattr(item, "callspec", None)
        gate = callspec.params.get("gate") if callspec is not None else None
        if isinstance(gate, Gate) and SESSION_KEY in item.config.stash:
            item.user_properties += list(item.config.stash[SESSION_KEY].gate_numbers(gate).items())
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def bookclip(request: pytest.FixtureRequest) -> EvaluationSession:
    """The evaluation session: catalogue, views, models and cached evaluations of this run."""
    config = request.config
    if SESSION_KEY not in config.stash:
        from harness.session import EvaluationSession

        config.stash[SESSION_KEY] = EvaluationSession(
            config.stash[CONFIG_KEY], rootdir=Path(config.rootpath), selected_gates=config.stash.get(SELECTED_KEY, [])
        )
    return config.stash[SESSION_KEY]


@pytest.fixture(scope="session")
def baseline(bookclip: EvaluationSession) -> ClipModel:
    """The baseline ClipModel."""
    return _user_errors(lambda: bookclip.baseline)


@pytest.fixture(scope="session")
def candidate(bookclip: EvaluationSession) -> ClipModel:
    """The candidate ClipModel (fine-tuned on first use when the candidate is 'finetune')."""
    return _user_errors(lambda: bookclip.candidate)


def _user_errors(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except BookclipError as exc:
        pytest.fail(f"bookclip: {exc}", pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # An xdist worker hands its part of the run to the controller, which writes the one report.
    config = session.config
    if hasattr(config, "workeroutput") and SESSION_KEY in config.stash:
        try:
            config.workeroutput["bookclip_report"] = json.dumps(config.stash[SESSION_KEY].finish().to_dict())
        except BookclipError as exc:
            config.workeroutput["bookclip_error"] = str(exc)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    output = getattr(node, "workeroutput", {})
    if "bookclip_report" in output:
        node.config.stash.setdefault(WORKER_REPORTS_KEY, []).append(output["bookclip_report"])


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workeroutput"):
        return
    from harness.report.model import RunReport

    try:
        if SESSION_KEY in config.stash:
            report = config.stash[SESSION_KEY].finish()
        elif config.stash.get(WORKER_REPORTS_KEY, None):
            from harness.session import merge_reports

            report = merge_reports([RunReport.from_dict(json.loads(raw)) for raw in config.stash[WORKER_REPORTS_KEY]])
        else:
            return
        from harness.report.console import suite_summary
        from harness.session import write_run

        terminalreporter.write(suite_summary(report, markup=bool(getattr(terminalreporter, "hasmarkup", False))))
        if not report.metrics and not report.gates:  # an empty run never replaces a report of one that evaluated
            terminalreporter.write_line("bookclip: nothing was evaluated: no run report written")
            return
        paths = write_run(report, config.stash[CONFIG_KEY], Path(config.rootpath))
        for path in paths:
            terminalreporter.write_line(f"bookclip: wrote {path}")
    except BookclipError as exc:
        terminalreporter.write_line(f"bookclip: could not write the run report: {exc}", red=True)
        return
    from harness.tracking import log_if_wanted, wanted

    enabled = config.stash[CONFIG_KEY].mlflow
    if wanted(enabled):  # after the files are written: they are never lost
        from harness.finetune.runlog import RunFiles

        run_dir = (report.sections.get("finetune") or {}).get("run_dir")  # the cached fine-tune's curve
        log_if_wanted(
            report,
            [p for p in paths if p.suffix in (".json", ".html")][:2],
            terminalreporter.write_line,
            enabled=enabled,
            train_log=RunFiles(run_dir).read_train_log() if run_dir else [],
        )
    from harness.report.github import publish

    try:
        for line in publish(report):  # GitHub Actions: the job summary, and one annotation per failed gate
            terminalreporter.write_line(line)
    except BookclipError as exc:
        terminalreporter.write_line(f"bookclip: {exc}", red=True)


__all__ = ["bookclip", "baseline", "candidate", "gate_id"]
