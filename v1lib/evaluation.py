"""Scoring a trained model on a tier: predictions, per-neuron metrics, and the
population numbers in the form Lurz et al. (2021) and Sensorium report them.

On simulated data two ground-truth ceilings are added: the correlation of the
responses with the noise-free rate ``gt_rate`` (which includes a latent brain
state no model can see), and with the *observable* rate, the rate a model that
sees the image, the eye position and the behaviour could at best predict.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import metrics
from .sim.calibration import FEV_THRESHOLD
from .train import ScanTensors, predict_tier


def observable_rate(ds: xr.Dataset) -> np.ndarray:
    """Noise-free rate without the latent state: stimulus rate times the
    behavioural gain (the simulator's behaviour z-scores use all trials)."""
    b = ds.behavior.values.astype(np.float64)
    bz = (b - b.mean(0)) / b.std(0)
    return ds.gt_stimulus_rate.values * np.exp(bz @ ds.gt_behavior_weights.values.T)


def predictions(model, data: dict[str, ScanTensors], scans: dict[str, xr.Dataset],
                tier: str = "test") -> dict[str, xr.DataArray]:
    """Predicted responses on ``tier`` in the scans' original units, labelled
    like the data: ``{scan: DataArray(trial, neuron)}``."""
    preds = predict_tier(model, data, tier)
    out = {}
    for s, p in preds.items():
        idx = data[s].tiers[tier].cpu().numpy()
        ds = scans[s].isel(trial=idx)
        values = (p.cpu().numpy() * data[s].info.response_std[None]).astype(np.float32)
        out[s] = xr.DataArray(values, dims=("trial", "neuron"),
                              coords={k: v for k, v in ds.responses.coords.items()},
                              name="predictions", attrs={"units": ds.responses.attrs.get("units", "")})
    return out


def neuron_scores(responses: xr.DataArray, pred: xr.DataArray, ds: xr.Dataset | None = None) -> xr.Dataset:
    """Per-neuron metrics of one scan's predictions on repeated trials."""
    r, p, ids = responses.values, pred.values, responses.image_id.values
    out = {"single_trial_corr": metrics.corr(r, p), "corr_to_avg": metrics.corr_to_average(r, p, ids)}
    if metrics.group_repeats(ids):
        out.update(oracle_corr=metrics.oracle_corr(r, ids), fev=metrics.fev(r, ids),
                   feve=metrics.feve(r, p, ids))
    else:  # no repeated images on this tier: no noise ceiling
        out.update({k: np.full(r.shape[1], np.nan) for k in ("oracle_corr", "fev", "feve")})
    if ds is not None and "gt_rate" in ds:
        obs = xr.DataArray(observable_rate(ds), dims=("trial", "neuron"), coords={"trial": ds.trial})
        out["gt_ceiling_corr"] = metrics.corr(r, ds.gt_rate.sel(trial=responses.trial).values)
        out["gt_observable_ceiling_corr"] = metrics.corr(r, obs.sel(trial=responses.trial).values)
    coords = {k: ("neuron", responses[k].values) for k in ("unit_id", "animal")
              if k in responses.coords}
    return xr.Dataset({k: ("neuron", np.asarray(v, dtype=np.float32)) for k, v in out.items()},
                      coords=coords)


def evaluate(model, data: dict[str, ScanTensors], scans: dict[str, xr.Dataset],
             tier: str = "test") -> tuple[xr.Dataset, dict, dict[str, xr.DataArray]]:
    """Per-neuron scores of every scan (concatenated along ``neuron``), the
    population summary, and the predictions."""
    preds = predictions(model, data, scans, tier)
    per = []
    for s, p in preds.items():
        resp = scans[s].responses.sel(trial=p.trial)
        per.append(neuron_scores(resp, p, scans[s]).assign_coords(
            scan=("neuron", np.full(p.sizes["neuron"], s))))
    scores = xr.concat(per, dim="neuron")
    return scores, summarize(scores), preds


def summarize(scores: xr.Dataset) -> dict:
    """Population numbers: means over neurons (FEVE over FEV >= 0.15), fraction
    oracle, and on simulated data the fractions of the ground-truth ceilings
    (ratios of population means)."""
    keep = scores.fev.values >= FEV_THRESHOLD
    feve = scores.feve.values[keep]
    out = {
        "n_neurons": int(scores.sizes["neuron"]),
        "single_trial_corr": float(scores.single_trial_corr.mean()),
        "corr_to_avg": float(scores.corr_to_avg.mean()),
        "feve": float(np.nanmean(feve)) if np.isfinite(feve).any() else float("nan"),
        "fraction_oracle": (metrics.fraction_oracle(scores.single_trial_corr.values,
                                                    scores.oracle_corr.values)
                            if np.isfinite(scores.oracle_corr.values).all() else float("nan")),
    }
    if "gt_ceiling_corr" in scores:
        m = float(scores.single_trial_corr.mean())
        out["gt_ceiling_fraction"] = m / float(scores.gt_ceiling_corr.mean())
        out["gt_observable_ceiling_fraction"] = m / float(scores.gt_observable_ceiling_corr.mean())
    return out


def write_predictions(preds: dict[str, xr.DataArray], scores: xr.Dataset, path) -> None:
    """One NetCDF group per scan holding its predictions and per-neuron scores,
    written atomically."""
    from .cache import atomic_path

    with atomic_path(path) as tmp:
        for k, (scan, p) in enumerate(preds.items()):
            sc = scores.isel(neuron=scores.scan.values == scan).drop_vars("scan")
            ds = xr.Dataset({"predictions": p}).assign(
                {v: ("neuron", sc[v].values) for v in sc.data_vars})
            ds.to_netcdf(tmp, group=scan, mode="w" if k == 0 else "a", engine="h5netcdf")
