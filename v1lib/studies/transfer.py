"""Chapter 3, core transfer: a core trained on other animals, frozen, with a new
readout for a held-out animal, against direct training on that animal, across
amounts of its training data; and the numbers Lurz et al. (2021) report.

Every replicate is a held-out animal (leave one animal out): its own source
core, trained on the other animals with the replicate's seed, and its own
random training subsets. Intervals over replicates therefore include the
variation between animals, source cores and subsets, not only the seed's. The
replicates are not fully independent (each animal is in the others' source
cores; the test images of all animals come from the same photographs), so the
intervals may be somewhat too narrow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..ledger import Claim, change_claim, model_rows, untestable
from ..model_cache import FitResult, costs
from ..parallel import run_jobs
from ..published import PUBLISHED
from ..stats import change_text, paired_change, relative_change, t_interval, verdict
from .readouts import TABLE_METRICS, cell
from .static import fit_fraction, fit_variant, replicates, study_settings
from .sweep import sweep, tier_scores

GAIN, DATA = PUBLISHED["transfer_gain"], PUBLISHED["transfer_data_fraction"]


def source_cores(scans, profile: str, variant: str = "gaussian", results_dir=None,
                 device="cpu", model: dict | None = None) -> dict[str, FitResult]:
    """For every replicate animal, the model trained on all the other animals
    with the replicate's seed (its core is what transfers); ``model``: model
    options (a tuned ``gamma_readout``)."""
    reps = replicates(scans, study_settings(profile))
    if len(scans) < 2:
        raise ValueError("core transfer needs at least two scans")

    def fit(animal, seed):
        return fit_variant({k: v for k, v in scans.items() if k != animal}, profile, variant,
                           seed, results_dir, device, show_progress=False, model=model)

    # train side by side (the results are folders), then reload each here
    run_jobs(lambda a, seed: fit(a, seed).folder, reps, device, desc="source cores")
    return {a: fit(a, seed) for a, seed in reps}


def condition_fit(scans, profile: str, animal: str, seed: int, fraction: float, condition: str,
                  core: FitResult | None = None, variant: str = "gaussian", results_dir=None,
                  device="cpu", model: dict | None = None) -> FitResult:
    """The model of one point of a transfer curve: trained on ``fraction`` of
    ``animal``'s training images, directly or (``condition`` 'transfer') as a
    new readout on the frozen ``core``."""
    if condition not in ("direct", "transfer"):
        raise ValueError(f"unknown condition '{condition}'; choose 'direct' or 'transfer'")
    if condition == "transfer" and core is None:
        raise ValueError("the transfer condition needs the source core")
    return fit_fraction(scans, profile, variant, animal, seed, fraction, results_dir, device,
                        model, core if condition == "transfer" else None)


def transfer_curve(scans, profile: str, variant: str = "gaussian", fractions=None,
                   results_dir=None, device="cpu", model: dict | None = None
                   ) -> tuple[xr.Dataset, dict[str, FitResult]]:
    """Core transfer to each held-out animal across amounts of its training data.

    For every replicate animal, a core is trained on every other scan; then, on
    ``fraction`` of the held-out animal's training images, a model is either
    trained directly (core and readout) or gets a new readout on the frozen
    transferred core. Both are scored on the held-out animal's test tier.
    Every model gets the model options ``model`` (a tuned ``gamma_readout``).
    Returns metrics with dims (condition, fraction, animal) and the source
    models by held-out animal."""
    st = study_settings(profile)
    fractions = sorted(fractions or st["fractions"])
    reps = dict(replicates(scans, st))
    cores = source_cores(scans, profile, variant, results_dir, device, model)

    def run(condition, fraction, animal):
        fit = condition_fit(scans, profile, animal, reps[animal], fraction, condition,
                            cores[animal], variant, results_dir, device, model)
        h = fit.history
        return {**tier_scores(fit, {animal: scans[animal]}), **costs(fit),
                "n_train_images": len(fit.tensors[animal].tiers["train"]),
                "epochs": int(h.attrs["epochs"]),
                "converged": float(h.attrs["stopped"] == "early stopping")}

    jobs = [(c, f, a) for c in ("direct", "transfer") for f in fractions for a in reps]
    ds = sweep(jobs, run, ("condition", "fraction", "animal"), desc="transfer curve", device=device)
    ds = ds.sortby("fraction")  # data_needed reads the curve in order of fraction
    ds = ds.assign_coords(seed=("animal", [reps[a] for a in ds.animal.values]))
    ds.attrs.update(variant=variant)
    return ds, cores


def data_needed(curve: xr.DataArray, level: float) -> float:
    """The fraction of training data at which a mean curve (over ``fraction``)
    first reaches ``level``, interpolating linearly in log fraction; NaN if never."""
    f = curve.fraction.values.astype(float)
    y = curve.values.astype(float)
    for i in range(len(f)):
        if y[i] >= level:
            if i == 0:
                return float(f[0])
            t = (level - y[i - 1]) / (y[i] - y[i - 1])
            return float(np.exp(np.log(f[i - 1]) + t * (np.log(f[i]) - np.log(f[i - 1]))))
    return float("nan")


def transfer_table(curve: xr.Dataset) -> pd.DataFrame:
    """Mean [95 % CI] over held-out animals per condition and fraction."""
    rows = []
    for f in curve.fraction.values:
        for c in curve.condition.values:
            sel = curve.sel(condition=c, fraction=f)
            row = {"fraction": float(f), "condition": str(c),
                   "training images": int(sel.n_train_images.mean())}
            for k, name in TABLE_METRICS.items():
                if k in curve:
                    row[name] = cell(sel[k].values)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["fraction", "condition"])


def _need_text(needed: float, smallest: float) -> str:
    if np.isnan(needed):
        return ("the transfer model never reaches the direct model's full-data score on this "
                f"curve, so the reported {DATA} is not reproduced")
    if needed <= smallest:
        return (f"the transfer model reaches the direct model's full-data score already with "
                f"the smallest fraction tried, {100 * smallest:.0f} % of the data "
                f"(reported: {DATA})")
    return (f"the transfer model reaches the direct model's full-data score with "
            f"{100 * needed:.0f} % of the data (reported: {DATA})")


def _gain_at(curve: xr.Dataset, fraction: float, metric: str):
    """Per-animal changes (%) from direct to transfer at ``fraction`` and their interval."""
    d = curve[metric].sel(condition="direct", fraction=fraction).values
    t = curve[metric].sel(condition="transfer", fraction=fraction).values
    return paired_change(t, d)


def transfer_claims(curve: xr.Dataset, metric: str = "fraction_oracle") -> dict:
    """The two numbers Lurz et al. report, computed on ``curve``: the gain of
    transfer over direct training with all data (per animal, with its interval
    and verdict), and the fraction of data transfer needs to match direct
    training on all data (on the curves averaged over animals, and per animal)."""
    mean = curve[metric].mean("animal")
    full, smallest = float(curve.fraction.max()), float(curve.fraction.min())
    at = lambda c, f: float(mean.sel(condition=c, fraction=f))
    d_small, t_small = at("direct", smallest), at("transfer", smallest)
    _, iv = _gain_at(curve, full, metric)
    d_at_full = curve[metric].sel(condition="direct", fraction=full).values
    gain = (f"by {iv.text()} relative to direct training (per held-out animal, {iv.n} animals); "
            f"this {verdict(iv, GAIN.value, 'the reported ' + GAIN.signed)}"
            if np.isfinite(d_at_full).all() and (d_at_full > 0).all() else
            f"by {change_text(at('transfer', full), at('direct', full), 'direct training')} on "
            f"the curves averaged over animals (direct training scores at or below zero, or not "
            f"at all, for some animal, so no per-animal relative change is set against the "
            f"reported {GAIN.signed})")
    needed = data_needed(mean.sel(condition="transfer"), at("direct", full))
    per_animal = [data_needed(curve[metric].sel(condition="transfer", animal=a),
                              float(curve[metric].sel(condition="direct", fraction=full, animal=a)))
                  for a in curve.animal.values]
    n_img = int(curve.n_train_images.sel(condition="direct", fraction=full).mean())
    text = (f"With all {n_img} training images, transfer changes the "
            f"{metric.replace('_', ' ')} {gain}. "
            f"With {100 * smallest:.0f} % of the images, the curves averaged over animals differ "
            f"by {change_text(t_small, d_small, 'direct training')}. By linear interpolation in "
            f"log data on the averaged curves, {_need_text(needed, smallest)}; animal by animal: "
            + ", ".join("never" if np.isnan(x) else f"{100 * x:.0f} %" for x in per_animal) + ".")
    return {"gain_at_full_data_pct": iv.mean, "gain_at_full_data_ci": (iv.lo, iv.hi),
            "gain_at_smallest_pct": float(relative_change(t_small, d_small)),
            "data_fraction_to_match": needed, "data_fraction_per_animal": per_animal,
            "text": text}


def transfer_budget_text(cores: dict[str, FitResult], curve: xr.Dataset, max_epochs: int) -> str:
    """How far to trust a transfer curve: the source cores' data and training
    against Lurz et al.'s, and whether the models converged within the budget."""
    stopped = [c.history.attrs["stopped"] for c in cores.values()]
    n = [sum(d.info.n_neurons for d in c.tensors.values()) for c in cores.values()]
    k = len(next(iter(cores.values())).tensors)
    conv = curve.converged
    direct_full = conv.sel(condition="direct", fraction=curve.fraction.max())
    neurons = f"{min(n):,}" if min(n) == max(n) else f"{min(n):,}–{max(n):,}"
    return (f"**How far to trust these numbers.** Each of the {len(cores)} source cores was "
            f"trained on {k} animal(s), {neurons} neurons, for at most {max_epochs} "
            f"epochs; {stopped.count('early stopping')} of {len(cores)} converged (early "
            f"stopping), the others ran into the limit. Lurz et al.'s transfer core was trained "
            f"on {PUBLISHED['transfer_source_scans']} (their '11-S' core). Every model of the "
            f"curve has the same budget of optimiser steps: an epoch is a full-data epoch's "
            f"number of steps at every fraction, so patience and learning-rate decay count the "
            f"same steps. {int(conv.sum())} of {int(conv.notnull().sum())} models of the curve "
            f"converged, {int(direct_full.sum())} of {int(direct_full.notnull().sum())} direct "
            f"models with all data. A model cut short by the limit favours the other condition: "
            f"a direct model cut short favours transfer, an under-trained source core favours "
            f"direct training.")


