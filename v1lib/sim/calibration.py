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
        out["ceiling_single_trial_corr"] = metrics.corr(r, sel.gt_rate.values)
    if "gt_stimulus_only_rate" in sel and np.isfinite(sel.gt_stimulus_only_rate.values).all():
        # image-only ceiling: the exact expected response to each image over the
        # session's eye positions, behaviour and state (what an image-only model
        # can know); not the mean of gt_rate over the image's own repeats, which
        # keeps those trials' gains and eye shifts and so overstates the ceiling
        p_img = sel.gt_stimulus_only_rate.values
        out["image_ceiling_single_trial_corr"] = metrics.corr(r, p_img)
        out["image_ceiling_corr_to_avg"] = metrics.corr_to_average(r, p_img, ids)
        out["image_ceiling_feve"] = metrics.feve(r, p_img, ids)
    coords = {k: ("neuron", ds[k].values) for k in ("unit_id", "animal") if k in ds.coords}
    return xr.Dataset({k: ("neuron", v.astype(np.float32)) for k, v in out.items()}, coords=coords)


def population_reliability(scans: dict[str, xr.Dataset], tier: str = "test") -> xr.Dataset:
    """:func:`neuron_reliability` of every scan, concatenated along ``neuron``."""
    return xr.concat([neuron_reliability(ds, tier) for ds in scans.values()], dim="neuron")


def summary(rel: xr.Dataset) -> dict:
    """Population numbers in the form Sensorium reports them: correlations
    averaged over all neurons, FEVE over the neurons with FEV >= the threshold;
    the image-only ceiling's correlations also over that same set
    (``*_reliable``), so that they can be read beside its FEVE."""
    keep = rel.fev.values >= FEV_THRESHOLD
    out = {
        "n_neurons": int(rel.sizes["neuron"]),
        "mean_oracle_corr": float(rel.oracle_corr.mean()),
        "median_fev": float(rel.fev.median()),
        "fraction_fev_above_threshold": float(keep.mean()),
    }
    if "ceiling_single_trial_corr" in rel:
        out["ceiling_single_trial_corr"] = float(rel.ceiling_single_trial_corr.mean())
    if "image_ceiling_single_trial_corr" in rel:
        on = lambda v, m: float(np.nanmean(v.values[m])) if m.any() else float("nan")
        out.update(
            image_ceiling_single_trial_corr=float(rel.image_ceiling_single_trial_corr.mean()),
            image_ceiling_corr_to_avg=float(rel.image_ceiling_corr_to_avg.mean()),
            image_ceiling_single_trial_corr_reliable=on(rel.image_ceiling_single_trial_corr, keep),
            image_ceiling_corr_to_avg_reliable=on(rel.image_ceiling_corr_to_avg, keep),
            image_ceiling_feve=on(rel.image_ceiling_feve, keep),
        )
    return out


def oracle_text(rel: xr.Dataset, repeats: int) -> str:
    """How the leave-one-out oracle compares with the image-only ceiling, neuron
    by neuron, and the fraction oracle a perfect image-only model reaches."""
    if "image_ceiling_single_trial_corr" not in rel:
        return "These data carry no image-only ceiling (`gt_stimulus_only_rate`) to set the oracle against."
    c, o = rel.image_ceiling_single_trial_corr.values, rel.oracle_corr.values
    ok = np.isfinite(c) & np.isfinite(o)
    below = float((o[ok] < c[ok]).mean())
    fo = metrics.fraction_oracle(c[ok], o[ok])
    side = ("below" if below > 0.5 else "above")
    share = below if below > 0.5 else 1 - below
    text = (f"The leave-one-out oracle lies {side} the image-only ceiling for {100 * share:.0f} % "
            f"of the neurons. The oracle predicts each trial from the mean of the {repeats - 1} "
            f"other repeats of its image, which are noisy")
    text += (", so it underestimates what a perfect image-only model can do" if below > 0.5 else
             "; here that does not pull it below what a perfect image-only model can do")
    text += (f". Scored as a model, the image-only ground truth reaches a fraction oracle of "
             f"{fo:.2f}")
    if fo > 1:
        text += (": a fraction oracle above 1 is possible even for a model that sees only the "
                 "image, and the ground-truth ceiling is the better yardstick")
    return text + ". Later chapters report both."


def ceiling_text(ours: dict, implied: dict) -> str:
    """The in-silico image-only ceiling against the one Sensorium 2022's CNN
    implies, in words computed from both."""
    if "image_ceiling_single_trial_corr" not in ours:
        return "These data carry no image-only ceiling (`gt_stimulus_only_rate`)."
    a, b = ours["image_ceiling_single_trial_corr"], implied["single_trial_corr"]
    c, d = ours["image_ceiling_corr_to_avg"], implied["corr_to_avg"]
    side = lambda x, y: "above" if x > y else "below"
    text = (f"The in-silico image-only ceiling lies {side(a, b)} the implied one for single trials "
            f"({a:.3f} against {b:.3f}, {100 * (a / b - 1):+.0f} %) and {side(c, d)} it for "
            f"averages over repeats ({c:.3f} against {d:.3f}, {100 * (c / d - 1):+.0f} %)")
    if (a < b) == (c < d):
        text += (f": the simulated neurons are {'less' if a < b else 'more'} reliable than the "
                 f"recorded ones that the noise level was calibrated against")
    return text + ". Later chapters give every model's fraction of the in-silico ceilings."


def tuning_realism(pop) -> dict:
    """Spatial tuning of a simulated population's responsive neurons tuned to a
    feature of the bank: the median preferred spatial frequency (cyc/deg), the
    share of those neurons at each frequency of the bank, and the full width at
    half maximum (deg) of the primary feature's Gaussian envelope, median and at
    each frequency."""
    sf = pop.sf[pop.responsive & np.isfinite(pop.sf)]
    periods = pop.bank.config.envelope_periods
    fwhm = lambda f: 2 * np.sqrt(2 * np.log(2)) * periods / f  # envelope SD = periods / sf
    levels = sorted(set(pop.bank.config.sf_cpd))
    return {"median_sf": float(np.median(sf)),
            "sf_share": {float(f): float(np.mean(sf == f)) for f in levels},
            "median_fwhm": float(np.median(fwhm(sf))),
            "fwhm": {float(f): float(fwhm(f)) for f in levels},
            "screen_deg": (pop.bank.shape[0] * pop.bank.deg_per_px,
                           pop.bank.shape[1] * pop.bank.deg_per_px)}
