"""The models of the static-image chapters: the variants of the readout
comparison, and the model and training settings a profile gives them (its
``static_models`` section)."""

from __future__ import annotations

import dataclasses
import math

from .. import profiles
from ..model_cache import FitResult, fit_cached
from ..models.encoder import ModelConfig
from ..train import TrainConfig

SECTION = "static_models"

# The model variants of the readout comparison: name -> ModelConfig options.
VARIANTS = {
    "gaussian": {"readout": "gaussian", "grid_predictor": True},
    "gaussian_free": {"readout": "gaussian", "grid_predictor": False},
    "factorized": {"readout": "factorized", "grid_predictor": False},
    "point": {"readout": "point", "grid_predictor": False},
    "gaussian_shifter": {"readout": "gaussian", "grid_predictor": True, "shifter": "mlp"},
    "gaussian_modulator": {"readout": "gaussian", "grid_predictor": True, "modulator": "mlp"},
    "gaussian_full": {"readout": "gaussian", "grid_predictor": True, "shifter": "mlp",
                      "modulator": "mlp"},
    # the LN baseline: the same core without its nonlinearities, Gaussian readout
    "linear": {"readout": "gaussian", "grid_predictor": True, "core": {"linear": True}},
}
LABELS = {
    "gaussian": "Gaussian + grid",
    "gaussian_free": "Gaussian, free positions",
    "factorized": "factorized",
    "point": "point-pooled",
    "gaussian_shifter": "Gaussian + grid + shifter",
    "gaussian_modulator": "Gaussian + grid + modulator",
    "gaussian_full": "Gaussian + grid + shifter + modulator",
    "linear": "LN baseline (linear core)",
}
IMAGE_ONLY = ("gaussian", "gaussian_free", "factorized", "point", "linear")  # no shifter, modulator


def model_configs(profile: str, **options) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configuration of a profile, with ``options``
    (readout, grid_predictor, shifter, modulator, ...) set on the model."""
    s = profiles.settings(profile, SECTION)
    source = f"profile '{profiles.resolve(profile)}', section '{SECTION}'"
    core = {**s.get("core", {}), **options.pop("core", {})}
    model = ModelConfig.from_dict({"core": core, **s.get("model", {}), **options}, source=source)
    return model, TrainConfig.from_dict(s.get("train", {}), source=source)


def variant_config(profile: str, variant: str, model: dict | None = None
                   ) -> tuple[ModelConfig, TrainConfig]:
    """The configurations of ``variant`` under ``profile``, with the model
    options ``model`` (e.g. a tuned ``gamma_readout``) set on top."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown model variant '{variant}'; choose from {list(VARIANTS)}")
    return model_configs(profile, **{**VARIANTS[variant], **(model or {})})


def study_settings(profile: str) -> dict:
    """Replicates, variants and fractions a profile asks of the chapters.

    A replicate is an animal: replicate ``k`` trains on the ``k``-th scan (its
    own neurons, images and test set) with seed ``k + 1`` and, where training
    data are subsampled, its own subsets; intervals are taken over replicates.
    Variants in ``one_replicate`` are trained on the first replicate only (they
    carry no claim that rests on a difference between models)."""
    s = profiles.settings(profile, SECTION)
    name = profiles.resolve(profile)
    out = {"replicates": s.get("replicates", 3),
           "variants": list(s.get("variants", list(VARIANTS))),
           "one_replicate": list(s.get("one_replicate", [])),
           "fractions": sorted(float(f) for f in s.get("fractions", [0.1, 0.25, 0.5, 1.0]))}
    if not isinstance(out["replicates"], int) or out["replicates"] < 1:
        raise ValueError(f"profile '{name}': 'replicates' must be a positive integer, got "
                         f"{out['replicates']!r}")
    bad = [v for v in out["variants"] + out["one_replicate"] if v not in VARIANTS]
    if bad:
        raise ValueError(f"profile '{name}': unknown model variant(s) {bad}; "
                         f"choose from {list(VARIANTS)}")
    if not all(0 < f <= 1 for f in out["fractions"]):
        raise ValueError(f"profile '{name}': 'fractions' must lie in (0, 1], got {out['fractions']}")
    return out


def replicates(scans: dict, settings: dict) -> list[tuple[str, int]]:
    """``(scan, seed)`` of every replicate: the first ``replicates`` animals,
    seeds 1, 2, ..."""
    n = settings["replicates"]
    if n > len(scans):
        raise ValueError(f"the profile asks for {n} replicates (animals) but the data hold "
                         f"{len(scans)} scans: {list(scans)}")
    return [(name, k + 1) for k, name in enumerate(list(scans)[:n])]


def fit_variant(scans, profile: str, variant: str, seed: int, results_dir=None, device="cpu",
                show_progress: bool = True, model: dict | None = None,
                **train_options) -> FitResult:
    model_cfg, train_cfg = variant_config(profile, variant, model)
    train_cfg = dataclasses.replace(train_cfg, **train_options)
    return fit_cached(scans, model_cfg, train_cfg, seed, results_dir, device,
                      show_progress=show_progress)


def fraction_config(base: TrainConfig, fraction: float, n_train: int, subset_seed: int,
                    freeze_core: bool = False) -> TrainConfig:
    """Training on ``fraction`` of ``n_train`` images with the same budget in
    optimiser steps as with all of them: an epoch is a full-data epoch's number
    of steps, so patience, learning-rate decay and ``max_epochs`` count the same
    steps at every fraction. The subset is drawn with ``subset_seed``. With all
    data it is ``base`` (so direct models are chapter 2's)."""
    if fraction >= 1:
        return dataclasses.replace(base, freeze_core=freeze_core)
    return dataclasses.replace(base, train_fraction=float(fraction), subset_seed=int(subset_seed),
                               steps_per_epoch=math.ceil(n_train / base.batch_size),
                               freeze_core=freeze_core)


def fit_fraction(scans, profile: str, variant: str, animal: str, seed: int, fraction: float,
                 results_dir=None, device="cpu", model: dict | None = None,
                 core: FitResult | None = None) -> FitResult:
    """``variant`` (with model options ``model``) trained on ``fraction`` of
    ``animal``'s training images (:func:`fraction_config`, subset drawn with
    ``seed``): directly, or as a new readout on the frozen core of ``core``."""
    model_cfg, base = variant_config(profile, variant, model)
    n_train = int((scans[animal].tier == "train").sum())
    cfg = fraction_config(base, fraction, n_train, seed, freeze_core=core is not None)
    return fit_cached({animal: scans[animal]}, model_cfg, cfg, seed, results_dir, device,
                      core_from=core, show_progress=False)


def params_per_neuron(fit: FitResult) -> float:
    """Trainable parameters of the readouts, shifters and modulators per neuron
    (the core is shared and not counted)."""
    m = fit.model
    n = sum(ro.features.shape[0] for ro in m.readouts.values())
    return (m.n_parameters("all") - m.n_parameters("core")) / n


def companion_data(profile: str, dataset: str, key: str, results_dir=None) -> dict | None:
    """The dataset the profile names under ``key`` of its ``static_models`` (a
    twin of its own data for a control), loaded, where the chapter runs on the
    profile's own dataset; None otherwise (other data have no twin)."""
    from ..datasets import load

    name = profiles.settings(profile, SECTION).get(key)
    if not name or dataset != profiles.load(profile)["parameters"]["data"]:
        return None
    return load(name, results_dir=results_dir, show_progress=False)
