"""The models of the static-image chapters: the variants of the readout
comparison, and the model and training settings a profile gives them (its
``static_models`` section)."""

from __future__ import annotations

import dataclasses

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
}
LABELS = {
    "gaussian": "Gaussian + grid",
    "gaussian_free": "Gaussian, free positions",
    "factorized": "factorized",
    "point": "point-pooled",
    "gaussian_shifter": "Gaussian + grid + shifter",
    "gaussian_modulator": "Gaussian + grid + modulator",
    "gaussian_full": "Gaussian + grid + shifter + modulator",
}
IMAGE_ONLY = ("gaussian", "gaussian_free", "factorized", "point")  # no shifter, no modulator


def model_configs(profile: str, **options) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configuration of a profile, with ``options``
    (readout, grid_predictor, shifter, modulator, ...) set on the model."""
    s = profiles.settings(profile, SECTION)
    source = f"profile '{profiles.resolve(profile)}', section '{SECTION}'"
    model = ModelConfig.from_dict({"core": s.get("core", {}), **s.get("model", {}), **options},
                                  source=source)
    return model, TrainConfig.from_dict(s.get("train", {}), source=source)


def variant_config(profile: str, variant: str) -> tuple[ModelConfig, TrainConfig]:
    if variant not in VARIANTS:
        raise ValueError(f"unknown model variant '{variant}'; choose from {list(VARIANTS)}")
    return model_configs(profile, **VARIANTS[variant])


def study_settings(profile: str) -> dict:
    """Seeds, variants and fractions a profile asks of the chapters. Variants in
    ``one_seed`` are trained with the first seed only (they carry no claim that
    rests on a difference between models)."""
    s = profiles.settings(profile, SECTION)
    out = {"seeds": list(s.get("seeds", [1, 2, 3])),
           "variants": list(s.get("variants", list(VARIANTS))),
           "one_seed": list(s.get("one_seed", [])),
           "fractions": list(s.get("fractions", [0.1, 0.25, 0.5, 1.0])),
           "comparison_scans": int(s.get("comparison_scans", 1000))}
    out["transfer_seeds"] = list(s.get("transfer_seeds", out["seeds"]))
    bad = [v for v in out["variants"] + out["one_seed"] if v not in VARIANTS]
    if bad:
        raise ValueError(f"profile '{profiles.resolve(profile)}': unknown model variant(s) {bad}; "
                         f"choose from {list(VARIANTS)}")
    return out


def fit_variant(scans, profile: str, variant: str, seed: int, results_dir=None, device="cpu",
                show_progress: bool = True, **train_options) -> FitResult:
    model_cfg, train_cfg = variant_config(profile, variant)
    train_cfg = dataclasses.replace(train_cfg, **train_options)
    return fit_cached(scans, model_cfg, train_cfg, seed, results_dir, device,
                      show_progress=show_progress)


def params_per_neuron(fit: FitResult) -> float:
    """Trainable parameters of the readouts, shifters and modulators per neuron
    (the core is shared and not counted)."""
    m = fit.model
    n = sum(ro.features.shape[0] for ro in m.readouts.values())
    return (m.n_parameters("all") - m.n_parameters("core")) / n
