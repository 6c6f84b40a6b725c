"""Run configuration: `[tool.bookclip]` in pyproject.toml, a `--bookclip-config` TOML file,
and command-line options, in rising precedence.

With nothing configured, a run evaluates the embedded default: the generated fixture
catalogue, the `fixtures:tiny-baseline` checkpoint, and a candidate fine-tuned from it on
the default category through TorchDistributor's local mode.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import settings
from harness.errors import ConfigError
from harness.gates import Gate, parse_gates

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CATEGORY = "Mind-Body-Spirit"

# Used when no [tool.bookclip.gates] table is given anywhere.
DEFAULT_GATES: dict[str, Any] = {
    "heldout/image_to_text/recall@5": {"delta": 0.0},
    "heldout/text_to_image/recall@5": {"delta": 0.0},
    "cross/image_to_text/recall@5": {"non_inferior": 0.02},
    "cross/text_to_image/recall@5": {"non_inferior": 0.02},
}

_KEYS = {
    "data",
    "image_root",
    "baseline",
    "candidate",
    "categories",
    "heldout_fraction",
    "seed",
    "template",
    "ks",
    "confidence",
    "resamples",
    "holm",
    "min_n",
    "report_dir",
    "compare_to",
    "save",
    "launcher",
    "num_processes",
    "finetune",
    "gates",
    "strict",
    "engine",
    "mlflow",
    "slice_level",
}


@dataclass(frozen=True)
class RunConfig:
    data: str | None = None  # None: the generated fixture catalogue
    image_root: str | None = None
    baseline: str = "fixtures:tiny-baseline"
    candidate: str = "finetune"  # a model spec, or "finetune"
    categories: tuple[str, ...] = (DEFAULT_CATEGORY,)
    heldout_fraction: float = 0.2
    seed: int = 0
    template: str = "{title}"
    ks: tuple[int, ...] = (1, 5, 10)
    confidence: float = 0.95
    resamples: int = 1000
    holm: bool = False
    min_n: int = 30
    report_dir: str = "reports"
    compare_to: str | None = None
    save: str | None = None
    launcher: str = "spark-local"
    num_processes: int = 2
    strict: bool = False
    engine: str = "local"  # evaluation engine: local, spark-local, spark-cluster
    mlflow: bool = False  # log the run to MLflow (also on when MLFLOW_TRACKING_URI is set)
    slice_level: float = 0.05  # the false-discovery rate of the run report's Slices section
    finetune: Mapping[str, Any] = field(default_factory=dict)  # FinetuneConfig overrides
    gates: tuple[Gate, ...] = ()


def load_config(
    *, rootdir: Path, config_file: str | None = None, overrides: Mapping[str, Any] | None = None
) -> RunConfig:
    """Merge pyproject's [tool.bookclip], an optional config file and command-line overrides."""
    raw: dict[str, Any] = {}
    pyproject = rootdir / "pyproject.toml"
    if pyproject.is_file():
        raw.update(_bookclip_table(_read_toml(pyproject), pyproject, required=False))
    if config_file:
        raw.update(_bookclip_table(_read_toml(Path(config_file)), Path(config_file), required=True))
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return build_config(raw, source=str(config_file or pyproject))


def build_config(raw: Mapping[str, Any], *, source: str = "configuration") -> RunConfig:
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"{source}: unknown [tool.bookclip] key(s) {sorted(unknown)}; known: {sorted(_KEYS)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "gates":
            continue
        name = f"{source}: {key}"
        if key == "categories":
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, (list, tuple)) or not all(isinstance(c, str) for c in value):
                raise ConfigError(
                    f"{name} must be a list of category names (or one comma-separated string), got {value!r}"
                )
            value = tuple(c.strip() for v in value for c in v.split(",") if c.strip())
        elif key == "ks":
            value = _ks(value, source)
        elif key in (
            "seed",
            "num_processes",
            "resamples",
            "min_n",
            "heldout_fraction",
            "confidence",
            "holm",
            "strict",
            "mlflow",
            "slice_level",
        ):
            value = _CHECKS[key](_from_text(value, key), name)
        elif key == "finetune":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: [tool.bookclip.finetune] must be a table")
            value = dict(value)
        elif value is not None:
            value = str(value)
        values[key] = value
    if "engine" in values:
        from harness.evaluate.engines import check_engine

        check_engine(values["engine"], f"{source}: engine")
    cfg = RunConfig(**values)
    if not cfg.categories:
        raise ConfigError(f"{source}: categories is empty; name the fine-tuning categories, e.g. Mind-Body-Spirit")
    gates_table = raw.get("gates", DEFAULT_GATES)
    gates = parse_gates(
        gates_table, defaults={"confidence": cfg.confidence, "min_n": cfg.min_n}, categories=cfg.categories
    )
    return replace(cfg, gates=tuple(gates))


def _bookclip_table(table: Mapping[str, Any], path: Path, *, required: bool) -> Mapping[str, Any]:
    """[tool.bookclip] of a TOML document (a --bookclip-config file may also be that table itself)."""
    tool = table.get("tool", {})
    if not isinstance(tool, Mapping):
        raise ConfigError(f"{path}: `tool` must be a table ([tool.bookclip]), got {tool!r}")
    found = tool.get("bookclip", table if required else {})
    if not isinstance(found, Mapping):
        raise ConfigError(f"{path}: [tool.bookclip] must be a table, got {found!r}")
    return found


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _ks(value: Any, source: str) -> tuple[int, ...]:
    items = value.split(",") if isinstance(value, str) else value
    try:
        ks = tuple(sorted({int(k) for k in items}))
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{source}: ks must be positive integers like 1,5,10, got {value!r}") from None
    if not ks or ks[0] < 1:
        raise ConfigError(f"{source}: ks must be positive integers like 1,5,10, got {value!r}")
    return ks


def _from_text(value: object, key: str) -> object:
    """`--bookclip-seed` arrives as text; every other number and boolean must be typed in TOML
    (`holm = "false"` is an error, not True)."""
    if key == "seed" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


_CHECKS: dict[str, Callable[[Any, str], object]] = {  # (raw value, name) -> the checked value
    "seed": settings.seed,
    "num_processes": lambda v, name: settings.integer(v, name, minimum=1),
    "resamples": settings.resamples,
    "min_n": settings.min_n,
    "heldout_fraction": settings.heldout_fraction,
    "confidence": settings.confidence,
    "holm": settings.boolean,
    "strict": settings.boolean,
    "mlflow": settings.boolean,
    "slice_level": settings.false_discovery_level,
}
