"""RSA: correlation-distance RDMs and their Spearman similarity, pinned to
hand-computed cases and to numpy / scipy; the split-half ceiling and the
bootstrap intervals over stimuli."""

import numpy as np
import pytest
import torch
import xarray as xr
from scipy import stats

from v1lib import rsa


def responses(x, name="resp", stim=None) -> xr.DataArray:
    x = np.asarray(x, dtype=float)
    stim = np.arange(len(x)) if stim is None else stim
    return xr.DataArray(x, dims=("image", "unit"), coords={"image": stim}, name=name)


def from_upper(v, n) -> xr.DataArray:
    """A symmetric RDM with upper triangle ``v`` (row-major) and zero diagonal."""
    d = np.zeros((n, n))
    d[np.triu_indices(n, 1)] = v
    d = d + d.T
    return xr.DataArray(d, dims=("image", "image_b"),
                        coords={"image": np.arange(n), "image_b": np.arange(n)})


def upper(r: xr.DataArray) -> np.ndarray:
    return r.values[np.triu_indices(len(r), 1)]


def noisy_trials(noise: float, n_img=20, n_unit=30, n_rep=10, seed=1) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n_img, 1, n_unit))
    x = signal + noise * rng.normal(size=(n_img, n_rep, n_unit))
    return xr.DataArray(x, dims=("image", "repeat", "unit"), name="trials")


def test_rdm_of_a_4x3_matrix_by_hand():
    # r(s0, s1) = -1, r(s0, s2) = 1, r(s0, s3) = 0.5 ([-1,0,1].[-1,1,0] / 2), r(s1, s3) = -0.5
    x = [[1, 2, 3], [3, 2, 1], [2, 4, 6], [1, 3, 2]]
    hand = [[0, 2, 0, 0.5], [2, 0, 2, 1.5], [0, 2, 0, 0.5], [0.5, 1.5, 0.5, 0]]
    r = rsa.rdm(responses(x, stim=["a", "b", "c", "d"]))
    np.testing.assert_allclose(r.values, hand, atol=1e-12)
    assert r.dims == ("image", "image_b") and list(r.image_b.values) == ["a", "b", "c", "d"]
    assert r.attrs["n_units"] == 3


def test_rdm_agrees_with_numpy_and_stacks_unit_dims():
    x = np.random.default_rng(0).normal(size=(7, 3, 4, 5))
    da = xr.DataArray(x, dims=("image", "channel", "y", "x"))
    want = 1 - np.corrcoef(x.reshape(7, -1))
    np.testing.assert_allclose(rsa.rdm(da).values, want, atol=1e-12)
    np.testing.assert_allclose(rsa.rdm(da.transpose("y", "image", "x", "channel")).values, want,
                               atol=1e-12)
    flat = rsa.flatten_units(torch.from_numpy(x), image_ids=np.arange(7) + 10)
    assert flat.dims == ("image", "unit") and flat.shape == (7, 60) and flat.attrs["unit_shape"] == [3, 4, 5]
    np.testing.assert_array_equal(flat.values, x.reshape(7, -1))
    np.testing.assert_array_equal(flat.image.values, np.arange(7) + 10)
    np.testing.assert_allclose(rsa.rdm(flat).values, want, atol=1e-12)
    np.testing.assert_array_equal(rsa.flatten_units(x, np.arange(7)).values, flat.values)


def test_spearman_of_small_rdms_by_hand_and_against_scipy():
    # ranks differ by 1 everywhere: rho = 1 - 6 * 6 / (6 * 35) = 29 / 35
    a, b = from_upper([1, 2, 3, 4, 5, 6], 4), from_upper([2, 1, 4, 3, 6, 5], 4)
    assert rsa.similarity(a, b) == pytest.approx(29 / 35, abs=1e-12)
    rng = np.random.default_rng(2)
    for _ in range(5):
        va, vb = rng.integers(0, 4, 15).astype(float), rng.normal(size=15)  # ties in va
        want = stats.spearmanr(va, vb).statistic
        assert rsa.similarity(from_upper(va, 6), from_upper(vb, 6)) == pytest.approx(want, abs=1e-12)
    x, y = rng.normal(size=(9, 5)), rng.normal(size=(9, 8))
    ra, rb = rsa.rdm(responses(x)), rsa.rdm(responses(y))
    want = stats.spearmanr(upper(ra), upper(rb)).statistic
    assert rsa.similarity(ra, rb) == pytest.approx(want, abs=1e-12)


