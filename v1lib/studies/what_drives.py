"""What drives each neuron of the multimodal model (Xu et al. 2023, §4.2–4.3):
the saliency of the behavioural variables, the paper's classification of mixed
selectivity, and, on simulated sessions, how well it recovers the neurons'
true dependencies. The maximally activating stimuli are in :mod:`.mas`.

Saliency is the gradient of a neuron's prediction with respect to the
behaviour, averaged (signed) over a tier's bins. The paper differentiates with
respect to its 66 behaviour features (the variables B, their changes B' and
their products) and classifies on B and B'. Here a variable's *level* saliency
is the gradient with respect to the variable held at one value over the bins
the model reads (its whole effect: directly, through its products and, for eye
and head position, through the shifter's warp); its *change* saliency
(``d_<variable>``, all but speed) is minus the gradient with respect to the bin
the model reads only for the change into its first frame's bin. For a model of
one frame (the paper's full model) these are exactly the derivatives with
respect to B and B' with the products' effects included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..data.session import BEHAVIOR_VARS
from ..sim.gain_fields import GROUP_VARS
from ..tensors import ScanTensors

# behaviour group -> its variables (position: head pitch and roll, eye φ and θ)
BEHAVIOR_GROUPS = dict(GROUP_VARS)
HEAD, EYE = ("pitch", "roll"), ("eye_phi", "eye_theta")
CATEGORIES = ("none", "position", "speed", "pupil", "mixed")
WELL_FIT_R = 0.25  # the paper's well-fit neurons: smoothed test correlation at least this


def _tier_bins(tensors: ScanTensors, tier: str, max_bins: int | None, seed: int) -> torch.Tensor:
    if tier not in tensors.tiers:
        raise ValueError(f"unknown tier '{tier}'; choose from {sorted(tensors.tiers)}")
    bins = tensors.tiers[tier]
    if max_bins is not None:
        if max_bins < 1:
            raise ValueError(f"'max_bins' must be a positive number of bins, got {max_bins}")
        if max_bins < len(bins):
            keep = np.sort(np.random.default_rng(seed).choice(len(bins), max_bins, replace=False))
            bins = bins[torch.as_tensor(keep, device=bins.device)]
    if len(bins) == 0:
        raise ValueError(f"tier '{tier}' has no bins")
    return bins


class _NoShifterPath:
    """Within the block, the shifter sees the behaviour without its gradient."""

    def __init__(self, model, keep: bool):
        shifter = getattr(model, "shifter", None)
        self.shifter = None if keep or shifter is None else shifter

    def __enter__(self):
        if self.shifter is not None:
            hook = lambda module, args: tuple(a.detach() for a in args)
            self.handle = self.shifter.register_forward_pre_hook(hook)
        return self

    def __exit__(self, *exc):
        if self.shifter is not None:
            self.handle.remove()


# the behaviour features saliency reports: the variables' levels and their changes
CHANGES = tuple(f"d_{v}" for v in BEHAVIOR_VARS[1:])


def _change_bin(model, history: int) -> int | None:
    """The history bin a multimodal model reads only for the change into its
    first frame's bin (None for a model without that structure)."""
    c = getattr(model, "config", None)
    if c is None or not hasattr(c, "frames") or not getattr(c, "behavior", False):
        return None
    return history - c.offset - c.frames - 1


def _batch_gradients(model, scan: str, batch: dict) -> torch.Tensor:
    """Saliency of each bin (B, N, features): the levels (the gradient summed
    over the history bins) and, where the model reads changes, the changes."""
    beh = batch["behavior"].detach().clone().requires_grad_(True)
    out = model(scan, stimulus=batch.get("stimulus"), behavior=beh)
    n = out.shape[1]
    grads = [torch.autograd.grad(out[:, k].sum(), beh, retain_graph=k < n - 1,
                                 allow_unused=True)[0] for k in range(n)]
    grads = torch.stack([torch.zeros_like(beh) if g is None else g for g in grads], 1)
    level = grads.sum(2)  # (B, N, T, 6) -> (B, N, 6)
    first = _change_bin(model, beh.shape[1])
    if first is None:
        return level
    return torch.cat([level, -grads[:, :, first, 1:]], -1)


