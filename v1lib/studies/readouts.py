"""Chapter 2, readouts: every variant trained on each replicate animal and
scored on its test tier, and the words that set the result against the
numbers Lurz et al. (2021) report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..ledger import Claim, change_claim, model_rows, untestable
from ..model_cache import costs
from ..published import PUBLISHED
from ..stats import CONFIDENCE, change_text, paired_change, t_interval, verdict
from .static import (
    IMAGE_ONLY,
    LABELS,
    companion_data,
    fit_variant,
    params_per_neuron,
    replicates,
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
    "gt_stimulus_only_ceiling_fraction": "fraction of image-only ceiling",
    "gt_observable_ceiling_fraction": "fraction of observable ceiling",
    "gt_ceiling_fraction": "fraction of ceiling",
}


def readout_comparison(scans, profile: str, variants=None, results_dir=None,
                       device="cpu", tuned: dict | None = None) -> xr.Dataset:
    """Train every variant on every replicate animal (its own scan and seed; the
    profile's ``one_replicate`` variants on the first only), with its model
    options in ``tuned`` (variant -> options, :func:`.tuning.tuned_options`);
    score each on its animal's test tier. Returns the population metrics with dims (variant,
    animal), a ``seed`` coordinate along ``animal``, NaN where a variant was not
    trained on an animal."""
    st = study_settings(profile)
    variants = variants or st["variants"]
    reps = replicates(scans, st)
    patience = variant_config(profile, variants[0])[1].patience

    def run(variant, animal):
        seed = dict(reps)[animal]
        fit = fit_variant({animal: scans[animal]}, profile, variant, seed, results_dir, device,
                          show_progress=False, model=(tuned or {}).get(variant))
        h = fit.history
        return {**tier_scores(fit, scans), **costs(fit),
                "params_per_neuron": params_per_neuron(fit),
                "epochs": int(h.attrs["epochs"]),
                "converged": float(h.attrs["stopped"] == "early stopping"),
                # still improving: the best epoch is among the last `patience` epochs
                "improving_at_end": float(h.attrs["best_epoch"] >= h.attrs["epochs"] - patience)}

    jobs = [(v, a) for v in variants for a, _ in (reps[:1] if v in st["one_replicate"] else reps)]
    out = sweep(jobs, run, ("variant", "animal"), desc="readout comparison", device=device)
    animals = [a for a, _ in reps]
    gamma = [variant_config(profile, v, (tuned or {}).get(v))[0].gamma_readout for v in variants]
    return out.reindex(animal=animals).assign_coords(
        label=("variant", [LABELS[v] for v in variants]), seed=("animal", [s for _, s in reps]),
        gamma_readout=("variant", gamma))


def trained(comparison: xr.Dataset, variant: str) -> np.ndarray:
    """On which replicate animals ``variant`` was trained (all, where the record
    does not say)."""
    if "epochs" not in comparison:
        return np.ones(comparison.sizes["animal"], dtype=bool)
    return comparison.epochs.sel(variant=variant).notnull().values


def cell(values: np.ndarray, unit: str = "animal") -> str:
    """Mean and t-based 95 % interval over replicates, or the one value."""
    iv = t_interval(values)
    if iv.n == 1:
        return f"{iv.mean:.3f} (1 {unit})"
    return f"{iv.mean:.3f} [{iv.lo:.3f}, {iv.hi:.3f}]"


def comparison_table(comparison: xr.Dataset) -> pd.DataFrame:
    """Mean [95 % CI] over replicate animals of every metric, one row per variant."""
    rows = {}
    for v in comparison.variant.values:
        keep = trained(comparison, v)
        row = {name: cell(comparison[k].sel(variant=v).values[keep])
               for k, name in TABLE_METRICS.items() if k in comparison}
        row["params / neuron"] = f"{float(comparison.params_per_neuron.sel(variant=v).mean()):,.0f}"
        if "gamma_readout" in comparison.coords:
            row["readout γ"] = f"{float(comparison.gamma_readout.sel(variant=v)):.2g}"
        row["epochs"] = f"{float(comparison.epochs.sel(variant=v).mean()):.0f}"
        row["animals"] = int(keep.sum())
        rows[str(comparison.label.sel(variant=v).item())] = row
    return pd.DataFrame(rows).T


def _best(comparison: xr.Dataset) -> str:
    """The image-only variant with the highest mean fraction oracle (a model
    that sees behaviour is on another scale), marked when it was trained on
    fewer animals than the others."""
    present = [v for v in IMAGE_ONLY if v in comparison.variant.values]
    fo = comparison.fraction_oracle.sel(variant=present or list(comparison.variant.values)
                                        ).mean("animal")
    v = str(fo.idxmax("variant").item())
    best = str(comparison.label.sel(variant=v).item())
    n = int(trained(comparison, v).sum())
    most = max(int(trained(comparison, u).sum()) for u in comparison.variant.values)
    note = "" if n == most else f" (trained on {n} of the {most} animals)"
    return f"*{best}*{note}"


def headline_text(comparison: xr.Dataset) -> str:
    """Gaussian + grid against factorized on the means over the animals both were
    trained on, with the ratio of parameters per neuron, and the best variant
    of the comparison."""
    best = _best(comparison)
    if not {"gaussian", "factorized"} <= set(comparison.variant.values):
        return f"The best image-only variant on these data is {best}."
    g, f = (float(x.mean()) for x in _pair(comparison, "gaussian", "factorized"))
    ppn = comparison.params_per_neuron.mean("animal")
    ratio = float(ppn.sel(variant="factorized") / ppn.sel(variant="gaussian"))
    return (f"On these data the Gaussian readout with the grid predictor changes the fraction "
            f"oracle by {change_text(g, f, 'the factorized readout')} relative to the factorized "
            f"readout (means over animals {g:.3f} and {f:.3f}), with {ratio:.0f} times fewer parameters "
            f"per neuron; the best image-only variant is {best}.")


def _pair(comparison: xr.Dataset, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """Fraction oracle of variants ``a`` and ``b`` on the animals both were trained on."""
    both = trained(comparison, a) & trained(comparison, b)
    fo = comparison.fraction_oracle
    return fo.sel(variant=a).values[both], fo.sel(variant=b).values[both]


def readout_claim_text(comparison: xr.Dataset) -> str:
    """Markdown that sets the Gaussian-vs-factorized result against the reported
    gain: the per-animal changes, their mean and t-based 95 % interval, and the
    verdict the interval allows."""
    if not {"gaussian", "factorized"} <= set(comparison.variant.values):
        return "The profile trained no Gaussian + grid and factorized pair to compare."
    g, f = _pair(comparison, "gaussian", "factorized")
    if not (np.isfinite(g).all() and np.isfinite(f).all()):
        return ("**Gaussian + grid vs factorized:** a fraction oracle is not finite for some "
                f"animal (no neuron to score), so the two cannot be compared against the reported "
                f"{CLAIM.signed}.")
    if (f <= 0).any():
        return (f"**Gaussian + grid vs factorized:** the factorized readout's fraction oracle is "
                f"at or below zero for {int((f <= 0).sum())} of {len(f)} animals (mean "
                f"{f.mean():.3f}, against {g.mean():.3f} for Gaussian + grid), so no relative "
                f"change can be set against the reported {CLAIM.signed}.")
    rel, iv = paired_change(g, f)
    wins = int((g > f).sum())
    said = verdict(iv, CLAIM.value, "the reported " + CLAIM.signed)
    return (f"**Gaussian + grid vs factorized, animal by animal:** the fraction oracle changes by "
            f"{iv.text()} (mean over {iv.n} animals, each with its own model seed; the Gaussian "
            f"readout is ahead on {wins} of {iv.n}). This {said}.")


def ranking_text(comparison: xr.Dataset) -> str:
    """The readouts that see only the image, ranked by fraction oracle, and the
    grid predictor against free positions, animal by animal."""
    present = [v for v in IMAGE_ONLY if v in comparison.variant.values]
    if not present:
        return "The profile trained no image-only readout."
    mean = comparison.fraction_oracle.sel(variant=present).mean("animal").sortby(lambda m: -m)
    one = lambda v: ", 1 animal" if trained(comparison, v).sum() == 1 else ""
    ranking = " > ".join(f"{LABELS[str(v)]} ({float(mean.sel(variant=v)):.3f}{one(v)})"
                         for v in mean.variant.values)
    text = (f"Among the models that see only the image, the mean fraction oracle ranks "
            f"{ranking}; a rank is a claim only where the paired interval below resolves it.")
    if {"gaussian", "gaussian_free"} <= set(present):
        g, f = _pair(comparison, "gaussian", "gaussian_free")
        rel, iv = paired_change(g, f)
        if np.isfinite(rel).all() and iv.n > 1:
            text += (f" The grid predictor changes it by {iv.text()} against free positions, "
                     f"and is ahead on {int((g > f).sum())} of {iv.n} animals; this "
                     f"{verdict(iv)}.")
        elif iv.n == 1 and np.isfinite(rel).all():
            text += (f" On the one animal both were trained on, the grid predictor changes it by "
                     f"{iv.mean:+.1f} % against free positions; one animal gives no interval, so "
                     f"this is not tested.")
    elif "gaussian" in present:
        text += (" This profile trains no Gaussian readout with free positions, so the grid "
                 "predictor is not tested against them here.")
    return text


def budget_text(settings: dict, profile_name: str) -> str:
    """What this profile trains for the comparison, and what it leaves out."""
    variants, n = settings["variants"], settings["replicates"]
    full = [LABELS[v] for v in variants if v not in settings["one_replicate"]]
    one = [LABELS[v] for v in variants if v in settings["one_replicate"]]
    missing = [LABELS[v] for v in LABELS if v not in variants]
    text = (f"The **{profile_name}** profile trains {', '.join(full)} on each of {n} animals "
            f"(one model per animal, each with its own seed): the intervals below are "
            f"{100 * CONFIDENCE:.0f} % t-intervals over animals")
    if one:
        text += (f", and {', '.join(one)} on the first animal only (no claim here rests on a "
                 f"difference from it, so it gets no interval)")
    text += "."
    if missing:
        text += (f" It leaves out {', '.join(missing)}: the readout claim rests on the Gaussian "
                 f"and factorized pair, and this profile's time budget does not stretch to the "
                 f"rest; the gpu profile trains every variant on every animal.")
    return text


def convergence_text(comparison: xr.Dataset, limit: int) -> str:
    """Per variant, how many models early stopping ended and how many ran into
    the epoch limit still improving; and whom an equal budget then favours."""
    n = int(comparison.converged.notnull().sum())
    early = int(comparison.converged.sum())
    if early == n:
        return f"All {n} models were stopped by early stopping on the validation set: converged."
    capped, done = [], []
    for v in comparison.variant.values:
        keep = trained(comparison, str(v))
        c = comparison.converged.sel(variant=v).values[keep]
        imp = comparison.improving_at_end.sel(variant=v).values[keep]
        label = str(comparison.label.sel(variant=v).item())
        if (c == 1).all():
            done.append(label)
        else:
            capped.append(f"{label} ({int((c == 0).sum())} of {len(c)}, "
                          f"{int(imp[c == 0].sum())} still improving)")
    text = (f"{n - early} of {n} models ran into the limit of {limit} epochs before early "
            f"stopping ended them: {'; '.join(capped)}.")
    if done:
        text += (f" The models of {', '.join(done)} all converged. An equal budget that cuts the others "
                 f"short favours the converged variants: a comparison against them is a "
                 f"comparison at this budget, not at convergence.")
    else:
        text += " The table compares the readouts at this budget, not at convergence."
    return text


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


def well_specified_twin(profile: str, dataset: str, results_dir=None) -> dict | None:
    """The profile's dataset in the well-specified world (``well_specified_data``
    of its ``static_models``), where the chapter runs on the profile's own
    simulated dataset; None otherwise (other data have no twin)."""
    return companion_data(profile, dataset, "well_specified_data", results_dir)


def _pair_change(comparison: xr.Dataset, a: str, b: str) -> str:
    """'+15.7 % [95 % CI ...], which is a resolved gain ...' for a against b."""
    x, y = _pair(comparison, a, b)
    if not (np.isfinite(x).all() and np.isfinite(y).all()) or (y <= 0).any():
        return (f"not comparable as a relative change (a fraction oracle at or below zero or not "
                f"finite: {LABELS[b]} {y.mean():.3f}, {LABELS[a]} {x.mean():.3f})")
    _, iv = paired_change(x, y)
    return f"{iv.text()}, which {verdict(iv)}"


def worlds_text(misspecified: xr.Dataset, well_specified: xr.Dataset) -> str:
    """Gaussian + grid against factorized in the default world and in the
    well-specified one, each with its interval over animals."""
    pair = ("gaussian", "factorized")
    if not all(set(pair) <= set(c.variant.values) for c in (misspecified, well_specified)):
        return "The profile trained no Gaussian + grid and factorized pair in both worlds."
    return (f"Gaussian + grid against factorized, fraction oracle, per animal: with the mechanisms "
            f"outside the model class, {_pair_change(misspecified, *pair)}; in the "
            f"well-specified world, {_pair_change(well_specified, *pair)}.")


def ln_text(comparison: xr.Dataset) -> str:
    """What the core's nonlinearities buy: Gaussian + grid against the LN
    baseline (the same model with a linear core)."""
    if not {"gaussian", "linear"} <= set(comparison.variant.values):
        return "This profile trains no LN baseline."
    return ("The nonlinear core against the LN baseline (both with the Gaussian readout and grid "
            f"predictor), fraction oracle per animal: {_pair_change(comparison, 'gaussian', 'linear')}.")


def ledger_entries(comparison: xr.Dataset, data) -> tuple[list[dict], list[Claim]]:
    """Chapter 2: every readout on every animal; Gaussian + grid against factorized."""
    models = model_rows(comparison, "lurz", data,
                        {v: f"{LABELS[v]} readout" for v in comparison.variant.values})
    claim = ("The Gaussian readout with a grid predictor predicts better than the factorized "
             "readout (fraction oracle)")
    if not {"gaussian", "factorized"} <= set(comparison.variant.values):
        return models, [untestable("lurz", claim, CLAIM.signed, "The profile trained no pair.")]
    g, f = _pair(comparison, "gaussian", "factorized")
    if not (np.isfinite(g).all() and np.isfinite(f).all()) or (f <= 0).any():
        return models, [untestable("lurz", claim, CLAIM.signed,
                                   "The factorized readout's fraction oracle is at or below zero "
                                   "(or undefined) for some animal: no relative change.")]
    iv = paired_change(g, f)[1]
    return models, [change_claim("lurz", claim, iv, CLAIM.value, " %")]
