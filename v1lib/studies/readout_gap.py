"""Chapter 2, the readout gap against the amount of data (Lurz et al. 2021,
Fig. 3): the Gaussian readout with the grid predictor against the factorized
readout, each trained directly on fewer of an animal's training images and,
where the profile asks (``readout_gap: {neurons: [...]}``), on fewer of its
neurons.

A model on a fraction of the images is chapter 3's direct model at that
fraction (:func:`.static.fit_fraction`: the same random subset and the
same budget of optimiser steps), so the Gaussian arm with all neurons is
chapter 3's direct curve, trained once for both chapters. Neuron subsets are
drawn per animal with the replicate's seed and trained at the smallest and the
largest fraction only. The gap is the paired difference of the fraction oracle
(Gaussian minus factorized) over replicate animals."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import profiles
from ..stats import mean_ci, t_interval, verdict
from .static import (
    LABELS,
    SECTION,
    fit_fraction,
    replicates,
    study_settings,
)
from .sweep import sweep, tier_scores

PAIR = ("gaussian", "factorized")
ALL = "all"  # the ``neurons`` coordinate of models trained on every neuron


def gap_settings(profile: str) -> dict | None:
    """The profile's ``readout_gap`` settings (``neurons``: the smaller neuron
    counts to train on), or None where the profile runs no such study."""
    s = profiles.settings(profile, SECTION).get("readout_gap")
    if s is None:
        return None
    name = profiles.resolve(profile)
    if not isinstance(s, dict) or set(s) - {"neurons"}:
        raise ValueError(f"profile '{name}': 'readout_gap' takes only 'neurons' (a list of "
                         f"neuron counts), got {s!r}")
    neurons = s.get("neurons", [])
    if not isinstance(neurons, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in neurons):
        raise ValueError(f"profile '{name}': 'readout_gap.neurons' must be a list of positive "
                         f"integers, got {neurons!r}")
    return {"neurons": sorted(set(neurons))}


def neuron_subset(ds: xr.Dataset, n: int, seed: int) -> xr.Dataset:
    """``n`` of the scan's neurons, drawn without replacement with ``seed``
    (in their original order)."""
    total = ds.sizes["neuron"]
    if not 0 < n < total:
        raise ValueError(f"a neuron subset needs between 1 and {total - 1} neurons "
                         f"(the scan has {total}), got {n}")
    keep = np.sort(np.random.default_rng(seed).choice(total, n, replace=False))
    return ds.isel(neuron=keep)


def readout_gap(scans, profile: str, results_dir=None, device="cpu",
                tuned: dict | None = None) -> xr.Dataset:
    """Both readouts of :data:`PAIR` on every replicate animal: at every fraction
    of the profile's ``fractions`` with all neurons, and at the smallest and the
    largest with each neuron count of :func:`gap_settings` that is below every
    animal's number of neurons (larger ones are left out). ``tuned``: model
    options per readout (:func:`.tuning.tuned_options`). Returns the test scores
    with dims (readout, neurons, fraction, animal), NaN where no model was
    trained."""
    st, gs = study_settings(profile), gap_settings(profile)
    if gs is None:
        raise ValueError(f"profile '{profiles.resolve(profile)}' has no 'readout_gap' settings")
    reps = dict(replicates(scans, st))
    fractions = st["fractions"]
    small = [n for n in gs["neurons"] if all(n < scans[a].sizes["neuron"] for a in reps)]

    def run(readout, neurons, fraction, animal):
        seed = reps[animal]
        ds = scans[animal] if neurons == ALL else neuron_subset(scans[animal], int(neurons), seed)
        fit = fit_fraction({animal: ds}, profile, readout, animal, seed, fraction, results_dir,
                           device, (tuned or {}).get(readout))
        return {**tier_scores(fit, {animal: ds}),
                "n_train_images": len(fit.tensors[animal].tiers["train"]),
                "epochs": int(fit.history.attrs["epochs"])}

    jobs = [(r, ALL, f, a) for r in PAIR for f in fractions for a in reps]
    jobs += [(r, str(n), f, a) for r in PAIR for n in small
             for f in dict.fromkeys((fractions[0], fractions[-1])) for a in reps]
    out = sweep(jobs, run, ("readout", "neurons", "fraction", "animal"), desc="readout gap",
                device=device)
    return out.sortby("fraction").assign_coords(
        label=("readout", [LABELS[r] for r in out.readout.values]),
        seed=("animal", [reps[a] for a in out.animal.values]))


def gap(result: xr.Dataset, metric: str = "fraction_oracle") -> xr.DataArray:
    """Gaussian minus factorized, per animal: dims (neurons, fraction, animal)."""
    return result[metric].sel(readout="gaussian") - result[metric].sel(readout="factorized")


def _images(result: xr.Dataset, fraction: float) -> int:
    return int(round(float(result.n_train_images.sel(fraction=fraction, neurons=ALL)
                           .mean(("readout", "animal")))))


def _largest(result: xr.Dataset, g: xr.DataArray, ends: tuple[float, float]) -> str:
    """' It is largest in between, with N images: ...', where the largest mean
    gap lies between the ends."""
    means = g.mean("animal").dropna("fraction")
    if means.size < 3:
        return ""
    f = float(means.idxmax("fraction"))
    if f in ends:
        return ""
    iv = t_interval(g.sel(fraction=f).values)
    return (f" It is largest in between, with {_images(result, f):,} images: "
            f"{iv.span(signed=True)}, which {verdict(iv)}.")


def gap_text(result: xr.Dataset) -> str:
    """The gap at the smallest and the largest amount of data for every neuron
    count, and whether it shrinks with more images (paired by animal), each read
    off its 95 % t-interval."""
    d = gap(result)
    lo, hi = float(result.fraction.min()), float(result.fraction.max())
    parts = []
    for n in result.neurons.values:
        g = d.sel(neurons=n)
        if not np.isfinite(g.sel(fraction=lo)).any():
            continue
        who = "all neurons" if n == ALL else f"{n} neurons per animal"
        if lo == hi:  # one amount of data: no curve
            iv = t_interval(g.sel(fraction=lo).values)
            parts.append(f"With {who}, the Gaussian readout's fraction oracle minus the "
                         f"factorized one's is {iv.span(signed=True)}, which {verdict(iv)}.")
            continue
        at = {f: t_interval(g.sel(fraction=f).values) for f in (lo, hi)}
        shrink = t_interval((g.sel(fraction=lo) - g.sel(fraction=hi)).values)
        parts.append(
            f"With {who}, the Gaussian readout's fraction oracle minus the factorized one's is "
            f"{at[lo].span(signed=True)} with {_images(result, lo):,} training images, which "
            f"{verdict(at[lo])}, and {at[hi].span(signed=True)} with {_images(result, hi):,}, "
            f"which {verdict(at[hi])}.{_largest(result, g, (lo, hi))} The gap with fewer "
            f"images minus the gap with all of "
            f"them (paired by animal; positive where the Gaussian readout's lead is larger "
            f"when images are few) is {shrink.span(signed=True)}, which {verdict(shrink)}.")
    n_animals = result.sizes["animal"]
    return (" ".join(parts) + f" (Means and 95 % t-intervals over {n_animals} animals, each "
            "with its own seed and training subsets.)")


def plot_gap(result: xr.Dataset):
    """Fraction oracle against training images, both readouts, one panel per
    neuron count: means and 95 % t-intervals over animals."""
    import matplotlib.pyplot as plt

    levels = list(result.neurons.values)
    fig, axes = plt.subplots(1, len(levels), figsize=(5 * len(levels), 3.4), squeeze=False,
                             sharey=True)
    for ax, n in zip(axes[0], levels):
        for r, color in zip(result.readout.values, ("C0", "C1")):
            sel = result.sel(readout=r, neurons=n).dropna("fraction", how="all")
            m, e = mean_ci(sel.fraction_oracle, "animal")
            ax.errorbar(sel.n_train_images.mean("animal"), m, yerr=e, marker="o", color=color,
                        capsize=3, label=str(result.label.sel(readout=r).item()))
        images = result.n_train_images.sel(neurons=ALL).mean(("readout", "animal"))
        ax.set_xscale("log")
        ax.set_xticks(images.values, [f"{int(v):,}" for v in images.values])
        ax.minorticks_off()
        ax.set(xlabel="training images per animal",
               title="all neurons" if n == ALL else f"{n} neurons per animal")
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel("fraction oracle")
    fig.suptitle("mean and 95 % t-interval over animals", fontsize=9)
    return fig
