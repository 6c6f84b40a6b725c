"""`bookclip calibrate`: show that the intervals cover and the gates keep their false-alarm rate.

--simulate   seeded simulations with known truth (harness.evaluate.calibration)
--aa N       an A/A check: one recipe fine-tuned with N training seeds on one split, every paired
             gate judged for seeds 2..N against seed 1, where the truth is "the same recipe"
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from harness.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="check that confidence intervals cover and gates keep their false-alarm rate",
        description="--simulate: coverage of every interval method and the false-alarm rate of the delta and "
        "non_inferior rules, on seeded simulations with known truth. --aa N: fine-tune one recipe "
        "with N training seeds and judge every paired gate of seeds 2..N against seed 1. A paired "
        "gate 'at 95%' passes when the two-sided 95% interval of the difference clears its bound: a "
        "one-sided level of 2.5%.",
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--simulate", action="store_true", help="coverage and false-alarm simulations")
    mode.add_argument("--aa", type=int, metavar="N", help="A/A check with N training seeds (at least 2)")
    p.add_argument("--reduced", action="store_true", help="with --simulate: the small grid the test suite runs")
    p.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument(
        "--root",
        default=".",
        help="with --aa: the project whose [tool.bookclip] recipe and gates are used (default: the current folder)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.settings import confidence, seed

    confidence(args.confidence, "--confidence")
    seed(args.seed, "--seed")
    if args.simulate:
        return _simulate(args)
    if args.aa < 2:
        raise ConfigError("--aa needs at least 2 training seeds: seed 1 is the reference")
    return _aa(args)


def _simulate(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from harness.evaluate.calibration import Grid, misses, simulate, summary
    from harness.progress import progress
    from harness.report.console import make_console

    grid = Grid.reduced() if args.reduced else Grid()
    total = sum(1 for _ in simulate(dataclasses.replace(grid, trials=1, rank_trials=1)))
    with progress("simulating", total) as advance:
        cells = simulate(grid, confidence=args.confidence, seed=args.seed, progress=lambda: advance(1))
    console = make_console()
    table = Table(title="coverage (intervals) and false alarms (gates), by family and method", title_justify="left")
    for column in ("family", "method", "cells", "worst", "mean", "nominal", "worst cell"):
        table.add_column(column, justify="right" if column in ("cells", "worst", "mean", "nominal") else "left")
    for (family, method), group in _grouped(cells).items():
        gate = group[0].is_gate
        worst = max(group, key=lambda c: c.rate) if gate else min(group, key=lambda c: c.rate)
        table.add_row(
            family,
            method,
            str(len(group)),
            f"{worst.rate:.3f}",
            f"{sum(c.rate for c in group) / len(group):.3f}",
            f"{group[0].nominal:.3f}",
            worst.setting,
        )
    console.print(table)
    for cell in misses(cells):
        console.print(Text(f"misses its target: {cell.family} ({cell.method}) at {cell.setting}: {cell.rate:.3f}"))
    console.print(Text(summary(cells)), soft_wrap=True)
    return 0


def _grouped(cells: list[Any]) -> dict[tuple[str, str], list[Any]]:
    out: dict[tuple[str, str], list[Any]] = {}
    for cell in cells:
        out.setdefault((cell.family, cell.method), []).append(cell)
    return out


def _aa(args: argparse.Namespace) -> int:
    """Fine-tune the project's recipe with training seeds 1..N (one split), then judge each paired
    gate of seeds 2..N against seed 1. Interpolation gates are left out (a sweep per pair)."""
    from rich.table import Table
    from rich.text import Text

    from harness.config import load_config
    from harness.evaluate.intervals import clopper_pearson
    from harness.gates import judge
    from harness.metric_source import MetricSource
    from harness.report.console import make_console
    from harness.workspace import Workspace

    root = Path(args.root).resolve()
    if not root.is_dir():  # else the default recipe would be fine-tuned for minutes, silently
        raise ConfigError(
            f"--root {args.root}: not an existing directory; give the project folder whose "
            "pyproject.toml holds the recipe and gates"
        )
    config = load_config(rootdir=root)
    # judged at fail tier, so a warn-tier gate's FAIL is not hidden behind WARN
    gates = [
        dataclasses.replace(g, tier="fail")
        for g in config.gates
        if g.paired and g.suite not in ("interpolation", "slices")  # slice gates: judged on each pair's slices
    ]
    if not gates:
        raise ConfigError(f"{root}: no paired gate to judge (delta or non_inferior outside interpolation)")
    checkpoints = []
    for seed in range(1, args.aa + 1):
        tuned = dataclasses.replace(config, finetune={**dict(config.finetune), "train_seed": seed})
        checkpoints.append(str(Workspace(tuned, rootdir=root).finetuned_checkpoint()))
    alarms: dict[str, int] = {g.name: 0 for g in gates}
    values: dict[str, list[float]] = {g.metric: [] for g in gates}
    slices: list[tuple[int, int, int]] = []  # per pair: slices tried, discoveries, slices worse beyond a gate
    for i, candidate in enumerate(checkpoints[1:]):
        pair = dataclasses.replace(config, baseline=checkpoints[0], candidate=candidate)
        workspace = Workspace(pair, rootdir=root)
        source = MetricSource(workspace)
        slices.append(_slices_of_pair(source, workspace, config))
        evidence = {g: source.evidence(g) for g in gates}
        for gate, result in zip(gates, judge(gates, evidence, holm=config.holm), strict=True):
            # "better" from a delta gate, or "worse beyond the margin" from non_inferior, is a false alarm
            alarms[gate.name] += result.outcome == ("PASS" if gate.rule == "delta" else "FAIL")
            if i == 0:
                values[gate.metric].append(evidence[gate].difference.reference)  # type: ignore[union-attr]
            values[gate.metric].append(evidence[gate].estimate.value)
    console = make_console()
    table = Table(
        title=f"A/A: {args.aa} training seeds of one recipe, seeds 2..{args.aa} against seed 1", title_justify="left"
    )
    for column in ("gate", "false alarms", "metric spread (min..max over seeds)"):
        table.add_column(column)
    for gate in gates:
        v = values[gate.metric]
        table.add_row(Text(gate.name), f"{alarms[gate.name]} / {args.aa - 1}", f"{min(v):.4g}..{max(v):.4g}")
    console.print(table)
    total, fired = len(gates) * (args.aa - 1), sum(alarms.values())
    low, high = clopper_pearson(fired, total, args.confidence)
    _print_slices(console, slices, args.aa, config.slice_level, args.confidence)
    console.print(
        Text(
            f"false-alarm rate {fired}/{total} = {fired / total:.3f} [{args.confidence:.0%} CI {low:.3f}, "
            f"{high:.3f}]; a delta gate passing, or a non_inferior gate failing (not undecided), between "
            "two seeds of one recipe is a false alarm"
        ),
        soft_wrap=True,
    )
    return 0


def _slices_of_pair(source: Any, workspace: Any, config: Any) -> tuple[int, int, int]:
    """The Slices analysis of one A/A pair (seed 1 against another seed): slices tried, discoveries (every one
    false: the truth is the same recipe), and slices worse beyond a slice gate's margin."""
    from harness.report.build import add_evaluation
    from harness.report.model import RunReport
    from harness.report.slices import add_slices

    report = RunReport(
        kind="compare",
        settings={"resamples": config.resamples, "confidence": config.confidence, "seed": config.seed},
    )
    for role in ("baseline", "candidate"):
        add_evaluation(report, role, source.evaluation(role))
    analysis = add_slices(report, workspace.catalogue, level=config.slice_level)
    if analysis is None:
        return 0, 0, 0
    worse = 0
    for gate in (g for g in config.gates if g.suite == "slices"):
        worse += len(analysis.against_gate(gate.metric, gate.threshold)[1])
    return analysis.tried, len(analysis.discoveries), worse


