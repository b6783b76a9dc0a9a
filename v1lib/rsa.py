"""Representational similarity analysis (RSA) as MouseNet uses it (Shi et al. 2022,
after Shi, Shea-Brown & Buice 2019): how alike two representations of the same
stimuli are, by the rank correlation of their stimulus-by-stimulus matrices.

Formulas. A representation is a matrix X (stimuli x units). Its representational
dissimilarity matrix (RDM) is the Pearson correlation distance between stimuli
across units::

    D[i, j] = 1 - r(X[i, :], X[j, :]),   r = Pearson correlation over units

so D is symmetric with a zero diagonal. The similarity of two representations A
and B (the paper's SSM) is the Spearman rank correlation (ties get average ranks)
between the upper triangles of their RDMs, diagonal excluded::

    SSM(A, B) = spearman({D_A[i, j]}_{i<j}, {D_B[i, j]}_{i<j})

The RDM is ``rsatoolbox.rdm.calc_rdm(..., method='correlation')`` and the
comparison ``rsatoolbox.rdm.compare(..., method='spearman')`` (rsatoolbox 0.3.2).
Both agree with numpy's ``1 - corrcoef`` and ``scipy.stats.spearmanr`` of the
upper triangles to machine precision, tied ranks included; ``tests/test_rsa.py``
pins them to such hand-computed cases. rsatoolbox is imported on first use, so
importing this module stays quick.

Noise ceiling (``split_half_ceiling``). The repeats of each stimulus are split at
random into two disjoint halves of floor(R/2) repeats each (one repeat is left out
when R is odd); each half is averaged over its repeats and the SSM of the two
halves' RDMs, rho_half, is one draw. Over ``draws`` splits we report the mean and
the SD (ddof=1), as the paper's Fig 7 caption does ("standard deviations
calculated from multiple draws of non-overlapping trials"). The Spearman-Brown
step-up estimates the SSM between two independent sets of the full 2*floor(R/2)
repeats::

    rho_full = 2 * rho_half / (1 + rho_half)

It treats rank correlation of RDMs like a reliability coefficient, an
approximation. Under the same reading, the expected SSM of the noise-free RDM
with the full-data RDM would be sqrt(rho_full).

Bootstrap over stimuli. Each draw resamples the stimuli with replacement, keeps
every pair of drawn positions i < j except those of a stimulus with itself, and
recomputes the SSM on those pairs; the interval is the 2.5 and 97.5 percentiles
of the draws (``v1lib.stats.CONFIDENCE``). ``paired_bootstrap_difference``
compares SSM(A, target) - SSM(B, target) on the same resampled stimuli each draw.
Draws with a constant pair vector (possible only with very few stimuli) give NaN
and are left out of the percentiles.

The paper's protocol (``cmouse/compare.py``, method ``ssm_pcc``): the 118 natural
scenes of the Allen Brain Observatory Visual Coding 2P (session three_session_B,
grey screen dropped), L0-deconvolved events summed over each presentation and
averaged over the ~50 repeats, neurons pooled per region (area or area x layer);
model units are the full flattened feature map of a population for 64x64 images;
stimulus x stimulus Pearson similarity matrices, compared by Spearman; a
split-trial noise ceiling from disjoint trial subsets of the same region.

Same here: Pearson across units, Spearman between matrices, trial-averaged
responses, disjoint split-trial ceiling with its SD over draws. Different:
(1) we use the distance 1 - r rather than the similarity r; as both RDMs are
the same decreasing function of r, their Spearman correlation, the SSM, is the
same number. (2) We compare the upper triangle without the diagonal; whether the
paper included the constant diagonal is not documented (including it would add
tied entries and inflate the SSM). (3) The split size of the paper's ceiling is
not documented; we use halves and also report the Spearman-Brown estimate for
all repeats. (4) The paper tests models against each other with t-tests over
network instances; we add bootstrap intervals over stimuli.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .stats import CONFIDENCE, Interval

if TYPE_CHECKING:
    import torch

MIN_STIMULI = 3


def _rsatoolbox():
    import rsatoolbox  # 1-2 s to import, so only when first used

    return rsatoolbox


def _label(x: xr.DataArray, fallback: str) -> str:
    return str(x.name) if x.name is not None else fallback


def _matrix(responses: xr.DataArray, stimulus_dim: str, unit_dim, label: str) -> np.ndarray:
    """The (stimuli, units) float64 matrix, units stacked over ``unit_dim``."""
    if stimulus_dim not in responses.dims:
        raise ValueError(f"{label} has no stimulus dim {stimulus_dim!r} (dims {responses.dims})")
    units = ([d for d in responses.dims if d != stimulus_dim] if unit_dim is None else
             [unit_dim] if isinstance(unit_dim, str) else list(unit_dim))
    missing = [d for d in units if d not in responses.dims]
    extra = set(responses.dims) - {stimulus_dim, *units}
    if missing or extra:
        raise ValueError(f"{label}: unit dims {units} do not cover the dims {responses.dims} "
                         f"besides {stimulus_dim!r}")
    x = responses.transpose(stimulus_dim, *units).values.astype(np.float64)
    return x.reshape(x.shape[0], -1)


def _check(x: np.ndarray, stim: np.ndarray, label: str) -> None:
    if x.shape[0] < MIN_STIMULI:
        raise ValueError(f"{label} has {x.shape[0]} stimuli; an RDM needs at least {MIN_STIMULI}")
    if x.shape[1] < 2:
        raise ValueError(f"{label} has {x.shape[1]} unit(s); a Pearson correlation needs 2 or more")
    bad = ~np.isfinite(x)
    if bad.any():
        rows = stim[bad.any(1)]
        raise ValueError(f"{label} has {int(bad.sum())} NaN or infinite value(s), at stimuli "
                         f"{rows[:5].tolist()}{' ...' if len(rows) > 5 else ''}")
    flat = np.ptp(x, axis=1) == 0
    if flat.any():
        raise ValueError(f"{label} is constant across units for stimuli {stim[flat][:5].tolist()}"
                         f"{' ...' if flat.sum() > 5 else ''}: their Pearson correlation is undefined")


def rdm(responses: xr.DataArray, stimulus_dim: str = "image",
        unit_dim: str | Sequence[str] | None = None) -> xr.DataArray:
    """Correlation-distance RDM, 1 - Pearson r between stimuli across units.

    ``unit_dim``: the dim(s) holding units (stacked if several); default every
    dim but ``stimulus_dim``. Returns dims (stimulus_dim, stimulus_dim + '_b'),
    both with the stimulus coordinate. ValueError, naming the variable, on NaN,
    a stimulus constant across units, or fewer than 3 stimuli.
    """
    label = _label(responses, "responses")
    x = _matrix(responses, stimulus_dim, unit_dim, label)
    stim = responses[stimulus_dim].values
    _check(x, stim, label)
    rsa = _rsatoolbox()
    d = rsa.rdm.calc_rdm(rsa.data.Dataset(x), method="correlation").get_matrices()[0]
    other = f"{stimulus_dim}_b"
    return xr.DataArray(d, dims=(stimulus_dim, other), coords={stimulus_dim: stim, other: stim},
                        name=f"rdm of {label}",
                        attrs={"dissimilarity": "1 - Pearson r across units", "n_units": x.shape[1]})


def _square(r: xr.DataArray, label: str) -> tuple[np.ndarray, np.ndarray]:
    """The matrix of an RDM and its stimulus coordinate, checked."""
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.dims[1] != f"{r.dims[0]}_b":
        raise ValueError(f"{label} is no RDM: dims {r.dims}, shape {r.shape} "
                         "(want (stim, stim_b), square)")
    stim = r[r.dims[0]].values
    if not np.array_equal(stim, r[r.dims[1]].values):
        raise ValueError(f"{label}: its two stimulus coordinates differ")
    d = r.values.astype(np.float64)
    if not np.isfinite(d).all():
        raise ValueError(f"{label} has NaN or infinite dissimilarities")
    return d, stim


def _pair(rdm_a: xr.DataArray, rdm_b: xr.DataArray, names=("rdm_a", "rdm_b")):
    (a, sa), (b, sb) = _square(rdm_a, names[0]), _square(rdm_b, names[1])
    if rdm_a.dims != rdm_b.dims or not np.array_equal(sa, sb):
        raise ValueError(f"{names[0]} and {names[1]} are over different stimuli or in a "
                         f"different order ({rdm_a.dims[0]}: {sa[:5].tolist()}..., "
                         f"{rdm_b.dims[0]}: {sb[:5].tolist()}...); select and order them alike")
    return a, b


def _spearman(vectors: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Spearman of each row of ``vectors`` with ``target``; NaN for a constant row."""
    vectors = np.atleast_2d(vectors)
    sim = _rsatoolbox().rdm.compare(vectors, target[None], method="spearman")[:, 0]
    const = (np.ptp(vectors, axis=1) == 0) | (np.ptp(target) == 0)
    return np.where(const, np.nan, sim)


