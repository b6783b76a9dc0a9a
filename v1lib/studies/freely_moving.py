"""Chapter 7: the multimodal model of Xu et al. (2023) and its ablations, on
freely moving mice, against the paper's tables and, on simulated data, the
observable ceiling.

A *variant* is the model with some parts changed (:data:`VARIANTS`): vision
only, with and without the shifter (the paper's Table 1); the full model with
each behaviour feature set (Table 2) and with 1-8 frames of history (Table 3);
and what the paper lacks: behaviour only, no GRU, and the true retinal image
(the camera frame moved and rotated by the simulated eye) in place of the
learned shifter. Replicates are animals (each its own session, neurons and test
bins) with seeds 1, 2, ...; with ``seeds`` > 1 a replicate's scores are the mean
over its seeds. The model and training settings come from the profile's
``freely_moving_models`` section.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr

from .. import profiles
from ..evaluation import evaluate
from ..ledger import Claim, change_claim, model_rows
from ..model_cache import FitResult, costs, fit_cached
from ..models.multimodal import SHIFTER_INPUTS, MultimodalConfig
from ..published import PUBLISHED
from ..sim.freely_moving import retinal_frames
from ..stats import t_interval
from ..train import TrainConfig
from .readouts import cell
from .static import replicates
from .sweep import sweep

SECTION = "freely_moving_models"
VISION = {"behavior": False, "recurrent": False}
# name -> (label, model options on top of the profile's, trained on the true retinal image)
VARIANTS = {
    "vision": ("vision only", {**VISION, "shifter": False}, False),
    "vision_shifter": ("vision only + shifter", VISION, False),
    "vision_retinal": ("vision only, true retinal image", {**VISION, "shifter": False}, True),
    "orig": ("+ behaviour: B", {"features": "orig"}, False),
    "velo": ("+ behaviour: B'", {"features": "velo"}, False),
    "all": ("+ behaviour: B, B'", {"features": "all"}, False),
    "orig_prod": ("+ behaviour: B, products", {"features": "orig_prod"}, False),
    "S": ("+ behaviour: speed, pupil, d pupil", {"features": "S"}, False),
    "full": ("full model: B, B', products, 1 frame", {}, False),
    "frames_2": ("full model, 2 frames", {"frames": 2}, False),
    "frames_4": ("full model, 4 frames", {"frames": 4}, False),
    "frames_8": ("full model, 8 frames", {"frames": 8}, False),
    "no_gru": ("full model without the GRU", {"recurrent": False}, False),
    "behavior_only": ("behaviour only", {"vision": False}, False),
    "retinal": ("full model, true retinal image, no shifter", {"shifter": False}, True),
}
METRICS = {
    "smoothed_corr": "r, 2-s smoothed",
    "single_trial_corr": "r, unsmoothed",
    "gt_observable_ceiling_smoothed_fraction": "fraction of observable ceiling (smoothed)",
}

# unsmoothed, as every chapter's ceilings (the book's closing table)
CEILING_FRACTIONS = ("gt_ceiling_fraction", "gt_observable_ceiling_fraction")


def settings(profile: str) -> dict:
    """Replicates (animals), seeds per animal, variants, and the model and
    training options of the profile's section."""
    s = profiles.settings(profile, SECTION)
    out = {"replicates": s.get("replicates", 3), "seeds": s.get("seeds", 1),
           "variants": list(s.get("variants", VARIANTS)), "model": s.get("model", {}),
           "train": s.get("train", {})}
    bad = [v for v in out["variants"] if v not in VARIANTS]
    if bad:
        raise ValueError(f"profile '{profiles.resolve(profile)}', section '{SECTION}': unknown "
                         f"variant(s) {bad}; choose from {list(VARIANTS)}")
    if not isinstance(out["seeds"], int) or out["seeds"] < 1:
        raise ValueError(f"profile '{profiles.resolve(profile)}', section '{SECTION}': 'seeds' "
                         f"must be a positive integer, got {out['seeds']!r}")
    return out


def model_configs(profile: str, variant: str = "full", **options
                  ) -> tuple[MultimodalConfig, TrainConfig]:
    """The model and training configuration of ``variant`` under ``profile``
    (with ``options`` set on top of the variant's)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown freely moving model variant '{variant}'; choose from "
                         f"{list(VARIANTS)}")
    s = settings(profile)
    source = f"profile '{profiles.resolve(profile)}', section '{SECTION}'"
    model = MultimodalConfig.from_dict({**s["model"], **VARIANTS[variant][1], **options}, source)
    return model, TrainConfig.from_dict(s["train"], source)


def retinal_session(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its frames replaced by the true retinal images (simulated
    data: the camera frame moved and rotated as the eye saw it)."""
    if "gt_retinal_shift" not in ds or "gt_retinal_rotation" not in ds:
        raise ValueError(f"session '{ds.attrs.get('scan', '')}' has no ground-truth eye "
                         "(gt_retinal_shift, gt_retinal_rotation): the true retinal image is "
                         "known only on simulated data")
    seen = retinal_frames(ds.frames.values, ds.gt_retinal_shift.values,
                          ds.gt_retinal_rotation.values)
    out = ds.copy()
    out["frames"] = ds.frames.copy(data=np.clip(np.round(seen), 0, 255).astype(ds.frames.dtype))
    return out


