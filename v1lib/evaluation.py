"""Scoring a trained model on a tier: predictions, per-neuron metrics, and the
population numbers in the form Lurz et al. (2021) and Sensorium report them.

Any sample layout is scored: responses have the schema's sample dimension first
and the neuron last, with, between them, e.g. time bins; every (sample, bin)
is one observation, and observations repeat each other when their samples
share the schema's repeat key (and their bin). On simulated data three
ground-truth ceilings are added: the correlation of the responses with the
noise-free rate ``gt_rate`` (which includes a latent brain state no model can
see), with ``gt_observable_rate``, the rate a model that sees every recorded
input could at best predict, and with ``gt_stimulus_only_rate``, the expected response
to the stimulus alone, the most a stimulus-only model can predict.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import metrics
from .cache import atomic_path
from .data import schemas
from .predict import predict_tier
from .tensors import ScanTensors


def tier_samples(tensors: dict[str, ScanTensors], scans: dict[str, xr.Dataset],
                 tier: str) -> dict[str, xr.Dataset]:
    """Each scan restricted to the samples of ``tier`` (by position), in the order
    the model predicts them; a scan without such samples is named."""
    out = {}
    for s, ds in scans.items():
        idx = tensors[s].tiers.get(tier)
        if idx is None or len(idx) == 0:
            raise ValueError(f"scan '{s}' has no '{tier}' samples to score")
        out[s] = ds.isel({schemas.of(ds).sample_dim: idx.cpu().numpy()})
    return out


def predictions(model, tensors: dict[str, ScanTensors], scans: dict[str, xr.Dataset],
                tier: str = "test", samples: dict[str, xr.Dataset] | None = None
                ) -> dict[str, xr.DataArray]:
    """Predicted responses on ``tier`` in the scans' original units, labelled
    like the responses: ``{scan: DataArray(sample, ..., neuron)}``. ``samples``:
    the scans' samples of the tier, where the caller has them already."""
    samples = samples or tier_samples(tensors, {s: scans[s] for s in tensors}, tier)
    out = {}
    for s, p in predict_tier(model, tensors, tier).items():
        resp = samples[s][schemas.of(samples[s]).responses]
        values = (p.cpu().numpy() * tensors[s].info.response_std).astype(np.float32)
        out[s] = resp.copy(data=values).rename("predictions")
        out[s].attrs = {"units": resp.attrs.get("units", "")}
    return out