def _print_slices(
    console: Any, slices: list[tuple[int, int, int]], seeds: int, level: float, confidence: float
) -> None:
    from rich.table import Table
    from rich.text import Text

    from harness.evaluate.intervals import clopper_pearson

    table = Table(
        title=f"A/A slices: seeds 2..{seeds} against seed 1, Benjamini-Hochberg at {level:g}", title_justify="left"
    )
    for column in ("pair", "slices tried", "false discoveries", "worse beyond a slice gate"):
        table.add_column(column, justify="left" if column == "pair" else "right")
    for seed, (tried, found, worse) in enumerate(slices, start=2):
        table.add_row(f"seed {seed} vs seed 1", str(tried), str(found), str(worse))
    console.print(table)
    pairs, with_any = len(slices), sum(found > 0 for _, found, _ in slices)
    tried, found = sum(t for t, _, _ in slices), sum(f for _, f, _ in slices)
    low, high = clopper_pearson(with_any, pairs, confidence)
    console.print(
        Text(
            f"pairs with any false discovery {with_any}/{pairs} = {with_any / max(pairs, 1):.3f} "
            f"[{confidence:.0%} CI {low:.3f}, {high:.3f}] against the nominal {level:g} (under no difference, "
            f"Benjamini-Hochberg bounds the chance of any discovery by the level); false discoveries "
            f"{found} of {tried} slice comparisons"
        ),
        soft_wrap=True,
    )
