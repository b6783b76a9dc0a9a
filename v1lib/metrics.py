"""Metrics of neural prediction, with the formulas of neuralpredictors / Sensorium.

Conventions: responses and predictions are arrays (observations, neurons), an
observation being a trial or a time bin of one; observations of repeats of the
same stimulus share a repeat id.
Correlations use the population SD (ddof=0) and eps=1e-8, FEV and FEVE the
sample variance (ddof=1).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-8
# Sensorium reports FEVE over the neurons whose fraction of explainable variance
# is at least this (Willeke et al. 2022)
FEV_THRESHOLD = 0.15


def corr(x: np.ndarray, y: np.ndarray, axis: int = 0) -> np.ndarray:
    """Pearson correlation along ``axis`` (ddof=0, eps in the denominator); NaN -> 0."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xm = x - x.mean(axis, keepdims=True)
    ym = y - y.mean(axis, keepdims=True)
    c = (xm * ym).mean(axis) / ((x.std(axis) + EPS) * (y.std(axis) + EPS))
    return np.nan_to_num(c)


def group_repeats(image_id: np.ndarray, min_repeats: int = 2) -> list[np.ndarray]:
    """Trial indices of each image shown at least ``min_repeats`` times."""
    image_id = np.asarray(image_id)
    ids, counts = np.unique(image_id, return_counts=True)
    return [np.flatnonzero(image_id == i) for i in ids[counts >= min_repeats]]


def corr_to_average(responses, predictions, image_id) -> np.ndarray:
    """Per-neuron correlation of repeat-averaged responses and predictions."""
    groups = group_repeats(image_id, min_repeats=1)
    r = np.stack([np.asarray(responses)[g].mean(0) for g in groups])
    p = np.stack([np.asarray(predictions)[g].mean(0) for g in groups])
    return corr(r, p)


def oracle_corr(responses, image_id) -> np.ndarray:
    """Leave-one-out (jackknife) oracle correlation per neuron.

    Each trial's response is correlated with the mean of the other repeats of
    its image; only images with at least two repeats count.
    """
    responses = np.asarray(responses, dtype=np.float64)
    rs, loo = [], []
    for g in group_repeats(image_id):
        r = responses[g]
        rs.append(r)
        loo.append((r.sum(0, keepdims=True) - r) / (len(g) - 1))
    if not rs:
        raise ValueError("oracle correlation needs images with at least two repeats")
    return corr(np.concatenate(rs), np.concatenate(loo))


def fev(responses, image_id) -> np.ndarray:
    """Fraction of explainable variance per neuron (images with >= 2 repeats)."""
    groups = group_repeats(image_id)
    if not groups:
        raise ValueError("FEV needs images with at least two repeats")
    responses = np.asarray(responses, dtype=np.float64)
    total = np.var(np.concatenate([responses[g] for g in groups]), axis=0, ddof=1)
    noise = np.mean([np.var(responses[g], axis=0, ddof=1) for g in groups], axis=0)
    return (total - noise) / (total + 1e-9)


def feve(responses, predictions, image_id, fev_threshold: float | None = None):
    """Fraction of explainable variance explained per neuron.

    With ``fev_threshold`` set, returns ``(feve, mask)`` where ``mask`` marks the
    neurons with FEV >= threshold (Sensorium reports the mean over those, 0.15).
    """
    groups = group_repeats(image_id)
    if not groups:
        raise ValueError("FEVE needs images with at least two repeats")
    responses = np.asarray(responses, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    r = np.concatenate([responses[g] for g in groups])
    p = np.concatenate([predictions[g] for g in groups])
    total = np.var(r, axis=0, ddof=1)
    noise = np.mean([np.var(responses[g], axis=0, ddof=1) for g in groups], axis=0)
    mse = np.mean((r - p) ** 2, axis=0)
    explainable = total - noise
    with np.errstate(divide="ignore", invalid="ignore"):
        # undefined (NaN) for neurons without explainable variance
        out = np.where(explainable > 0, 1 - (mse - noise) / explainable, np.nan)
    if fev_threshold is None:
        return out
    return out, (total - noise) / (total + 1e-9) >= fev_threshold


def fraction_oracle(test_corr, oracle) -> float:
    """Slope of test correlation on oracle correlation, a line through the origin."""
    test_corr, oracle = np.asarray(test_corr, float), np.asarray(oracle, float)
    return float((test_corr * oracle).sum() / (oracle**2).sum())


def boxcar(x: np.ndarray, width: int, blocks: np.ndarray | None = None) -> np.ndarray:
    """``x`` (T, ...) smoothed along axis 0 by a centred moving average of
    ``width`` bins (Xu et al. 2023: 2 s), within each run of equal ``blocks``
    labels (consecutive parts of a recording); near a block's ends the mean is
    over the bins inside it."""
    x = np.asarray(x, dtype=np.float64)
    if width < 1:
        raise ValueError(f"a boxcar needs a width of at least 1 bin, got {width}")
    if blocks is None:
        blocks = np.zeros(len(x))
    blocks = np.asarray(blocks)
    out = np.empty_like(x)
    edges = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1], True])
    half = width // 2
    for a, b in zip(edges[:-1], edges[1:]):
        c = np.cumsum(np.concatenate([np.zeros((1, *x.shape[1:])), x[a:b]]), axis=0)
        i = np.arange(b - a)
        lo, hi = np.maximum(i - half, 0), np.minimum(i - half + width, b - a)
        shape = (-1,) + (1,) * (x.ndim - 1)
        out[a:b] = (c[hi] - c[lo]) / (hi - lo).reshape(shape)
    return out
