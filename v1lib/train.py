"""Training: one loop for every model of the static chapters.

The recipe of neuralpredictors' ``standard_trainer`` (Lurz et al. 2021,
Sensorium 2022): Poisson loss summed over the batch and scaled by
sqrt(trials / batch size), plus the core's and readouts' penalties; Adam; one
batch of every animal per optimiser step; the mean validation correlation
checked every epoch; after ``patience`` epochs without improvement the best
weights are restored and, ``lr_decay_steps`` - 1 times, the learning rate
decays (by ``lr_decay_factor``, not below ``min_lr``) and training goes on; at
the ``lr_decay_steps``-th time it stops with the best weights.

All data live on the device as tensors (no per-sample loading), images and
convolutions in channels-last layout; with a frozen core, the training steps
read its features computed once, not every epoch. A checkpoint written after
every epoch lets an interrupted run resume where it stopped;
:func:`fit_cached` keeps finished models under ``results/models/<config hash>``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from . import paths
from .cache import atomic_path, canonical_json, config_hash, write_json_atomic
from .config import check_options
from .models.encoder import Encoder, ModelConfig, ScanInfo
from .progress import progress
from .provenance import collect, netcdf_attrs

# Bump when a change of the model or training code changes the trained weights
# for a given config and seed: cached models are keyed by it.
TRAINING_VERSION = 4


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
    train_fraction: float = 1.0  # fraction of each scan's training images used
    freeze_core: bool = False  # train readouts (and shifters, modulators) only

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "train config") -> TrainConfig:
        d = dict(d or {})
        check_options(cls, d, source)
        cfg = cls(**d)
        if not 0 < cfg.train_fraction <= 1:
            raise ValueError(f"{source}: 'train_fraction' must be in (0, 1], got {cfg.train_fraction}")
        return cfg


# ----------------------------------------------------------------------------- data


@dataclass
class ScanTensors:
    """One scan on the device, normalised; trial indices per tier."""

    images: torch.Tensor  # (T, 1, H, W)
    responses: torch.Tensor  # (T, N)
    behavior: torch.Tensor  # (T, 3)
    pupil: torch.Tensor  # (T, 2)
    tiers: dict[str, torch.Tensor]
    info: ScanInfo

    @property
    def n_trials(self) -> int:
        return self.images.shape[0]


def train_subset(ds: xr.Dataset, fraction: float) -> np.ndarray:
    """Trial indices of the training images kept at ``fraction``: a fixed random
    order per scan, so smaller fractions are subsets of larger ones."""
    train = np.flatnonzero(ds.tier.values == "train")
    if fraction >= 1:
        return train
    rng = np.random.default_rng(int(config_hash(str(ds.attrs.get("scan", "")), 8), 16))
    order = rng.permutation(len(train))
    keep = max(1, int(round(fraction * len(train))))
    return np.sort(train[order[:keep]])


def scan_info(ds: xr.Dataset, train_idx: np.ndarray) -> ScanInfo:
    """Normalisation statistics from the training trials (neuralpredictors' rules,
    which take them from all tiers:
    responses divided by their SD, floored at 1 % of the mean SD; behaviour
    divided by its SD; images and pupil centre z-scored)."""
    img = ds.images.values[train_idx].astype(np.float64)
    r_std = ds.responses.values[train_idx].std(0)
    floor = 0.01 * r_std.mean()
    beh = ds.behavior.values[train_idx]
    pup = ds.pupil_center.values[train_idx]
    safe = lambda s: np.where(s > 1e-8, s, 1.0)
    return ScanInfo(
        n_neurons=ds.sizes["neuron"],
        cortical_xy=np.stack([ds.cortical_x.values, ds.cortical_y.values], 1).astype(np.float32),
        image_mean=float(img.mean()), image_std=float(safe(img.std())),
        response_std=np.where(r_std > floor, r_std, max(floor, 1e-8)).astype(np.float32),
        behavior_mean=beh.mean(0), behavior_std=safe(beh.std(0)),
        pupil_mean=pup.mean(0), pupil_std=safe(pup.std(0)),
    )


def to_tensors(ds: xr.Dataset, info: ScanInfo, train_idx: np.ndarray, device) -> ScanTensors:
    f = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)
    tiers = {t: torch.as_tensor(np.flatnonzero(ds.tier.values == t), device=device)
             for t in ("validation", "test")}
    tiers["train"] = torch.as_tensor(train_idx, device=device)
    return ScanTensors(
        images=((f(ds.images.values) - info.image_mean) / info.image_std)[:, None]
        .contiguous(memory_format=torch.channels_last),
        responses=f(ds.responses.values) / f(info.response_std),
        behavior=f(ds.behavior.values) / f(info.behavior_std),
        pupil=(f(ds.pupil_center.values) - f(info.pupil_mean)) / f(info.pupil_std),
        tiers=tiers, info=info)


def prepare(scans: dict[str, xr.Dataset], device="cpu", train_fraction: float = 1.0):
    """``{scan: ScanTensors}`` ready for training and evaluation."""
    out = {}
    for name, ds in scans.items():
        idx = train_subset(ds, train_fraction)
        if not (ds.tier == "validation").any():
            raise ValueError(f"scan '{name}' has no 'validation' trials: early stopping needs them")
        out[name] = to_tensors(ds, scan_info(ds, idx), idx, device)
    return out


def data_fingerprint(scans: dict[str, xr.Dataset]) -> str:
    """A short hash that changes when the data change (cache key of models)."""
    desc = {n: [int(ds.sizes["trial"]), int(ds.sizes["neuron"]),
                float(ds.responses.values.astype(np.float64).sum()),
                float(ds.images.values[:16].astype(np.float64).sum())] for n, ds in scans.items()}
    return config_hash(desc)


# ----------------------------------------------------------------------------- loop


def poisson_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target * torch.log(pred + 1e-12)).sum()


def batch_corr(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-column Pearson correlation (ddof=0, eps as in neuralpredictors)."""
    xm, ym = x - x.mean(0), y - y.mean(0)
    return (xm * ym).mean(0) / ((x.std(0, unbiased=False) + eps) * (y.std(0, unbiased=False) + eps))