def behavior_gradients(model, tensors: dict[str, ScanTensors], scan: str, tier: str = "test",
                       max_bins: int | None = None, seed: int = 0, shifter: bool = True,
                       batch_size: int = 256) -> xr.DataArray:
    """The gradient of each neuron's prediction with respect to each behaviour
    variable, per bin of ``tier``: (bin, neuron, behavior_var).

    Units: normalised response (per SD of the neuron's training responses) per
    z-scored unit of the variable, the same change made in every history bin the
    model reads. The model is evaluated in eval mode (no dropout; batch norms at
    their running statistics), so each bin's gradient is its own. ``max_bins``:
    at most this many bins, drawn without replacement by ``seed``. ``shifter``:
    include the effect of the eye and head position through the shifter's gaze
    correction (the paper does); without it, only the behaviour stream's. Cost:
    one forward and one backward per neuron for each batch."""
    if scan not in tensors:
        raise ValueError(f"unknown scan '{scan}'; choose from {sorted(tensors)}")
    d = tensors[scan]
    if "behavior" not in d.inputs:
        raise ValueError(f"scan '{scan}' has no 'behavior' input to take the saliency of")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"'batch_size' must be a positive integer, got {batch_size}")
    bins = _tier_bins(d, tier, max_bins, seed)
    was_training = model.training
    model.eval()
    out = []
    try:
        with _NoShifterPath(model, shifter):
            for s in range(0, len(bins), batch_size):
                out.append(_batch_gradients(model, scan, d.batch(bins[s:s + batch_size])).cpu())
    finally:
        model.train(was_training)
    g = torch.cat(out).numpy()
    names = list(BEHAVIOR_VARS) + (list(CHANGES) if g.shape[-1] > len(BEHAVIOR_VARS) else [])
    return xr.DataArray(g, dims=("bin", "neuron", "behavior_var"),
                        coords={"bin": bins.cpu().numpy(), "neuron": np.arange(g.shape[1]),
                                "behavior_var": names},
                        name="behavior_gradient",
                        attrs={"scan": scan, "tier": tier, "shifter_path": int(shifter),
                               "units": "normalised response per SD of the variable"})


def behavior_saliency(model, tensors: dict[str, ScanTensors], scan: str, tier: str = "test",
                      max_bins: int | None = None, seed: int = 0, absolute: bool = False,
                      shifter: bool = True, batch_size: int = 256) -> xr.DataArray:
    """Each neuron's saliency for each behaviour variable (neuron, behavior_var):
    the mean over ``tier``'s bins of :func:`behavior_gradients`, signed as in
    the paper, or of its absolute value (``absolute``: how strongly a variable
    acts, whatever its sign in each bin). For both from one pass, reduce
    :func:`behavior_gradients` over ``bin``."""
    g = behavior_gradients(model, tensors, scan, tier, max_bins, seed, shifter, batch_size)
    s = (abs(g) if absolute else g).mean("bin")
    return s.rename("saliency").assign_attrs(g.attrs, n_bins=int(g.sizes["bin"]),
                                             statistic="mean |gradient|" if absolute
                                             else "mean gradient")


def _well_fit(well_fit, n: int) -> np.ndarray:
    if well_fit is None:
        return np.ones(n, dtype=bool)
    w = np.asarray(well_fit)
    if w.dtype != bool or w.shape != (n,):
        raise ValueError(f"'well_fit' must be one boolean per neuron ({n}), got dtype {w.dtype} "
                         f"and shape {w.shape}; e.g. scores.smoothed_corr >= {WELL_FIT_R}")
    return w


def relative_effect(saliency: xr.DataArray, mean_prediction) -> xr.DataArray:
    """Saliency as a fraction of each neuron's mean predicted response: the
    change of the response per SD of a variable, relative to its mean (an
    absolute effect size, which :func:`classify` can threshold with
    ``standardise=False``)."""
    m = np.asarray(mean_prediction, dtype=float)
    if m.shape != (saliency.sizes["neuron"],) or not (m > 0).all():
        raise ValueError(f"'mean_prediction' must be one positive value per neuron "
                         f"({saliency.sizes['neuron']}), got shape {m.shape}")
    return (saliency / xr.DataArray(m, dims="neuron")).rename("relative_effect")