def transfer_gain(curve: xr.Dataset, metric: str = "fraction_oracle", condition: str = "transfer",
                  reference: str = "direct") -> xr.DataArray:
    """Per fraction and held-out animal, the change (%) of ``metric`` from
    ``reference`` (direct training) to ``condition`` (transfer); NaN where the
    reference scores at or below zero."""
    new, ref = (curve[metric].sel(condition=c, drop=True) for c in (condition, reference))
    return ref.copy(data=relative_change(new, ref))


def _fraction_text(curve: xr.Dataset, metric: str, f) -> str:
    n = int(curve.n_train_images.sel(condition="direct", fraction=f).mean())
    d = curve[metric].sel(condition="direct", fraction=f).values
    t = curve[metric].sel(condition="transfer", fraction=f).values
    if not (np.isfinite(d).all() and np.isfinite(t).all()):
        return f"{n} images: not finite for some animal (no neuron to score)"
    if (d <= 0).any():
        iv = t_interval(t - d)
        return (f"{n} images: {iv.text(unit='', digits=3)} in absolute terms (direct training at "
                f"or below zero for some animal, so no relative change); this {verdict(iv)}")
    _, iv = paired_change(t, d)
    return f"{n} images: {iv.text()}, which {verdict(iv)}"


def transfer_summary_text(curve: xr.Dataset, metric: str = "fraction_oracle") -> str:
    """Where along the data axis transfer beats direct training, in words
    computed from the curve: the mean over held-out animals of the per-animal
    changes, with its t-based 95 % interval."""
    parts = [_fraction_text(curve, metric, f) for f in curve.fraction.values]
    return ("Change of the " + metric.replace("_", " ") + " from direct training to transfer, "
            "held-out animal by held-out animal (mean and 95 % t-interval of the per-animal "
            "changes): " + "; ".join(parts) + ".")


def ledger_entries(curve: xr.Dataset, data) -> tuple[list[dict], list[Claim]]:
    """Chapter 3: the transferred core with a new readout, at all data; its gain
    over direct training (direct training itself is chapter 2's Gaussian readout)."""
    full = float(curve.fraction.max())
    at_full = curve.sel(fraction=full)
    models = model_rows(at_full, "lurz", data,
                        {"transfer": "transferred core + Gaussian readout (readout trained)"},
                        dim="condition")
    claim = "A core trained on other animals predicts a new animal better than direct training"
    d = at_full.fraction_oracle.sel(condition="direct").values
    if not (np.isfinite(d).all() and (d > 0).all()):
        return models, [untestable("lurz", claim, GAIN.signed,
                                   "Direct training scores at or below zero (or not at all) for "
                                   "some animal: no relative change.")]
    return models, [change_claim("lurz", claim, _gain_at(curve, full, "fraction_oracle")[1],
                                 GAIN.value, " %")]
