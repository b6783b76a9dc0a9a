"""Training: one loop for every model of the book.

The recipe of neuralpredictors' ``standard_trainer`` (Lurz et al. 2021,
Sensorium 2022): Adam; one batch of every scan per optimiser step, each
contributing its objective's loss (:mod:`v1lib.objectives`) plus the model's
penalties; the objective's validation score checked every epoch; after
``patience`` epochs without improvement the best weights are restored and,
``lr_decay_steps`` - 1 times, the learning rate decays (by ``lr_decay_factor``,
not below ``min_lr``) and training goes on; at the ``lr_decay_steps``-th time it
stops with the best weights.

A model is anything called as ``model(scan, **inputs)`` on a batch of a scan's
tensors (:class:`v1lib.tensors.ScanTensors`) that has ``regularizer(scan,
core=...)``, ``clamp_()`` (run after every step) and, for ``freeze_core``, a
``core`` whose output it accepts as ``features=``. With a frozen core, the
training steps and the validation checks read its features computed once, not
every epoch. A checkpoint written after every epoch lets an interrupted run
resume where it stopped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from . import torchfile
from .config import check_options, check_types
from .objectives import Poisson
from .parallel import threads
from .predict import autocast, core_features, predict_tier
from .progress import progress
from .tensors import ScanTensors


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 64
    lr: float = 0.005
    max_epochs: int = 200
    patience: int = 5
    lr_decay_steps: int = 3
    lr_decay_factor: float = 0.3
    min_lr: float = 1e-4
    tolerance: float = 1e-6
    train_fraction: float = 1.0  # fraction of each scan's training samples used
    subset_seed: int = 0  # which random subset a train_fraction < 1 keeps
    # optimiser steps per epoch (between validation checks); None: one pass over the
    # largest scan's training samples. Set, it makes patience, the learning-rate
    # schedule and max_epochs count optimiser steps whatever the amount of data.
    steps_per_epoch: int | None = None
    freeze_core: bool = False  # train readouts (and shifters, modulators) only
    # recordings in time: train on windows of this many time steps, one random window
    # of a random sample per batch entry (Sinz et al. 2018: 150 frames); None: whole samples
    window: int | None = None
    # torch's CPU threads while training: the order of floating-point sums, and so the
    # trained weights, depend on it; one thread lets a sweep train models side by side
    # (v1lib.parallel) with the same result as one after the other
    threads: int = 1

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "train config") -> TrainConfig:
        d = dict(d or {})
        check_options(cls, d, source)
        check_types(cls, d, source)
        cfg = cls(**d)
        if not 0 < cfg.train_fraction <= 1:
            raise ValueError(f"{source}: 'train_fraction' must be in (0, 1], got {cfg.train_fraction}")
        if cfg.threads < 1:
            raise ValueError(f"{source}: 'threads' must be a positive integer, got {cfg.threads}")
        if cfg.window is not None and cfg.window < 1:
            raise ValueError(f"{source}: 'window' must be a positive integer or null, got "
                             f"{cfg.window}")
        if cfg.steps_per_epoch is not None and cfg.steps_per_epoch < 1:
            raise ValueError(f"{source}: 'steps_per_epoch' must be a positive integer or null, "
                             f"got {cfg.steps_per_epoch}")
        return cfg


def validation_score(model, tensors: dict[str, ScanTensors], objective=Poisson(),
                     features=None) -> float:
    """The objective's score on the validation tier of every scan (read from a
    frozen core's precomputed ``features`` when given)."""
    preds = predict_tier(model, tensors, "validation", features=features)
    return objective.score(preds, {s: d.targets[d.tiers["validation"]] for s, d in tensors.items()})


# the most memory a frozen core's precomputed features of recordings in time may take
FEATURE_MEMORY = 2**32


def feature_bytes(model, tensors: dict[str, ScanTensors]) -> int:
    """Bytes of a temporal core's float32 output for every sample of ``tensors``."""
    total = 0
    for d in tensors.values():
        x = d.inputs["stimulus"]
        h, w = model.core.output_shape(*x.shape[-2:])
        total += 4 * len(x) * model.core.out_channels * x.shape[2] * h * w
    return total


def _trainable(model, freeze_core: bool):
    if not freeze_core:
        return list(model.parameters())
    model.core.requires_grad_(False)
    return [p for n, p in model.named_parameters() if not n.startswith("core.")]


def _start(model, opt, gen, checkpoint: Path | None) -> dict:
    """A new training state, or the one ``checkpoint`` holds (weights and
    random-number states restored)."""
    if checkpoint is None or not Path(checkpoint).is_file():
        return {"epoch": 0, "best": -math.inf, "best_state": None, "bad": 0, "decays": 0,
                "history": [], "done": False, "seconds": 0.0}
    ck = torchfile.load(checkpoint, "training checkpoint",
                        map_location=next(model.parameters()).device, weights_only=False,
                        keys=("model", "optimizer", "torch_rng", "batch_rng", "state"))
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    torch.set_rng_state(ck["torch_rng"])
    gen.set_state(ck["batch_rng"])
    if ck.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ck["cuda_rng"])
    return ck["state"]


def _save(checkpoint: Path, model, opt, gen, state: dict) -> None:
    torchfile.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                    "torch_rng": torch.get_rng_state(), "batch_rng": gen.get_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                    "state": state}, checkpoint)


