"""The run report: one versioned JSON record per evaluation run.

Everything a later reader needs is in it: who ran what on which data (specs, fingerprints,
load report), every metric with its confidence interval, the paired comparisons, gates with
outcomes, and enough per-query data (ranks per item) to redo a paired comparison against
another run of the same items. Console tables, HTML and regression reports all read this.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import subprocess
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.io import atomic_write_json

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class MetricValue:
    """A point estimate with its percentile-bootstrap confidence interval."""

    value: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True)
class Comparison:
    """Candidate minus baseline on the same queries, with a paired CI and p-value."""

    delta: float
    ci_low: float
    ci_high: float
    n: int
    p_value: float | None = None  # McNemar exact for hit-rate metrics, paired bootstrap otherwise
    higher_is_better: bool = True


@dataclass(frozen=True)
class GateResult:
    """One gate judged on one metric."""

    name: str
    metric: str
    rule: str          # human form, e.g. 'delta > 0 at 95%' or 'non-inferior by 0.02 at 95%'
    tier: str          # 'fail' or 'warn'
    outcome: str       # 'PASS', 'FAIL', 'WARN', 'UNDECIDED'
    message: str       # one line saying why


@dataclass
class RunReport:
    """One run. Mutable while the run is assembled; written once at the end."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    schema_version: int = SCHEMA_VERSION
    name: str = ""
    environment: dict[str, Any] = field(default_factory=dict)   # machine, git commit, library versions
    seed: int = 0
    data: dict[str, Any] = field(default_factory=dict)          # sources, fingerprint, load report, view sizes
    models: dict[str, dict[str, Any]] = field(default_factory=dict)   # role -> {spec, fingerprint}
    metrics: dict[str, dict[str, MetricValue]] = field(default_factory=dict)  # role -> key -> value
    comparisons: dict[str, Comparison] = field(default_factory=dict)  # key -> candidate vs baseline
    per_query: dict[str, dict[str, Any]] = field(default_factory=dict)  # '<view>/<direction>' -> ids, ranks per role
    flips: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)  # key -> improved/regressed
    gates: list[GateResult] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)      # probes, zero-shot, interpolation, examples

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        atomic_write_json(path, _finite(self.to_dict()))
        return path

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "report") -> RunReport:
        if not isinstance(raw, dict) or "schema_version" not in raw:
            raise ConfigError(f"{source} is not a bookclip run report (no schema_version)")
        version = raw["schema_version"]
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ConfigError(f"{source} has schema version {version!r}; this bookclip reads up to {SCHEMA_VERSION}: upgrade bookclip")
        try:
            return cls(
                run_id=str(raw.get("run_id", "")),
                created_at=str(raw.get("created_at", "")),
                schema_version=version,
                name=str(raw.get("name", "")),
                environment=dict(raw.get("environment", {})),
                seed=int(raw.get("seed", 0)),
                data=dict(raw.get("data", {})),
                models=dict(raw.get("models", {})),
                metrics={role: {k: MetricValue(**v) for k, v in values.items()}
                         for role, values in raw.get("metrics", {}).items()},
                comparisons={k: Comparison(**v) for k, v in raw.get("comparisons", {}).items()},
                per_query=dict(raw.get("per_query", {})),
                flips=dict(raw.get("flips", {})),
                gates=[GateResult(**g) for g in raw.get("gates", [])],
                sections=dict(raw.get("sections", {})),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{source} is a malformed run report: {exc}") from None

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> RunReport:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"run report {path} does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read run report {path}: {exc}") from None
        return cls.from_dict(raw, source=str(path))


def environment_info(root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Machine, commit and library versions, like pytest-benchmark's machine_info/commit_info."""
    import importlib.metadata as md

    versions = {}
    for dist in ("bookclip-harness", "torch", "open_clip_torch", "pyspark", "numpy", "pillow"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    return {
        "machine": {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "git": _git_info(Path(root) if root else Path.cwd()),
        "versions": versions,
    }


def _git_info(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    return {"commit": commit, "branch": git("rev-parse", "--abbrev-ref", "HEAD") if commit else None,
            "dirty": bool(git("status", "--porcelain")) if commit else None}


def _finite(obj: Any) -> Any:
    """JSON has no NaN/inf: write them as null so every reader can parse the report."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