def classify(saliency: xr.DataArray, well_fit=None, threshold: float = 1.0,
             head_eye: bool = False, standardise: bool = True) -> xr.Dataset:
    """The paper's classification of mixed selectivity: each variable's saliency
    z-scored across neurons; a neuron is modulated by a group of
    :data:`BEHAVIOR_GROUPS` if any of its variables or their changes
    (``d_<variable>``, where the saliency has them) has |z| >= ``threshold``.
    Its category is ``none``, the one group, or ``mixed`` (two groups or more;
    with ``head_eye``, as in the paper's panel b, also head (pitch, roll) and
    eye (φ, θ) position together). ``well_fit``: booleans per neuron (the
    paper: smoothed test r >= 0.25), or None for all. Returns ``z`` (neuron,
    behavior_var), ``modulated`` (neuron, group), ``category`` and
    ``well_fit`` (neuron). With ``standardise=False`` the values themselves
    (e.g. :func:`relative_effect`) are compared with ``threshold``, not their
    z-scores across neurons."""
    if set(saliency.dims) != {"neuron", "behavior_var"}:
        raise ValueError(f"'saliency' must have dims (neuron, behavior_var), got {saliency.dims}")
    missing = [v for vs in BEHAVIOR_GROUPS.values() for v in vs
               if v not in saliency.behavior_var.values]
    if missing:
        raise ValueError(f"'saliency' lacks the behaviour variables {missing}")
    if not threshold > 0:
        raise ValueError(f"'threshold' must be positive, got {threshold}")
    s = saliency.transpose("neuron", "behavior_var")
    sd = s.std("neuron")
    z = ((s - s.mean("neuron")) / sd.where(sd > 0)).fillna(0.0) if standardise else s
    groups = list(BEHAVIOR_GROUPS)
    cols = lambda vs: [f for f in s.behavior_var.values if str(f).removeprefix("d_") in vs]
    hit = lambda vs: (abs(z.sel(behavior_var=cols(vs))) >= threshold).any("behavior_var").values
    mod = np.stack([hit(BEHAVIOR_GROUPS[g]) for g in groups], 1)
    n_groups = mod.sum(1)
    if head_eye:
        n_groups = n_groups + (hit(HEAD) & hit(EYE))
    category = np.where(n_groups == 0, "none",
                        np.where(n_groups > 1, "mixed", np.array(groups)[mod.argmax(1)]))
    neuron = s.neuron.values
    return xr.Dataset({"z": z.rename(None),
                       "modulated": (("neuron", "group"), mod),
                       "category": ("neuron", category.astype(str)),
                       "well_fit": ("neuron", _well_fit(well_fit, len(neuron)))},
                      coords={"neuron": neuron, "group": groups},
                      attrs={"threshold": float(threshold), "head_eye": int(head_eye),
                             "standardise": int(standardise)})


def proportions(classes: xr.Dataset) -> xr.Dataset:
    """The paper's Figure 5 panels: ``modulated_fraction`` (group; panel a), the
    fraction of all neurons modulated by each group and by none, and
    ``category_fraction`` (category; panel b), the fraction of the well-fit
    neurons in each unique category; with the counts."""
    mod = classes.modulated.values
    counts = np.r_[mod.sum(0), (~mod.any(1)).sum()]
    cat = classes.category.values[classes.well_fit.values]
    cat_counts = np.array([(cat == c).sum() for c in CATEGORIES])
    n, n_fit = mod.shape[0], len(cat)
    frac = lambda c, total: c / total if total else np.full(len(c), np.nan)
    return xr.Dataset({"modulated_count": ("group", counts),
                       "modulated_fraction": ("group", frac(counts, n)),
                       "category_count": ("category", cat_counts),
                       "category_fraction": ("category", frac(cat_counts, n_fit))},
                      coords={"group": [*classes.group.values.tolist(), "none"],
                              "category": list(CATEGORIES)},
                      attrs={"n_neurons": int(n), "n_well_fit": int(n_fit),
                             "threshold": classes.attrs.get("threshold", np.nan)})


def _scores(predicted: np.ndarray, true: np.ndarray) -> dict:
    tp, p, t = int((predicted & true).sum()), int(predicted.sum()), int(true.sum())
    return {"true_positives": tp, "predicted": p, "true": t,
            "precision": tp / p if p else np.nan, "recall": tp / t if t else np.nan,
            "prevalence": t / len(true) if len(true) else np.nan}


