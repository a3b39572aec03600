"""The training loop: :func:`train` runs epochs of :func:`train_one_step` until the run's last step, then saves."""
from __future__ import annotations

import contextlib
import math
import signal
import time
from typing import Any

import torch
from tqdm import tqdm

from .distributed import barrier, mean_over_ranks
from .config import TrainConfig, TrainingDiverged, TrainingInterrupted
from .metadata import save_final
from .run import Run, setup_run
from .signals import StopRequest
from .state import restore_rng_state


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) training; returns {"checkpoint", "metrics", "steps", "final_losses"} (rank 0).

    Raises TrainingDiverged on NaN/inf losses and TrainingInterrupted after SIGINT/SIGTERM (resume file saved).
    """
    run = setup_run(cfg)
    announce = (f"stopping after the step in progress, then saving {run.resume_path} (press Ctrl-C again to stop "
                f"at once)") if run.is_main else None
    try:
        with StopRequest(announce).installed() as stop:
            if run.resume_rng is not None:
                restore_rng_state(run.resume_rng)
            run.model.train()
            bar = tqdm(total=run.total_iters, initial=run.step, desc=f"train {cfg.variant}", unit="it",
                       disable=not (run.is_main and cfg.progress), dynamic_ncols=True)
            start = (time.perf_counter(), run.step)
            run.started, run.started_step = start
            while run.step < run.total_iters:
                train_one_epoch(run, stop, bar, start)
            bar.close()
            return finish(run, run.train_seconds())
    finally:
        run.close()


def train_one_epoch(run: Run, stop: StopRequest, bar: tqdm, start: tuple[float, int]) -> None:
    """Steps from ``run.step`` to the end of its epoch or of the run, with logging, evaluation and resume saves.

    ``start``: (``time.perf_counter()``, step) when this process began training, for the images/s column.
    """
    cfg = run.cfg
    epoch, first_batch = divmod(run.step, run.sampler.batches_per_epoch)
    run.sampler.set_epoch(epoch, first_batch)
    for images, targets in run.loader:
        lr, stop_requested = train_one_step(run, images, targets, stop.requested, epoch)
        if run.is_main:
            bar.update(1)
            bar.set_postfix({k.replace("loss_", ""): f"{v:.3f}" for k, v in run.losses.items()} | {"lr": f"{lr:.2e}"},
                            refresh=False)
            if run.step % cfg.log_every == 0 or run.step == run.total_iters:
                speed = (run.step - start[1]) * run.total_batch / max(time.perf_counter() - start[0], 1e-9)
                run.logs.step({"step": run.step, "epoch": epoch, "lr": lr, **run.losses, "images_per_s": speed})
        done = run.step >= run.total_iters
        if cfg.eval_every and run.step % cfg.eval_every == 0 and run.step >= cfg.eval_from and not done:
            if run.is_main:
                run.metrics = run.evaluate()
                run.logs.evaluation(run.step, run.metrics)
            barrier(run.world_size)
        interrupted = stop_requested or (cfg.stop_at_step is not None and run.step >= cfg.stop_at_step and not done)
        if interrupted or (cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0 and not done):
            run.save_resume()
            if run.is_main:
                run.logs.plot()
        if interrupted:
            bar.close()
            raise TrainingInterrupted(f"stopped after step {run.step}/{run.total_iters}; resume with the same command "
                                      f"plus --resume (state in {run.resume_path})", int(stop.signum or signal.SIGINT))
        if done:
            return


def train_one_step(run: Run, images: list[torch.Tensor], targets: list[dict[str, Any]], stop_requested: bool,
                   epoch: int) -> tuple[float, bool]:
    """One optimizer step on a batch (images FloatTensor[3, H, W] in [0, 1], COCO-style targets).

    Sets ``run.losses`` (every loss term, mean over ranks) and advances ``run.step``.  Returns (the lr used, whether
    any rank asked to stop).  Raises TrainingDiverged, before updating anything, when a loss is NaN or infinite.
    """
    images = [im.to(run.device, non_blocking=True) for im in images]
    targets = [{k: (v.to(run.device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in t.items()}
               for t in targets]
    autocast = (torch.autocast(run.device.type, dtype=run.amp_dtype) if run.amp_dtype is not None
                else contextlib.nullcontext())
    with autocast:
        losses = run.ddp_model(images, targets)
    names = sorted(losses)
    loss = sum(losses[k].float() for k in names)
    # The stop flag rides in the same all-reduce as the losses, so every rank stops after the same step.
    stats = torch.stack([loss.detach().float()] + [losses[k].detach().float() for k in names]
                        + [torch.tensor(float(stop_requested), device=loss.device)])
    values = mean_over_ranks(stats, run.world_size).tolist()
    terms = dict(zip(["loss"] + names, values[:-1]))
    if not all(math.isfinite(v) for v in terms.values()):
        raise TrainingDiverged(
            f"non-finite loss at step {run.step + 1} (epoch {epoch}): "
            + ", ".join(f"{k}={v:.4g}" for k, v in terms.items()) + f". Nothing was saved for this step; the last "
            f"good checkpoint is {run.resume_path} (if any). Try a lower --lr, a longer warmup or --grad-clip.")
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    if run.cfg.grad_clip:
        run.scaler.unscale_(run.optimizer)
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    lr = run.optimizer.param_groups[0]["lr"]
    run.scheduler.step()
    run.step += 1
    run.losses = terms
    return lr, values[-1] > 0


def finish(run: Run, elapsed: float) -> dict[str, Any]:
    """After the last step: final evaluation, the checkpoint ``out/model``, a last resume file (a later --resume with
    a larger --iters continues from it) and the curves.  ``elapsed``: training seconds, across resumes."""
    result: dict[str, Any] = {"steps": run.step, "final_losses": run.losses}
    if run.is_main:
        if run.cfg.final_eval and run.val_dataset is not None:
            run.metrics = run.evaluate()
            run.logs.evaluation(run.step, run.metrics)
        checkpoint = save_final(run, run.metrics, elapsed, run.losses)
        run.save_resume()
        run.logs.plot()
        result.update(checkpoint=checkpoint, metrics=run.metrics)
    barrier(run.world_size)
    return result