def _epoch(model, tensors, opt, gen, c: TrainConfig, objective, features, n_samples) -> float:
    """One epoch: ``steps_per_epoch`` optimiser steps, by default as many as the
    largest scan needs for one pass (a scan that runs out of samples starts a
    new random order); returns the mean loss per step."""
    model.train()
    if c.freeze_core:
        model.core.eval()  # frozen batch-norm statistics too
    n_train = {s: len(d.tiers["train"]) for s, d in tensors.items()}
    steps = c.steps_per_epoch or max(math.ceil(n / c.batch_size) for n in n_train.values())
    order = {s: _sample_order(d.tiers["train"], steps, c.batch_size, gen)
             for s, d in tensors.items()}
    total = 0.0
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        for s, d in tensors.items():
            i = _batch(order[s], step, c.batch_size, n_train[s])
            f = None if features is None else features[s]
            if c.window:
                inputs, target = d.windows(i, c.window, gen, features=f)
            else:
                inputs, target = d.batch(i), d.targets[i]
                inputs.update({} if f is None else {"features": f[i]})
            with autocast(d.device):
                pred = model(s, **inputs)
            loss = (objective.loss(pred, target, n_samples[s])
                    + model.regularizer(s, core=not c.freeze_core))
            loss.backward()
            total += float(loss.detach())
        opt.step()
        model.clamp_()
    return total / steps


def _sample_order(train: torch.Tensor, steps: int, batch_size: int,
                  gen: torch.Generator) -> torch.Tensor:
    """Random orders of the training samples, one per pass, for ``steps`` batches."""
    n = len(train)
    passes = math.ceil(steps / math.ceil(n / batch_size))
    return torch.cat([train[torch.randperm(n, generator=gen).to(train.device)]
                      for _ in range(passes)])


def _batch(order: torch.Tensor, step: int, batch_size: int, n: int) -> torch.Tensor:
    """The samples of ``step``: consecutive slices of ``order``; a batch never
    spans two passes (the last one of a pass may be short)."""
    per_pass = math.ceil(n / batch_size)
    p, k = divmod(step, per_pass)
    start = p * n + k * batch_size
    return order[start:min(start + batch_size, (p + 1) * n)]


def _after_epoch(state: dict, score: float, model, opt, c: TrainConfig) -> None:
    """Keep the best weights; at the end of a patience cycle restore them, then
    decay the learning rate or stop."""
    if score > state["best"] + c.tolerance:
        state.update(best=score, bad=0,
                     best_state={k: v.detach().clone() for k, v in model.state_dict().items()})
    else:
        state["bad"] += 1
    if state["bad"] >= c.patience:
        model.load_state_dict(state["best_state"])
        state["bad"] = 0
        state["decays"] += 1
        if state["decays"] >= c.lr_decay_steps:
            state["done"] = True
        else:
            for g in opt.param_groups:
                g["lr"] = max(g["lr"] * c.lr_decay_factor, c.min_lr)


def fit(model, tensors: dict[str, ScanTensors], config: TrainConfig, seed: int,
        checkpoint: Path | None = None, show_progress: bool = True,
        objective=Poisson()) -> xr.Dataset:
    """Train ``model`` in place, on ``config.threads`` CPU threads; return the
    history (per epoch: loss, validation score, learning rate, wall time).
    Resumes from ``checkpoint`` if it exists, and rewrites it after every epoch."""
    with threads(config.threads):
        return _fit(model, tensors, config, seed, checkpoint, show_progress, objective)


def _fit(model, tensors, config: TrainConfig, seed: int, checkpoint, show_progress,
         objective) -> xr.Dataset:
    c = config
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(_trainable(model, c.freeze_core), lr=c.lr)
    state = _start(model, opt, gen, checkpoint)
    # a frozen core computes the same features every epoch: compute them once, for
    # recordings in time on the training and validation samples only, where they fit
    # in memory (else the core runs every step, without gradients)
    features = None
    n_samples = {s: d.n_samples for s, d in tensors.items()}  # the loss's scale, whatever is kept
    if c.freeze_core and getattr(model, "temporal", False):
        fitting = {s: d.subset(("train", "validation")) for s, d in tensors.items()}
        if feature_bytes(model, fitting) <= FEATURE_MEMORY:
            tensors = fitting
            features = core_features(model, tensors)
    elif c.freeze_core:
        features = core_features(model, tensors)
    bar = progress(total=c.max_epochs, initial=state["epoch"], desc="training", unit="epoch",
                   disable=not show_progress)
    while not state["done"] and state["epoch"] < c.max_epochs:
        t0 = time.perf_counter()
        loss = _epoch(model, tensors, opt, gen, c, objective, features, n_samples)
        score = validation_score(model, tensors, objective, features)
        lr = opt.param_groups[0]["lr"]
        state["seconds"] += time.perf_counter() - t0
        state["history"].append((state["epoch"], loss, score, lr, state["seconds"]))
        state["epoch"] += 1
        _after_epoch(state, score, model, opt, c)
        bar.update(1)
        bar.set_postfix(val=f"{score:.3f}", lr=f"{lr:.1e}")
        if checkpoint is not None:
            _save(checkpoint, model, opt, gen, state)
    bar.close()
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    model.eval()
    return _history(state, objective)


def _history(state: dict, objective) -> xr.Dataset:
    h = np.array(state["history"], dtype=np.float64).reshape(-1, 5)
    return xr.Dataset(
        {"train_loss": ("epoch", h[:, 1]),
         "val_score": ("epoch", h[:, 2], {"long_name": f"validation {objective.score_name}"}),
         "lr": ("epoch", h[:, 3]),
         "seconds": ("epoch", h[:, 4], {"long_name": "wall time since the start of training"})},
        coords={"epoch": h[:, 0].astype(int)},
        attrs={"objective": objective.name, "score": objective.score_name,
               "best_val_score": float(state["best"]), "epochs": int(state["epoch"]),
               "best_epoch": int(np.argmax(h[:, 2])) if len(h) else -1,
               "stopped": "early stopping" if state["done"] else "max_epochs"})