def dependency_recovery(classes: xr.Dataset, ds: xr.Dataset) -> pd.DataFrame:
    """How well the classification recovers a simulated session's truth: per
    behaviour group, precision and recall of "modulated by the group" against
    ``gt_dependency``; of ``mixed`` against a true dependency on two groups or
    more; and of ``none`` against no behavioural dependency. With the counts and
    the prevalence of the truth (the precision of a random guess). ``classes``'
    neurons are positions in ``ds`` (a subset, e.g. the well-fit ones, is
    allowed). Rows: the groups, ``mixed`` and ``none``."""
    if "gt_dependency" not in ds:
        raise ValueError(f"scan '{ds.attrs.get('scan', '')}' has no ground truth "
                         "('gt_dependency'): dependency recovery needs a simulated session")
    pos = np.asarray(classes.neuron.values)
    if pos.size and (pos.min() < 0 or pos.max() >= ds.sizes["neuron"]):
        raise ValueError(f"the classified neurons are positions 0..{ds.sizes['neuron'] - 1} of "
                         f"the session's neurons, got {pos.min()}..{pos.max()}")
    truth = ds.gt_dependency.isel(neuron=pos)
    rows = {}
    for g in classes.group.values:
        rows[str(g)] = _scores(classes.modulated.sel(group=g).values,
                               truth.sel(dependency_group=g).values.astype(bool))
    true_groups = truth.sel(dependency_group=list(classes.group.values)).values.sum(1)
    rows["mixed"] = _scores(classes.category.values == "mixed", true_groups >= 2)
    rows["none"] = _scores(classes.category.values == "none", true_groups == 0)
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "test"
    return out


ANALYSES = {"saliency_bins": 600, "mas_neurons": 6, "mas_steps": 100, "mas_restarts": 16,
            "truth_restarts": 4}


def analysis_settings(profile: str) -> dict:
    """The sizes of chapter 8's analyses under ``profile`` (the ``analyses`` of
    its ``freely_moving_models`` section, on top of :data:`ANALYSES`): test bins
    for the saliency, neurons, steps and restarts of the MAS, and restarts of the
    true preferred stimulus."""
    from .. import profiles
    from .freely_moving import SECTION

    given = profiles.settings(profile, SECTION).get("analyses") or {}
    bad = sorted(set(given) - set(ANALYSES))
    if bad:
        raise ValueError(f"profile '{profiles.resolve(profile)}', section '{SECTION}': unknown "
                         f"analysis option(s) {bad}; known: {sorted(ANALYSES)}")
    out = {**ANALYSES, **given}
    for k, v in out.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"profile '{profiles.resolve(profile)}', section '{SECTION}': "
                             f"analyses.{k} must be a positive integer, got {v!r}")
    return out


def pooled_recovery(tables: list[pd.DataFrame], n_neurons: int) -> pd.DataFrame:
    """:func:`dependency_recovery` of several animals pooled (``n_neurons``
    classified in all): counts summed, precision, recall and prevalence
    recomputed from them."""
    out = sum(t[["true_positives", "predicted", "true"]] for t in tables).astype(int)
    out["precision"] = out.true_positives / out.predicted.where(out.predicted > 0)
    out["recall"] = out.true_positives / out["true"].where(out["true"] > 0)
    out["prevalence"] = out["true"] / n_neurons
    return out


def paper_comparison(classes: list[xr.Dataset]) -> pd.DataFrame:
    """The paper's Figure 5 panels pooled over animals (each animal's
    :func:`classify`): the percentage of all neurons modulated by each group, and
    of the well-fit neurons in each category, beside the paper's (mouse 2;
    "-" where it reports none). ``attrs``: the numbers of neurons and well fit."""
    from ..published import PUBLISHED

    props = [proportions(c) for c in classes]
    mod, cat = sum(p.modulated_count for p in props), sum(p.category_count for p in props)
    n_all = sum(p.attrs["n_neurons"] for p in props)
    n_fit = sum(p.attrs["n_well_fit"] for p in props)

    def paper(key):
        p = PUBLISHED.get(f"xu_saliency_{key}")
        return f"{p.value:g}" if p is not None else "-"

    rows = {f"modulated by {g} (of all)": (100 * float(mod.sel(group=g)) / n_all, paper(g))
            for g in BEHAVIOR_GROUPS}
    rows.update({f"{c} (of well-fit)": (100 * float(cat.sel(category=c)) / max(n_fit, 1),
                                        paper(c if c in ("mixed", "none") else f"{c}_only"))
                 for c in CATEGORIES})
    table = pd.DataFrame(rows, index=["ours (%)", "paper, mouse 2 (%)"]).T
    table["ours (%)"] = table["ours (%)"].astype(float).round(1)
    table.attrs.update(n_neurons=n_all, n_well_fit=n_fit)
    return table
