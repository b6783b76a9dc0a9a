"""The loop every study shares: run a job per point of a grid (variant x seed,
condition x fraction x seed, ...), each job training or reloading a model and
scoring it, and stack the scores into one labelled dataset."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr

from ..evaluation import evaluate
from ..parallel import run_jobs


def tier_scores(fit, scans: dict[str, xr.Dataset], tier: str = "test") -> dict:
    """The population scores of a trained model (a ``FitResult``) on ``tier``."""
    return evaluate(fit.model, fit.tensors, {s: scans[s] for s in fit.tensors}, tier)[1]


def sweep(jobs: list[tuple], run: Callable[..., dict], dims: tuple[str, ...],
          desc: str = "sweep", device="cpu") -> xr.Dataset:
    """``run(*job)`` for every job, each a tuple of coordinates along ``dims``
    returning a dict of numbers; the results stacked with dims ``dims`` (NaN
    where the grid has no job). Coordinates keep the order of first appearance.
    On a CPU, several jobs run at once (:func:`v1lib.parallel.run_jobs`)."""
    results = dict(zip(jobs, run_jobs(run, jobs, device, desc=desc)))
    coords = {d: list(dict.fromkeys(job[k] for job in jobs)) for k, d in enumerate(dims)}
    shape = tuple(len(c) for c in coords.values())
    keys = [k for k in results[jobs[0]] if k != "n_neurons"]
    data = {k: np.full(shape, np.nan) for k in keys}
    for job, res in results.items():
        at = tuple(coords[d].index(v) for d, v in zip(dims, job))
        for k in keys:
            data[k][at] = res[k]
    return xr.Dataset({k: (dims, v) for k, v in data.items()}, coords=coords)
