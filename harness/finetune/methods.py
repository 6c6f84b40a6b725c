"""Fine-tuning methods that differ in what limits forgetting (`--method plain|distill|wise`).

- `plain`: the contrastive loss alone.
- `distill`: plus a feature-distillation loss toward the frozen baseline (ZSCL-style): the squared
  distance between the L2-normalised image and text features of the model being trained and those
  of the baseline, on every cover and title of the batch, rehearsed books included, and on the
  category prompts ("a book about {category}", every category of the catalogue). It keeps the
  embedding geometry the baseline had, so other categories' books keep their neighbours and the
  zero-shot classifier its category directions (without the prompts, balanced accuracy on the
  unseen cross-category books fell 0.267 -> 0.189 while R@5 held).
- `wise`: train as `plain`, then interpolate the weights toward the baseline (WiSE-FT) with the
  alpha chosen on a validation split carved from the training categories' books and the rehearsed
  books (`harness.data.split.validation_rows`; never an evaluated view): the largest in-category
  validation recall@1 among the alphas whose rehearsed-book recall@1 stays within
  `wise_max_drop` of the baseline's (the smallest drop when none does). Recall@1 with every
  training cover as a distractor, because a validation split is small: among its own hundred
  covers forgetting did not show (R@5, then R@1, chose alpha 1 while unseen books fell by 0.065);
  among the ~830 covers of training and validation it chose 0.7 (cross-category drop 0.014).

A method is a `harness.finetune.config.TrainingMethod`, built inside each worker from (config, device,
module) by its entry in `harness.finetune.config.METHODS`: `add_loss` runs inside the training step,
`final_weights` on rank 0 before the model is written. Both are deterministic, so a resumed run
ends with the same weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.finetune.config import FinetuneConfig, validation_fraction

if TYPE_CHECKING:
    import torch
    from open_clip.model import CLIP, CustomTextCLIP

WISE_ALPHAS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


class Plain:
    """The contrastive loss alone."""

    name = "plain"

    def __init__(self, cfg: FinetuneConfig, device: torch.device, student: CLIP | CustomTextCLIP) -> None:
        self.cfg = cfg

    def add_loss(
        self, loss: torch.Tensor, x: torch.Tensor, tokens: torch.Tensor, image_f: torch.Tensor, text_f: torch.Tensor
    ) -> torch.Tensor:
        """The training loss of one micro-batch with the method's own term added."""
        extra = self.extra_loss(x, tokens, image_f, text_f)
        return loss if extra is None else loss + extra

    def extra_loss(
        self, x: torch.Tensor, tokens: torch.Tensor, image_f: torch.Tensor, text_f: torch.Tensor
    ) -> torch.Tensor | None:
        return None

    def final_weights(
        self, state: dict[str, torch.Tensor], model_config: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
        return state, {}


class Distill(Plain):
    """Feature distillation toward the frozen baseline (loaded again, on the worker's device): the
    batch's covers and titles, and the category prompts zero-shot classification reads (one per
    catalogue category), so the candidate keeps the baseline's category directions too."""

    name = "distill"

    def __init__(self, cfg: FinetuneConfig, device: torch.device, student: CLIP | CustomTextCLIP) -> None:
        import torch
        import torch.nn.functional as F

        from harness.data import load_catalogue
        from harness.evaluate.templates import DEFAULT_CATEGORY_PROMPT, render_category_prompts
        from harness.models import load

        super().__init__(cfg, device, student)
        self.weight = float(cfg.distill_weight)
        self.student = student
        teacher = load(cfg.baseline, device="cpu")
        catalogue, _report = load_catalogue(list(cfg.data), image_root=cfg.image_root)
        prompts = render_category_prompts(DEFAULT_CATEGORY_PROMPT, list(catalogue.categories))
        self.prompt_tokens = teacher.tokenizer(prompts).to(device)
        self.teacher = teacher.module.to(device).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            self.prompt_target = F.normalize(self.teacher.encode_text(self.prompt_tokens).float(), dim=-1)

    def extra_loss(
        self, x: torch.Tensor, tokens: torch.Tensor, image_f: torch.Tensor, text_f: torch.Tensor
    ) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            out = self.teacher(x, tokens)
            t_img, t_txt = (out["image_features"], out["text_features"]) if isinstance(out, dict) else out[:2]
            t_img, t_txt = F.normalize(t_img.float(), dim=-1), F.normalize(t_txt.float(), dim=-1)
        s_img, s_txt = F.normalize(image_f.float(), dim=-1), F.normalize(text_f.float(), dim=-1)
        batch = _global_mean((s_img - t_img).pow(2).sum(-1).mean() + (s_txt - t_txt).pow(2).sum(-1).mean())
        # the prompts are the same on every rank, so DDP's gradient average keeps their gradient whole
        s_prompt = F.normalize(self.student.encode_text(self.prompt_tokens).float(), dim=-1)
        extra: torch.Tensor = self.weight * (batch + (s_prompt - self.prompt_target).pow(2).sum(-1).mean())
        return extra


def _global_mean(local: torch.Tensor) -> torch.Tensor:
    """`local` whose value is the mean over ranks (so every rank logs the same loss) and whose gradient
    is the local one (DDP averages gradients over ranks: the gradient of the global mean)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    value = local.detach().clone()
    dist.all_reduce(value)
    return local + (value / dist.get_world_size() - local.detach())


class Wise(Plain):
    """Train plainly, then pick the interpolation weight on the validation books."""

    name = "wise"

    def final_weights(
        self, state: dict[str, torch.Tensor], model_config: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
        from harness.evaluate.interpolation import interpolate_state_dicts

        alpha, scores = choose_alpha(self.cfg, state, model_config)
        baseline = _load_state(self.cfg.baseline)
        final = state if alpha == 1.0 else interpolate_state_dicts(baseline, state, alpha)
        return final, {"wise": {"alpha": alpha, "validation": scores}}


def _load_state(spec: str) -> dict[str, torch.Tensor]:
    from harness.models import load

    model = load(spec, device="cpu")
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def choose_alpha(
    cfg: FinetuneConfig, state: dict[str, torch.Tensor], config: dict[str, Any]
) -> tuple[float, list[dict[str, float]]]:
    """Score every alpha of WISE_ALPHAS on the validation split; return the chosen one and the scores."""
    import tempfile
    from pathlib import Path

    from harness.data.split import validation_rows
    from harness.errors import ConfigError
    from harness.evaluate.evaluation import EvalConfig, evaluate_views
    from harness.evaluate.interpolation import interpolated_model
    from harness.finetune.data import run_splits, training_rows
    from harness.models import load, save_checkpoint

    splits = run_splits(cfg)
    rows = validation_rows(splits, cfg.seed, validation_fraction(cfg.method, cfg.validation_fraction))
    gallery = rows.concat(training_rows(cfg))  # the training covers are distractors: a gallery near the size
    # of the evaluated views, where forgetting shows (among the validation covers alone it did not)
    inside = rows.subset(rows.frame["category"].isin(list(cfg.categories)).to_numpy())
    rehearsed = rows.subset(~rows.frame["category"].isin(list(cfg.categories)).to_numpy())
    if len(inside) < 5 or len(rehearsed) < 5:
        raise ConfigError(
            f"--method wise chooses its alpha on validation books of the tuned categories and "
            f"rehearsed books; this run has {len(inside)} and {len(rehearsed)}: set "
            "--replay-fraction (e.g. 0.3) or a larger --validation-fraction"
        )
    views = {"heldout": inside, "cross": rehearsed}  # the view names metric keys know; neither is evaluated
    eval_config = EvalConfig(
        template=cfg.template,
        ks=(1,),
        pool="catalogue",
        seed=cfg.seed,
        zero_shot=False,
        per_category=False,
        resamples=100,
    )
    key = "image_to_text/recall@1"
    baseline = load(cfg.baseline, device="cpu")
    with tempfile.TemporaryDirectory(prefix="bookclip-wise-") as work:
        path = Path(work) / "tuned.safetensors"
        save_checkpoint(path, state, config=config, metadata={"wise": "validation"})
        tuned = load(str(path), device="cpu")
        scores = []
        for alpha in WISE_ALPHAS:
            evaluation = evaluate_views(interpolated_model(baseline, tuned, alpha), gallery, views, config=eval_config)
            scores.append(
                {
                    "alpha": alpha,
                    "inside": evaluation.metric(f"heldout/{key}").value,
                    "rehearsed": evaluation.metric(f"cross/{key}").value,
                }
            )
    reference = scores[0]["rehearsed"]
    feasible = [s for s in scores if s["rehearsed"] >= reference - cfg.wise_max_drop - 1e-12]
    if len(feasible) > 1:
        best = max(feasible, key=lambda s: (s["inside"], -s["alpha"]))
    else:  # only alpha 0 keeps the rehearsed books: the smallest drop that still changes the model
        best = max(scores[1:], key=lambda s: (s["rehearsed"], s["inside"]))
    return float(best["alpha"]), scores
