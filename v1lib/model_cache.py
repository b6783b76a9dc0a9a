"""Trained models on disk: :func:`train_model` trains (or resumes, or reloads) a
model in a folder; :func:`fit_cached` keeps finished models under
``results/models/<hash>`` so that a chapter re-run reloads instead of retraining.

A model folder holds ``model.pt``, ``history.nc``, ``config.json`` and
``provenance.json``, and ``checkpoint.pt`` while training. A model is trained
under its folder's lock (:mod:`v1lib.locking`): of the processes that want it at
once (a sweep's Dask workers, two chapters), one trains it and the others wait,
then reload it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import xarray as xr

from . import paths, torchfile
from .cache import (
    atomic_path,
    canonical_json,
    config_hash,
    netcdf_attrs,
    provenance,
    write_json_atomic,
)
from .locking import locked
from .objectives import Poisson
from .tensors import ScanTensors, data_fingerprint, prepare, stimulus_shape
from .torchfile import UnreadableFileError
from .train import TrainConfig, fit

# Bump when a change of the model or training code changes the trained weights
# for a given config and seed, or the layout of a saved model: cached models are
# keyed by it.
TRAINING_VERSION = 8


@dataclass
class FitResult:
    model: torch.nn.Module
    history: xr.Dataset
    folder: Path
    tensors: dict[str, ScanTensors]


def costs(fit) -> dict:
    """A trained model's trainable parameters (a frozen core's not counted) and the wall
    time its training took when it was trained (its history's last
    ``seconds``; 0 when it was never trained)."""
    h = fit.history
    seconds = float(h.seconds.values[-1]) if "seconds" in h and h.sizes.get("epoch") else 0.0
    n = fit.model.n_parameters()
    config = Path(fit.folder) / "config.json"
    if config.is_file() and json.loads(config.read_text()).get("train", {}).get("freeze_core"):
        # fit freezes the core while it trains; a model reloaded from disk is built trainable
        n -= sum(p.numel() for p in fit.model.core.parameters() if p.requires_grad)
    return {"parameters": int(n), "train_seconds": seconds}


def build_model(tensors: dict[str, ScanTensors], config, seed: int) -> torch.nn.Module:
    """``config.build`` for these scans, its parameters drawn from ``seed``."""
    torch.manual_seed(seed)
    return config.build({s: d.info for s, d in tensors.items()}, stimulus_shape(tensors))


def run_config(scans, model_config, train_config: TrainConfig, seed: int, objective=Poisson(),
               extra: dict | None = None) -> dict:
    """What a model folder's ``config.json`` records of its run."""
    config = {"model": model_config.to_dict(), "model_class": type(model_config).__name__,
              "train": dataclasses.asdict(train_config), "objective": dataclasses.asdict(objective),
              "scans": list(scans), "seed": seed, **(extra or {})}
    return json.loads(canonical_json(config))


RUN_FILES = ("config.json", "checkpoint.pt", "model.pt", "history.nc", "provenance.json")
RESTART = "delete it to train from scratch (python -m v1lib fit --restart does)"


def check_folder(out, config: dict) -> None:
    """Refuse ``out`` when it holds a run of another configuration (its
    ``config.json`` differs from ``config``, or cannot be read)."""
    path = Path(out) / "config.json"
    if not path.is_file():
        return
    try:
        held = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not readable JSON ({err}); {RESTART}") from None
    if held != config:
        raise ValueError(f"{out}: holds a run of another configuration (see its config.json); "
                         "choose another output folder or delete it (python -m v1lib fit "
                         "--restart replaces it)")


def discard_run(out) -> None:
    """Remove a run's files (:data:`RUN_FILES`) from ``out``: the next
    :func:`train_model` there trains from scratch."""
    for name in RUN_FILES:
        (Path(out) / name).unlink(missing_ok=True)


