"""Calibration of the simulated V1 against the reliability of real recordings.

The noise-free rate ``gt_rate`` is the best possible model of the responses.
Scoring it with the Sensorium metrics gives the ceiling that any model trained
on the simulated data can reach; scoring the responses against their own
repeats gives the oracle correlation and the fraction of explainable variance.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import metrics
from ..metrics import FEV_THRESHOLD
from ..published import value

# Sensorium 2022: the 7-scan CNN ("generalization" model) on the test tier of
# scan 21067-10-18 (v1lib.published). Single-trial correlation, correlation to
# average, FEVE.
SENSORIUM_2022_CNN = {k: value(f"sensorium2022_cnn_{k}")
                      for k in ("single_trial_corr", "corr_to_avg", "feve")}


def implied_ceiling(reference: dict = SENSORIUM_2022_CNN) -> dict:
    """Ceilings implied by a model's scores if it explains a fraction FEVE of the
    explainable variance: correlations scale with the square root of FEVE."""
    s = np.sqrt(reference["feve"])
    return {"single_trial_corr": reference["single_trial_corr"] / s,
            "corr_to_avg": reference["corr_to_avg"] / s}


def neuron_reliability(ds: xr.Dataset, tier: str = "test") -> xr.Dataset:
    """Per-neuron oracle, FEV and the ground-truth ceilings on one tier."""
    sel = ds.where(ds.tier == tier, drop=True) if tier else ds
    r = sel.responses.values
    ids = sel.image_id.values
    out = {
        "oracle_corr": metrics.oracle_corr(r, ids),
        "fev": metrics.fev(r, ids),
    }
    if "gt_rate" in sel:
        # full ceiling: a model that knows image, eye position, behaviour and state
        p = sel.gt_rate.values
        out["ceiling_single_trial_corr"] = metrics.corr(r, p)
        # image-only ceiling: the expected response to each image, averaged over
        # the behavioural states it was seen in (what an image-only model can know)
        p_img = image_mean(p, ids)
        out["image_ceiling_single_trial_corr"] = metrics.corr(r, p_img)
        out["image_ceiling_corr_to_avg"] = metrics.corr_to_average(r, p_img, ids)
        out["image_ceiling_feve"] = metrics.feve(r, p_img, ids)
    coords = {k: ("neuron", ds[k].values) for k in ("unit_id", "animal") if k in ds.coords}
    return xr.Dataset({k: ("neuron", v.astype(np.float32)) for k, v in out.items()}, coords=coords)


def population_reliability(scans: dict[str, xr.Dataset], tier: str = "test") -> xr.Dataset:
    """:func:`neuron_reliability` of every scan, concatenated along ``neuron``."""
    return xr.concat([neuron_reliability(ds, tier) for ds in scans.values()], dim="neuron")


def image_mean(values: np.ndarray, image_id: np.ndarray) -> np.ndarray:
    """Replace each trial's value by the mean over all trials of its image."""
    values = np.asarray(values)
    out = np.empty_like(values)
    for g in metrics.group_repeats(image_id, min_repeats=1):
        out[g] = values[g].mean(0)
    return out


def summary(rel: xr.Dataset) -> dict:
    """Population numbers in the form Sensorium reports them."""
    keep = rel.fev.values >= FEV_THRESHOLD
    out = {
        "n_neurons": int(rel.sizes["neuron"]),
        "mean_oracle_corr": float(rel.oracle_corr.mean()),
        "median_fev": float(rel.fev.median()),
        "fraction_fev_above_threshold": float(keep.mean()),
    }
    if "ceiling_single_trial_corr" in rel:
        out.update(
            ceiling_single_trial_corr=float(rel.ceiling_single_trial_corr.mean()),
            image_ceiling_single_trial_corr=float(rel.image_ceiling_single_trial_corr.mean()),
            image_ceiling_corr_to_avg=float(rel.image_ceiling_corr_to_avg.mean()),
            image_ceiling_feve=(float(np.nanmean(rel.image_ceiling_feve.values[keep]))
                                if keep.any() else float("nan")),
        )
    return out