def observations(values: xr.DataArray, repeat_key: str,
                 burn_in: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (sample, ..., neuron) as (observation, neuron), and the repeat id
    of each observation: the sample's repeat key and the position within it.
    ``burn_in``: leading time steps (axis 1) left out."""
    v = values.values
    ids = values[repeat_key].values if repeat_key is not None else np.arange(len(v))
    if v.ndim == 2:
        if burn_in:
            raise ValueError(f"a burn-in of {burn_in} steps needs a time axis; these values have "
                             f"dims {values.dims}")
        return v, ids
    v = v[:, burn_in:]
    within = int(np.prod(v.shape[1:-1]))
    pairs = np.stack([np.repeat(np.unique(ids, return_inverse=True)[1], within),
                      np.tile(np.arange(within), len(ids))], 1)
    return v.reshape(-1, v.shape[-1]), np.unique(pairs, axis=0, return_inverse=True)[1].ravel()


# per-neuron ceilings on simulated data: correlation of the responses with the
# rate given everything / given what a model can observe / given the stimulus alone
GT_CEILINGS = {"gt_ceiling_corr": "gt_rate", "gt_observable_ceiling_corr": "gt_observable_rate",
               "gt_stimulus_only_ceiling_corr": "gt_stimulus_only_rate"}


def neuron_scores(responses: xr.DataArray, pred: xr.DataArray, ds: xr.Dataset | None = None,
                  repeat_key: str | None = None, burn_in: int = 0) -> xr.Dataset:
    """Per-neuron metrics of one scan's predictions. ``ds``, the scan (or its
    samples of the tier, in the order of ``responses``), adds the ground-truth
    ceilings where it holds ``gt_rate`` and ``gt_observable_rate``."""
    if repeat_key is None and ds is None:
        raise ValueError("neuron_scores needs the scan (ds) or its repeat key (repeat_key)")
    key = repeat_key or schemas.of(ds).repeat_key  # None: no repeated stimuli
    r, ids = observations(responses, key, burn_in)
    p = observations(pred, key, burn_in)[0]
    single = metrics.corr(r, p)
    out = {"single_trial_corr": single,  # without repeats the average is the single trial
           "corr_to_avg": metrics.corr_to_average(r, p, ids) if key is not None else single}
    if metrics.group_repeats(ids):
        out.update(oracle_corr=metrics.oracle_corr(r, ids), fev=metrics.fev(r, ids),
                   feve=metrics.feve(r, p, ids))
    else:  # no repeated stimuli on this tier: no noise ceiling
        out.update({k: np.full(r.shape[1], np.nan) for k in ("oracle_corr", "fev", "feve")})
    for name, var in GT_CEILINGS.items():
        if ds is not None and var in ds:
            truth = observations(_aligned(ds[var], responses), key, burn_in)[0]
            if np.isfinite(truth).all():  # gt_stimulus_only_rate is defined on the test tier only
                out[name] = metrics.corr(r, truth)
    if ds is not None and schemas.of(ds).block_key is not None:
        out.update(smoothed_scores(responses, pred, ds))
    coords = {k: ("neuron", responses[k].values) for k in ("unit_id", "animal")
              if k in responses.coords}
    return xr.Dataset({k: ("neuron", np.asarray(v, dtype=np.float32)) for k, v in out.items()},
                      coords=coords)


# the smoothing of a continuous recording's scores (Xu et al. 2023: a 2-s boxcar)
SMOOTHING_S = 2.0


def smoothing_bins(bin_s: float) -> int:
    """The boxcar's width in bins: ``int(SMOOTHING_S / bin_s)``, made odd so that
    it is centred (the paper's 41 bins of 48 ms)."""
    w = max(1, int(SMOOTHING_S / bin_s))
    return w if w % 2 else w + 1


def smoothed_scores(responses: xr.DataArray, pred: xr.DataArray, ds: xr.Dataset) -> dict:
    """For a continuous recording (its bins in blocks): the correlation of
    prediction and response after a :data:`SMOOTHING_S` boxcar within each block
    (``smoothed_corr``), and on simulated data that of the observable rate
    (``gt_observable_ceiling_smoothed_corr``)."""
    width = smoothing_bins(float(ds.attrs["bin_s"]))
    blocks = _aligned(ds[schemas.of(ds).block_key], responses).values
    r = metrics.boxcar(responses.values, width, blocks)
    out = {"smoothed_corr": metrics.corr(r, metrics.boxcar(pred.values, width, blocks))}
    if "gt_observable_rate" in ds:
        truth = _aligned(ds.gt_observable_rate, responses).values
        out["gt_observable_ceiling_smoothed_corr"] = metrics.corr(r, metrics.boxcar(truth, width,
                                                                                    blocks))
    return out


def _aligned(var: xr.DataArray, responses: xr.DataArray) -> xr.DataArray:
    """``var`` at the samples of ``responses``: the same samples already, or
    selected by the sample coordinate both carry."""
    dim = responses.dims[0]
    same = var.sizes[dim] == responses.sizes[dim] and (
        dim not in var.indexes or dim not in responses.indexes
        or var.indexes[dim].equals(responses.indexes[dim]))
    if same:
        return var
    if dim in var.indexes and dim in responses.indexes:
        return var.sel({dim: responses[dim]})
    raise ValueError(f"cannot match '{var.name}' to the scored samples: give the scan's samples "
                     f"of the tier, or a scan with a '{dim}' coordinate")


def evaluate(model, tensors: dict[str, ScanTensors], scans: dict[str, xr.Dataset],
             tier: str = "test", burn_in: int = 0
             ) -> tuple[xr.Dataset, dict, dict[str, xr.DataArray]]:
    """Per-neuron scores of every scan (concatenated along ``neuron``), the
    population summary, and the predictions. ``burn_in``: leading time steps
    left out of the scores (as the objective leaves them out of training)."""
    samples = tier_samples(tensors, {s: scans[s] for s in tensors}, tier)
    preds = predictions(model, tensors, scans, tier, samples)
    per = []
    for s, p in preds.items():
        resp = samples[s][schemas.of(samples[s]).responses]
        per.append(neuron_scores(resp, p, samples[s], burn_in=burn_in).assign_coords(
            scan=("neuron", np.full(p.sizes["neuron"], s))))
    scores = xr.concat(per, dim="neuron")
    return scores, summarize(scores), preds


def summarize(scores: xr.Dataset) -> dict:
    """Population numbers: means over neurons (FEVE over FEV >= the Sensorium
    threshold), fraction oracle, and on simulated data the fractions of the
    ground-truth ceilings (ratios of population means)."""
    keep = scores.fev.values >= metrics.FEV_THRESHOLD
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
    if "smoothed_corr" in scores:
        out["smoothed_corr"] = float(scores.smoothed_corr.mean())
        if "gt_observable_ceiling_smoothed_corr" in scores:
            out["gt_observable_ceiling_smoothed_fraction"] = (
                out["smoothed_corr"] / float(scores.gt_observable_ceiling_smoothed_corr.mean()))
    m = float(scores.single_trial_corr.mean())
    for name, ceiling in (("gt_ceiling_fraction", "gt_ceiling_corr"),
                          ("gt_observable_ceiling_fraction", "gt_observable_ceiling_corr"),
                          ("gt_stimulus_only_ceiling_fraction", "gt_stimulus_only_ceiling_corr")):
        if ceiling in scores:
            out[name] = m / float(scores[ceiling].mean())
    return out


def write_predictions(preds: dict[str, xr.DataArray], scores: xr.Dataset, path) -> None:
    """One NetCDF group per scan holding its predictions and per-neuron scores,
    written atomically."""
    with atomic_path(path) as tmp:
        for k, (scan, p) in enumerate(preds.items()):
            sc = scores.isel(neuron=scores.scan.values == scan).drop_vars("scan")
            ds = xr.Dataset({"predictions": p}).assign(
                {v: ("neuron", sc[v].values) for v in sc.data_vars})
            ds.to_netcdf(tmp, group=scan, mode="w" if k == 0 else "a", engine="h5netcdf")
