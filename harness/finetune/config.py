"""FinetuneConfig: every knob of a fine-tuning run, from defaults, a TOML file and CLI flags.

The config travels to the workers as a plain dict (`to_dict`), so it must stay small and
JSON-able: paths and numbers only, never data or models.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from harness.errors import ConfigError
from harness.io import sha256_hex
from harness.registry import Registry

if TYPE_CHECKING:
    import torch
    from open_clip.model import CLIP, CustomTextCLIP

    from harness.finetune.runlog import RunFiles

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Launcher = Literal["spark-local", "spark-cluster", "torchrun", "inline"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Freeze = Literal["none", "vision", "text"]
Method = Literal["plain", "distill", "wise"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
FREEZE: tuple[Freeze, ...] = get_args(Freeze)
DEFAULT_VALIDATION_FRACTION = 0.15  # of the training and rehearsed books, when the method needs one

# fields that change what is trained; a resumed run must agree with its checkpoint on these
RECIPE_FIELDS = (
    "data",
    "image_root",
    "categories",
    "baseline",
    "heldout_fraction",
    "replay_fraction",
    "seed",
    "max_train_rows",
    "template",
    "epochs",
    "max_steps",
    "batch_size",
    "grad_accum",
    "lr",
    "weight_decay",
    "beta1",
    "beta2",
    "eps",
    "warmup_steps",
    "min_lr_ratio",
    "grad_clip",
    "precision",
    "freeze",
)


@dataclass(frozen=True)
class FinetuneConfig:
    """A fine-tuning run. `batch_size` is the global batch of one optimiser step.

    Each process sees `batch_size / (num_processes * grad_accum)` items per micro-batch, so
    the same recipe trains the same model whatever the number of processes.
    """

    data: tuple[str, ...] = ()
    out: str = ""
    categories: tuple[str, ...] = ("Mind-Body-Spirit",)
    baseline: str = "fixtures:tiny-baseline"
    image_root: str | None = None
    heldout_fraction: float = 0.2
    # rehearsal: this share of the other categories' books is trained on alongside the tuned
    # categories (and left out of the cross-category views), which limits forgetting
    replay_fraction: float = 0.0
    # what limits forgetting (harness.finetune.methods): plain, distill (feature distillation toward
    # the frozen baseline, weighted by distill_weight) or wise (weight interpolation, alpha chosen on
    # validation_fraction of the training and rehearsed books, keeping those within wise_max_drop)
    method: Method = "plain"
    distill_weight: float = 1.0
    validation_fraction: float | None = None
    wise_max_drop: float = 0.02
    seed: int = 0
    # the seed of data order and training randomness, when it should differ from the split's `seed`
    # (an A/A check trains one recipe on one split with several training seeds)
    train_seed: int | None = None
    max_train_rows: int | None = None
    template: str = "{title}"
    # this share of the training rows (a seeded draw per epoch) is captioned with its category's zero-shot
    # prompt ("a book about {category}") instead of the template, and contrasted only with the other such
    # rows (harness.finetune.loss). 0 (the default): every row gets the template
    category_prompt_fraction: float = 0.0
    # schedule
    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 64
    grad_accum: int = 1
    lr: float = 5e-4
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-6
    warmup_steps: int = 10
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    precision: Precision = "auto"
    freeze: Freeze = "none"
    # checkpoints
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    resume: bool = False
    # replace a finished model in `out` (only once the new run succeeds); without it such a folder is refused
    overwrite: bool = False
    # execution
    launcher: Launcher = "spark-local"
    num_processes: int = 1
    use_gpu: bool = False
    num_workers: int = 0
    threads: int = 0
    # torch.compile the model: fused kernels, worth it on GPUs (1.47x on an H100 for ViT-B/32);
    # costs about a minute of compilation per process before the first step
    compile: bool = False
    timeout_s: int = 1800
    cache_dir: str | None = None
    # fault injection for testing launchers: rank `fail_rank` raises before step `fail_at_step`
    fail_at_step: int | None = None
    fail_rank: int = 0

    def __post_init__(self) -> None:
        validate(self)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FinetuneConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown fine-tune option(s) {', '.join(unknown)}; known options: {', '.join(sorted(known))}"
            )
        clean: dict[str, Any] = {}
        for key, value in values.items():
            if key in ("data", "categories"):
                value = (value,) if isinstance(value, (str, os.PathLike)) else tuple(value)
                value = tuple(str(v) for v in value)
            clean[key] = value
        return cls(**clean)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], **overrides: Any) -> FinetuneConfig:
        """Read a TOML file (top-level keys or a [finetune] table); `overrides` win."""
        try:
            with open(path, "rb") as fh:
                doc = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"fine-tune config {path} not found; pass an existing TOML file to --config") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"fine-tune config {path} is not valid TOML ({exc}); fix the file") from None
        values = dict(doc.get("finetune", doc))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)

    def replace(self, **changes: Any) -> FinetuneConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict that `from_dict` turns back into an equal config."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["data"] = list(self.data)
        out["categories"] = list(self.categories)
        return out

    def recipe(self) -> dict[str, Any]:
        """The fields that decide the trained weights (not where or how fast they run)."""
        d = self.to_dict()
        recipe = {k: d[k] for k in RECIPE_FIELDS}
        if self.train_seed is not None:  # unset leaves the recipes (and their hashes) of earlier runs alone
            recipe["train_seed"] = self.train_seed
        if self.category_prompt_fraction:  # 0 leaves the recipes (and their hashes) of earlier runs alone
            recipe["category_prompt_fraction"] = self.category_prompt_fraction
        recipe["method"] = self.method
        if self.method == "distill":
            recipe["distill_weight"] = self.distill_weight
        if self.method == "wise":
            recipe["wise_max_drop"] = self.wise_max_drop
        # the books kept out of training for the method's own choices (0: none); the leakage check reads it
        recipe["validation_fraction"] = self.validation_share
        return recipe

    def recipe_hash(self) -> str:
        return sha256_hex(json.dumps(self.recipe(), sort_keys=True))[:16]

    # -- derived ------------------------------------------------------------------------
    @property
    def training_seed(self) -> int:
        return self.seed if self.train_seed is None else self.train_seed

    @property
    def validation_share(self) -> float:
        return validation_fraction(self.method, self.validation_fraction)

    @property
    def out_dir(self) -> Path:
        return Path(self.out)

    def micro_batch(self, world_size: int) -> int:
        return self.batch_size // (world_size * self.grad_accum)


def validation_fraction(method: str, value: float | None) -> float:
    """The share of training books a method keeps out of training for its own choices (0 for none)."""
    if method != "wise":
        return 0.0
    return DEFAULT_VALIDATION_FRACTION if value is None else float(value)


class TrainingMethod(Protocol):
    """What limits forgetting (`--method`), built inside each worker by a METHODS entry from
    (config, device, the module being trained). Both calls are deterministic, so a resumed run ends with the
    same weights."""

    name: str

    def add_loss(
        self, loss: torch.Tensor, x: torch.Tensor, tokens: torch.Tensor, image_f: torch.Tensor, text_f: torch.Tensor
    ) -> torch.Tensor:
        """The training loss of one micro-batch with the method's own term added."""
        ...

    def final_weights(
        self, state: dict[str, torch.Tensor], model_config: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
        """On rank 0 before the model is written: the weights to write and what the manifest records."""
        ...


MethodFactory = Callable[["FinetuneConfig", "torch.device", "CLIP | CustomTextCLIP"], TrainingMethod]
# a launcher starts train.main as the config says and returns what the workers returned (launch verifies it)
Runner = Callable[["FinetuneConfig", "RunFiles"], object]

# the names that may run, imported only when one is used (listing launchers imports no Spark)
LAUNCHERS: Registry[Runner] = Registry(
    "launcher",
    entries={name: f"harness.finetune.launchers:run_{name.replace('-', '_')}" for name in get_args(Launcher)},
)
METHODS: Registry[MethodFactory] = Registry(
    "fine-tune method",
    entries={name: f"harness.finetune.methods:{name.capitalize()}" for name in get_args(Method)},
)


def validate(cfg: FinetuneConfig) -> None:
    """Every option's type and range, checked once (one-line errors that name the option)."""

    def bad(option: str, value: object, why: str) -> ConfigError:
        return ConfigError(f"fine-tune option {option}={value!r} {why}")

    if not isinstance(cfg.compile, bool):
        raise bad("compile", cfg.compile, "must be true or false")
    if cfg.resume and cfg.overwrite:
        raise ConfigError(
            "fine-tune options resume and overwrite contradict each other: --resume continues OUT's "
            "checkpoint, --overwrite starts OUT afresh; pass one"
        )
    choices: tuple[tuple[str, Sequence[str]], ...] = (
        ("launcher", LAUNCHERS.names()),
        ("precision", PRECISIONS),
        ("method", METHODS.names()),
        ("freeze", FREEZE),
    )
    for option, names in choices:
        value = getattr(cfg, option)
        if value not in names:
            close = difflib.get_close_matches(str(value), names, n=1)
            raise bad(
                option, value, f"is not one of {', '.join(names)}" + (f"; did you mean {close[0]!r}?" if close else "")
            )
    if cfg.validation_fraction is not None:
        from harness import settings as _settings

        _settings.number(cfg.validation_fraction, "fine-tune option validation_fraction")
        if not 0 < cfg.validation_fraction < 0.5:
            raise bad("validation_fraction", cfg.validation_fraction, "must lie in (0, 0.5)")
    for name in ("distill_weight", "wise_max_drop"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise bad(name, value, "must be a non-negative number")
    for name in ("epochs", "batch_size", "grad_accum", "num_processes", "keep_checkpoints", "timeout_s"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad(name, value, "must be a positive integer")
    for name in ("warmup_steps", "checkpoint_every", "num_workers", "threads"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise bad(name, value, "must be a non-negative integer")
    if cfg.max_steps is not None and (not isinstance(cfg.max_steps, int) or cfg.max_steps < 1):
        raise bad("max_steps", cfg.max_steps, "must be a positive integer (or unset to train by epochs)")
    if cfg.max_train_rows is not None and cfg.max_train_rows < 1:
        raise bad("max_train_rows", cfg.max_train_rows, "must be a positive integer (or unset for all rows)")
    from harness import settings

    if cfg.train_seed is not None:
        settings.integer(cfg.train_seed, "fine-tune option train_seed")
    settings.replay_fraction(cfg.replay_fraction, "fine-tune option replay_fraction")
    settings.heldout_fraction(cfg.heldout_fraction, "fine-tune option heldout_fraction")
    settings.fraction(cfg.category_prompt_fraction, "fine-tune option category_prompt_fraction", open_low=False)
    for name in ("lr", "min_lr_ratio", "grad_clip", "weight_decay"):
        settings.number(getattr(cfg, name), f"fine-tune option {name}")
    if not cfg.lr > 0:
        raise bad("lr", cfg.lr, "must be positive")
    if not 0 <= cfg.min_lr_ratio <= 1:
        raise bad("min_lr_ratio", cfg.min_lr_ratio, "must lie in [0, 1]")
    if cfg.grad_clip < 0 or cfg.weight_decay < 0:
        raise bad("grad_clip/weight_decay", (cfg.grad_clip, cfg.weight_decay), "must be non-negative")
    per_step = cfg.num_processes * cfg.grad_accum
    if cfg.batch_size % per_step or cfg.batch_size // per_step < 2:
        raise bad(
            "batch_size",
            cfg.batch_size,
            f"must be a multiple of num_processes*grad_accum={per_step} with at least 2 items "
            "per micro-batch; change --batch-size, --num-processes or --grad-accum",
        )
    from harness.evaluate.templates import resolve_template

    resolve_template(cfg.template)  # evaluation's rule: a built-in name or a format string
    if cfg.fail_at_step is not None and not 0 <= cfg.fail_rank < cfg.num_processes:
        raise bad("fail_rank", cfg.fail_rank, f"must be a rank below num_processes={cfg.num_processes}")
