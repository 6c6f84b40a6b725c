"""One model on one catalogue: views, retrieval in both directions, zero-shot category, CIs.

The whole catalogue is embedded once (cached); views are row selections of those embeddings.
Metric keys are `<view>/<direction>/<metric>` (directions image_to_text, text_to_image,
zero_shot), e.g. `heldout/image_to_text/recall@5`; each carries value, ci_low, ci_high, n.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from harness import settings
from harness.errors import EvaluationError
from harness.evaluate.cross_category import per_category_views
from harness.evaluate.embed import Embeddings
from harness.evaluate.engines import Engine, check_engine, get_engine
from harness.evaluate.kernels import get_kernel
from harness.evaluate.metrics import metrics as registered_metrics
from harness.evaluate.results import Evaluation, QueryRanks
from harness.evaluate.retrieval import DEFAULT_KS, check_ks
from harness.evaluate.stats import Estimate
from harness.evaluate.templates import DEFAULT_CATEGORY_PROMPT, DEFAULT_TEMPLATE, resolve_template
from harness.evaluate.zero_shot import accepted_categories, category_prompt_embeddings, classify
from harness.models.record import model_record
from harness.settings import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, StatSettings

SPLIT_VIEWS = ("train", "heldout", "cross")
WHOLE_VIEW = "all"
POOLS = ("view", "catalogue")


@dataclass(frozen=True)
class EvalConfig:
    """How to evaluate: caption template, recall cut-offs, candidate pool, bootstrap, seed."""

    template: str = DEFAULT_TEMPLATE
    ks: tuple[int, ...] = DEFAULT_KS
    pool: str = "view"  # "view": candidates are the view's items; "catalogue": the whole catalogue
    seed: int = 0
    resamples: int = DEFAULT_RESAMPLES
    confidence: float = DEFAULT_CONFIDENCE
    heldout_fraction: float = 0.2
    replay_fraction: float = 0.0  # other-category books a fine-tune rehearsed: kept out of `cross`
    # books (edition groups) the reference model was pretrained on: kept out of `cross`
    exclude_groups: frozenset[str] = field(default_factory=frozenset, repr=False)
    zero_shot: bool = True
    category_prompt: str = DEFAULT_CATEGORY_PROMPT
    per_category: bool = True  # cross-category metrics per category, as views `cross:<Category>`
    batch_size: int = 256
    engine: str = "local"  # where embeddings and ranks are computed: local, spark-local, spark-cluster
    score_kernel: str = "float32"  # the fast product behind the ranks (harness.evaluate.kernels); ranks are exact

    def __post_init__(self) -> None:
        resolve_template(self.template)
        check_engine(self.engine, "engine")
        get_kernel(self.score_kernel, "score_kernel")
        _ = self.stat_settings  # built only to check: StatSettings is the one place that checks these settings
        settings.heldout_fraction(self.heldout_fraction)
        settings.replay_fraction(self.replay_fraction)
        if self.pool not in POOLS:
            raise EvaluationError(f"unknown candidate pool {self.pool!r}; use one of {', '.join(POOLS)}")
        if not self.ks:
            raise EvaluationError("no k given for recall@k; pass e.g. --ks 1,5,10")

    @property
    def stat_settings(self) -> StatSettings:
        return StatSettings(self.resamples, self.confidence, self.seed)

    def to_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "ks": list(self.ks)}
        out.pop("exclude_groups")
        if self.exclude_groups:  # how many, not which: the views record the rows left out
            out["pretrained_books_excluded"] = len(self.exclude_groups)
        return out


DEFAULT_EVAL_CONFIG = EvalConfig()  # a default argument: frozen, so one instance serves every call


def build_views(
    catalogue: Any,
    *,
    categories: Sequence[str] | None = None,
    views: Sequence[str] | None = None,
    heldout_fraction: float = 0.2,
    seed: int = 0,
    replay_fraction: float = 0.0,
    exclude_groups: Iterable[str] = (),
) -> dict[str, Any]:
    """Named catalogue views. Without `categories`: the whole catalogue as `all`. With them:
    `train`, `heldout` (the training categories, split by book) and `cross` (the others)."""
    if not categories:
        wanted = list(views or [WHOLE_VIEW])
        if wanted != [WHOLE_VIEW]:
            raise EvaluationError(
                f"views {', '.join(wanted)} need the training categories; pass --categories "
                f"(e.g. --categories {catalogue.categories[0]}) or drop --views"
            )
        return {WHOLE_VIEW: catalogue}
    from harness.data import split

    wanted = list(views or SPLIT_VIEWS)
    unknown = [v for v in wanted if v not in SPLIT_VIEWS]
    if unknown:
        raise EvaluationError(f"unknown view {unknown[0]!r}; use any of {', '.join(SPLIT_VIEWS)}")
    splits = split(
        catalogue,
        train_categories=list(categories),
        heldout_fraction=heldout_fraction,
        seed=seed,
        replay_fraction=replay_fraction,
        exclude_groups=exclude_groups,
    )
    return {name: getattr(splits, name) for name in wanted}


def replay_fraction_of(models: Sequence[Any]) -> float:
    """The largest replay fraction any of `models` was fine-tuned with (checkpoint metadata), so that
    cross-category views leave out every book one of them rehearsed; 0 for models without one."""
    fractions = [0.0]
    for model in models:
        training = (getattr(model, "metadata", None) or {}).get("training_config") or {}
        value = training.get("replay_fraction", 0.0)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value < 1.0:
            fractions.append(float(value))
    return max(fractions)


def evaluate(
    model: Any,
    catalogue: Any,
    *,
    categories: Sequence[str] | None = None,
    views: Sequence[str] | None = None,
    config: EvalConfig = DEFAULT_EVAL_CONFIG,
    embeddings: Embeddings | None = None,
) -> Evaluation:
    """Evaluate `model` on the views of `catalogue` (see build_views)."""
    named = build_views(
        catalogue,
        categories=categories,
        views=views,
        heldout_fraction=config.heldout_fraction,
        seed=config.seed,
        replay_fraction=config.replay_fraction,
        exclude_groups=config.exclude_groups,
    )
    return evaluate_views(model, catalogue, named, config=config, embeddings=embeddings)


def evaluate_views(
    model: Any,
    catalogue: Any,
    views: Mapping[str, Any],
    *,
    config: EvalConfig = DEFAULT_EVAL_CONFIG,
    embeddings: Embeddings | None = None,
    engine: Engine | None = None,
) -> Evaluation:
    """Retrieval (and zero-shot) metrics with CIs on each named view of `catalogue`; embeddings and ranks
    come from `engine` (default: get_engine(config.engine)), zero-shot runs here on those embeddings."""
    _check_unique_ids(catalogue)
    all_views = dict(views)
    if config.per_category and "cross" in views and len(views["cross"].categories) > 1:
        all_views.update(per_category_views(views["cross"]))
    for name, view in all_views.items():  # bad views and k fail before any embedding work
        if len(view) == 0:
            raise EvaluationError(
                f"view {name!r} is empty; choose categories that leave items in it (or drop it with --views)"
            )
        check_ks(config.ks, len(catalogue) if config.pool == "catalogue" else len(view), where=f"view {name!r}")
    engine = engine if engine is not None else get_engine(config.engine, kernel=config.score_kernel)
    emb = (
        embeddings
        if embeddings is not None
        else engine.embed(model, catalogue, template=config.template, batch_size=config.batch_size)
    )
    rankings: dict[str, QueryRanks] = {}
    zero_shot = {}
    prompts = None
    for name, view in all_views.items():
        sub = emb.select(view.frame["book_id"].astype(str).tolist())
        whole = config.pool != "view"
        ranked = engine.retrieval_ranks(
            sub.images,
            sub.texts,
            sub.group_ids,
            where=f"view {name!r}",
            pool_images=emb.images if whole else None,
            pool_texts=emb.texts if whole else None,
            pool_groups=emb.group_ids if whole else None,
        )
        titles = tuple(view.frame["title"].astype(str))
        for direction, r in ranked.items():
            rankings[f"{name}/{direction}"] = QueryRanks(
                name, direction, r.ranks, tuple(sub.book_ids.tolist()), titles, r.pool_size
            )
        if config.zero_shot and ":" not in name:
            if prompts is None:
                prompts = category_prompt_embeddings(model, catalogue.categories, config.category_prompt)
            result = classify(
                sub.images,
                prompts,
                view=name,
                categories=catalogue.categories,
                item_categories=view.frame["category"].tolist(),
                accepted=accepted_categories(catalogue.frame, view.frame),
                book_ids=sub.book_ids.tolist(),
                titles=titles,
                prompt=config.category_prompt,
            )
            zero_shot[name] = result
    evaluation = Evaluation(
        model=model_record(model),
        data={
            "fingerprint": catalogue.fingerprint,
            "rows": len(catalogue),
            "categories": list(catalogue.categories),
            "views": {name: len(v) for name, v in all_views.items()},
            "truncated_captions": int(emb.truncated_texts),
            "engine": engine.describe(),
        },
        settings=config.to_dict(),
        metrics={},
        rankings=rankings,
        zero_shot=zero_shot,
    )
    return replace(evaluation, metrics=metric_estimates(evaluation, config))


def metric_keys(evaluation: Evaluation, ks: Sequence[int]) -> list[str]:
    """Every registered metric the evaluation's rankings and zero-shot results give, in report order."""
    keys = []
    for prefix in evaluation.rankings:
        keys += [f"{prefix}/{name}" for m in registered_metrics("retrieval") for name in m.names(ks)]
    for view, result in evaluation.zero_shot.items():
        present = [c for i, c in enumerate(result.categories) if (result.labels == i).any()]
        keys += [f"{view}/zero_shot/{name}" for m in registered_metrics("zero_shot") for name in m.names(present)]  # type: ignore[arg-type]
    return keys


def metric_estimates(evaluation: Evaluation, config: EvalConfig) -> dict[str, Estimate]:
    """Every metric of the evaluation with its CI, from the comparison engine (one query set at a time,
    so the metrics of one view share their resamples)."""
    from harness.evaluate.compare import estimates

    stats = config.stat_settings
    return estimates({key: evaluation.per_query(key)[1] for key in metric_keys(evaluation, config.ks)}, stats)


def _check_unique_ids(catalogue: Any) -> None:
    ids = catalogue.frame["book_id"]
    if ids.duplicated().any():
        first = ids[ids.duplicated()].iat[0]
        raise EvaluationError(
            f"book_id {first!r} appears more than once in the catalogue; "
            "load it with harness.data.load_catalogue, which gives each row its own id"
        )