def train_model(scans: dict[str, xr.Dataset], model_config, train_config: TrainConfig,
                seed: int, out_dir, device="cpu", core_from=None, show_progress: bool = True,
                provenance_extra: dict | None = None, objective=Poisson()) -> FitResult:
    """Train (or resume, or reload) a model into ``out_dir``. ``core_from`` copies
    a trained core (for transfer). Training holds the folder's lock; a finished
    model is reloaded without it."""
    args = (scans, model_config, train_config, seed, out_dir, device, core_from, show_progress,
            provenance_extra, objective)
    if (Path(out_dir) / "model.pt").is_file():
        return _train_model(*args)
    with locked(out_dir, folder=True):  # another process training it: wait, then reload
        return _train_model(*args)


def _train_model(scans, model_config, train_config, seed, out_dir, device, core_from,
                 show_progress, provenance_extra, objective) -> FitResult:
    out = Path(out_dir)
    config = run_config(scans, model_config, train_config, seed, objective, provenance_extra)
    check_folder(out, config)
    tensors = prepare(scans, device, train_config.train_fraction, train_config.subset_seed)
    model = build_model(tensors, model_config, seed).to(device)
    if core_from is not None:
        model.core.load_state_dict(core_from.core.state_dict())
    final = out / "model.pt"
    if final.is_file():
        return FitResult(_reload(model, out, device), _history(out), out, tensors)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "config.json", config)
    try:
        history = fit(model, tensors, train_config, seed, out / "checkpoint.pt", show_progress,
                      objective)
    except UnreadableFileError as err:
        raise UnreadableFileError(f"{err}; {RESTART}") from None
    prov = provenance(config=config, seed=seed, device=str(device))
    history.attrs.update(netcdf_attrs(prov))
    write_json_atomic(out / "provenance.json", prov)
    with atomic_path(out / "history.nc") as tmp:
        history.to_netcdf(tmp, engine="h5netcdf")
    torchfile.save(model.state_dict(), final)
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return FitResult(model, history, out, tensors)


def _reload(model: torch.nn.Module, out: Path, device) -> torch.nn.Module:
    """``model`` with the weights of ``out/model.pt``."""
    path = out / "model.pt"
    try:
        model.load_state_dict(torchfile.load(path, "model", map_location=device))
    except UnreadableFileError as err:
        raise UnreadableFileError(f"{err}; {RESTART}") from None
    except (RuntimeError, TypeError, AttributeError) as err:
        raise UnreadableFileError(f"{path}: does not hold this run's model "
                                  f"({str(err).splitlines()[0]}); {RESTART}") from None
    return model.eval()


def _history(out: Path) -> xr.Dataset:
    path = out / "history.nc"
    try:
        with xr.open_dataset(path, engine="h5netcdf") as h:
            return h.load()
    except (OSError, ValueError) as err:
        raise UnreadableFileError(f"{path}: unreadable training history ({err}); "
                                  f"{RESTART}") from None


def fit_cached(scans: dict[str, xr.Dataset], model_config, train_config: TrainConfig,
               seed: int, results_dir=None, device="cpu", core_from: FitResult | None = None,
               show_progress: bool = True, objective=Poisson()) -> FitResult:
    """:func:`train_model` into ``results/models/<hash>``, the hash of the data,
    the configurations, the objective, the seed, ``TRAINING_VERSION`` and (for
    transfer) the source core's folder."""
    key = {"version": TRAINING_VERSION, "data": data_fingerprint(scans),
           "model": model_config.to_dict(), "model_class": type(model_config).__name__,
           "train": dataclasses.asdict(train_config), "objective": dataclasses.asdict(objective),
           "seed": seed, "core_from": core_from.folder.name if core_from is not None else None,
           "device": torch.device(device).type}
    folder = paths.results_dir(results_dir) / "models" / config_hash(key)
    return train_model(scans, model_config, train_config, seed, folder, device,
                       core_from.model if core_from is not None else None, show_progress,
                       {"data_fingerprint": key["data"], "core_from": key["core_from"]}, objective)
