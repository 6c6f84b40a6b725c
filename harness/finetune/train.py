"""The training function that runs inside every worker process (TorchDistributor, torchrun, inline).

`main(cfg_dict)` is self-contained: it takes a plain dict of paths and numbers, reads the
catalogue itself, and returns a small manifest that is identical on every rank. Nothing
large (data, models) ever crosses a process boundary by pickling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader

MANIFEST_VERSION = 1
T = TypeVar("T")


def main(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """Train as configured and return the run's manifest (same dict on every rank)."""
    import os
    import traceback

    from harness.finetune.config import FinetuneConfig
    from harness.finetune.runlog import RunFiles, WorkerLog

    cfg = FinetuneConfig.from_dict(cfg_dict)
    if cfg.cache_dir:  # executors may not inherit the driver's environment
        os.environ["BOOKCLIP_CACHE_DIR"] = cfg.cache_dir
    rank = int(os.environ.get("RANK", "0"))
    files = RunFiles(cfg.out_dir)
    log = WorkerLog(files.rank_log(rank), rank=rank)
    try:
        return train_steps(_Trainer(cfg, log, files))
    except BaseException as exc:
        log.error("".join(traceback.format_exception(exc)))
        files.write_error(rank, exc)
        raise
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        log.close()


class _Trainer:
    """One worker's view of the run: process group, data, model, optimiser, loop, checkpoints."""

    micro: int  # rows per micro-batch on this rank
    steps_per_epoch: int  # optimiser steps per epoch
    total_steps: int  # optimiser steps of the whole run

    def __init__(self, cfg: Any, log: Any, files: Any) -> None:
        self.cfg, self.log, self.files = cfg, log, files

    # -- setup --------------------------------------------------------------------------
    def _init_distributed(self) -> None:
        import datetime
        import os

        import torch
        import torch.distributed as dist

        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.cfg.use_gpu:
            from harness.errors import FinetuneError

            if not torch.cuda.is_available():
                raise FinetuneError(
                    "use_gpu is set but this worker sees no CUDA device; drop --use-gpu or give the workers GPUs"
                )
            self.device = torch.device("cuda", self.local_rank % torch.cuda.device_count())
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        if "MASTER_ADDR" in os.environ and "WORLD_SIZE" in os.environ and not dist.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=self.cfg.timeout_s))
        self.distributed = dist.is_available() and dist.is_initialized()
        self.log.info(f"rank {self.rank}/{self.world} on {self.device}, {torch.get_num_threads()} threads")

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def _load_data(self) -> None:
        import pandas as pd
        import torch

        from harness.data import decoded_images
        from harness.errors import DataError
        from harness.evaluate.templates import render_captions
        from harness.finetune.data import training_rows

        cfg = self.cfg
        train = training_rows(cfg)
        if len(train) < cfg.batch_size:
            raise DataError(
                f"only {len(train)} training rows in categories {', '.join(cfg.categories)} of "
                f"{', '.join(cfg.data)}, fewer than one batch of {cfg.batch_size}; "
                "lower --batch-size or add data"
            )
        self.train = train
        # rank 0 decodes the covers into the shared on-disk cache; the others then map it
        if self.rank == 0:
            images = decoded_images(train, self.model.image_size)
        self.barrier()
        if self.rank != 0:
            images = decoded_images(train, self.model.image_size)
        self.images = images
        frame = train.frame
        captions = render_captions(cfg.template, frame)  # evaluation's own captions
        self.tokens = self.model.tokenizer(captions)
        self.groups = torch.as_tensor(pd.factorize(frame["group_id"])[0], dtype=torch.long)
        self.log.info(f"{len(train)} training rows, images {tuple(images.shape)}")
        self.prompt_tokens = self.prompt_groups = None
        if cfg.category_prompt_fraction:
            from harness.evaluate.templates import DEFAULT_CATEGORY_PROMPT, render_category_prompts

            # each row's category prompt, as zero-shot classification writes it, and one negative group
            # code per category: the loss contrasts prompt rows only with each other
            codes, names = pd.factorize(frame["category"].astype(str))
            codes = torch.as_tensor(codes, dtype=torch.long)
            prompts = render_category_prompts(DEFAULT_CATEGORY_PROMPT, list(names))
            self.prompt_tokens = self.model.tokenizer(prompts)[codes]
            self.prompt_groups = -1 - codes
            self.log.info(
                f"{round(cfg.category_prompt_fraction * len(train))} rows an epoch captioned "
                f"{DEFAULT_CATEGORY_PROMPT!r} ({len(names)} categories)"
            )

    def _load_model(self) -> None:

        from harness.evaluate.pixels import channel_stats
        from harness.models import load

        self.model = load(self.cfg.baseline, device="cpu")
        self.parent_fingerprint = self.model.fingerprint  # training changes the weights in place
        module = self.model.module
        module.train()
        if self.cfg.freeze == "vision":
            for p in module.visual.parameters():
                p.requires_grad_(False)
        elif self.cfg.freeze == "text":
            for name, p in module.named_parameters():
                if not name.startswith("visual.") and name != "logit_scale":
                    p.requires_grad_(False)
        self.module = module.to(self.device)
        from harness.finetune.config import METHODS

        self.method = METHODS.get(self.cfg.method)(self.cfg, self.device, self.module)
        self.mean, self.std = channel_stats(self.model.mean, self.model.std, self.device)

    def _build_optimiser(self) -> None:
        import torch

        from harness.finetune.schedule import param_groups, warmup_cosine

        cfg = self.cfg
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        groups = param_groups(self.module, cfg.weight_decay)
        # fused AdamW: one kernel for all parameters (on CPU too: 5x faster steps for small models)
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, fused=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(cfg.warmup_steps, self.total_steps, cfg.min_lr_ratio)
        )
        self.precision = cfg.precision
        if self.precision == "auto":
            self.precision = "bf16" if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    # -- data order ---------------------------------------------------------------------
    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's micro-batches of `epoch`: a seeded shuffle, identical on every run."""
        from torch.utils.data import DistributedSampler

        # the sampler needs only len() of what it samples: row indices stand in for a Dataset
        sampler: DistributedSampler[int] = DistributedSampler(
            range(len(self.train)),  # type: ignore[arg-type]
            num_replicas=self.world,
            rank=self.rank,
            shuffle=True,
            seed=self.cfg.training_seed,
            drop_last=True,
        )
        sampler.set_epoch(epoch)
        order = list(sampler)
        n = self.micro * self.cfg.grad_accum * self.steps_per_epoch
        return [order[i : i + self.micro] for i in range(0, n, self.micro)]

    def _loader(
        self, epoch: int, batches: list[list[int]]
    ) -> DataLoader[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        import torch
        from torch.utils.data import DataLoader

        from harness.finetune.dataset import CoverBatches

        dataset = CoverBatches(self.images, *self._epoch_captions(epoch))
        return DataLoader(
            dataset,
            batch_sampler=batches,
            collate_fn=CoverBatches.collate,
            num_workers=self.cfg.num_workers,
            persistent_workers=False,
            pin_memory=self.device.type == "cuda",
            # its own generator, so creating a loader never draws from the global RNG
            generator=torch.Generator().manual_seed(self.cfg.training_seed * 1_000_003 + epoch),
        )

    def _epoch_captions(self, epoch: int) -> tuple[Any, Any]:
        """Token ids and group codes of `epoch`: the template's, a share replaced by category prompts
        (negative group codes, one per category: see harness.finetune.loss)."""
        if self.prompt_tokens is None:
            return self.tokens, self.groups
        import torch

        from harness.finetune.data import category_prompt_rows

        assert self.prompt_groups is not None  # set with prompt_tokens
        pick = torch.from_numpy(
            category_prompt_rows(len(self.tokens), self.cfg.category_prompt_fraction, self.cfg.training_seed, epoch)
        )
        return (
            torch.where(pick[:, None], self.prompt_tokens, self.tokens),
            torch.where(pick, self.prompt_groups, self.groups),
        )

    # -- checkpoints --------------------------------------------------------------------

    # -- the loop -----------------------------------------------------------------------


def _all_rng_states(trainer: _Trainer) -> list[dict[str, Any]]:
    from harness.finetune.state import rng_state

    if not trainer.distributed:
        return [rng_state(trainer.device)]
    import torch.distributed as dist

    states: list[Any] = [None] * trainer.world
    dist.all_gather_object(states, rng_state(trainer.device))
    return states


def _save_training_state(trainer: _Trainer, step: int, loss: float) -> None:
    from harness.finetune.state import save_training_state

    rng = _all_rng_states(trainer)  # collective: every rank takes part
    if trainer.rank == 0:
        path = save_training_state(
            trainer.files.checkpoints,
            step=step,
            model=trainer.module.state_dict(),
            optimizer=trainer.optimizer.state_dict(),
            scheduler=trainer.scheduler.state_dict(),
            scaler=trainer.scaler.state_dict(),
            rng=rng,
            loss=loss,
            recipe=trainer.cfg.recipe(),
            world_size=trainer.world,
            keep=trainer.cfg.keep_checkpoints,
        )
        trainer.log.info(f"checkpoint {path.name}")
    trainer.barrier()


def _resume(trainer: _Trainer) -> tuple[int, float]:
    from harness.errors import FinetuneError
    from harness.finetune.state import latest_training_state, load_training_state, set_rng_state

    path = latest_training_state(trainer.files.checkpoints)
    if path is None:
        trainer.log.info("resume: no checkpoint yet, starting from the baseline")
        return 0, float("nan")
    state = load_training_state(path)
    if state["world_size"] != trainer.world:
        raise FinetuneError(
            f"checkpoint {path} was written by {state['world_size']} processes, "
            f"this run has {trainer.world}; resume with --num-processes {state['world_size']}"
        )
    recipe = trainer.cfg.recipe()
    changed = sorted(k for k in set(recipe) | set(state["recipe"]) if state["recipe"].get(k) != recipe.get(k))
    if changed:
        raise FinetuneError(
            f"checkpoint {path} was trained with different {', '.join(changed)}; "
            "resume with the same options or start a fresh --out directory"
        )
    trainer.module.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"][trainer.rank], trainer.device)
    trainer.log.info(f"resumed from {path.name} at step {state['step']}")
    return int(state["step"]), float(state["loss"])


def _save_final(trainer: _Trainer, steps: int, loss: float) -> tuple[str, str]:
    from harness.models import fingerprint_state_dict, save_checkpoint

    path = trainer.files.model
    fingerprint = ""
    if trainer.rank == 0:
        state = {k: v.detach().to("cpu").contiguous() for k, v in trainer.module.state_dict().items()}
        state, method_record = trainer.method.final_weights(state, trainer.model.config)
        fingerprint = fingerprint_state_dict(state)
        metadata = {
            "parent_fingerprint": trainer.parent_fingerprint,
            "parent_spec": trainer.cfg.baseline,
            "data_fingerprint": trainer.train.fingerprint,
            "training_config": trainer.cfg.recipe(),
            "recipe_hash": trainer.cfg.recipe_hash(),
            "steps": steps,
            "final_loss": loss,
            "world_size": trainer.world,
            **method_record,
        }
        save_checkpoint(path, state, config=trainer.model.config, metadata=metadata)
    fingerprint = _broadcast(trainer, fingerprint)
    trainer.barrier()
    return str(path), fingerprint


def _broadcast(trainer: _Trainer, value: T) -> T:
    if not trainer.distributed:
        return value
    import torch.distributed as dist

    box: list[T] = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def train_steps(trainer: _Trainer) -> dict[str, Any]:
    import contextlib
    import math
    import time

    import torch

    from harness.errors import FinetuneError
    from harness.evaluate.pixels import normalise
    from harness.finetune.data import planned_steps, steps_per_epoch
    from harness.finetune.loss import distributed_contrastive_loss
    from harness.models.cpu_heap import keep_freed_memory
    from harness.models.cpu_kernels import onednn_kernels

    cfg = trainer.cfg
    trainer._init_distributed()
    trainer._load_model()
    trainer._load_data()
    trainer.micro = cfg.micro_batch(trainer.world)
    trainer.steps_per_epoch = steps_per_epoch(len(trainer.train), cfg.batch_size)
    if trainer.steps_per_epoch < 1:
        raise FinetuneError(
            f"{len(trainer.train)} training rows make no full step of batch {cfg.batch_size}; lower --batch-size"
        )
    trainer.total_steps = planned_steps(cfg, len(trainer.train))
    trainer._build_optimiser()

    from torch.nn.parallel import DistributedDataParallel as DDP

    if trainer.distributed:
        ddp = DDP(trainer.module, device_ids=[trainer.device.index] if trainer.device.type == "cuda" else None)
    else:
        ddp = trainer.module
    # compile the DDP-wrapped model (its graph breaks at gradient buckets keep the overlap);
    # no_sync() stays on the DDP object itself
    forward = torch.compile(ddp) if cfg.compile else ddp
    torch.manual_seed(cfg.training_seed + trainer.rank)  # a resumed run restores the saved RNG states instead
    start_step, loss_value = _resume(trainer) if cfg.resume else (0, float("nan"))
    if trainer.rank == 0:  # the killed run's records past the resume point would repeat those steps
        trainer.files.truncate_train_log(start_step)
    logit_cap = math.log(100.0)
    autocast = (
        torch.autocast(trainer.device.type, dtype=trainer.autocast_dtype)
        if trainer.autocast_dtype is not None
        else contextlib.nullcontext()
    )
    log_every = max(1, min(10, trainer.total_steps // 20))

    step = start_step
    samples = 0
    t0 = time.perf_counter()
    if trainer.device.type == "cpu":
        keep_freed_memory()  # activations reused step after step, not page-faulted in again
    # oneDNN float32 products for the CPU model's layers (MKL's are 2x slower on AMD); not under compile
    with onednn_kernels(trainer.module, enabled=not cfg.compile):
        while step < trainer.total_steps:
            epoch, within = divmod(step, trainer.steps_per_epoch)
            batches = trainer._epoch_batches(epoch)[within * cfg.grad_accum :]
            batch_iter = iter(trainer._loader(epoch, batches))
            for _ in range(within, trainer.steps_per_epoch):
                if step >= trainer.total_steps:
                    break
                if cfg.fail_at_step is not None and step + 1 >= cfg.fail_at_step and trainer.rank == cfg.fail_rank:
                    raise FinetuneError(
                        f"injected failure on rank {trainer.rank} before step {step + 1} (fail_at_step is set)"
                    )
                trainer.optimizer.zero_grad(set_to_none=True)
                step_loss = 0.0
                for micro_step in range(cfg.grad_accum):
                    images, tokens, groups = batch_iter.__next__()
                    images = images.to(trainer.device, non_blocking=True)
                    x = normalise(images, trainer.mean, trainer.std)
                    tokens = tokens.to(trainer.device, non_blocking=True)
                    groups = groups.to(trainer.device, non_blocking=True)
                    sync = micro_step == cfg.grad_accum - 1 or not trainer.distributed
                    with contextlib.nullcontext() if sync else ddp.no_sync():
                        with autocast:
                            out = forward(x, tokens)
                        image_f, text_f, scale = (
                            (out["image_features"], out["text_features"], out["logit_scale"])
                            if isinstance(out, dict)
                            else out[:3]
                        )
                        loss = distributed_contrastive_loss(image_f.float(), text_f.float(), scale.float(), groups)
                        loss = trainer.method.add_loss(loss, x, tokens, image_f, text_f)
                        trainer.scaler.scale(loss / cfg.grad_accum).backward()
                    step_loss += loss.item() / cfg.grad_accum
                if not math.isfinite(step_loss):
                    raise FinetuneError(
                        f"loss became {step_loss} at step {step + 1}; lower --lr or use --precision fp32/bf16"
                    )
                trainer.scaler.unscale_(trainer.optimizer)
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(trainer.params, cfg.grad_clip, foreach=True)
                trainer.scaler.step(trainer.optimizer)
                trainer.scaler.update()
                trainer.scheduler.step()
                with torch.no_grad():
                    trainer.module.logit_scale.clamp_(0, logit_cap)
                step += 1
                samples += cfg.batch_size
                loss_value = step_loss
                logged = step % log_every == 0 or step == trainer.total_steps or step == start_step + 1
                if trainer.rank == 0 and logged:
                    elapsed = time.perf_counter() - t0
                    trainer.files.append_train_log(
                        {
                            "step": step,
                            "total_steps": trainer.total_steps,
                            "epoch": epoch,
                            "loss": round(step_loss, 6),
                            "lr": trainer.scheduler.get_last_lr()[0],
                            "logit_scale": float(trainer.module.logit_scale.detach().exp()),
                            "samples_per_s": round(samples / elapsed, 2) if elapsed > 0 else None,
                            "elapsed_s": round(elapsed, 3),
                        }
                    )
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < trainer.total_steps:
                    _save_training_state(trainer, step, loss_value)
    elapsed = time.perf_counter() - t0
    if step > start_step:
        _save_training_state(trainer, step, loss_value)
    checkpoint, fingerprint = _save_final(trainer, step, loss_value)
    manifest = {
        "version": MANIFEST_VERSION,
        "checkpoint": checkpoint,
        "fingerprint": fingerprint,
        "steps": step,
        "planned_steps": trainer.total_steps,
        "resumed_from": start_step,
        "final_loss": loss_value,
        "samples_per_s": samples / elapsed if elapsed > 0 and samples else 0.0,
        "world_size": trainer.world,
        "train_rows": len(trainer.train),
        "data_fingerprint": trainer.train.fingerprint,
        "parent_fingerprint": trainer.parent_fingerprint,
        "precision": trainer.precision,
        "recipe_hash": cfg.recipe_hash(),
    }
    manifest["samples_per_s"] = _broadcast(trainer, manifest["samples_per_s"])
    if trainer.rank == 0:
        trainer.files.write_manifest(manifest)
    trainer.barrier()
    trainer.log.info(f"done: {step} steps, loss {loss_value:.4f}, {manifest['samples_per_s']:.1f} samples/s")
    return manifest
