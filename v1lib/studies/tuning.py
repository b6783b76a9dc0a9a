"""An equal hyper-parameter search for every readout.

A readout's L1 regularisation (``gamma_readout``) sets how sparse its feature
weights are, and the readouts differ by orders of magnitude in how many such
weights they have: one shared value favours one of them. Each readout kind
therefore gets the same search: the profile's value times every factor of
``readout_search.factors`` (``static_models``), one model per point, trained on
the first replicate animal and scored on its *validation* tier. Every model of
that readout kind (in chapters 2 and 3) is then trained at its best value. The
test tier is never looked at.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import profiles
from .static import SECTION, VARIANTS, fit_variant, replicates, study_settings, variant_config
from .sweep import sweep

# readout kind -> the variant that stands for it in the search
SEARCHED = {"gaussian": "gaussian", "factorized": "factorized"}


def search_factors(profile: str) -> list[float]:
    """The multiples of the profile's ``gamma_readout`` that the search tries
    (``[1]``: no search)."""
    s = profiles.settings(profile, SECTION).get("readout_search", {})
    factors = sorted(float(f) for f in s.get("factors", [1.0]))
    if not factors or not all(f > 0 for f in factors):
        raise ValueError(f"profile '{profiles.resolve(profile)}': readout_search.factors must be "
                         f"positive numbers, got {factors}")
    return factors


def readout_search(scans, profile: str, results_dir=None, device="cpu") -> xr.Dataset:
    """Validation correlation of each readout kind at each regularisation, on
    the first replicate animal: dims (readout, factor), ``gamma_readout`` the
    value tried, and whether training converged."""
    animal, seed = replicates(scans, study_settings(profile))[0]
    base = variant_config(profile, "gaussian")[0].gamma_readout
    patience = variant_config(profile, "gaussian")[1].patience

    def run(readout, factor):
        fit = fit_variant({animal: scans[animal]}, profile, SEARCHED[readout], seed, results_dir,
                          device, show_progress=False, model={"gamma_readout": base * factor})
        a = fit.history.attrs
        return {"val_score": float(a["best_val_score"]), "epochs": int(a["epochs"]),
                "improving_at_end": float(a["best_epoch"] >= a["epochs"] - patience)}

    jobs = [(r, f) for r in SEARCHED for f in search_factors(profile)]
    out = sweep(jobs, run, ("readout", "factor"), desc="readout search", device=device)
    return out.assign_coords(gamma_readout=("factor", base * out.factor.values)).assign_attrs(
        animal=animal, seed=seed, base_gamma_readout=base)


def best_factors(search: xr.Dataset) -> dict[str, float]:
    """Readout kind -> the factor with the highest validation score (the one
    nearest 1 on a tie)."""
    out = {}
    for r in search.readout.values:
        v = search.val_score.sel(readout=r)
        top = v.values == np.nanmax(v.values)
        f = search.factor.values[top]
        out[str(r)] = float(f[np.argmin(np.abs(np.log(f)))])
    return out


def tuned_options(search: xr.Dataset | None) -> dict[str, dict]:
    """Variant -> model options at its readout kind's best regularisation
    (every Gaussian-readout variant takes the Gaussian readout's value); empty
    without a search."""
    if search is None:
        return {}
    best = best_factors(search)
    base = float(search.attrs["base_gamma_readout"])
    return {v: {"gamma_readout": base * best[o["readout"]]} for v, o in VARIANTS.items()
            if o["readout"] in best}


def search_text(search: xr.Dataset) -> str:
    """Which value each readout kind got, and whether its optimum lies inside
    the searched range."""
    best, parts = best_factors(search), []
    lo, hi = float(search.factor.min()), float(search.factor.max())
    for r, f in best.items():
        v = search.val_score.sel(readout=r, factor=f)
        edge = ("; at the edge of the range, so its optimum may lie beyond it"
                if len(search.factor) > 1 and f in (lo, hi) else "")
        parts.append(f"the {r} readout is best at {f:g} × the profile's value "
                     f"(γ = {float(search.attrs['base_gamma_readout']) * f:.2g}, validation "
                     f"correlation {float(v):.3f}{edge})")
    return (f"Searched on animal {search.attrs['animal']}'s validation tier over "
            f"{len(search.factor)} values of the readout regularisation from {lo:g} to {hi:g} × "
            f"the profile's value: {'; '.join(parts)}. Every model below is trained at its "
            f"readout's best value; the learning rate and the Gaussian readout's initial σ are "
            f"shared, not searched.")
