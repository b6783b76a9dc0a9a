"""Trained models of static images against the simulated V1's ground truth: where each model
neuron looks (receptive-field centres mapped in silico), how the model moves
receptive fields with the eye (shifter), how it scales responses with
behaviour (modulator), and which groups of true neurons it falls short on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr

from . import probes
from .models.encoder import Encoder


def model_function(model: Encoder, scan: str):
    """The model of ``scan`` as a differentiable function of stimuli in its
    normalised input units (B, 1, H, W), the eye and behaviour at their means."""
    model.eval()
    return lambda x: model(scan, x, **model.default_inputs(scan, len(x)))


def rf_maps(model: Encoder, scan: str, image_shape: tuple[int, int], n_samples: int = 8,
            chunk: int = 250, seed: int = 0) -> xr.DataArray:
    """:func:`v1lib.probes.sensitivity_maps` of every model neuron of ``scan``, to
    white noise in the model's normalised input units."""
    return probes.sensitivity_maps(model_function(model, scan), model.readouts[scan].features.shape[0],
                                   image_shape, n_samples, chunk, seed,
                                   device=next(model.parameters()).device,
                                   units="(normalised response / input SD)^2")


def compare_rf_centres(model_xy: xr.Dataset, ds: xr.Dataset) -> xr.Dataset:
    """Model vs true RF centres (px) after removing one global offset (the
    median difference; it absorbs the shifter's output at the mean eye
    position). Adds ``error`` (px) per neuron and the offset in attrs."""
    dx = model_xy.rf_x.values - ds.gt_rf_x.values
    dy = model_xy.rf_y.values - ds.gt_rf_y.values
    ox, oy = float(np.median(dx)), float(np.median(dy))
    err = np.hypot(dx - ox, dy - oy)
    return xr.Dataset(
        {"model_rf_x": ("neuron", model_xy.rf_x.values - ox),
         "model_rf_y": ("neuron", model_xy.rf_y.values - oy),
         "true_rf_x": ("neuron", ds.gt_rf_x.values), "true_rf_y": ("neuron", ds.gt_rf_y.values),
         "error": ("neuron", err)},
        coords={"unit_id": ("neuron", ds.unit_id.values)},
        attrs={"offset_x_px": ox, "offset_y_px": oy, "units": "px"})


@torch.no_grad()
def recovered_shifts(model: Encoder, scan: str, ds: xr.Dataset) -> xr.Dataset:
    """The shifter's RF shift for every trial, in screen pixels, beside the true
    one (``gt_eye_shift``). Grid units become pixels through the feature map's
    size (``align_corners=True``: [-1, 1] spans W'-1 feature pixels, each
    ``stride`` image pixels wide)."""
    if model.shifters is None:
        raise ValueError("this model has no shifter")
    model.eval()
    dev = next(model.parameters()).device
    norm = model.normalizers[scan]
    eye = norm.normalize("eye", torch.as_tensor(ds.pupil_center.values, dtype=torch.float32,
                                                device=dev))
    delta = model.shifters[scan](eye).cpu().numpy()
    h, w = model.core.output_shape(ds.sizes["y"], ds.sizes["x"])
    px = delta * np.array([(w - 1) / 2, (h - 1) / 2]) * model.core.config.stride
    return xr.Dataset({"model_shift": (("trial", "eye_axis"), px),
                       "true_shift": (("trial", "eye_axis"), ds.gt_eye_shift.values)},
                      coords={"eye_axis": ["x", "y"], "tier": ("trial", ds.tier.values)},
                      attrs={"units": "px"})


