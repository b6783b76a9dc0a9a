"""Statistics the chapters share: means with their standard error over a
replication dimension, relative changes, paired per-replicate changes, and
when a difference counts as resolved. One place, so every verdict in the book
is made by the same rule."""

from __future__ import annotations

import numpy as np
import xarray as xr

RESOLVED_SEMS = 2  # a mean change is resolved when it lies this many s.e.m. from zero


def mean_sem(values: xr.DataArray, dim: str = "seed") -> tuple[xr.DataArray, xr.DataArray]:
    """Mean over ``dim`` and its standard error (NaN with one replicate: unknown)."""
    n = values.sizes[dim]
    sem = values.std(dim, ddof=1) / np.sqrt(n) if n > 1 else xr.full_like(values.mean(dim), np.nan)
    return values.mean(dim), sem


def relative_change(value, reference):
    """100 * (value / reference - 1), in percent; NaN where ``reference`` <= 0,
    for a relative change against a score at or below chance has no meaning."""
    value, reference = np.asarray(value, dtype=float), np.asarray(reference, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(reference > 0, 100 * (value / reference - 1), np.nan)


def paired_change(value, reference) -> tuple[np.ndarray, float, float]:
    """Per-replicate relative changes (%) of ``value`` against ``reference``,
    their mean and s.e.m. (NaN with one replicate)."""
    rel = relative_change(value, reference)
    n = rel.size
    return rel, float(rel.mean()), float(rel.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def interval(mean: float, sem: float) -> tuple[float, float]:
    """The band of ``RESOLVED_SEMS`` s.e.m. around ``mean``."""
    return mean - RESOLVED_SEMS * sem, mean + RESOLVED_SEMS * sem


def resolved(mean: float, sem: float) -> bool:
    """Whether a mean change differs from zero by more than ``RESOLVED_SEMS``
    s.e.m.: never for a zero change, nor where the mean or s.e.m. is unknown."""
    return bool(np.isfinite(mean) and np.isfinite(sem) and mean != 0
                and abs(mean) >= RESOLVED_SEMS * sem)


def change_text(value: float, reference: float, what: str) -> str:
    """'+4.1 %', or, where the reference is at or below zero, the absolute change."""
    rel = float(relative_change(value, reference))
    if np.isfinite(rel):
        return f"{rel:+.1f} %"
    return (f"{value - reference:+.3f} in absolute terms ({what} scores {reference:.3f}, at or "
            f"below zero, so a relative change is undefined)")
