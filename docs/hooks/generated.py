"""MkDocs hook: reference tables generated at build time from the code they describe.

A page holds a marker line such as `<!-- generated: cli -->`; on build the marker is replaced by
the table drawn from the live objects (the `bookclip` argparse parsers, `RunConfig`,
`FinetuneConfig`, the metric registry, the run report's dataclasses), so the reference cannot
drift from the code.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

MARKER = re.compile(r"^<!-- generated: (?P<name>[a-z-]+) -->$", re.MULTILINE)


def cell(text: object) -> str:
    """Text for a Markdown table cell: HTML and emphasis characters escaped, one line."""
    value = html.escape(" ".join(str(text).split()), quote=False)
    return value.replace("|", "\\|").replace("*", "\\*")


def code(text: object) -> str:
    value = " ".join(str(text).split()).replace("|", "\\|")
    return f"`{value}`" if value else ""


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the CLI


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _option_rows(parser: argparse.ArgumentParser) -> list[tuple[str, ...]]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            name = ", ".join(action.option_strings)
            if action.nargs != 0:
                name += " " + (action.metavar or action.dest.upper())
        else:
            name = action.metavar or action.dest
        # argparse's own expansion: %(default)s and friends filled in, %% printed as %
        help_text = parser._get_formatter()._expand_help(action) if action.help else ""
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            help_text += f" (one of: {', '.join(map(str, action.choices))})"
        rows.append((code(name), cell(help_text)))
    return rows


def _command_section(path: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    out = [f"{'#' * level} `{path}`", ""]
    if parser.description:
        out += [cell(parser.description), ""]
    usage = parser.format_usage().strip()
    out += ["```text", usage, "```", ""]
    rows = _option_rows(parser)
    if rows:
        out += [table(("argument", "meaning"), rows), ""]
    if parser.epilog:
        out += [cell(parser.epilog), ""]
    for name, sub in _subcommands(parser):
        out += _command_section(f"{path} {name}", sub, min(level + 1, 4))
    return out


def cli_reference() -> str:
    """Every `bookclip` command and subcommand with its usage and arguments, from the real parser."""
    import os

    from harness.cli import build_parser

    os.environ.setdefault("COLUMNS", "100")  # argparse wraps usage lines at the terminal width
    parser = build_parser()
    out = [cell(parser.description or ""), ""]
    for name, sub in _subcommands(parser):
        out += _command_section(f"bookclip {name}", sub, 2)
    return "\n".join(out)


# --------------------------------------------------------------------------- dataclass fields


BROKEN_OFF = re.compile(r"(,|\b(the|a|an|of|on|in|to|for|and|or|by|with|as))$")  # a phrase that goes on


def field_comments(cls: type) -> dict[str, str]:
    """The comments written beside (or on the lines above) each field of a dataclass. A comment line
    continues the field's trailing comment above it when that one breaks off mid-phrase ("on the");
    a one-word comment line is a section label."""
    comments: dict[str, str] = {}
    pending: list[str] = []
    last: str | None = None  # the field whose trailing comment a following comment line continues
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            if last is not None:
                comments[last] = f"{comments[last]} {text}"
            elif " " in text:
                pending.append(text)
            continue
        match = re.match(r"^\s{4}(?P<name>[a-z_][a-z0-9_]*)\s*:\s*[^=]+?(?:=.*?)?(?:#\s*(?P<comment>.*))?$", line)
        last = None
        if match and not stripped.startswith(("def ", "return")):
            comments[match["name"]] = " ".join([*pending, match["comment"] or ""]).strip()
            broken = match["comment"] and re.search(
                r"(,|\b(the|a|an|of|on|in|to|for|and|or|by|with|as))$", match["comment"]
            )
            last = match["name"] if broken else None
        pending = []
    return comments


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        return code(repr(field.default))
    if field.default_factory is not dataclasses.MISSING:
        factory = field.default_factory
        return "(generated)" if getattr(factory, "__name__", "") == "<lambda>" else code(repr(factory()))
    return "(required)"


def command_help(*commands: str) -> dict[str, str]:
    """Argument help of `bookclip COMMAND` by destination, the first command naming a destination winning."""
    from harness.cli import build_parser

    found: dict[str, str] = {}
    subs = dict(_subcommands(build_parser()))
    for name in commands:
        for action in subs[name]._actions:
            if action.help and action.help != argparse.SUPPRESS:
                found.setdefault(action.dest, action.help)
    return found


def fields_table(
    cls: type, helps: dict[str, str] | None = None, extra: dict[str, str] | None = None, skip: tuple[str, ...] = ()
) -> str:
    """Key, type, default and meaning of each field: its comment in the source, else the help of the
    option that sets it (`helps`); `extra` adds a column (its header under the key ""); `skip` leaves
    fields out."""
    comments = field_comments(cls)
    helps = helps or {}
    rows = []
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        meaning = comments.get(field.name) or helps.get(field.name, "")
        row = (code(field.name), code(field.type), _default(field), cell(meaning))
        rows.append((*row, code(extra.get(field.name, ""))) if extra is not None else row)
    header = ("key", "type", "default", "meaning")
    return table((*header, extra[""]) if extra is not None else header, rows)


# Keys whose meaning no comment or option help in the code states.
RUN_CONFIG_MEANINGS = {
    "heldout_fraction": "share of the training categories' books (by edition group) held out as the `heldout` view",
    "holm": "apply Holm's step-down correction across the paired gates that run",
    "min_n": "a paired gate judged on fewer queries than this is UNDECIDED (the default of each gate's `min_n`)",
    "strict": "turn skipped catalogue rows into errors",
    "gates": "the gates, from the `[tool.bookclip.gates]` table (see Gates above)",
}


def _without_default(text: str) -> str:
    """Option help less its "(default ...)": the default column holds this key's own default."""
    return re.sub(r"\s*\(default[^)]*\)", "", text.replace("%%", "%"))


