"""Chapter 2's upper bound: the Gaussian readout (with the grid predictor) on the
simulator's own feature bank, frozen, in place of a trained core
(:mod:`v1lib.models.true_bank`). Only the readout is trained, on each replicate
animal with its seed and the profile's schedule, so the bound and the trained
models differ in the core alone."""

from __future__ import annotations

import dataclasses

import xarray as xr

from ..model_cache import fit_cached
from ..models.encoder import ModelConfig
from ..models.normalizer import input_stats
from ..models.true_bank import TrueBankConfig
from ..sim.static import simulator_config
from ..stats import t_interval
from .static import replicates, study_settings, variant_config
from .sweep import sweep, tier_scores


def available(scans) -> bool:
    """Whether every scan is simulated (it records the simulator's configuration)."""
    return all("sim_config" in ds.attrs for ds in scans.values())


def true_bank_config(ds: xr.Dataset, profile: str, model: dict | None = None) -> ModelConfig:
    """The Gaussian + grid model of ``profile`` (with model options ``model``)
    on the true bank of the simulated scan ``ds``, at the stride of the
    profile's core."""
    base, _ = variant_config(profile, "gaussian", model)
    sim = simulator_config(ds)
    stats = input_stats(ds.images.values[ds.tier.values == "train"], per_column=False, center=True)
    core = TrueBankConfig(height=sim.height, width=sim.width, deg_per_px=sim.deg_per_px,
                          bank=dataclasses.asdict(sim.features),
                          stimulus_mean=float(stats.mean), stimulus_std=float(stats.std),
                          stride=base.core.stride)
    return dataclasses.replace(base, core_type="true_bank", core=core)


def upper_bounds(worlds: dict[str, dict], profile: str, results_dir=None, device="cpu",
                 model: dict | None = None) -> dict[str, xr.Dataset]:
    """The true-bank model's test scores on every replicate animal (dims
    (animal,)) of each set of scans in ``{world: scans}`` (e.g. the data and
    their well-specified twin), all trained in one sweep."""
    _, train_cfg = variant_config(profile, "gaussian", model)
    train_cfg = dataclasses.replace(train_cfg, freeze_core=True)
    seeds = {w: dict(replicates(scans, study_settings(profile))) for w, scans in worlds.items()}

    def run(world, animal):
        ds = worlds[world][animal]
        fit = fit_cached({animal: ds}, true_bank_config(ds, profile, model), train_cfg,
                         seeds[world][animal], results_dir, device, show_progress=False)
        return {**tier_scores(fit, {animal: ds}), "epochs": int(fit.history.attrs["epochs"])}

    jobs = [(w, a) for w in worlds for a in seeds[w]]
    out = sweep(jobs, run, ("world", "animal"), desc="true-bank upper bound", device=device)
    return {w: out.sel(world=w, drop=True).reindex(animal=list(seeds[w])).dropna("animal", how="all")
            .assign_attrs(max_epochs=train_cfg.max_epochs) for w in worlds}


def bound_text(comparison: xr.Dataset, bound: xr.Dataset, world: str) -> str:
    """The trained Gaussian + grid model against the true-bank bound, as
    fractions of the image-only ceiling, and their difference animal by animal."""
    key = "gt_stimulus_only_ceiling_fraction"
    trained = comparison[key].sel(variant="gaussian").sel(animal=bound.animal).values
    top = bound[key].values
    b, t, d = t_interval(top), t_interval(trained), t_interval(trained - top)
    gap = (f"the trained core is {abs(d.mean):.3f} of the ceiling "
           f"{'below' if d.mean < 0 else 'above'} the bound ({d.span()}, paired by animal), "
           + ("a resolved difference" if d.excludes(0) else "not resolved by these animals"))
    text = (f"In the {world} world, the Gaussian readout on the true bank reaches {b.span()} of "
            f"the image-only ceiling (mean and 95 % t-interval over {b.n} animals), the trained "
            f"core {t.span()}: {gap}.")
    if "epochs" in bound and "max_epochs" in bound.attrs:
        capped = int((bound.epochs >= bound.attrs["max_epochs"]).sum())
        if capped:
            text += (f" {capped} of {bound.sizes['animal']} readouts of the bound ran into the "
                     f"limit of {bound.attrs['max_epochs']} epochs, so the bound is a bound at "
                     f"this budget.")
    return text
