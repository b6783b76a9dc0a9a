"""Chapter 4: how well the models of Sinz et al. (2018) predict responses to
video, on natural movies and on noise, against the noise ceiling (oracle) and,
on simulated data, against the ground truth.

A *domain* is a set of stimulus types: ``movies`` (natural clips) or ``noise``
(Monet and Trippy). A variant is a model (recurrent or LN), with or without
shifter and modulator, trained on the clips of one domain of an animal. Every
variant is scored on the test clips of both domains, with the normalisation of
its own training data. Replicates are animals (their own neurons, clips and
test set) with seeds 1, 2, ...
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import profiles
from ..evaluation import evaluate
from ..ledger import Claim, model_rows, range_claim
from ..model_cache import FitResult, costs, fit_cached
from ..published import PUBLISHED
from ..stats import t_interval
from ..tensors import to_tensors
from .readouts import cell
from .static import replicates
from .sweep import sweep
from .video import SECTION, model_configs

DOMAINS = {"movies": ("natural",), "noise": ("monet", "trippy")}
# name -> (model, with shifter and modulator, training domain)
VARIANTS = {
    "full": ("recurrent", True, "movies"),
    "core_only": ("recurrent", False, "movies"),
    "ln_full": ("ln", True, "movies"),
    "ln": ("ln", False, "movies"),
    "full_noise": ("recurrent", True, "noise"),
}
LABELS = {
    "full": "recurrent + shifter + modulator",
    "core_only": "recurrent, no shifter / modulator",
    "ln_full": "LN + shifter + modulator",
    "ln": "LN, no shifter / modulator",
    "full_noise": "recurrent + shifter + modulator, trained on noise",
}
METRICS = {
    "single_trial_corr": "test correlation",
    "fraction_oracle": "fraction oracle",
    "gt_observable_ceiling_fraction": "fraction of observable ceiling",
    "gt_ceiling_fraction": "fraction of true ceiling",
}


def video_data(profile: str) -> str:
    """The dataset the profile's video chapters run on."""
    return profiles.load(profile)["parameters"].get("video_data", "insilico-video")


def settings(profile: str) -> dict:
    """Replicates (animals), variants, and the variants trained on the first
    animal only, from the profile's ``video_models`` section."""
    s = profiles.settings(profile, SECTION)
    out = {"replicates": s.get("replicates", 3), "variants": list(s.get("variants", VARIANTS)),
           "one_replicate": list(s.get("one_replicate", []))}
    bad = [v for v in out["variants"] + out["one_replicate"] if v not in VARIANTS]
    if bad:
        raise ValueError(f"profile '{profiles.resolve(profile)}': unknown video model variant(s) "
                         f"{bad}; choose from {list(VARIANTS)}")
    return out


