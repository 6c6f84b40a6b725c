"""GitHub Actions: the run's Markdown appended to the job summary (`GITHUB_STEP_SUMMARY`), and one
workflow annotation per failed or warned gate (`GITHUB_ACTIONS=true`).

Workflow commands are parsed from the job's output, so a gate name or message is escaped as the
runner unescapes it (`%`, CR and LF in the message; also `:` and `,` in a property): a crafted
metric or title can neither end the command early nor start a second one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from harness.errors import WriteError
from harness.plain_text import strip_control
from harness.report.glance import FAILING
from harness.report.markdown import run_markdown
from harness.report.model import RunReport


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, *, title: str) -> str:
    """`::command title=...::message`, both parts escaped (other control characters shown as escapes)."""
    clean = strip_control(message.replace("\r", "\n"))  # one line; a stray CR or LF cannot open a command
    return f"::{command} title={_property(strip_control(title))}::{_data(clean)}"


def workflow_annotations(report: RunReport) -> list[str]:
    """An `error` annotation per failing gate and a `warning` per warned one."""
    lines = []
    for gate in report.gates:
        if gate.outcome in FAILING or gate.outcome == "WARN":
            kind = "warning" if gate.outcome == "WARN" else "error"
            lines.append(workflow_command(kind, f"{gate.metric}: {gate.message}", title=f"bookclip {gate.name}"))
    return lines


def publish(report: RunReport, environ: Mapping[str, str] = os.environ) -> list[str]:
    """What a GitHub Actions job gets from a run: the summary appended to `GITHUB_STEP_SUMMARY` when it
    is set, and the annotation lines to print (empty outside Actions)."""
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with Path(summary).open("a", encoding="utf-8") as handle:
                handle.write(run_markdown(report) + "\n")
        except OSError as exc:
            raise WriteError(
                exc.errno or 0,
                exc.strerror or str(exc),
                f"cannot append the job summary to GITHUB_STEP_SUMMARY={summary!r}: {exc.strerror or exc}",
            ) from None
    return workflow_annotations(report) if environ.get("GITHUB_ACTIONS") == "true" else []