def fit_variant(scans, profile: str, variant: str, animal: str, seed: int, results_dir=None,
                device="cpu", show_progress: bool = False) -> FitResult:
    """``variant`` trained (or reloaded) on ``animal``'s session."""
    model_cfg, train_cfg = model_configs(profile, variant)
    ds = retinal_session(scans[animal]) if VARIANTS[variant][2] else scans[animal]
    return fit_cached({animal: ds}, model_cfg, train_cfg, seed, results_dir, device,
                      show_progress=show_progress)


def seeds(reps: list[tuple[str, int]], n: int) -> dict[str, list[int]]:
    """Each replicate animal's seeds: its own first seed and the next ``n - 1``
    after the last animal's (no two runs share a seed)."""
    k = len(reps)
    return {a: [s] + [s + k * j for j in range(1, n)] for a, s in reps}


def ablation(scans, profile: str, results_dir=None, device="cpu") -> xr.Dataset:
    """Every variant on every replicate animal and seed, scored on the test
    bins. Dims (variant, animal, seed); the seed axis counts a replicate's
    seeds (``seed_value`` holds each run's seed)."""
    st = settings(profile)
    reps = replicates(scans, st)
    per = seeds(reps, st["seeds"])
    ground_truth = all("gt_retinal_shift" in scans[a] for a, _ in reps)
    variants = [v for v in st["variants"] if ground_truth or not VARIANTS[v][2]]

    def run(variant, animal, k):
        fit = fit_variant(scans, profile, variant, animal, per[animal][k], results_dir, device)
        data = retinal_session(scans[animal]) if VARIANTS[variant][2] else scans[animal]
        summary = evaluate(fit.model, fit.tensors, {animal: data}, "test")[1]
        return {**{m: summary.get(m, np.nan) for m in (*METRICS, *CEILING_FRACTIONS)},
                "epochs": int(fit.history.attrs["epochs"]), **costs(fit)}

    jobs = [(v, a, k) for v in variants for a, _ in reps for k in range(st["seeds"])]
    out = sweep(jobs, run, ("variant", "animal", "seed"), desc="freely moving models",
                device=device)
    return out.assign_coords(
        label=("variant", [VARIANTS[str(v)][0] for v in out.variant.values]),
        seed_value=(("animal", "seed"), [per[str(a)] for a in out.animal.values]))


def paper_value(variant: str) -> float:
    """The paper's mean over its 3 mice, or NaN where it reports none."""
    p = PUBLISHED.get(f"xu_r_{variant}")
    return p.value if p is not None else float("nan")


def ablation_table(ab: xr.Dataset) -> pd.DataFrame:
    """Mean [95 % t-interval over animals] of every metric per variant (each
    animal's mean over its seeds), beside the paper's mean over its mice."""
    per_animal = ab.mean("seed")
    rows = {}
    for v in ab.variant.values:
        row = {name: cell(per_animal[m].sel(variant=v).values) for m, name in METRICS.items()
               if m in ab and np.isfinite(per_animal[m].sel(variant=v).values).any()}
        paper = paper_value(str(v))
        row["paper (r, smoothed)"] = f"{paper:.3f}" if np.isfinite(paper) else "-"
        rows[VARIANTS[str(v)][0]] = row
    return pd.DataFrame(rows).T.fillna("-")


def difference(ab: xr.Dataset, a: str, b: str, metric: str = "smoothed_corr"):
    """The paired difference ``a`` - ``b`` of ``metric`` over animals (each
    animal's mean over its seeds): a :class:`~v1lib.stats.Interval`."""
    per_animal = ab[metric].mean("seed")
    return t_interval(per_animal.sel(variant=a).values - per_animal.sel(variant=b).values)


def seed_spread(ab: xr.Dataset, metric: str = "smoothed_corr") -> float:
    """The mean over variants and animals of the SD over seeds (NaN with one seed):
    how much a number moves with the initialisation alone."""
    if ab.sizes["seed"] < 2:
        return float("nan")
    return float(ab[metric].std("seed", ddof=1).mean())



def session_data(profile: str) -> str:
    """The dataset the profile's freely moving chapters run on."""
    return profiles.load(profile)["parameters"].get("freely_moving_data", "insilico-freely-moving")


