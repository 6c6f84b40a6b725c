"""Run history: saved runs under a directory as `<NNNN>_<name>_<run_id>.json`.

Like pytest-benchmark's storage: a counter that orders runs, the name they were saved
under (e.g. `main`, `ft-lr3e-5`) and the run id. References resolve as: an existing
file path; `latest` (the newest run of all); a saved name (the newest run saved under
it); a run number (`12` or `0012`); or a run id (or its unique prefix).
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.report.model import RunReport, environment_info

DEFAULT_ROOT = Path("reports") / "runs"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
_FILE = re.compile(r"^(\d{4,})_([A-Za-z0-9][A-Za-z0-9.-]*)_([A-Za-z0-9]+)\.json$")


@dataclass(frozen=True)
class StoredRun:
    number: int
    name: str
    run_id: str
    path: Path


def history_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The runs directory: `root`, else $BOOKCLIP_RUNS_DIR, else reports/runs under the working directory."""
    if root is not None:
        return Path(root)
    env = os.environ.get("BOOKCLIP_RUNS_DIR")
    return Path(env) if env else DEFAULT_ROOT


def check_name(name: str) -> str:
    """A run name is letters, digits, '.' and '-' (no '_': it separates the parts of a file name)."""
    if not isinstance(name, str) or not _NAME.match(name) or name == "latest" or name.isdigit():
        raise ConfigError(
            f"run name {name!r} is not usable: use letters, digits, '.' and '-' "
            "(not '_', not 'latest', not only digits), e.g. 'main' or 'ft-lr3e-5'"
        )
    return name


def list_runs(root: str | os.PathLike[str] | None = None) -> list[StoredRun]:
    """Saved runs, oldest first. Files that do not follow the naming scheme are ignored."""
    directory = history_root(root)
    if not directory.is_dir():
        return []
    runs = []
    for path in directory.iterdir():
        match = _FILE.match(path.name)
        if match and path.is_file():
            runs.append(StoredRun(int(match.group(1)), match.group(2), match.group(3), path))
    return sorted(runs, key=lambda r: (r.number, r.path.name))


def save_run(report: RunReport, name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Store `report` as the next numbered run under `name`; returns the file written.

    Machine and commit info are filled in when the report has none. Safe against
    concurrent savers (e.g. pytest-xdist workers): a number is claimed exclusively
    before the complete file appears under it in one rename.
    """
    check_name(name)
    directory = history_root(root)
    directory.mkdir(parents=True, exist_ok=True)
    environment = report.environment or environment_info()
    stored = dataclasses.replace(report, name=name, environment=environment)
    run_id = re.sub(r"[^A-Za-z0-9]", "", stored.run_id) or "run"
    tmp = directory / f".{name}_{run_id}.{os.getpid()}.{threading.get_ident()}.tmp"
    stored.write(tmp)
    try:
        number = max((r.number for r in list_runs(directory)), default=0) + 1
        while True:
            claim = directory / f".{number:04d}.claim"
            try:
                os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:  # another saver is publishing this number right now
                number += 1
                continue
            try:
                # Checked after claiming: a saver that published this number and let go is seen here.
                if any(r.number == number for r in list_runs(directory)):
                    number += 1
                    continue
                target = directory / f"{number:04d}_{name}_{run_id}.json"
                os.replace(tmp, target)
                return target
            finally:
                claim.unlink(missing_ok=True)
    finally:
        tmp.unlink(missing_ok=True)


def resolve_run(ref: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Path:
    """A run file from a path, 'latest', a saved name, a run number or a run id."""
    path = Path(ref)
    if path.is_file():
        return path
    text = str(ref)
    runs = list_runs(root)
    directory = history_root(root)
    if text == "latest":
        found = runs[-1:]
    elif text.isdigit():
        found = [r for r in runs if r.number == int(text)]
    else:
        found = [r for r in runs if r.name == text] or [r for r in runs if r.run_id.startswith(text)]
        if len({r.run_id for r in found}) > 1 and not any(r.name == text for r in runs):
            ids = ", ".join(sorted({r.run_id for r in found}))
            raise ConfigError(f"run id prefix {text!r} is ambiguous under {directory} ({ids}); give more characters")
    if found:
        return found[-1].path
    if text.endswith(".json") or os.sep in text:
        raise ConfigError(f"run report {text} does not exist")
    names = sorted({r.name for r in runs})
    known = f"saved names: {', '.join(names)}" if names else "no runs saved yet"
    raise ConfigError(
        f"no run {text!r} under {directory} ({known}); "
        "save one with `pytest suites/ --bookclip-save NAME` or `bookclip report RUN.json --save NAME`"
    )
