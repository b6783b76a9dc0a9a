"""Chapter 3, core transfer: a core trained on other animals, frozen, with a new
readout for a held-out animal, against direct training on that animal, across
amounts of its training data; and the numbers Lurz et al. (2021) report."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import xarray as xr

from ..model_cache import FitResult, fit_cached
from ..published import PUBLISHED
from ..stats import change_text, mean_sem, relative_change, resolved
from .readouts import TABLE_METRICS, cell
from .static import fit_variant, study_settings, variant_config
from .sweep import sweep, tier_scores

GAIN, DATA = PUBLISHED["transfer_gain"], PUBLISHED["transfer_data_fraction"]


def transfer_curve(scans, profile: str, target: str, variant: str = "gaussian", fractions=None,
                   seeds=None, results_dir=None, device="cpu") -> tuple[xr.Dataset, FitResult]:
    """Core transfer to a held-out animal across amounts of its training data.

    A core is trained on every scan but ``target``; then, on ``fraction`` of the
    target's training images, a model is either trained directly (core and
    readout) or gets a new readout on the frozen transferred core. Both are
    scored on the target's test tier. Every fraction gets the same maximum
    number of optimiser steps (``max_epochs`` / fraction epochs); early stopping
    ends training sooner. Returns metrics with dims (condition, fraction, seed)
    and the source model."""
    if target not in scans:
        raise ValueError(f"unknown target scan '{target}'; scans: {list(scans)}")
    st = study_settings(profile)
    fractions = fractions or st["fractions"]
    seeds = seeds or st["transfer_seeds"]
    source = {k: v for k, v in scans.items() if k != target}
    if not source:
        raise ValueError("core transfer needs at least two scans")
    held_out = {target: scans[target]}
    core = fit_variant(source, profile, variant, seeds[0], results_dir, device)
    model_cfg, base_cfg = variant_config(profile, variant)

    def run(condition, fraction, seed):
        # the same budget of optimiser steps at every fraction: epochs are shorter
        train_cfg = dataclasses.replace(base_cfg, train_fraction=float(fraction),
                                        freeze_core=(condition == "transfer"),
                                        max_epochs=int(np.ceil(base_cfg.max_epochs / fraction)))
        fit = fit_cached(held_out, model_cfg, train_cfg, seed, results_dir, device,
                         core_from=core if condition == "transfer" else None, show_progress=False)
        return {**tier_scores(fit, held_out),
                "n_train_images": len(fit.tensors[target].tiers["train"])}

    jobs = [(c, f, s) for c in ("direct", "transfer") for f in fractions for s in seeds]
    ds = sweep(jobs, run, ("condition", "fraction", "seed"), desc="transfer curve")
    ds = ds.sortby("fraction")  # data_needed reads the curve in order of fraction
    ds.attrs.update(target=target, source_scans=",".join(source), variant=variant)
    return ds, core


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
    """Mean ± s.e.m. over seeds per condition and fraction."""
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


def transfer_claims(curve: xr.Dataset, metric: str = "fraction_oracle") -> dict:
    """The two numbers Lurz et al. report, computed on ``curve``: the gain of
    transfer over direct training with all data, and the fraction of data
    transfer needs to match direct training on all data."""
    mean = curve[metric].mean("seed")
    full, smallest = float(curve.fraction.max()), float(curve.fraction.min())
    at = lambda c, f: float(mean.sel(condition=c, fraction=f))
    d_full, t_full = at("direct", full), at("transfer", full)
    d_small, t_small = at("direct", smallest), at("transfer", smallest)
    needed = data_needed(mean.sel(condition="transfer"), d_full)
    text = (f"On the seed-averaged curves: with all "
            f"{int(curve.n_train_images.sel(condition='direct', fraction=full).mean())} "
            f"training images, transfer changes the {metric.replace('_', ' ')} by "
            f"{change_text(t_full, d_full, 'direct training')} relative to direct training "
            f"(reported: {GAIN.signed}); with {100 * smallest:.0f} % of the images the change is "
            f"{change_text(t_small, d_small, 'direct training')}. By linear interpolation in "
            f"log data, {_need_text(needed, smallest)}.")
    return {"gain_at_full_data_pct": float(relative_change(t_full, d_full)),
            "gain_at_smallest_pct": float(relative_change(t_small, d_small)),
            "data_fraction_to_match": needed, "text": text}


def transfer_budget_text(core: FitResult, max_epochs: int) -> str:
    """How far to trust a transfer curve: the source core's data and training
    against Lurz et al.'s, and the direct models' epoch budget."""
    h = core.history
    n = [d.info.n_neurons for d in core.tensors.values()]
    return (f"**How far to trust these numbers.** The source core was trained on {len(n)} "
            f"animal(s), {sum(n):,} neurons in all, for {h.attrs['epochs']} epochs (stopped by: "
            f"{h.attrs['stopped']}); Lurz et al.'s transfer core was trained on "
            f"{PUBLISHED['transfer_source_scans']} (their '11-S' core). The direct models follow "
            f"chapter 2's recipe and budget (at most {max_epochs} epochs with all data; see "
            f"chapter 2's note on convergence). Where either is cut short, the comparison is made "
            f"at equal budgets: a direct model stopped before convergence favours transfer, which "
            f"only fits a readout, and an under-trained source core favours direct training.")


def transfer_gain(curve: xr.Dataset, metric: str = "fraction_oracle") -> xr.DataArray:
    """Per fraction and seed, the change (%) of ``metric`` from direct training
    to transfer; NaN where direct training scores at or below zero."""
    direct = curve[metric].sel(condition="direct", drop=True)
    transfer = curve[metric].sel(condition="transfer", drop=True)
    return direct.copy(data=relative_change(transfer, direct))


def _fraction_text(curve: xr.Dataset, rel: xr.DataArray, metric: str, f) -> str:
    n = int(curve.n_train_images.sel(condition="direct", fraction=f).mean())
    d = curve[metric].sel(condition="direct", fraction=f).values
    t = curve[metric].sel(condition="transfer", fraction=f).values
    if not (np.isfinite(d).all() and np.isfinite(t).all()):
        return f"{n} images: not finite for some seed (no neuron to score)"
    if (d <= 0).any():
        return (f"{n} images: {float((t - d).mean()):+.3f} in absolute terms (direct training at "
                f"or below zero for some seed, so no relative change)")
    m, e = (float(x) for x in mean_sem(rel.sel(fraction=f)))
    if not np.isfinite(e):
        return f"{n} images: {m:+.1f} % (one seed: no interval, not tested)"
    word = ("no resolved difference" if not resolved(m, e) else
            "transfer ahead" if m > 0 else "direct training ahead")
    return f"{n} images: {m:+.1f} % ± {e:.1f} % ({word})"


def transfer_summary_text(curve: xr.Dataset, metric: str = "fraction_oracle") -> str:
    """Where along the data axis transfer beats direct training, in words
    computed from the curve (mean over seeds, with the seed-to-seed s.e.m.)."""
    rel = transfer_gain(curve, metric)
    parts = [_fraction_text(curve, rel, metric, f) for f in curve.fraction.values]
    return ("Change of the " + metric.replace("_", " ") + " from direct training to transfer, "
            "computed seed by seed (mean ± s.e.m. of the per-seed changes, so it can differ in "
            "the last digit from the change between the seed-averaged curves): "
            + "; ".join(parts) + ".")
