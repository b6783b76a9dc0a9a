"""Chapter 2, readouts: every variant trained with every seed on the same data
and scored on the test tier, and the words that set the result against the
numbers Lurz et al. (2021) report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..published import PUBLISHED
from ..stats import change_text, interval, mean_sem, paired_change, resolved
from .static import (
    IMAGE_ONLY,
    LABELS,
    fit_variant,
    params_per_neuron,
    study_settings,
    variant_config,
)
from .sweep import sweep, tier_scores

CLAIM = PUBLISHED["gaussian_readout_gain"]

TABLE_METRICS = {
    "single_trial_corr": "single-trial corr.",
    "corr_to_avg": "corr. to average",
    "feve": "FEVE",
    "fraction_oracle": "fraction oracle",
    "gt_ceiling_fraction": "fraction of ceiling",
    "gt_observable_ceiling_fraction": "fraction of observable ceiling",
}


def readout_comparison(scans, profile: str, variants=None, seeds=None, results_dir=None,
                       device="cpu") -> xr.Dataset:
    """Train every variant with every seed on all scans (the profile's
    ``one_seed`` variants with the first seed only); score each on the test
    tier. Returns the population metrics with dims (variant, seed), NaN where a
    variant was not trained with a seed."""
    st = study_settings(profile)
    variants = variants or st["variants"]
    seeds = seeds or st["seeds"]
    patience = variant_config(profile, variants[0])[1].patience

    def run(variant, seed):
        fit = fit_variant(scans, profile, variant, seed, results_dir, device, show_progress=False)
        h = fit.history
        return {**tier_scores(fit, scans), "params_per_neuron": params_per_neuron(fit),
                "epochs": int(h.attrs["epochs"]),
                "converged": float(h.attrs["stopped"] == "early stopping"),
                # still improving: the best epoch is among the last `patience` epochs
                "improving_at_end": float(h.attrs["best_epoch"] >= h.attrs["epochs"] - patience)}

    jobs = [(v, s) for v in variants for s in (seeds[:1] if v in st["one_seed"] else seeds)]
    out = sweep(jobs, run, ("variant", "seed"), desc="readout comparison")
    return out.reindex(seed=seeds).assign_coords(label=("variant", [LABELS[v] for v in variants]))


def trained(comparison: xr.Dataset, variant: str) -> np.ndarray:
    """Which seeds ``variant`` was trained with (all, where the record does not say)."""
    if "epochs" not in comparison:
        return np.ones(comparison.sizes["seed"], dtype=bool)
    return comparison.epochs.sel(variant=variant).notnull().values


def cell(values: np.ndarray) -> str:
    """Mean ± s.e.m. of per-seed values, or the one value and '(1 seed)'."""
    if len(values) == 1:
        return f"{values[0]:.3f} (1 seed)"
    m, e = mean_sem(xr.DataArray(values, dims="seed"))
    return f"{float(m):.3f} ± {float(e):.3f}"


def comparison_table(comparison: xr.Dataset) -> pd.DataFrame:
    """Mean ± s.e.m. over seeds of every metric, one row per variant."""
    rows = {}
    for v in comparison.variant.values:
        keep = trained(comparison, v)
        row = {name: cell(comparison[k].sel(variant=v).values[keep])
               for k, name in TABLE_METRICS.items() if k in comparison}
        row["params / neuron"] = f"{float(comparison.params_per_neuron.sel(variant=v).mean()):,.0f}"
        row["epochs"] = f"{float(comparison.epochs.sel(variant=v).mean()):.0f}"
        rows[str(comparison.label.sel(variant=v).item())] = row
    return pd.DataFrame(rows).T


def _best(comparison: xr.Dataset) -> str:
    """The variant with the highest mean fraction oracle, marked when it was
    trained with fewer seeds than the others."""
    fo = comparison.fraction_oracle.mean("seed")
    v = str(fo.idxmax("variant").item())
    best = str(comparison.label.sel(variant=v).item())
    n = int(trained(comparison, v).sum())
    most = max(int(trained(comparison, u).sum()) for u in comparison.variant.values)
    note = "" if n == most else f" (trained with {n} of the {most} seeds)"
    return f"*{best}*{note}"


def headline_text(comparison: xr.Dataset) -> str:
    """Gaussian + grid against factorized on the means over the seeds both were
    trained with, with the ratio of parameters per neuron, and the best variant
    of the comparison."""
    best = _best(comparison)
    if not {"gaussian", "factorized"} <= set(comparison.variant.values):
        return f"The best variant on these data is {best}."
    g, f = (float(x.mean()) for x in _pair(comparison, "gaussian", "factorized"))
    ppn = comparison.params_per_neuron.mean("seed")
    ratio = float(ppn.sel(variant="factorized") / ppn.sel(variant="gaussian"))
    return (f"On these data the Gaussian readout with the grid predictor changes the fraction "
            f"oracle by {change_text(g, f, 'the factorized readout')} relative to the factorized "
            f"readout (seed means {g:.3f} and {f:.3f}), with {ratio:.0f} times fewer parameters "
            f"per neuron; the best variant is {best}.")


def _pair(comparison: xr.Dataset, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """Fraction oracle of variants ``a`` and ``b`` on the seeds both were trained with."""
    both = trained(comparison, a) & trained(comparison, b)
    fo = comparison.fraction_oracle
    return fo.sel(variant=a).values[both], fo.sel(variant=b).values[both]


def readout_claim_text(comparison: xr.Dataset) -> str:
    """Markdown that sets the Gaussian-vs-factorized result against the reported
    gain, with a paired comparison over seeds."""
    if not {"gaussian", "factorized"} <= set(comparison.variant.values):
        return "The profile trained no Gaussian + grid and factorized pair to compare."
    g, f = _pair(comparison, "gaussian", "factorized")
    if not (np.isfinite(g).all() and np.isfinite(f).all()):
        return ("**Gaussian + grid vs factorized:** a fraction oracle is not finite for some seed "
                f"(no neuron to score), so the two cannot be compared against the reported "
                f"{CLAIM.signed}.")
    if (f <= 0).any():
        return (f"**Gaussian + grid vs factorized:** the factorized readout's fraction oracle is "
                f"at or below zero for {int((f <= 0).sum())} of {len(f)} seeds (mean "
                f"{f.mean():.3f}, against {g.mean():.3f} for Gaussian + grid), so no relative "
                f"change can be set against the reported {CLAIM.signed}.")
    rel, mean, sem = paired_change(g, f)
    n, wins = len(rel), int((g > f).sum())
    lo, hi = interval(mean, sem)
    if not np.isfinite(sem):
        verdict = "cannot be tested with one seed against"
    elif lo > 0:
        verdict = ("reproduces the direction of, and is larger than," if lo > CLAIM.value else
                   "reproduces the direction of, and is smaller than," if hi < CLAIM.value else
                   "reproduces, within its uncertainty,")
    elif hi < 0:
        verdict = "reverses"
    else:
        verdict = ("is within the seed-to-seed noise (±2 s.e.m. includes 0), so it neither "
                   "confirms nor refutes")
    return (f"**Gaussian + grid vs factorized, per seed:** the fraction oracle changes by "
            f"{mean:+.1f} % ± {sem:.1f} % (mean ± s.e.m., {n} seeds; the Gaussian readout is "
            f"ahead in {wins} of {n}). This {verdict} the reported {CLAIM.signed}.")


def ranking_text(comparison: xr.Dataset) -> str:
    """The readouts that see only the image, ranked by fraction oracle, and the
    grid predictor against free positions, seed by seed."""
    present = [v for v in IMAGE_ONLY if v in comparison.variant.values]
    if not present:
        return "The profile trained no image-only readout."
    mean = comparison.fraction_oracle.sel(variant=present).mean("seed").sortby(lambda m: -m)
    one = lambda v: ", 1 seed" if trained(comparison, v).sum() == 1 else ""
    ranking = " > ".join(f"{LABELS[str(v)]} ({float(mean.sel(variant=v)):.3f}{one(v)})"
                         for v in mean.variant.values)
    text = f"Among the readouts that see only the image, the fraction oracle ranks {ranking}."
    if {"gaussian", "gaussian_free"} <= set(present):
        g, f = _pair(comparison, "gaussian", "gaussian_free")
        rel, m, e = paired_change(g, f)
        if np.isfinite(rel).all() and len(rel) > 1:
            word = ("within the seed-to-seed noise" if not resolved(m, e) else
                    "a resolved gain" if m > 0 else "a resolved loss")
            text += (f" The grid predictor changes it by {m:+.1f} % ± {e:.1f} % against free "
                     f"positions ({word}; the grid predictor is ahead in {int((g > f).sum())} of "
                     f"{len(g)} seeds).")
        elif len(rel) == 1 and np.isfinite(rel).all():
            text += (f" With one seed in common, the grid predictor changes it by {m:+.1f} % "
                     f"against free positions; one seed gives no interval, so this is not tested.")
    elif "gaussian" in present:
        text += (" This profile trains no Gaussian readout with free positions, so the grid "
                 "predictor is not tested against them here.")
    return text


def budget_text(settings: dict, profile_name: str) -> str:
    """What this profile trains for the comparison, and what it leaves out."""
    variants, seeds = settings["variants"], settings["seeds"]
    full = [LABELS[v] for v in variants if v not in settings["one_seed"]]
    one = [LABELS[v] for v in variants if v in settings["one_seed"]]
    missing = [LABELS[v] for v in LABELS if v not in variants]
    text = (f"The **{profile_name}** profile trains {', '.join(full)} with {len(seeds)} seeds "
            f"each")
    if one:
        text += (f", and {', '.join(one)} with one seed (no claim here rests on a difference "
                 f"from it, so it gets no interval)")
    text += "."
    if missing:
        text += (f" It leaves out {', '.join(missing)}: the readout claim rests on the Gaussian "
                 f"and factorized pair, and this profile's time budget does not stretch to the "
                 f"rest; the gpu profile trains every variant with every seed.")
    return text


def convergence_text(comparison: xr.Dataset, limit: int) -> str:
    """Say how many models stopped early, how many ran into the epoch limit, and
    how many of those were still improving at the end."""
    n = int(comparison.converged.notnull().sum())
    early = int(comparison.converged.sum())
    if early == n:
        return f"All {n} models were stopped by early stopping on the validation set."
    improving = int(comparison.improving_at_end.sum())
    return (f"{n - early} of {n} models ran into the limit of {limit} epochs before early "
            f"stopping ended them, and {improving} had their best validation score in their "
            f"last epochs, i.e. were still improving. The table therefore compares the readouts "
            f"at an equal training budget rather than at convergence, which favours those that "
            f"learn fastest.")


def lr_decays(history: xr.Dataset) -> np.ndarray:
    """The epochs at which training lowered the learning rate."""
    return history.epoch.values[1:][np.diff(history.lr.values) < 0]


def training_curve_text(history: xr.Dataset) -> str:
    """Words for one model's training history: when the learning rate decayed
    and why training ended."""
    decays, a = lr_decays(history), history.attrs
    end = (f"Training ended by early stopping after {a['epochs']} epochs" if a["stopped"] ==
           "early stopping" else f"Training ran into the limit of {a['epochs']} epochs")
    end += f"; the best validation {a.get('score', 'correlation')} came in epoch {a['best_epoch']}."
    if len(decays):
        return (f"The learning rate decayed at epoch(s) {', '.join(str(int(e)) for e in decays)} "
                f"(dashed), each time after the best weights were restored. {end}")
    return f"The learning rate never decayed. {end}"
