"""The probe runner: every probe over one (model, catalogue) pair, as one report.

Items are a seeded sample of the catalogue (chosen by a hash of book_id, so row order does not
matter); every cover of the catalogue is a candidate for every query. Metrics are keyed
`probes/<family>/<metric>`, with the reserved families `exact` (unperturbed titles, the
reference), `hard_negatives`, `minimal_edit`, `cover_text`, and `<family>@title_hidden` for the
cover-text control view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from harness.errors import ConfigError, DataError
from harness.evaluate.compare import Difference, compare_values, estimates
from harness.evaluate.stats import Estimate
from harness.models.record import model_record
from harness.probes.families import Family
from harness.probes.families import families as registered_families
from harness.probes.hard_negatives import HardNegativeResult, hard_negative_probe
from harness.probes.intervals import MetricSample
from harness.probes.invariance import InvarianceResult, exact_samples, invariance_probe
from harness.probes.minimal_edit import EditSearchConfig, MinimalEditResult, minimal_edit_probe
from harness.probes.scoring import CatalogueScores, catalogue_embeddings, encode_titles, sample_rows
from harness.probes.writeup_case import WriteupCase, writeup_case
from harness.progress import progress
from harness.settings import DEFAULT_RESAMPLES, StatSettings

if TYPE_CHECKING:
    from harness.data import Catalogue
    from harness.models import ClipModel

TITLE_HIDDEN = "@title_hidden"


@dataclass(frozen=True)
class ProbeConfig:
    """What to probe and how hard. One `seed` drives item sampling, perturbations, search and bootstrap."""

    families: tuple[str, ...] | None = None  # None: every registered family
    k: int = 5
    seed: int = 0
    max_items: int | None = 300
    hard_negatives_per_item: int = 5
    edit_items: int = 40  # items given to the minimal-edit search (0: skip it)
    edit: EditSearchConfig = field(default_factory=EditSearchConfig)  # its k and seed come from here
    cover_control: bool = True
    control_method: str = "mask"
    writeup_case: bool = True  # when the catalogue holds the write-up's cover
    resamples: int = DEFAULT_RESAMPLES
    batch_size: int = 256

    def __post_init__(self) -> None:
        StatSettings(self.resamples, seed=self.seed)  # validated where every setting is
        if self.k < 1:
            raise ConfigError(f"probe k={self.k} must be at least 1")
        if self.max_items is not None and self.max_items < 1:
            raise ConfigError(f"probe max_items={self.max_items} must be at least 1 (or None for all)")
        if self.edit_items < 0:
            raise ConfigError(f"probe edit_items={self.edit_items} must be 0 (skip) or more")

    @property
    def stat_settings(self) -> StatSettings:
        return StatSettings(self.resamples, seed=self.seed)


@dataclass(frozen=True)
class ProbeReport:
    """Everything one probe run found; `metrics` is the flat `probes/<family>/<metric>` view."""

    model_spec: str
    model_fingerprint: str
    catalogue_fingerprint: str
    config: ProbeConfig
    items: int
    samples: dict[str, MetricSample]
    metrics: dict[str, Estimate]
    invariance: tuple[InvarianceResult, ...]
    hard_negatives: HardNegativeResult
    minimal_edit: MinimalEditResult | None
    control: dict[str, object] | None
    control_invariance: tuple[InvarianceResult, ...]
    writeup: WriteupCase | None
    counts: dict[str, dict[str, int]]  # per family: probed, unchanged (not applicable), truncated
    model_identity: str = ""  # weights + architecture + preprocessing + tokenizer (harness.models.record)

    @property
    def model_record(self) -> dict[str, str]:
        """The model as a run report records it: spec, fingerprint and (when known) identity."""
        record = {"spec": self.model_spec, "fingerprint": self.model_fingerprint}
        return record | ({"identity": self.model_identity} if self.model_identity else {})

    def family_names(self) -> list[str]:
        return [r.family for r in self.invariance]

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model_record,
            "catalogue_fingerprint": self.catalogue_fingerprint,
            "config": _plain(asdict(self.config)),
            "items": self.items,
            "similarity_drop": {r.family: r.similarity_drop_quantiles() for r in self.invariance},
            "counts": self.counts,
            "severity": {r.family: r.severity for r in self.invariance},
            "worst": {r.family: r.worst() for r in self.invariance},
            "hard_negatives_worst": self.hard_negatives.worst(),
            "minimal_edit": None
            if self.minimal_edit is None
            else {
                "histogram": self.minimal_edit.histogram(),
                "not_retrieved": self.minimal_edit.not_retrieved,
                "worst": self.minimal_edit.worst(),
                "config": asdict(self.minimal_edit.config),
            },
            "cover_control": self.control,
            "writeup_case": None if self.writeup is None else self.writeup.to_dict(),
        }


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _estimate(samples: dict[str, MetricSample], config: ProbeConfig) -> dict[str, Estimate]:
    return estimates({key: sample.values for key, sample in samples.items()}, config.stat_settings)


def _encoder(model: ClipModel, batch_size: int) -> Callable[[Sequence[str]], np.ndarray]:
    def encode(titles: Sequence[str]) -> np.ndarray:
        return encode_titles(model, titles, batch_size=batch_size)

    return encode


def _truncation_counter(model: ClipModel, batch_size: int) -> Callable[[Sequence[str]], int]:
    def count(titles: Sequence[str]) -> int:
        if not getattr(model, "tokenizer_built", True):
            # a model loaded from its record has no tokenizer yet: what it cut was counted when these
            # titles were encoded, and kept with their cached embeddings (its encode_texts counts the same)
            from harness.evaluate.embed import cached_text_truncation

            return cached_text_truncation(model, titles, batch_size=batch_size)
        tokenizer = getattr(model, "tokenizer", None)
        if tokenizer is None or not hasattr(tokenizer, "tokenize"):
            return 0
        return int(tokenizer.tokenize(list(titles))[1])

    return count


def probe_scores(model: ClipModel, catalogue: Catalogue, *, batch_size: int = 256) -> CatalogueScores:
    """Cover and exact-title embeddings of the catalogue, with the exact ranks every probe compares to."""
    if len(catalogue) < 2:
        raise DataError(
            f"the catalogue holds {len(catalogue)} row(s); probes rank covers against each other, "
            "so give at least two books"
        )
    covers, texts = catalogue_embeddings(model, catalogue, batch_size=batch_size)
    return CatalogueScores(covers, texts, catalogue.frame)


def _invariance_block(
    model: ClipModel,
    scores: CatalogueScores,
    rows: np.ndarray,
    chosen: Sequence[Family],
    config: ProbeConfig,
    suffix: str = "",
) -> tuple[list[InvarianceResult], dict[str, MetricSample], dict[str, dict[str, int]]]:
    encode = _encoder(model, config.batch_size)
    results, samples, counts = [], {}, {}
    with progress(f"probing families{suffix}", len(chosen)) as advance:
        for family in chosen:
            result = invariance_probe(
                family,
                scores,
                rows,
                encode,
                seed=config.seed,
                context_length=model.context_length,
                count_truncated=_truncation_counter(model, config.batch_size),
            )
            results.append(result)
            for metric, sample in result.samples(k=config.k).items():
                samples[f"probes/{family.name}{suffix}/{metric}"] = sample
            counts[family.name + suffix] = {
                "probed": len(result),
                "unchanged": result.unchanged,
                "truncated": result.truncated,
            }
            advance(1, family=family.name)
    return results, samples, counts


def run_probes(model: ClipModel, catalogue: Catalogue, config: ProbeConfig = ProbeConfig()) -> ProbeReport:
    """Run every probe of `config` with `model` over `catalogue`."""
    chosen = registered_families(config.families)
    scores = probe_scores(model, catalogue, batch_size=config.batch_size)
    if config.k > len(scores):
        raise ConfigError(f"probe k={config.k} is larger than the catalogue ({len(scores)} covers); lower --k")
    rows = sample_rows(scores.book_ids, config.max_items, config.seed)

    samples: dict[str, MetricSample] = {
        f"probes/exact/{m}": s for m, s in exact_samples(scores, rows, k=config.k).items()
    }
    invariance, family_samples, counts = _invariance_block(model, scores, rows, chosen, config)
    samples.update(family_samples)

    hard = hard_negative_probe(scores, rows, per_item=config.hard_negatives_per_item)
    samples.update({f"probes/hard_negatives/{m}": s for m, s in hard.samples().items()})
    counts["hard_negatives"] = {"probed": len(hard), "without_near_miss": hard.without}

    edits = None
    if config.edit_items:
        edit_rows = sample_rows(scores.book_ids[rows], config.edit_items, config.seed + 1)
        edit_config = EditSearchConfig(**{**asdict(config.edit), "seed": config.seed, "k": config.k})
        with progress("minimal-edit search", len(edit_rows)) as advance:
            edits = minimal_edit_probe(
                scores, rows[edit_rows], _encoder(model, config.batch_size), edit_config, advance
            )
        samples.update({f"probes/minimal_edit/{m}": s for m, s in edits.samples().items()})
        timeouts = sum(o.status == "timeout" for o in edits.outcomes)
        counts["minimal_edit"] = {
            "searched": len(edits.outcomes) - timeouts,
            "timeout": timeouts,
            "not_retrieved": edits.not_retrieved,
        }

    control: dict[str, object] | None = None
    control_invariance: list[InvarianceResult] = []
    if config.cover_control:
        control, control_invariance = _control(model, catalogue, scores, rows, chosen, config, samples, counts)

    case = None
    if config.writeup_case:
        try:
            case = writeup_case(model, catalogue)
        except DataError:  # the catalogue does not hold that cover: the case is simply not part of this run
            case = None

    record = model_record(model)
    return ProbeReport(
        model_spec=record["spec"],
        model_fingerprint=record["fingerprint"],
        model_identity=record.get("identity", ""),
        catalogue_fingerprint=catalogue.fingerprint,
        config=config,
        items=len(rows),
        samples=samples,
        metrics=_estimate(samples, config),
        invariance=tuple(invariance),
        hard_negatives=hard,
        minimal_edit=edits,
        control=control,
        control_invariance=tuple(control_invariance),
        writeup=case,
        counts=counts,
    )


def _control(
    model: ClipModel,
    catalogue: Catalogue,
    scores: CatalogueScores,
    rows: np.ndarray,
    chosen: Sequence[Family],
    config: ProbeConfig,
    samples: dict[str, MetricSample],
    counts: dict[str, dict[str, int]],
) -> tuple[dict[str, object], list[InvarianceResult]]:
    """The same probes with title-hidden covers, and the reading gap: exact recall lost by hiding titles."""
    from harness.probes.cover_control import control_view

    view = control_view(catalogue, method=config.control_method)
    hidden = probe_scores(model, view.catalogue, batch_size=config.batch_size)
    suffix = TITLE_HIDDEN
    exact = exact_samples(hidden, rows, k=config.k)
    samples.update({f"probes/exact{suffix}/{m}": s for m, s in exact.items()})
    results, family_samples, family_counts = _invariance_block(model, hidden, rows, chosen, config, suffix)
    samples.update(family_samples)
    counts.update(family_counts)
    hard = hard_negative_probe(hidden, rows, per_item=config.hard_negatives_per_item)
    samples.update({f"probes/hard_negatives{suffix}/{m}": s for m, s in hard.samples().items()})
    # reading gap: per item, hit with the title shown minus hit with it hidden
    for k in sorted({1, config.k}):
        shown = (scores.exact_rank[rows] <= k).astype(np.float64)
        hidden_hit = (hidden.exact_rank[rows] <= k).astype(np.float64)
        samples[f"probes/cover_text/reading_gap@{k}"] = MetricSample(scores.book_ids[rows], shown - hidden_hit)
    return view.to_dict(), results


def compare_reports(base: ProbeReport, other: ProbeReport) -> list[Difference]:
    """Every metric both reports hold: other minus base on the items both probed (the engine's test)."""
    if base.catalogue_fingerprint != other.catalogue_fingerprint:
        raise ConfigError("probe reports were run on different catalogues; compare runs on the same --data")
    settings = base.config.stat_settings
    return [
        compare_values(
            key,
            base.samples[key].values,
            other.samples[key].values,
            settings,
            ids_a=base.samples[key].book_ids,
            ids_b=other.samples[key].book_ids,
        )
        for key in base.samples
        if key in other.samples
    ]