def autocast(device):
    """bfloat16 autocast on CUDA; a no-op elsewhere (CPU runs stay in float32)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@torch.no_grad()
def predict_tier(model: Encoder, data: dict[str, ScanTensors], tier: str,
                 batch_size: int = 512) -> dict[str, torch.Tensor]:
    """Normalised predictions of every scan on ``tier``."""
    model.eval()
    out = {}
    for scan, d in data.items():
        idx = d.tiers[tier]
        parts = []
        for s in range(0, len(idx), batch_size):
            i = idx[s:s + batch_size]
            with autocast(d.images.device):
                parts.append(model(d.images[i], scan, d.behavior[i], d.pupil[i]).float())
        out[scan] = torch.cat(parts) if parts else torch.empty(0, d.info.n_neurons)
    return out


@torch.no_grad()
def core_features(model: Encoder, data: dict[str, ScanTensors],
                  batch_size: int = 512) -> dict[str, torch.Tensor]:
    """The core's output for every trial of every scan, in evaluation mode."""
    model.core.eval()
    out = {}
    for scan, d in data.items():
        parts = []
        for s in range(0, d.n_trials, batch_size):
            with autocast(d.images.device):
                parts.append(model.core(d.images[s:s + batch_size]).float())
        out[scan] = torch.cat(parts)
    return out


def validation_score(model, data) -> float:
    """Mean single-trial correlation on the validation tier, over all neurons."""
    preds = predict_tier(model, data, "validation")
    corrs = [batch_corr(preds[s], d.responses[d.tiers["validation"]]) for s, d in data.items()]
    return float(torch.nan_to_num(torch.cat(corrs)).mean())


def _trainable(model: Encoder, freeze_core: bool):
    if not freeze_core:
        return list(model.parameters())
    model.core.requires_grad_(False)
    return [p for n, p in model.named_parameters() if not n.startswith("core.")]


