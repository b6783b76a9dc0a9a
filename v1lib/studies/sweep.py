"""The loop every study shares: run a job per point of a grid (variant x seed,
condition x fraction x seed, ...), each job training or reloading a model and
scoring it, and stack the scores into one labelled dataset."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

from .. import evaluation
from ..cache import code_digest, config_hash, write_json_atomic
from ..evaluation import evaluate
from ..parallel import run_jobs
from ..tensors import data_fingerprint


@functools.lru_cache(maxsize=1)
def _scoring_code() -> str:
    return code_digest([evaluation])


def tier_scores(fit, scans: dict[str, xr.Dataset], tier: str = "test") -> dict:
    """The population scores of a trained model (a ``FitResult``) on ``tier``.

    They are kept beside the model, in ``scores_<tier>_<key>.json``, the key a
    hash of the scans scored, the model file's size and time and the scoring
    code (:mod:`v1lib.evaluation` and what it imports): a chapter run again
    reads them instead of predicting again, and a model trained anew, other
    data or other scoring code never reuse them."""
    data = {s: scans[s] for s in fit.tensors}
    weights = Path(fit.folder) / "model.pt" if fit.folder is not None else None
    if weights is None or not weights.is_file():
        return evaluate(fit.model, fit.tensors, data, tier)[1]
    stat = weights.stat()
    key = config_hash({"tier": tier, "data": data_fingerprint(data), "code": _scoring_code(),
                       "model": [stat.st_size, stat.st_mtime_ns]})
    path = weights.parent / f"scores_{tier}_{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    scores = evaluate(fit.model, fit.tensors, data, tier)[1]
    write_json_atomic(path, scores)
    return scores


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
