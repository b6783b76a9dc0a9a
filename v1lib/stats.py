"""Statistics the chapters share: t-based 95 % confidence intervals over a
replication dimension, relative changes, paired per-replicate changes, and the
words of a verdict read off an interval. One place, so every verdict in the book
is made by the same rule.

The replication unit is whatever a study repeats independently: an animal (its
own neurons, images and test set), with its own initialisation seed and, where
data are subsampled, its own training subset. An interval over replicates that
share everything but the seed would measure only the optimiser's noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import stats as _st

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` replicates with its two-sided t-based confidence
    interval [lo, hi] (NaN bounds with one replicate: no interval)."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def known(self) -> bool:
        return bool(np.isfinite(self.lo) and np.isfinite(self.hi))

    def excludes(self, value: float = 0.0) -> bool:
        """Whether the interval lies wholly above or below ``value``."""
        return self.known and (self.lo > value or self.hi < value)

    def span(self, signed: bool = False, digits: int = 3) -> str:
        """'0.761 [0.741, 0.781]' (with ``signed``, '+0.761 [...]'), or the mean
        and '(no interval)'."""
        f = f"{{:{'+' if signed else ''}.{digits}f}}"
        if not self.known:
            return f"{f.format(self.mean)} (no interval)"
        return f"{f.format(self.mean)} [{f.format(self.lo)}, {f.format(self.hi)}]"

    def text(self, unit: str = " %", digits: int = 1) -> str:
        """'+15.7 % [95 % CI +4.6, +26.8]', or the mean and 'no interval'."""
        f = f"{{:+.{digits}f}}"
        if self.n == 0:
            return "no replicate to compare"
        if not self.known:
            return f"{f.format(self.mean)}{unit} (one replicate: no interval)"
        return (f"{f.format(self.mean)}{unit} [{100 * CONFIDENCE:.0f} % CI {f.format(self.lo)}, "
                f"{f.format(self.hi)}]")


def t_interval(values, confidence: float = CONFIDENCE) -> Interval:
    """Mean of the finite ``values`` and its t-based confidence interval."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    m = float(v.mean())
    if n == 1:
        return Interval(m, float("nan"), float("nan"), 1)
    half = float(_st.t.ppf(0.5 + confidence / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return Interval(m, m - half, m + half, n)


def mean_ci(values: xr.DataArray, dim: str, confidence: float = CONFIDENCE
            ) -> tuple[xr.DataArray, xr.DataArray]:
    """Mean over ``dim`` and the half-width of its t-based confidence interval
    (NaN with one replicate), for error bars."""
    n = values.notnull().sum(dim)
    sem = values.std(dim, ddof=1) / np.sqrt(n)
    t = xr.apply_ufunc(lambda k: np.where(k > 1, _st.t.ppf(0.5 + confidence / 2,
                                                           np.maximum(k - 1, 1)), np.nan), n)
    return values.mean(dim), t * sem


def relative_change(value, reference):
    """100 * (value / reference - 1), in percent; NaN where ``reference`` <= 0,
    for a relative change against a score at or below chance has no meaning."""
    value, reference = np.asarray(value, dtype=float), np.asarray(reference, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(reference > 0, 100 * (value / reference - 1), np.nan)


def paired_change(value, reference) -> tuple[np.ndarray, Interval]:
    """Per-replicate relative changes (%) of ``value`` against ``reference`` and
    the interval of their mean."""
    rel = relative_change(value, reference)
    return rel, t_interval(rel)


def verdict(iv: Interval, reported: float | None = None, what: str = "the reported value") -> str:
    """Words for what an interval of a change says, against zero and against a
    reported change (both in the interval's units)."""
    if not iv.known:
        return ("cannot be tested: one replicate gives no interval" if iv.n == 1 else
                "cannot be tested: no replicate gives a value")
    ci = f"{100 * CONFIDENCE:.0f} % interval"
    if reported == 0:
        reported = None  # no direction reported: the question is whether there is a change
    if iv.excludes(0):
        sign = "a resolved gain" if iv.lo > 0 else "a resolved loss"
        if reported is None:
            return f"is {sign} (the {ci} excludes 0)"
        if (iv.lo > 0) != (reported > 0):
            return f"is {sign}, the opposite direction of {what} (the {ci} excludes 0)"
        if iv.lo > reported:
            return f"is {sign}, larger than {what} (the {ci} lies above it)"
        if iv.hi < reported:
            return f"is {sign}, smaller than {what} (the {ci} lies below it)"
        return f"is {sign} consistent with {what} (the {ci} excludes 0 and contains it)"
    if reported is None:
        return f"is not resolved (the {ci} contains 0)"
    if iv.lo <= reported <= iv.hi:
        return (f"is not resolved: the {ci} contains both 0 and {what}, so these data neither "
                f"confirm nor refute it")
    return f"is not resolved from 0, and the {ci} excludes {what}"


def change_text(value: float, reference: float, what: str) -> str:
    """'+4.1 %', or, where the reference is at or below zero, the absolute change."""
    rel = float(relative_change(value, reference))
    if np.isfinite(rel):
        return f"{rel:+.1f} %"
    return (f"{value - reference:+.3f} in absolute terms ({what} scores {reference:.3f}, at or "
            f"below zero, so a relative change is undefined)")