def fit(model: Encoder, data: dict[str, ScanTensors], config: TrainConfig, seed: int,
        checkpoint: Path | None = None, show_progress: bool = True) -> xr.Dataset:
    """Train ``model`` in place; return the history (per epoch: loss,
    validation correlation, learning rate). Resumes from ``checkpoint`` if it
    exists, and rewrites it after every epoch."""
    c = config
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(_trainable(model, c.freeze_core), lr=c.lr)
    st = {"epoch": 0, "best": -math.inf, "best_state": None, "bad": 0, "decays": 0,
          "history": [], "done": False, "seconds": 0.0}
    if checkpoint is not None and Path(checkpoint).is_file():
        ck = torch.load(checkpoint, map_location=next(model.parameters()).device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        gen.set_state(ck["batch_rng"])
        if ck.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        st = ck["state"]
    n_train = {s: len(d.tiers["train"]) for s, d in data.items()}
    steps = max(math.ceil(n / c.batch_size) for n in n_train.values())
    # a frozen core computes the same features every epoch: compute them once
    features = core_features(model, data) if c.freeze_core else None
    bar = progress(total=c.max_epochs, initial=st["epoch"], desc="training", unit="epoch",
                   disable=not show_progress)
    while not st["done"] and st["epoch"] < c.max_epochs:
        t0 = time.perf_counter()
        model.train()
        if c.freeze_core:
            model.core.eval()  # frozen batch-norm statistics too
        perms = {s: d.tiers["train"][torch.randperm(n_train[s], generator=gen).to(d.images.device)]
                 for s, d in data.items()}
        total = 0.0
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            for s, d in data.items():
                k = (step * c.batch_size) % n_train[s]  # shorter scans cycle
                i = perms[s][k:k + c.batch_size]
                with autocast(d.images.device):
                    pred = model(d.images[i], s, d.behavior[i], d.pupil[i],
                                 features=features[s][i] if features is not None else None)
                loss = (math.sqrt(d.n_trials / len(i)) * poisson_loss(pred.float(), d.responses[i])
                        + model.regularizer(s, core=not c.freeze_core))
                loss.backward()
                total += float(loss.detach())
            opt.step()
            for ro in model.readouts.values():
                if hasattr(ro, "clamp_"):
                    ro.clamp_()
        score = validation_score(model, data)
        lr = opt.param_groups[0]["lr"]
        st["seconds"] += time.perf_counter() - t0
        st["history"].append((st["epoch"], total / steps, score, lr, st["seconds"]))
        st["epoch"] += 1
        if score > st["best"] + c.tolerance:
            st.update(best=score, bad=0,
                      best_state={k: v.detach().clone() for k, v in model.state_dict().items()})
        else:
            st["bad"] += 1
        if st["bad"] >= c.patience:  # one patience cycle is over
            model.load_state_dict(st["best_state"])
            st["bad"] = 0
            st["decays"] += 1
            if st["decays"] >= c.lr_decay_steps:
                st["done"] = True
            else:
                for g in opt.param_groups:
                    g["lr"] = max(g["lr"] * c.lr_decay_factor, c.min_lr)
        bar.update(1)
        bar.set_postfix(val_corr=f"{score:.3f}", lr=f"{lr:.1e}")
        if checkpoint is not None:
            with atomic_path(checkpoint) as tmp:
                torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                            "torch_rng": torch.get_rng_state(), "batch_rng": gen.get_state(),
                            "cuda_rng": (torch.cuda.get_rng_state_all()
                                         if torch.cuda.is_available() else None),
                            "state": st}, tmp)
    bar.close()
    if st["best_state"] is not None:
        model.load_state_dict(st["best_state"])
    model.eval()
    h = np.array(st["history"], dtype=np.float64).reshape(-1, 5)
    return xr.Dataset(
        {"train_loss": ("epoch", h[:, 1]), "val_corr": ("epoch", h[:, 2]), "lr": ("epoch", h[:, 3]),
         "seconds": ("epoch", h[:, 4], {"long_name": "wall time since the start of training"})},
        coords={"epoch": h[:, 0].astype(int)},
        attrs={"best_val_corr": float(st["best"]), "epochs": int(st["epoch"]),
               "best_epoch": int(np.argmax(h[:, 2])) if len(h) else -1,
               "stopped": "early stopping" if st["done"] else "max_epochs"})