def _upper(d: np.ndarray) -> np.ndarray:
    return d[np.triu_indices(len(d), 1)]


def similarity(rdm_a: xr.DataArray, rdm_b: xr.DataArray) -> float:
    """SSM: Spearman correlation of the two RDMs' upper triangles (no diagonal).
    The stimulus coordinates must be equal, in the same order."""
    a, b = _pair(rdm_a, rdm_b)
    s = float(_spearman(_upper(a), _upper(b))[0])
    if not np.isfinite(s):
        raise ValueError("an RDM has all dissimilarities equal: its Spearman correlation is undefined")
    return s


def similarity_profile(representations: dict[str, xr.DataArray], target_rdm: xr.DataArray,
                       stimulus_dim: str = "image") -> xr.DataArray:
    """SSM of each named population with ``target_rdm``, over a ``population`` dim.
    A value is a response array (its RDM is computed, units = all other dims) or
    already an RDM (dims (stimulus_dim, stimulus_dim + '_b'))."""
    out = []
    for name, rep in representations.items():
        if rep.dims != (stimulus_dim, f"{stimulus_dim}_b"):
            rep = rdm(rep if rep.name is not None else rep.rename(name), stimulus_dim)
        try:
            out.append(similarity(rep, target_rdm))
        except ValueError as e:
            raise ValueError(f"population {name!r}: {e}") from None
    return xr.DataArray(np.array(out, dtype=float), dims="population",
                        coords={"population": list(representations)}, name="ssm",
                        attrs={"description": "Spearman correlation of correlation-distance RDMs"})


