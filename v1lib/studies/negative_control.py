"""Chapter 3's negative control: core transfer to an animal whose V1 computes
other features.

The simulated animals of the transfer curve share one ground-truth feature
bank, so a core trained on some of them *should* serve the others. The control
is an animal whose neurons read a different bank (the profile's
``foreign_data``: finer spatial frequencies, other orientations). Each source
core of the transfer curve gets a new readout on it, at the curve's smallest
and largest amounts of data, against a model trained directly on it. If transfer
works because the animals share features, the transferred core should serve
the foreign animal worse than its own kind (as fractions of each animal's
image-only ceiling), and its gain over direct training should shrink.

Replicates are the independent source cores (one per held-out animal of the
curve, trained on different animals with different seeds). As in the curve,
replicate ``k``'s transfer and direct models on the foreign animal share its
seed and so its training subset. The comparison with the curve is paired by
core: core ``k``'s scores and gain on its own held-out animal against those on
the foreign one.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..sim.static import simulator_config
from ..stats import t_interval, verdict
from .readouts import TABLE_METRICS
from .static import companion_data, replicates, study_settings
from .sweep import sweep, tier_scores
from .transfer import condition_fit

METRIC = "gt_stimulus_only_ceiling_fraction"  # comparable across animals of other ceilings


def foreign_scans(profile: str, dataset: str, results_dir=None) -> dict | None:
    """The profile's foreign animal (``foreign_data`` of its ``static_models``)
    where the chapter runs on the profile's own simulated dataset; None
    otherwise."""
    return companion_data(profile, dataset, "foreign_data", results_dir)


def banks_text(source: xr.Dataset, foreign: dict) -> str:
    """Which feature banks the foreign animal and a source animal read."""
    banks = [simulator_config(ds).features for ds in (next(iter(foreign.values())), source)]
    said = [f"{b.n_orientations} orientations at {', '.join(f'{f:g}' for f in b.sf_cpd)} cyc/deg"
            for b in banks]
    return (f"The foreign animal **{next(iter(foreign))}** reads {said[0]}; the source animals "
            f"read {said[1]}.")


def foreign_transfer(foreign: dict, scans: dict, cores: dict, profile: str, fractions,
                     results_dir=None, device="cpu", model: dict | None = None) -> xr.Dataset:
    """Scores on the foreign animal's test tier, dims (condition, fraction,
    source): ``transfer`` with the source core of held-out animal ``source``
    (``cores``, from :func:`v1lib.studies.transfer.transfer_curve` on
    ``scans``), ``direct`` trained on the foreign animal alone, each with that
    replicate's seed (and training subset)."""
    if len(foreign) != 1:
        raise ValueError(f"the negative control takes one foreign animal, got {list(foreign)}")
    (animal,) = foreign
    if animal in scans:
        raise ValueError(f"the foreign animal '{animal}' has the name of a source animal; "
                         "simulate it with another seed")
    reps = dict(replicates(scans, study_settings(profile)))
    missing = sorted(set(reps) - set(cores))
    if missing:
        raise ValueError(f"no source core for held-out animal(s) {missing}")

    def run(condition, fraction, source):
        fit = condition_fit(foreign, profile, animal, reps[source], fraction, condition,
                            cores[source], results_dir=results_dir, device=device, model=model)
        return {**tier_scores(fit, foreign), "epochs": int(fit.history.attrs["epochs"]),
                "n_train_images": len(fit.tensors[animal].tiers["train"])}

    jobs = [(c, float(f), s) for c in ("direct", "transfer") for f in sorted(fractions)
            for s in reps]
    out = sweep(jobs, run, ("condition", "fraction", "source"), desc="negative control", device=device)
    return out.assign_attrs(animal=animal)


def scores(curve: xr.Dataset, foreign: xr.Dataset, metric: str = METRIC) -> xr.Dataset:
    """``metric`` per fraction and source core: transfer and direct training on
    the core's own held-out animal (``*_same``) and on the foreign animal
    (``*_foreign``), and the gains of transfer over direct training."""
    same = curve[metric].sel(fraction=foreign.fraction.values).rename(animal="source")
    other = foreign[metric]
    out = {f"{c}_{where}": d.sel(condition=c, drop=True)
           for where, d in (("same", same), ("foreign", other)) for c in ("transfer", "direct")}
    out["gain_same"] = out["transfer_same"] - out["direct_same"]
    out["gain_foreign"] = out["transfer_foreign"] - out["direct_foreign"]
    return xr.Dataset(out)


def control_text(curve: xr.Dataset, foreign: xr.Dataset, metric: str = METRIC) -> str:
    """At each fraction: how well the transferred core serves the foreign
    animal against its own kind, and the gain of transfer over direct training
    on each, with their differences paired by core (95 % t-intervals over
    source cores)."""
    s = scores(curve, foreign, metric)
    parts = []
    for f in s.fraction.values:
        at = s.sel(fraction=f)
        if not all(np.isfinite(at[k].values).all() for k in at.data_vars):
            parts.append(f"At {100 * f:.0f} % of the data, not all models have scores.")
            continue
        ts, tf = t_interval(at.transfer_same.values), t_interval(at.transfer_foreign.values)
        dt = t_interval(at.transfer_foreign.values - at.transfer_same.values)
        gs, gf = t_interval(at.gain_same.values), t_interval(at.gain_foreign.values)
        dg = t_interval(at.gain_foreign.values - at.gain_same.values)
        parts.append(
            f"At {100 * f:.0f} % of the data, the transferred core reaches {ts.span()} on its "
            f"held-out animal and {tf.span()} on the foreign animal; the difference, "
            f"{dt.span(signed=True)}, {verdict(dt)}. Direct training reaches "
            f"{float(at.direct_same.mean()):.3f} on the held-out animals and "
            f"{float(at.direct_foreign.mean()):.3f} on the foreign one (means; from "
            f"{float(at.direct_foreign.min()):.3f} to {float(at.direct_foreign.max()):.3f} over "
            f"its seeds), so transfer gains {gs.span(signed=True)} on its own kind and "
            f"{gf.span(signed=True)} on the foreign animal; the difference, "
            f"{dg.span(signed=True)}, {verdict(dg)}.")
    name = TABLE_METRICS.get(metric, metric.replace("_", " "))
    return (f"Scores as the {name}, with means and 95 % t-intervals over the "
            f"{s.sizes['source']} source cores, differences paired by core. " + " ".join(parts))
