"""Chapter 6: orientation and direction tuning of a trained video model, read
with the method of Sinz et al. (2018) from responses to Monet clips.

The Monet clips move in ``n_dirs`` directions, one after the other; while a
direction is on, the noise is oriented orthogonally to it. For a response
trace r(t) and the direction theta(t) shown a latency earlier, the design
exp(i m theta) (m = 2: orientation, m = 1: direction; 0 where no direction is
on; only frames inside the epochs kept) is centred and scaled to unit RMS, the
trace z-scored, and x = <r, design> is complex: the preferred angle is
arg(x) / m, ``r2`` = |x|^2 the variance it explains, and the selectivity
|x| / (mean / SD of the raw trace).

The same probe reads three sets of responses to the same clips: the model's
predictions with eye and behaviour held at their means, the recorded responses,
and (simulated data) the expected responses at unit gain. Angles are of the
direction of motion (0 = rightward, 90 deg = downward); the orientation of the
preferred stripes is the orientation angle + 90 deg.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats as st

from ..ledger import Claim, range_claim
from ..metrics import corr
from ..published import PUBLISHED
from ..stats import t_interval
from .static import replicates
from .video import model_configs
from .video_prediction import LABELS, fit_variant, settings

LATENCY_S = 0.05
# which neurons count as tuned (the paper's thresholds on measured responses)
TUNED = {2: {"selectivity": 0.2, "r2": 0.005}, 1: {"selectivity": 0.1, "r2": 0.002}}


def tuning(responses: np.ndarray, direction: np.ndarray, m: int, fps: float,
           burn_in: int = 0, latency_s: float = LATENCY_S) -> dict[str, np.ndarray]:
    """Preferred angle (rad), ``r2`` and ``selectivity`` per neuron from
    responses (S, T, N) to clips whose direction of motion per frame is
    ``direction`` (S, T) in degrees (NaN: none)."""
    lag = int(round(latency_s * fps))
    shown = np.full(direction.shape, np.nan)
    shown[:, lag:] = direction[:, :direction.shape[1] - lag]
    shown[:, :burn_in] = np.nan
    keep = np.isfinite(shown)
    r = responses[keep].astype(np.float64)  # (frames, N)
    design = np.exp(1j * m * np.deg2rad(shown[keep]))
    design = design - design.mean()
    design = design / np.sqrt((np.abs(design) ** 2).mean())
    sd = r.std(0)
    z = (r - r.mean(0)) / np.where(sd > 0, sd, 1.0)
    x = (z * design[:, None]).mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sel = np.abs(x) * sd / r.mean(0)
    return {"angle": np.angle(x) / m, "r2": np.abs(x) ** 2, "selectivity": np.nan_to_num(sel)}


def circular_difference(a: np.ndarray, b: np.ndarray, m: int) -> np.ndarray:
    """a - b for angles with period 2 pi / m, in (-pi / m, pi / m]."""
    period = 2 * np.pi / m
    return -((b - a + period / 2) % period - period / 2)


def monet_clips(ds: xr.Dataset) -> xr.Dataset:
    """Every presentation of a Monet clip."""
    return ds.isel(clip=np.flatnonzero(ds.stimulus_type.values == "monet"))


def probe(fit, ds: xr.Dataset, m: int, burn_in: int) -> dict[str, dict]:
    """The tuning of the model (its predictions for the distinct Monet clips with
    eye and behaviour at their means), of the recorded responses (every
    presentation) and, where the data have it, of the expected responses at
    unit gain."""
    mon = monet_clips(ds)
    fps = float(ds.attrs.get("frame_rate_hz", 30.0))
    _, first = np.unique(mon.clip_id.values, return_index=True)
    uniq = mon.isel(clip=np.sort(first))
    (animal, _), = fit.tensors.items()
    pred = fit.model.predict(animal, uniq.videos.values, batch_size=4)
    out = {"model": tuning(pred, uniq.motion_direction.values, m, fps, burn_in),
           "measured": tuning(mon.responses.values, mon.motion_direction.values, m, fps, burn_in)}
    if "gt_stimulus_rate" in uniq:
        truth = uniq.gt_stimulus_rate.values
        out["true"] = tuning(truth, uniq.motion_direction.values, m, fps, burn_in)
        # how much of the stimulus-driven response the model captures, per neuron
        flat = lambda a: a[:, burn_in:].reshape(-1, a.shape[-1])
        out["model"]["stimulus_corr"] = corr(flat(truth), flat(pred))
    return out


def truth_errors(p: dict, ds: xr.Dataset, min_osi: float = 0.3) -> tuple[np.ndarray, dict]:
    """The orientation-selective neurons of a simulated scan (grating OSI above
    ``min_osi``) and, over them, the orientation probe's error (deg) against
    their true preferred axis of motion (the stripes' orthogonal) for each
    reading of :func:`probe`."""
    oriented = np.isfinite(ds.gt_orientation.values) & (ds.gt_osi.values > min_osi)
    axis = np.deg2rad((ds.gt_orientation.values + 90) % 180)
    return oriented, {k: np.rad2deg(circular_difference(t["angle"], axis, 2))[oriented]
                      for k, t in p.items()}


def tuned(t: dict, m: int) -> np.ndarray:
    """The neurons whose measured tuning passes the paper's thresholds."""
    return (t["selectivity"] > TUNED[m]["selectivity"]) & (t["r2"] > TUNED[m]["r2"])


def neuron_table(scans, profile: str, variants=("full", "core_only", "full_noise"), m: int = 2,
                 results_dir=None, device="cpu") -> pd.DataFrame:
    """One row per (animal, variant, neuron): the preferred angles (rad) of the
    model, the measurement and (simulated data) the expected responses, their
    circular differences, and whether the measured neuron is tuned."""
    burn_in = model_configs(profile)[2].burn_in
    frames = []
    for animal, seed in replicates(scans, settings(profile)):
        for v in variants:
            p = probe(fit_variant(scans, profile, v, animal, seed, results_dir, device),
                      scans[animal], m, burn_in)
            row = {"animal": animal, "variant": v, "neuron": np.arange(len(p["model"]["angle"])),
                   "tuned": tuned(p["measured"], m)}
            row.update({f"angle {k}": t["angle"] for k, t in p.items()})
            if "stimulus_corr" in p["model"]:
                row["stimulus corr"] = p["model"]["stimulus_corr"]
            for a, b in (("model", "measured"), ("model", "true"), ("measured", "true")):
                if a in p and b in p:
                    row[f"{a} - {b}"] = circular_difference(p[a]["angle"], p[b]["angle"], m)
            frames.append(pd.DataFrame(row))
    return pd.concat(frames, ignore_index=True)


def comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Per animal and variant (from :func:`neuron_table`): the number of tuned
    neurons and the SD (rad) of each circular difference over them, with the
    Levene test of the model - measured spread against the first variant's."""
    rows = []
    for animal, of_animal in table.groupby("animal", sort=False):
        first = None
        for v, t in of_animal.groupby("variant", sort=False):
            t = t[t.tuned]
            row = {"animal": animal, "variant": v, "model": LABELS[v], "tuned neurons": len(t)}
            row.update({f"SD {k}": float(np.std(t[k])) for k in
                        ("model - measured", "model - true", "measured - true") if k in t})
            if "stimulus corr" in t:
                row["corr. with stimulus-driven truth"] = float(np.nanmean(t["stimulus corr"]))
            d = t["model - measured"].values
            if first is None:
                first = d
            elif len(d) > 2 and len(first) > 2:
                row["Levene p vs first"] = float(st.levene(first, d).pvalue)
            rows.append(row)
    return pd.DataFrame(rows)


PUBLISHED_SD = {"full": "full", "core_only": "core_only", "full_noise": "noise"}  # variant -> key


def ledger_entries(table: pd.DataFrame) -> tuple[list[dict], list[Claim]]:
    """Chapter 6 (its models are chapter 4's): per model, the SD over tuned
    neurons of model minus measured preferred orientation (per animal, from
    :func:`comparison`) against the range over the paper's mice."""
    claims = []
    for v, key in PUBLISHED_SD.items():
        rows = table[table.variant == v]
        if rows.empty:
            continue
        lo, hi = (PUBLISHED[f"sinz_ori_sd_{key}_{e}"].value for e in ("lo", "hi"))
        claims.append(range_claim(
            "sinz", f"In-silico orientation tuning of the {LABELS[v]} model: SD of model minus "
            "measured preferred orientation over tuned neurons", t_interval(
                rows["SD model - measured"].values), lo, hi, " rad"))
    return [], claims