def _resampled_pairs(n_stim: int, n: int, seed: int):
    """For each draw, the (i, j) stimulus indices of the kept pairs: positions
    i < j of a with-replacement resample, pairs of a stimulus with itself dropped."""
    rng = np.random.default_rng(seed)
    p, q = np.triu_indices(n_stim, 1)
    for _ in range(n):
        idx = rng.integers(0, n_stim, n_stim)
        i, j = idx[p], idx[q]
        keep = i != j
        yield i[keep], j[keep]


def _percentiles(draws: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - CONFIDENCE) / 2
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)


def _interval_dataset(name: str, point: float, draws: np.ndarray, seed: int,
                      what: str, **extra) -> xr.Dataset:
    lo, hi = _percentiles(draws)
    ds = xr.Dataset({name: point, f"{name}_draws": ("draw", draws), "lo": lo, "hi": hi, **extra},
                    coords={"draw": np.arange(len(draws))})
    ds.attrs = {"interval": f"{100 * CONFIDENCE:.0f} % percentile bootstrap over stimuli",
                "resampling": "stimuli with replacement; pairs of a stimulus with itself dropped",
                "seed": seed, "n_valid_draws": int(np.isfinite(draws).sum()), "statistic": what}
    return ds


def bootstrap_similarity(rdm_a: xr.DataArray, rdm_b: xr.DataArray, n: int = 1000,
                         seed: int = 0) -> xr.Dataset:
    """SSM with a 95 % percentile bootstrap interval over stimuli.

    Returns ``ssm`` (all stimuli), ``ssm_draws`` (along ``draw``), ``lo``, ``hi``."""
    a, b = _pair(rdm_a, rdm_b)
    point = similarity(rdm_a, rdm_b)
    draws = np.array([_spearman(a[i, j], b[i, j])[0] for i, j in _resampled_pairs(len(a), n, seed)])
    return _interval_dataset("ssm", point, draws, seed, "SSM(a, b)")


