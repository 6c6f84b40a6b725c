"""What a `pytest suites/` run holds: the catalogue and its splits, the two models, the cached fine-tune.

Everything is loaded on first use, so `-k retrieval` never fine-tunes and a run without probe
gates never probes. The fine-tuned candidate is cached by the fingerprints of baseline, data
and recipe, under a file lock, so pytest-xdist workers share one fine-tune.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import RunConfig
from harness.errors import ConfigError
from harness.settings import StatSettings, replay_fraction

if TYPE_CHECKING:
    from harness.data.catalogue import Catalogue
    from harness.data.load_report import LoadReport
    from harness.data.split import Splits
    from harness.evaluate.evaluation import EvalConfig
    from harness.models.clip_model import ClipModel

ROLES = ("baseline", "candidate")


class Workspace:
    def __init__(self, config: RunConfig, *, rootdir: Path) -> None:
        self.config = config
        self.rootdir = rootdir
        self.finetune_record: dict[str, Any] = {}  # where the cached fine-tune came from
        self.training_overlap: dict[str, dict[str, Any]] = {}  # role -> evaluated books it was trained on

    # -- data -------------------------------------------------------------------------------------
    @functools.cached_property
    def data_sources(self) -> list[str]:
        if self.config.data is not None:
            return [self.config.data]
        from harness.data.fixtures import fixture_catalogue

        return [str(fixture_catalogue())]

    @functools.cached_property
    def _loaded(self) -> tuple[Catalogue, LoadReport]:
        from harness.data.parquet import load_any

        return load_any(self.data_sources, image_root=self.config.image_root, strict=self.config.strict)

    @property
    def loaded(self) -> bool:
        return "_loaded" in self.__dict__

    @property
    def catalogue(self) -> Catalogue:
        return self._loaded[0]

    @property
    def load_report(self) -> LoadReport:
        return self._loaded[1]

    @functools.cached_property
    def splits(self) -> Splits:
        from harness.data import split

        missing = [c for c in self.config.categories if c not in self.catalogue.categories]
        if missing:
            raise ConfigError(
                f"categories {missing} are not in the catalogue "
                f"(it has {list(self.catalogue.categories)}); set --bookclip-categories"
            )
        return split(
            self.catalogue,
            train_categories=self.config.categories,
            heldout_fraction=self.config.heldout_fraction,
            seed=self.config.seed,
            replay_fraction=self.replay_fraction,
            exclude_groups=self.pretrained_groups,
        )

    @functools.cached_property
    def pretrained_groups(self) -> frozenset[str]:
        """The books the baseline was trained on (derived from its recorded training config and data
        fingerprint): they leave `cross`, so a cross-category drop is forgetting of
        unseen books, not loss of what the baseline memorised."""
        from harness.evaluate.leakage import trained_groups

        return trained_groups(self.baseline, self.catalogue)

    def views(self) -> dict[str, Catalogue]:
        """The whole views every model is evaluated on: train, heldout, cross (when not empty)."""
        return {
            name: getattr(self.splits, name)
            for name in ("train", "heldout", "cross")
            if len(getattr(self.splits, name))
        }

    @property
    def probe_pool(self) -> Catalogue:
        """The unseen books probes draw their items from: held-out, then cross-category."""
        splits = self.splits
        return splits.heldout.concat(splits.cross) if len(splits.cross) else splits.heldout

    @functools.cached_property
    def replay_fraction(self) -> float:
        """The other-category books rehearsed by the fine-tune (its recipe, or a checkpoint's
        training metadata) stay out of the cross views: forgetting is measured on unseen books."""
        from harness.evaluate.evaluation import replay_fraction_of

        if self.config.candidate == "finetune":
            value = replay_fraction(
                self.config.finetune.get("replay_fraction", 0.0), "[tool.bookclip.finetune] replay_fraction"
            )
            return max(value, replay_fraction_of([self.baseline]))
        return replay_fraction_of([self.baseline, self.candidate])

    # -- models -----------------------------------------------------------------------------------
    @functools.cached_property
    def baseline(self) -> ClipModel:
        from harness.models import load

        return load(self.config.baseline)

    @functools.cached_property
    def candidate(self) -> ClipModel:
        from harness.models import load

        if self.config.candidate == "finetune":
            return load(str(self.finetuned_checkpoint()))
        return load(self.config.candidate)

    def loaded_models(self) -> dict[str, ClipModel]:
        return {role: self.__dict__[role] for role in ROLES if role in self.__dict__}

    def model(self, role: str) -> ClipModel:
        return self.baseline if role == "baseline" else self.candidate

    def spec(self, role: str) -> str:
        return self.config.baseline if role == "baseline" else self.config.candidate

    def finetuned_checkpoint(self) -> Path:
        """Fine-tune the baseline on the configured categories once; later runs (and other xdist
        workers, which wait on a file lock) reuse the checkpoint, keyed by what determines it."""
        from harness.data.file_lock import exclusive_lock
        from harness.evaluate.embed import model_identity
        from harness.finetune.config import FinetuneConfig
        from harness.finetune.launch import launch
        from harness.io import cache_dir, sha256_hex

        cfg = FinetuneConfig.from_dict(
            {
                **dict(self.config.finetune),
                "data": tuple(self.data_sources),
                "image_root": self.config.image_root,
                "categories": tuple(self.config.categories),
                "baseline": self.config.baseline,
                "heldout_fraction": self.config.heldout_fraction,
                "seed": self.config.seed,
                "launcher": self.config.finetune.get("launcher", self.config.launcher),
                "num_processes": self.config.finetune.get("num_processes", self.config.num_processes),
            }
        )
        key = sha256_hex(model_identity(self.baseline), self.catalogue.fingerprint, cfg.recipe_hash())[:16]
        out = cache_dir() / "finetune" / key
        checkpoint = out / "final.safetensors"
        with exclusive_lock(out.with_suffix(".lock")):
            if not checkpoint.is_file():
                manifest = launch(cfg.replace(out=str(out / "run")))
                # one stable name per cache key; the run directory keeps logs and resumable state
                os.replace(manifest.checkpoint, checkpoint)
        self.finetune_record = {
            "cache_key": key,
            "checkpoint": str(checkpoint),
            "recipe_hash": cfg.recipe_hash(),
            "run_dir": str(out / "run"),
        }
        return checkpoint

    # -- evaluation settings ----------------------------------------------------------------------
    @functools.cached_property
    def eval_config(self) -> EvalConfig:
        from harness.evaluate.evaluation import EvalConfig

        cfg = self.config
        return EvalConfig(
            template=cfg.template,
            ks=cfg.ks,
            seed=cfg.seed,
            resamples=cfg.resamples,
            confidence=cfg.confidence,
            heldout_fraction=cfg.heldout_fraction,
            replay_fraction=self.replay_fraction,
            exclude_groups=self.pretrained_groups,
            engine=cfg.engine,
        )

    @property
    def stat_settings(self) -> StatSettings:
        return StatSettings(self.config.resamples, self.config.confidence, self.config.seed)

    def check_training_overlap(self, role: str, views: dict[str, Any]) -> None:
        """Record which evaluated books the model was trained on, and warn when that inflates a
        metric: any held-out book, or a cross-category book the candidate was tuned on. (The
        baseline's own pretraining books are left out of `cross`: see `pretrained_groups`.)"""
        from harness.evaluate.leakage import training_overlap

        overlap = training_overlap(self.model(role), self.catalogue, views)
        self.training_overlap[role] = overlap.to_dict()
        inflated = {
            v: n for v, n in overlap.views.items() if n and (v == "heldout" or (v == "cross" and role != "baseline"))
        }
        for view, n in inflated.items():
            warnings.warn(
                f"bookclip: the {role} was trained on {n} of the {len(views[view])} {view} books, so its "
                f"{view} metrics are inflated; evaluate with the categories, seed, heldout_fraction and "
                "replay_fraction it was fine-tuned with (its checkpoint metadata)",
                stacklevel=3,
            )