def domain_scan(ds: xr.Dataset, domain: str) -> xr.Dataset:
    """The clips of ``ds`` that belong to ``domain``."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown stimulus domain '{domain}'; choose from {list(DOMAINS)}")
    keep = np.isin(ds.stimulus_type.values, DOMAINS[domain])
    if not keep.any():
        raise ValueError(f"scan '{ds.attrs.get('scan', '')}' has no {domain} clips "
                         f"(stimulus types {DOMAINS[domain]})")
    return ds.isel(clip=np.flatnonzero(keep))


def fit_variant(scans, profile: str, variant: str, animal: str, seed: int, results_dir=None,
                device="cpu", show_progress: bool = False) -> FitResult:
    """``variant`` trained (or reloaded) on the clips of its domain of ``animal``."""
    model, full, domain = VARIANTS[variant]
    model_cfg, train_cfg, objective = model_configs(profile, model, shifter=full, modulator=full)
    return fit_cached({animal: domain_scan(scans[animal], domain)}, model_cfg, train_cfg, seed,
                      results_dir, device, show_progress=show_progress, objective=objective)


def domain_scores(fit: FitResult, ds: xr.Dataset, domain: str, burn_in: int,
                  tier: str = "test") -> tuple[xr.Dataset, dict, dict]:
    """Per-neuron scores, population summary and predictions of ``fit`` on the
    ``tier`` clips of ``domain``, normalised as its training data were."""
    (animal, t), = fit.tensors.items()
    sub = domain_scan(ds, domain)
    train = np.flatnonzero(sub.tier.values == "train")
    tensors = {animal: to_tensors(sub, t.info, train, t.device)}
    return evaluate(fit.model, tensors, {animal: sub}, tier, burn_in=burn_in)


def prediction_comparison(scans, profile: str, results_dir=None, device="cpu") -> xr.Dataset:
    """Every variant on every replicate animal (``one_replicate`` variants on the
    first only), scored on the test clips of both domains. Dims (variant,
    animal, domain); NaN where a variant was not trained."""
    st = settings(profile)
    reps = replicates(scans, st)
    burn_in = model_configs(profile)[2].burn_in

    def run(variant, animal):
        fit = fit_variant(scans, profile, variant, animal, dict(reps)[animal], results_dir, device)
        out = {"epochs": int(fit.history.attrs["epochs"]), **costs(fit)}
        for d in DOMAINS:
            summary = domain_scores(fit, scans[animal], d, burn_in)[1]
            out.update({f"{k}/{d}": summary.get(k, np.nan) for k in METRICS})
        return out

    jobs = [(v, a) for v in st["variants"]
            for a, _ in (reps[:1] if v in st["one_replicate"] else reps)]
    flat = sweep(jobs, run, ("variant", "animal"), desc="video models", device=device)
    out = xr.Dataset({k: xr.concat([flat[f"{k}/{d}"] for d in DOMAINS], "domain")
                      for k in METRICS}).assign_coords(domain=list(DOMAINS))
    out = out.assign({k: flat[k] for k in ("epochs", "parameters", "train_seconds")})
    return out.transpose("variant", "animal", "domain").assign_coords(
        label=("variant", [LABELS[v] for v in out.variant.values]),
        seed=("animal", [s for _, s in reps]))


def comparison_table(comp: xr.Dataset, metric: str) -> pd.DataFrame:
    """Mean [95 % t-interval over animals] of ``metric`` per variant and test domain."""
    rows = {}
    for v in comp.variant.values:
        trained = comp.epochs.sel(variant=v).notnull().values
        row = {f"tested on {d}": cell(comp[metric].sel(variant=v, domain=d).values[trained])
               for d in comp.domain.values}
        row["trained on"] = VARIANTS[str(v)][2]
        rows[LABELS[str(v)]] = row
    return pd.DataFrame(rows).T


def reliability(ds: xr.Dataset, burn_in: int) -> pd.DataFrame:
    """Per stimulus type of the test clips: the mean oracle correlation (how
    repeatable single trials are) and, on simulated data, the mean correlation
    of single trials with the expected response given what a model can observe."""
    from ..evaluation import observations
    from ..metrics import corr, oracle_corr

    rows = {}
    test = ds.isel(clip=np.flatnonzero(ds.tier.values == "test"))
    for kind in dict.fromkeys(test.stimulus_type.values):
        sub = test.isel(clip=np.flatnonzero(test.stimulus_type.values == kind))
        r, ids = observations(sub.responses, "clip_id", burn_in)
        row = {"test clips": len(np.unique(sub.clip_id)),
               "repeats": int(sub.sizes["clip"] / len(np.unique(sub.clip_id))),
               "oracle correlation": float(np.nanmean(oracle_corr(r, ids)))}
        if "gt_observable_rate" in sub:
            truth = observations(sub.gt_observable_rate, "clip_id", burn_in)[0]
            row["observable ceiling"] = float(np.nanmean(corr(r, truth)))
        rows[str(kind)] = row
    return pd.DataFrame(rows).T


def clip_traces(preds: xr.DataArray, sub: xr.Dataset, clip_id: int, neurons) -> xr.Dataset:
    """For one test clip: the recorded responses of its first repeat and their
    average over repeats, the prediction and (simulated data) the expected
    response, of ``neurons`` (indices), dims (time, neuron)."""
    shown = np.flatnonzero(sub.clip_id.values == clip_id)
    at = lambda v: v.isel(clip=shown, neuron=list(neurons))
    out = xr.Dataset({"single_trial": at(sub.responses).isel(clip=0),
                      "average": at(sub.responses).mean("clip"),
                      "prediction": at(preds).isel(clip=0)})
    if "gt_observable_rate" in sub:
        out["expected"] = at(sub.gt_observable_rate).isel(clip=0)
    return out


def ledger_entries(comp: xr.Dataset, data) -> tuple[list[dict], list[Claim]]:
    """Chapter 4: every video model on the movie test clips; each one's fraction
    of the oracle against the range over the paper's mice."""
    movies = comp.sel(domain="movies")
    # on the domain each was built for: the noise-trained model is chapter 5's question
    models = model_rows(movies, "sinz", f"{data} (movies)",
                        {v: LABELS[v] for v in comp.variant.values if VARIANTS[v][2] == "movies"})
    claims = []
    for v in ("full", "core_only", "ln_full", "ln"):
        if v not in comp.variant.values:
            continue
        lo, hi = (PUBLISHED[f"sinz_fraction_oracle_{v}_{e}"].value for e in ("lo", "hi"))
        iv = t_interval(100 * movies.fraction_oracle.sel(variant=v).values)
        claims.append(range_claim("sinz", f"The {LABELS[v]} model reaches this fraction of "
                                  "the oracle on natural movies", iv, lo, hi, " %"))
    return models, claims