def test_identical_representations_have_similarity_one():
    x = np.random.default_rng(3).normal(size=(8, 6))
    assert rsa.similarity(rsa.rdm(responses(x)), rsa.rdm(responses(x.copy()))) == pytest.approx(1.0)


def test_rdm_invariances_and_a_non_invariance():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 10))
    base = rsa.rdm(responses(x)).values
    shifted, scaled = x.copy(), x.copy()
    shifted[2] += 7.5  # a constant added to all units of one stimulus
    scaled[4] *= 3.0  # one stimulus's row scaled by a positive factor
    for y in (x[:, rng.permutation(10)], shifted, scaled):
        np.testing.assert_allclose(rsa.rdm(responses(y)).values, base, atol=1e-12)
    per_unit = x * rng.uniform(0.5, 3, size=10)  # Pearson across units is not invariant to this
    assert np.abs(rsa.rdm(responses(per_unit)).values - base).max() > 1e-3


def test_split_half_ceiling_noise_free_noisy_and_deterministic():
    clean = rsa.split_half_ceiling(noisy_trials(0.0), draws=5)
    assert float(clean["mean"]) == pytest.approx(1.0) and float(clean["sd"]) == pytest.approx(0.0)
    small = rsa.split_half_ceiling(noisy_trials(0.05), draws=5)
    assert float(small["mean"]) > 0.98
    noisy = rsa.split_half_ceiling(noisy_trials(3.0), draws=8, seed=5)
    m = float(noisy["mean"])
    assert 0 < m < 0.9 and float(noisy["sd"]) > 0 and noisy.ssm_draws.sizes["draw"] == 8
    assert float(noisy["spearman_brown"]) == pytest.approx(2 * m / (1 + m))
    assert m < float(noisy["spearman_brown"]) < 1
    again = rsa.split_half_ceiling(noisy_trials(3.0), draws=8, seed=5)
    xr.testing.assert_identical(noisy, again)
    other = rsa.split_half_ceiling(noisy_trials(3.0), draws=8, seed=6)
    assert not np.array_equal(other.ssm_draws.values, noisy.ssm_draws.values)
    odd = rsa.split_half_ceiling(noisy_trials(1.0, n_rep=5), draws=3)
    assert odd.attrs["repeats_per_half"] == 2 and odd.attrs["repeats"] == 5


def test_bootstrap_interval_contains_the_estimate_and_is_deterministic():
    rng = np.random.default_rng(6)
    sig = rng.normal(size=(15, 20))
    a = rsa.rdm(responses(sig + 0.5 * rng.normal(size=sig.shape)))
    b = rsa.rdm(responses(sig + 0.5 * rng.normal(size=sig.shape)))
    boot = rsa.bootstrap_similarity(a, b, n=200, seed=1)
    point = float(boot["ssm"])
    assert point == pytest.approx(rsa.similarity(a, b))
    assert float(boot.lo) < point < float(boot.hi)
    assert boot.ssm_draws.sizes["draw"] == 200 and boot.attrs["n_valid_draws"] == 200
    xr.testing.assert_identical(boot, rsa.bootstrap_similarity(a, b, n=200, seed=1))
    assert not np.array_equal(boot.ssm_draws, rsa.bootstrap_similarity(a, b, n=200, seed=2).ssm_draws)
    iv = rsa.as_interval(boot)
    assert iv.mean == point and iv.excludes(0)
    # the first draw by hand: resample stimuli, keep positions i < j, drop a stimulus with itself
    idx = np.random.default_rng(1).integers(0, 15, 15)
    p, q = np.triu_indices(15, 1)
    keep = idx[p] != idx[q]
    i, j = idx[p][keep], idx[q][keep]
    want = stats.spearmanr(a.values[i, j], b.values[i, j]).statistic
    assert float(boot.ssm_draws[0]) == pytest.approx(want, abs=1e-12)