def paired_bootstrap_difference(rdm_a: xr.DataArray, rdm_b: xr.DataArray, target: xr.DataArray,
                                n: int = 1000, seed: int = 0) -> xr.Dataset:
    """SSM(a, target) - SSM(b, target) with a 95 % percentile bootstrap interval,
    both SSMs on the same resampled stimuli in each draw; an interval above 0
    says ``a`` is closer to the target than ``b``.

    Returns ``difference``, ``difference_draws`` (along ``draw``), ``lo``, ``hi``,
    ``ssm_a`` and ``ssm_b``."""
    a, t = _pair(rdm_a, target, ("rdm_a", "target"))
    b, _ = _pair(rdm_b, target, ("rdm_b", "target"))
    sa, sb = similarity(rdm_a, target), similarity(rdm_b, target)
    draws = []
    for i, j in _resampled_pairs(len(t), n, seed):
        s = _spearman(np.stack([a[i, j], b[i, j]]), t[i, j])
        draws.append(s[0] - s[1])
    return _interval_dataset("difference", sa - sb, np.array(draws), seed,
                             "SSM(a, target) - SSM(b, target)", ssm_a=sa, ssm_b=sb)


def as_interval(ds: xr.Dataset) -> Interval:
    """A bootstrap result as a ``v1lib.stats.Interval`` (its ``span``, ``excludes``,
    ``verdict``): the point estimate with the percentile bounds."""
    name = "difference" if "difference" in ds else "ssm"
    return Interval(float(ds[name]), float(ds["lo"]), float(ds["hi"]), int(ds.attrs["n_valid_draws"]))


def split_half_ceiling(trials: xr.DataArray, repeat_dim: str = "repeat", draws: int = 20,
                       seed: int = 0, stimulus_dim: str = "image") -> xr.Dataset:
    """Split-trial noise ceiling: SSM between the RDMs of two disjoint halves of
    the repeats (each averaged over its repeats), over ``draws`` random splits.

    Returns ``ssm_draws`` (along ``draw``), ``mean``, ``sd`` (ddof=1) and
    ``spearman_brown`` = 2 mean / (1 + mean), the estimated SSM between two
    independent sets of all 2 * floor(R/2) repeats. Deterministic for ``seed``."""
    label = _label(trials, "trials")
    if repeat_dim not in trials.dims:
        raise ValueError(f"{label} has no repeat dim {repeat_dim!r} (dims {trials.dims})")
    n_rep = trials.sizes[repeat_dim]
    if n_rep < 2:
        raise ValueError(f"{label} has {n_rep} repeat(s); a split needs 2 or more")
    half = n_rep // 2
    rng = np.random.default_rng(seed)
    ssm = np.empty(draws)
    for k in range(draws):
        perm = rng.permutation(n_rep)
        halves = [trials.isel({repeat_dim: perm[s:s + half]}).mean(repeat_dim, skipna=False)
                  .rename(f"{label} (half {h} of split {k})") for h, s in (("A", 0), ("B", half))]
        ssm[k] = similarity(rdm(halves[0], stimulus_dim), rdm(halves[1], stimulus_dim))
    mean = float(ssm.mean())
    sd = float(ssm.std(ddof=1)) if draws > 1 else float("nan")
    return xr.Dataset(
        {"ssm_draws": ("draw", ssm), "mean": mean, "sd": sd,
         "spearman_brown": 2 * mean / (1 + mean)},
        coords={"draw": np.arange(draws)},
        attrs={"repeats": n_rep, "repeats_per_half": half, "seed": seed,
               "spearman_brown_formula": "2 * mean / (1 + mean)",
               "description": "SSM between RDMs of disjoint halves of the repeats"})


def flatten_units(x: torch.Tensor | np.ndarray, image_ids,
                  stimulus_dim: str = "image") -> xr.DataArray:
    """A feature tensor (stimuli, channel, y, x) -- or any (stimuli, ...) -- as
    an (image, unit) DataArray; ``x``: torch.Tensor or np.ndarray. The unit
    index runs over channel, then y, then x (C order); ``attrs['unit_shape']``
    keeps the original trailing shape."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    ids = np.asarray(image_ids)
    if x.ndim < 2 or ids.shape != (x.shape[0],):
        raise ValueError(f"flatten_units: {len(ids)} image ids for a tensor of shape {x.shape} "
                         "(want one id per entry of the first axis, and at least one unit axis)")
    flat = x.reshape(x.shape[0], -1)
    return xr.DataArray(flat, dims=(stimulus_dim, "unit"),
                        coords={stimulus_dim: ids, "unit": np.arange(flat.shape[1])},
                        attrs={"unit_shape": list(x.shape[1:])})