def shift_agreement(shifts: xr.Dataset, tail: float = 0.05) -> xr.Dataset:
    """Per eye axis: correlation of model and true shift, and the slope of the
    model shift on the true one (1 = the right gain), means removed; and that
    slope on the ``tail`` fraction of trials with the largest true shifts
    (``tail_slope``: below ``slope`` where the shifter saturates)."""
    out = {"corr": [], "slope": [], "tail_slope": []}
    for a in shifts.eye_axis.values:
        m = shifts.model_shift.sel(eye_axis=a).values
        t = shifts.true_shift.sel(eye_axis=a).values
        m, t = m - m.mean(), t - t.mean()
        out["corr"].append(float((m * t).sum() / np.sqrt((m**2).sum() * (t**2).sum() + 1e-30)))
        out["slope"].append(float((m * t).sum() / ((t**2).sum() + 1e-30)))
        big = np.abs(t) >= np.quantile(np.abs(t), 1 - tail)
        out["tail_slope"].append(float((m[big] * t[big]).sum() / ((t[big] ** 2).sum() + 1e-30)))
    return xr.Dataset({k: ("eye_axis", v) for k, v in out.items()},
                      coords={"eye_axis": shifts.eye_axis.values})


@torch.no_grad()
def recovered_gain_weights(model: Encoder, scan: str, ds: xr.Dataset) -> xr.Dataset:
    """Log-gain per SD of each behaviour variable, read off the modulator by
    regressing its log gain on the z-scored behaviour of every trial, beside
    the true weights (``gt_behavior_weights``)."""
    if model.modulators is None:
        raise ValueError("this model has no modulator")
    model.eval()
    dev = next(model.parameters()).device
    norm = model.normalizers[scan]
    b = ds.behavior.values.astype(np.float64)
    gain = model.modulators[scan](norm.normalize("behavior", torch.as_tensor(b, dtype=torch.float32,
                                                                             device=dev)))
    log_g = np.log(gain.cpu().numpy().astype(np.float64))
    bz = (b - b.mean(0)) / b.std(0)
    design = np.column_stack([np.ones(len(bz)), bz])
    coef = np.linalg.lstsq(design, log_g, rcond=None)[0][1:].T  # (neuron, behavior_var)
    return xr.Dataset({"model_weight": (("neuron", "behavior_var"), coef),
                       "true_weight": (("neuron", "behavior_var"), ds.gt_behavior_weights.values)},
                      coords={"behavior_var": ds.behavior_var.values,
                              "unit_id": ("neuron", ds.unit_id.values)},
                      attrs={"units": "log gain per SD"})


def shift_tail_text(agreement: xr.Dataset, tolerance: float = 0.05) -> str:
    """Words for the shifter: on which eye axis it moves the RFs against the
    truth (a negative correlation), and at the largest shifts, on which axis
    its tail slope misses 1 by more than ``tolerance``, and which way."""
    corr = agreement.get("corr", xr.zeros_like(agreement.tail_slope))
    against = [f"on axis {a} (r = {float(corr.sel(eye_axis=a)):.2f})"
               for a in agreement.eye_axis.values if float(corr.sel(eye_axis=a)) < 0]
    head = ("The shifter moves the RFs against the true shift " + " and ".join(against)
            + ": it has not recovered the eye movements on that axis. ") if against else ""
    off = []
    for a in agreement.eye_axis.values:
        t = float(agreement.tail_slope.sel(eye_axis=a))
        if not np.isfinite(t) or abs(t - 1) <= tolerance:
            continue
        if t < 0:
            off.append(f"on axis {a} the shifter moves the RFs the opposite way (tail slope {t:.2f})")
        else:
            off.append(f"on axis {a} the shifter moves the RFs {100 * abs(t - 1):.0f} % too "
                       f"{'little' if t < 1 else 'far'} (tail slope {t:.2f})")
    if off:
        return head + "At the largest shifts, " + "; ".join(off) + "."
    slopes = ", ".join(f"{a}: {float(v):.2f}" for a, v in
                       zip(agreement.eye_axis.values, agreement.tail_slope.values))
    return (head + f"At the largest shifts the shifter's gain stays within "
            f"{100 * tolerance:.0f} % of the truth (tail slopes {slopes}).")