def ceilings(scans: dict[str, xr.Dataset]) -> pd.DataFrame:
    """Per animal, on the test bins models are scored on (those with a whole
    history): neurons, bins, mean rate, and (simulated
    data) the mean correlation of the spikes with the observable rate, the most a
    model of the recorded inputs can reach, unsmoothed and after the 2-s boxcar."""
    from ..evaluation import smoothing_bins
    from ..metrics import boxcar, corr
    from ..tensors import block_labels, history_bins

    rows = {}
    for name, ds in scans.items():
        scored = (ds.tier.values == "test") & history_bins(block_labels(ds))  # those models score
        test = ds.isel(time=np.flatnonzero(scored))
        row = {"neurons": ds.sizes["neuron"], "test bins": test.sizes["time"],
               "mean rate (Hz)": float(test.responses.mean()) / float(ds.attrs["bin_s"])}
        if "gt_observable_rate" in ds:
            r, truth = test.responses.values, test.gt_observable_rate.values
            width = smoothing_bins(float(ds.attrs["bin_s"]))
            seg = test.segment.values
            row["ceiling r, unsmoothed"] = float(np.nanmean(corr(r, truth)))
            row["ceiling r, smoothed"] = float(np.nanmean(corr(boxcar(r, width, seg),
                                                               boxcar(truth, width, seg))))
        rows[name] = row
    return pd.DataFrame(rows).T


def neuron_scores(fit: FitResult, ds: xr.Dataset, variant: str) -> xr.Dataset:
    """Per-neuron test scores of a fitted ``variant`` (on its own input frames)."""
    (animal,) = fit.tensors
    data = retinal_session(ds) if VARIANTS[variant][2] else ds
    return evaluate(fit.model, fit.tensors, {animal: data}, "test")[0]


@torch.no_grad()
def shifter_recovery(fit: FitResult, ds: xr.Dataset, tier: str = "test") -> xr.Dataset:
    """The learned shifter's move of the frame (x, y shift in px, rotation in
    deg) on the bins of ``tier``, beside the true one (``gt_retinal_shift``,
    ``gt_retinal_rotation``): both in the warp's convention, where the retina
    reads the frame at ``c + R (p - c) + shift``."""
    model = fit.model.eval()
    if model.shifter is None:
        raise ValueError("this model has no shifter")
    (animal, d), = fit.tensors.items()
    idx = d.tiers[tier]
    eye_head = d.inputs["behavior"][idx][:, list(SHIFTER_INPUTS)]
    moves = model.shifter(eye_head).cpu().numpy()
    t = idx.cpu().numpy()
    out = xr.Dataset({"learned_x": ("time", moves[:, 0]), "learned_y": ("time", moves[:, 1]),
                      "learned_rotation": ("time", moves[:, 2])},
                     coords={"time": ds.time.values[t]})
    if "gt_retinal_shift" in ds:
        out["true_x"] = ("time", ds.gt_retinal_shift.values[t, 0])
        out["true_y"] = ("time", ds.gt_retinal_shift.values[t, 1])
        out["true_rotation"] = ("time", np.rad2deg(ds.gt_retinal_rotation.values[t]))
    return out


SHIFTER_AXES = {"x": "px", "y": "px", "rotation": "deg"}


def shifter_agreement(recovery: xr.Dataset) -> pd.DataFrame:
    """Per axis of :data:`SHIFTER_AXES`, the correlation of the learned with the
    true move of :func:`shifter_recovery` (NaN for a constant learned move) and
    the slope of the line fitted to learned against true."""
    rows = {}
    for axis in SHIFTER_AXES:
        true, learned = recovery[f"true_{axis}"].values, recovery[f"learned_{axis}"].values
        rows[axis] = {"correlation": float(np.corrcoef(true, learned)[0, 1])
                      if np.std(learned) > 0 else float("nan"),
                      "slope": float(np.polyfit(true, learned, 1)[0])}
    return pd.DataFrame(rows).T


def ledger_entries(ab: xr.Dataset, data) -> tuple[list[dict], list[Claim]]:
    """Chapter 7: every ablation variant; the paper's changes between them."""
    models = model_rows(ab, "xu", data, {v: VARIANTS[v][0] for v in ab.variant.values})
    xu = lambda k: PUBLISHED[f"xu_r_{k}"].value
    claims = []
    for a, b in (("vision_shifter", "vision"), ("full", "vision_shifter"), ("frames_4", "full")):
        if a in ab.variant.values and b in ab.variant.values:
            claims.append(change_claim(
                "xu", f"{VARIANTS[a][0]} against {VARIANTS[b][0]} (smoothed test "
                "correlation)", difference(ab, a, b), xu(a) - xu(b)))
    return models, claims
