"""The run report: one versioned JSON record per evaluation run.

It is the only result file any command writes (`pytest suites/`, `bookclip eval/compare/
interpolate/probe --out`, `finetune --evaluate`). Everything a later reader needs is in it: who
ran what on which data (roles with specs and fingerprints, load report), every metric with its
confidence interval and interval method, the comparisons against the reference role with their
tests, gates with outcomes, and the per-query ranks to redo a paired comparison against another
run of the same items. Console tables, HTML and regression reports all read this.
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
from typing import Any, Literal, TypeVar, get_args

from harness.errors import ConfigError
from harness.evaluate.compare import Difference
from harness.evaluate.stats import Estimate
from harness.io import atomic_write_json

SCHEMA_VERSION = 2
Kind = Literal["suites", "eval", "compare", "interpolate", "probe", "finetune"]  # the command that wrote a run
Outcome = Literal["PASS", "FAIL", "WARN", "UNDECIDED"]
Tier = Literal["fail", "warn"]
KINDS: tuple[Kind, ...] = get_args(Kind)
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
TIERS: tuple[Tier, ...] = get_args(Tier)
_Member = TypeVar("_Member", bound=str)
# json.loads recurses per nesting level; a report is never deeper than this
_MAX_DEPTH = 64


def one_of(value: object, choices: tuple[_Member, ...], what: str) -> _Member:
    """`value` as the member of the closed set `choices` it equals (a one-line ValueError naming them if none)."""
    for choice in choices:
        if value == choice:
            return choice
    raise ValueError(f"{what} {value!r} is not one of {', '.join(choices)}")


@dataclass(frozen=True)
class GateResult:
    """One gate judged on one metric."""

    name: str
    metric: str
    rule: str  # human form, e.g. 'delta > 0 at 95%' or 'non-inferior by 0.02 at 95%'
    tier: Tier
    outcome: Outcome
    message: str  # one line saying why
    # structured form of the rule, for the forest plot (absent in reports of older bookclips)
    rule_kind: str = ""  # 'min', 'max', 'delta', 'non_inferior'
    threshold: float | None = None  # the number in the rule, in the metric's units
    bound: float | None = None  # where the rule's line sits: on the value axis for min/max, on the
    # candidate-minus-reference axis for delta/non_inferior
    role: str = "candidate"  # the model the gate judged
    p_value: float | None = None  # the paired rule's one-sided p-value against its bound (None for min/max)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES or self.tier not in TIERS:
            raise ValueError(
                f"gate {self.name!r}: outcome {self.outcome!r} / tier {self.tier!r} is not one of {OUTCOMES} / {TIERS}"
            )


@dataclass
class RunReport:
    """One run of any command. Mutable while the run is assembled; written once at the end.

    `models` is ordered: role -> spec, fingerprint (and identity where known). Every role's metrics
    sit under `metrics[role]`; `comparisons[role]` holds that role against `reference`, with the
    test each difference used; each metric's estimate names its interval method.
    """

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    schema_version: int = SCHEMA_VERSION
    kind: Kind = "suites"  # the command that wrote it
    name: str = ""
    engine: str = "local"  # where per-query ranks were computed
    environment: dict[str, Any] = field(default_factory=dict)  # machine, git commit, library versions
    seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)  # resamples, confidence, ks, template, ...
    data: dict[str, Any] = field(default_factory=dict)  # sources, fingerprint, load report, view sizes
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> {spec, fingerprint, ...}
    reference: str | None = None  # the role comparisons are against
    metrics: dict[str, dict[str, Estimate]] = field(default_factory=dict)  # role -> key -> estimate
    comparisons: dict[str, dict[str, Difference]] = field(default_factory=dict)  # role -> key -> vs reference
    per_query: dict[str, dict[str, Any]] = field(default_factory=dict)  # '<view>/<direction>' -> ids, ranks per role
    # role -> key -> the improved / regressed lists (as shown) and their totals
    flips: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    gates: list[GateResult] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)  # probes, zero-shot, interpolation, examples

    @property
    def roles(self) -> list[str]:
        """Every role with a model or metrics, in the order they were added."""
        return list(dict.fromkeys([*self.models, *self.metrics]))

    @property
    def compared_roles(self) -> list[str]:
        return [r for r in self.roles if r in self.comparisons]

    def comparison(self, key: str, role: str | None = None) -> Difference | None:
        """`role` (default: the first compared role) against the reference on `key`."""
        roles = [role] if role else self.compared_roles[:1]
        return next((self.comparisons[r][key] for r in roles if key in self.comparisons.get(r, {})), None)

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["metrics"] = {role: {k: e.to_dict() for k, e in values.items()} for role, values in self.metrics.items()}
        raw["comparisons"] = {
            role: {k: d.to_dict() for k, d in values.items()} for role, values in self.comparisons.items()
        }
        return raw

    def write(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        atomic_write_json(path, _finite(self.to_dict()))
        return path

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "report") -> RunReport:
        if not isinstance(raw, dict) or "schema_version" not in raw:
            raise ConfigError(f"{source} is not a bookclip run report (no schema_version)")
        version = raw["schema_version"]
        if version == 1:
            raise ConfigError(
                f"{source} is a schema 1 run report from an older bookclip; regenerate it with the "
                "command that wrote it (pytest suites/, bookclip eval/compare/interpolate --out)"
            )
        if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
            raise ConfigError(
                f"{source} has schema version {version!r}; this bookclip reads {SCHEMA_VERSION}: upgrade bookclip"
            )
        try:
            kind = one_of(raw.get("kind", "suites"), KINDS, "kind")
            return cls(
                run_id=str(raw.get("run_id", "")),
                created_at=str(raw.get("created_at", "")),
                schema_version=version,
                kind=kind,
                name=str(raw.get("name", "")),
                engine=str(raw.get("engine", "local")),
                environment=dict(raw.get("environment", {})),
                seed=int(raw.get("seed", 0)),
                settings=dict(raw.get("settings", {})),
                data=dict(raw.get("data", {})),
                models={str(role): dict(m) for role, m in raw.get("models", {}).items()},
                reference=None if raw.get("reference") is None else str(raw["reference"]),
                metrics={
                    role: {k: Estimate.from_dict(v) for k, v in values.items()}
                    for role, values in raw.get("metrics", {}).items()
                },
                comparisons={
                    role: {k: Difference.from_dict(v) for k, v in values.items()}
                    for role, values in raw.get("comparisons", {}).items()
                },
                per_query=dict(raw.get("per_query", {})),
                flips=dict(raw.get("flips", {})),
                gates=[GateResult(**g) for g in raw.get("gates", [])],
                sections=dict(raw.get("sections", {})),
            )
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ConfigError(f"{source} is a malformed run report: {exc}") from None

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> RunReport:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            if _nesting(text) > _MAX_DEPTH:
                raise ConfigError(
                    f"run report {path} is nested more than {_MAX_DEPTH} levels deep; it was not written by bookclip"
                )
            raw = json.loads(text)
        except FileNotFoundError:
            raise ConfigError(f"run report {path} does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ConfigError(f"cannot read run report {path}: {type(exc).__name__}: {exc}") from None
        return cls.from_dict(raw, source=str(path))


def _nesting(text: str) -> int:
    """The deepest bracket nesting of a JSON text, ignoring brackets inside strings."""
    import re

    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    depth = deepest = 0
    for char in stripped:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def environment_info(root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Machine, commit and library versions, like pytest-benchmark's machine_info/commit_info."""
    import importlib.metadata as md

    versions: dict[str, str | None] = {}
    for dist in ("bookclip-harness", "torch", "open_clip_torch", "pyspark", "numpy", "pillow"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    return {
        "machine": {
            # the host name identifies a person's machine: recorded only when asked for
            "hostname": socket.gethostname() if os.environ.get("BOOKCLIP_RECORD_HOST") == "1" else None,
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
    return {
        "commit": commit,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD") if commit else None,
        "dirty": bool(git("status", "--porcelain")) if commit else None,
    }


def _finite(obj: object) -> object:
    """JSON has no NaN/inf: write them as null so every reader can parse the report."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