def run_config_reference() -> str:
    from harness import plugin
    from harness.config import RunConfig

    flags = {key: flag for flag, key, _help in plugin._OPTIONS if key}
    flags["mlflow"] = "--bookclip-mlflow"
    helps = dict(RUN_CONFIG_MEANINGS)
    helps.update({key: text for _flag, key, text in plugin._OPTIONS if key})
    for dest, text in command_help("eval", "compare", "finetune", "data").items():
        helps.setdefault(dest, _without_default(text))
    return fields_table(RunConfig, helps, {"": "pytest option", **flags})


def finetune_config_reference() -> str:
    from harness.finetune.config import FinetuneConfig

    helps = {dest: text.replace("%%", "%") for dest, text in command_help("finetune").items()}
    return fields_table(FinetuneConfig, helps)


ESTIMATE_MEANINGS = {
    "value": "the metric's value",
    "ci_low": "lower end of its confidence interval",
    "ci_high": "upper end of its confidence interval",
    "n": "the number of queries (or items) it is computed over",
    "interval": "how the interval was made (each metric's, in Metric keys)",
}
DIFFERENCE_MEANINGS = {
    "key": "the metric key",
    "reference": "the reference role's value",
    "value": "this role's value",
    "delta": "value minus reference",
    "ci_low": "lower end of the difference's confidence interval",
    "ci_high": "upper end of the difference's confidence interval",
    "n": "the number of paired queries",
    "p_value": "the p-value of the metric's paired test",
    "test": "the paired test",
    "higher_is_better": "the metric's registered direction",
    "gained": "0/1 metrics: queries that became hits",
    "lost": "0/1 metrics: queries that became misses",
}


def run_report_reference() -> str:
    from harness.evaluate.compare import Difference
    from harness.evaluate.stats import Estimate
    from harness.report.model import GateResult, RunReport

    return "\n".join(
        [
            "### `RunReport`",
            "",
            fields_table(RunReport),
            "",
            "### `GateResult` (each entry of `gates`)",
            "",
            fields_table(GateResult),
            "",
            "### An estimate (each value of `metrics[role]`)",
            "",
            fields_table(Estimate, ESTIMATE_MEANINGS),
            "",
            "### A difference (each value of `comparisons[role]`)",
            "",
            fields_table(Difference, DIFFERENCE_MEANINGS, skip=("samples",)),
        ]
    )


def probe_families_reference() -> str:
    """The built-in perturbation families, read from their registry."""
    from harness.probes.families import families

    rows = [
        (code(f.name), f.severity.name.lower(), cell(f.description), cell(f.unchanged_doc))
        for f in families(entry_points=False)
    ]
    return table(("family", "severity", "what it does", "may leave a title unchanged when"), rows)


# --------------------------------------------------------------------------- the metric registry


def metrics_reference() -> str:
    """One row per registered metric, read from `harness.evaluate.metrics`."""
    from harness.evaluate import metrics

    rows = []
    for metric in metrics.metrics():
        direction = {True: "higher", False: "lower", None: "none"}[metric.higher_is_better]
        statistic = metric.statistic if isinstance(metric.statistic, str) else "by parameter"
        rows.append(
            (
                code(metric.name),
                metric.applies_to,
                direction,
                statistic,
                metric.test,
                f"{metric.interval} / {metrics.INTERVALS[metric.test][1]}",
                metric.scale,
                cell(metric.description),
            )
        )
    header = ("metric", "applies to", "better", "statistic", "test", "interval (value / difference)", "scale", "")
    return table(header[:-1] + ("meaning",), rows)


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli_reference,
    "run-config": run_config_reference,
    "finetune-config": finetune_config_reference,
    "metrics": metrics_reference,
    "run-report": run_report_reference,
    "probe-families": probe_families_reference,
}


def expand(markdown: str) -> str:
    """The page with every generated-table marker replaced by its table."""

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in GENERATORS:
            raise ValueError(f"unknown generated table {name!r}; known: {', '.join(GENERATORS)}")
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return expand(markdown)