# ----------------------------------------------------------------------------- cache


@dataclass
class FitResult:
    model: Encoder
    history: xr.Dataset
    folder: Path
    data: dict[str, ScanTensors]


def build_model(scans: dict[str, xr.Dataset], data: dict[str, ScanTensors],
                config: ModelConfig, seed: int) -> Encoder:
    torch.manual_seed(seed)
    first = next(iter(scans.values()))
    model = Encoder(config, {s: d.info for s, d in data.items()},
                    (first.sizes["y"], first.sizes["x"]))
    # channels-last convolutions: depthwise ones run several times faster on CPU
    return model.to(memory_format=torch.channels_last)


def train_model(scans: dict[str, xr.Dataset], model_config: ModelConfig, train_config: TrainConfig,
                seed: int, out_dir, device="cpu", core_from: Encoder | None = None,
                show_progress: bool = True, provenance_extra: dict | None = None) -> FitResult:
    """Train (or resume, or reload) a model into ``out_dir``: ``model.pt``,
    ``history.nc``, ``config.json``, ``provenance.json``; ``checkpoint.pt``
    while training. ``core_from`` copies a trained core (for transfer)."""
    out = Path(out_dir)
    data = prepare(scans, device, train_config.train_fraction)
    model = build_model(scans, data, model_config, seed).to(device)
    if core_from is not None:
        model.core.load_state_dict(core_from.core.state_dict())
    config = {"model": model_config.to_dict(), "train": dataclasses.asdict(train_config),
              "scans": list(scans), "seed": seed, **(provenance_extra or {})}
    config = json.loads(canonical_json(config))
    if (out / "config.json").is_file() and json.loads((out / "config.json").read_text()) != config:
        raise ValueError(f"{out}: holds a run of another configuration (see its config.json); "
                         "choose another output folder or delete it")
    final = out / "model.pt"
    if final.is_file():
        model.load_state_dict(torch.load(final, map_location=device, weights_only=True))
        model.eval()
        with xr.open_dataset(out / "history.nc", engine="h5netcdf") as h:
            return FitResult(model, h.load(), out, data)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "config.json", config)
    history = fit(model, data, train_config, seed, out / "checkpoint.pt", show_progress)
    prov = collect(config=config, seed=seed, device=str(device))
    history.attrs.update(netcdf_attrs(prov))
    write_json_atomic(out / "provenance.json", prov)
    with atomic_path(out / "history.nc") as tmp:
        history.to_netcdf(tmp, engine="h5netcdf")
    with atomic_path(final) as tmp:
        torch.save(model.state_dict(), tmp)
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return FitResult(model, history, out, data)


def fit_cached(scans: dict[str, xr.Dataset], model_config: ModelConfig, train_config: TrainConfig,
               seed: int, results_dir=None, device="cpu", core_from: FitResult | None = None,
               show_progress: bool = True) -> FitResult:
    """:func:`train_model` into ``results/models/<hash>``, the hash of the data,
    both configs, the seed, ``TRAINING_VERSION`` and (for transfer) the source
    core's folder: a
    chapter re-run after a plot edit reloads instead of retraining."""
    key = {"version": TRAINING_VERSION, "data": data_fingerprint(scans), "model": model_config.to_dict(),
           "train": dataclasses.asdict(train_config), "seed": seed,
           "core_from": core_from.folder.name if core_from is not None else None,
           "device": torch.device(device).type}
    folder = paths.results_dir(results_dir) / "models" / config_hash(key)
    return train_model(scans, model_config, train_config, seed, folder, device,
                       core_from.model if core_from is not None else None, show_progress,
                       {"data_fingerprint": key["data"], "core_from": key["core_from"]})