def test_paired_bootstrap_difference_says_which_is_closer():
    rng = np.random.default_rng(7)
    sig = rng.normal(size=(16, 25))
    target = rsa.rdm(responses(sig + 0.3 * rng.normal(size=sig.shape)))
    near = rsa.rdm(responses(sig + 0.3 * rng.normal(size=sig.shape)))
    far = rsa.rdm(responses(sig + 2.0 * rng.normal(size=sig.shape)))
    d = rsa.paired_bootstrap_difference(near, far, target, n=200, seed=0)
    assert float(d["ssm_a"]) == pytest.approx(rsa.similarity(near, target))
    assert float(d["difference"]) == pytest.approx(float(d["ssm_a"]) - float(d["ssm_b"]))
    assert 0 < float(d.lo) < float(d["difference"]) < float(d.hi)
    assert rsa.as_interval(d).excludes(0)
    same = rsa.paired_bootstrap_difference(near, near, target, n=50, seed=0)
    assert np.all(same.difference_draws.values == 0)
    xr.testing.assert_identical(d, rsa.paired_bootstrap_difference(near, far, target, n=200, seed=0))


def test_similarity_profile_over_populations():
    rng = np.random.default_rng(8)
    sig = rng.normal(size=(10, 12))
    target = rsa.rdm(responses(sig, name="VISp"))
    l4 = sig[:, :, None] + rng.normal(size=(10, 12, 2))
    reps = {"L4": xr.DataArray(l4, dims=("image", "channel", "x")),
            "L2/3": rsa.rdm(responses(rng.normal(size=(10, 7))))}
    prof = rsa.similarity_profile(reps, target)
    assert prof.dims == ("population",) and list(prof.population.values) == ["L4", "L2/3"]
    assert float(prof.sel(population="L2/3")) == pytest.approx(rsa.similarity(reps["L2/3"], target))
    assert float(prof.sel(population="L4")) > 0.5


def test_errors_are_clear():
    x = np.random.default_rng(9).normal(size=(5, 4))
    nan = x.copy()
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"X4_features has 1 NaN.*stimuli \[1\]"):
        rsa.rdm(responses(nan, name="X4_features"))
    flat = x.copy()
    flat[3] = 2.0
    with pytest.raises(ValueError, match=r"VISl is constant across units for stimuli \[3\]"):
        rsa.rdm(responses(flat, name="VISl"))
    with pytest.raises(ValueError, match=r"resp has 2 stimuli; an RDM needs at least 3"):
        rsa.rdm(responses(x[:2]))
    with pytest.raises(ValueError, match="no stimulus dim 'image'"):
        rsa.rdm(responses(x).rename(image="stim"))
    a = rsa.rdm(responses(x))
    b = rsa.rdm(responses(x, stim=np.arange(5)[::-1]))
    with pytest.raises(ValueError, match="different stimuli or in a different order"):
        rsa.similarity(a, b)
    with pytest.raises(ValueError, match="is no RDM"):
        rsa.similarity(responses(x), a)
    with pytest.raises(ValueError, match="all dissimilarities equal"):
        rsa.similarity(from_upper(np.ones(10), 5), a)
    with pytest.raises(ValueError, match="population 'bad'"):
        rsa.similarity_profile({"bad": responses(x[:, :3], stim=np.arange(5) + 1)}, a)
    with pytest.raises(ValueError, match="1 repeat"):
        rsa.split_half_ceiling(noisy_trials(1.0, n_rep=1))
    with pytest.raises(ValueError, match="no repeat dim 'trial'"):
        rsa.split_half_ceiling(noisy_trials(1.0), repeat_dim="trial")
    with pytest.raises(ValueError, match="3 image ids for a tensor of shape"):
        rsa.flatten_units(np.zeros((4, 2, 2)), [0, 1, 2])