def gain_agreement(weights: xr.Dataset, neurons=None) -> pd.DataFrame:
    """Per behaviour variable: correlation over neurons of the model's and the
    true log-gain weights, and the slope of model on true (1 = the right size).
    ``neurons``: a boolean mask of the neurons to count (default all)."""
    mask = slice(None) if neurons is None else np.asarray(neurons, dtype=bool)
    rows = {}
    for v in weights.behavior_var.values:
        t = weights.true_weight.sel(behavior_var=v).values[mask]
        m = weights.model_weight.sel(behavior_var=v).values[mask]
        rows[str(v)] = {"correlation": float(np.corrcoef(t, m)[0, 1]),
                        "slope": float(np.polyfit(t, m, 1)[0])}
    return pd.DataFrame(rows).T.rename_axis("behaviour")


BEHAVIOR_NAMES = {"pupil": "pupil size", "dpupil": "pupil change (dpupil)",
                  "running": "running speed"}


def gain_text(gains: pd.DataFrame, ds: xr.Dataset) -> str:
    """Words for :func:`gain_agreement`: the behaviour variable whose gain the
    modulator gets closest to the truth in size and the one furthest, and how
    much pupil size and running covary over the scan's trials."""
    name = lambda v: BEHAVIOR_NAMES.get(v, v)
    miss = (gains.slope - 1).abs()
    best, worst = miss.idxmin(), miss.idxmax()
    text = (f"The gain that the modulator gives **{name(best)}** is closest to the truth in size "
            f"(slope {gains.slope[best]:.2f}, r = {gains.correlation[best]:.2f}); the one it "
            f"gives **{name(worst)}** is furthest (slope {gains.slope[worst]:.2f}, r = "
            f"{gains.correlation[worst]:.2f}). A slope below 1 means the model's gain changes "
            f"less with that variable than the true gain does, above 1 more.")
    b = ds.behavior.to_pandas()
    if {"pupil", "running"} <= set(b.columns):
        r = float(np.corrcoef(b["pupil"], b["running"])[0, 1])
        text += f" Pupil size and running covary over this scan's trials with r = {r:.2f}"
        text += (", which leaves fewer trials to tell their gains apart." if abs(r) >= 0.2 else
                 ", too little to confuse their gains.")
    return text


def ceiling_by_tuning(scores: xr.Dataset, ds: xr.Dataset) -> pd.DataFrame:
    """Fraction of the observable ceiling (ratio of mean correlations, as in
    :func:`v1lib.evaluation.summarize`) per true feature type and spatial
    frequency of one scan's responsive neurons: where the model falls short.

    ``scores`` are one scan's per-neuron scores (from :func:`v1lib.evaluation.evaluate`),
    in the order of ``ds.neuron``."""
    if "gt_observable_ceiling_corr" not in scores or "gt_sf" not in ds:
        raise ValueError("ceiling_by_tuning needs simulated data: scores with "
                         "'gt_observable_ceiling_corr' and a dataset with 'gt_sf'")
    if scores.sizes["neuron"] != ds.sizes["neuron"]:
        raise ValueError(f"scores hold {scores.sizes['neuron']} neurons, the dataset "
                         f"{ds.sizes['neuron']}: pass the scores of this scan only")
    keep = ds.gt_responsive.values.astype(bool)
    df = pd.DataFrame({"type": ds.gt_feature_type.values[keep].astype(str),
                       "sf": ds.gt_sf.values[keep].astype(float),
                       "model": scores.single_trial_corr.values[keep],
                       "ceiling": scores.gt_observable_ceiling_corr.values[keep]})
    def fraction(groups):
        return groups.model.mean() / groups.ceiling.mean()

    out = fraction(df.groupby(["type", "sf"])).unstack("sf")
    out.loc["all types"] = fraction(df.groupby("sf"))
    out["all SFs"] = [*fraction(df.groupby("type")).loc[out.index[:-1]], fraction(df)]
    out.columns = [f"{sf:g} cyc/deg" for sf in out.columns[:-1]] + ["all SFs"]
    out.index.name = "feature type"
    return out
