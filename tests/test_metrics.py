"""Metrics: the formulas of neuralpredictors / Sensorium, and their properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v1lib import metrics


def repeated(n_images=20, n_repeats=5, n_neurons=7, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.gamma(2.0, 1.0, (n_images, n_neurons))
    ids = np.repeat(np.arange(n_images), n_repeats)
    r = signal[ids] + noise * rng.standard_normal((len(ids), n_neurons))
    return r, signal[ids], ids


def test_corr_matches_numpy():
    x, y, _ = repeated()
    expected = [np.corrcoef(x[:, i], y[:, i])[0, 1] for i in range(x.shape[1])]
    np.testing.assert_allclose(metrics.corr(x, y), expected, rtol=1e-6)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(scale=st.floats(0.01, 100) | st.floats(-100, -0.01), shift=st.floats(-50, 50),
       seed=st.integers(0, 1000))
def test_corr_under_affine_rescaling_keeps_its_size_and_follows_the_sign(scale, shift, seed):
    x, y, _ = repeated(seed=seed)
    # up to the eps of the denominator (1e-8), which weighs 1/|scale| times more
    # on the rescaled prediction: about 2e-6 at a scale of 0.01
    np.testing.assert_allclose(metrics.corr(x, scale * y + shift),
                               np.sign(scale) * metrics.corr(x, y), atol=1e-5)


def test_constant_prediction_gives_zero_not_nan():
    x, _, _ = repeated()
    assert np.all(metrics.corr(x, np.ones_like(x)) == 0)


def test_perfect_prediction_of_noise_free_data():
    _, signal, ids = repeated()
    assert np.allclose(metrics.feve(signal, signal, ids), 1.0)
    assert np.allclose(metrics.fev(signal, ids), 1.0)
    assert np.allclose(metrics.oracle_corr(signal, ids), 1.0)
    assert np.allclose(metrics.corr_to_average(signal, signal, ids), 1.0)


def test_feve_of_true_signal_is_near_one_with_noise():
    r, signal, ids = repeated(n_images=400, n_repeats=10, noise=1.0)
    assert np.allclose(metrics.feve(r, signal, ids), 1.0, atol=0.05)
    # a constant prediction at the mean explains nothing and loses the mean's bias
    assert np.all(metrics.feve(r, np.full_like(r, r.mean(0)), ids) < 0.05)


def test_fev_formula():
    r = np.array([[1.0], [3.0], [2.0], [6.0]])
    ids = np.array([0, 0, 1, 1])
    total = np.var(r, ddof=1)
    noise = np.mean([np.var([1, 3], ddof=1), np.var([2, 6], ddof=1)])
    np.testing.assert_allclose(metrics.fev(r, ids), (total - noise) / total, rtol=1e-6)


def test_feve_threshold_mask_and_nan_for_silent_neurons():
    r, signal, ids = repeated()
    r[:, 0] = 0.0  # a silent neuron: no explainable variance
    out, keep = metrics.feve(r, signal, ids, fev_threshold=0.15)
    assert np.isnan(out[0]) and not keep[0] and keep[1:].all()


def test_oracle_leave_one_out():
    r = np.array([[1.0], [2.0], [3.0], [10.0], [12.0], [14.0]])
    ids = np.array([0, 0, 0, 1, 1, 1])
    loo = np.array([2.5, 2.0, 1.5, 13.0, 12.0, 11.0])
    np.testing.assert_allclose(metrics.oracle_corr(r, ids), np.corrcoef(r[:, 0], loo)[0, 1])


def test_oracle_fev_and_feve_need_repeats():
    r, ids = np.ones((3, 2)), np.arange(3)
    with pytest.raises(ValueError, match="oracle correlation needs images with at least two"):
        metrics.oracle_corr(r, ids)
    with pytest.raises(ValueError, match="FEV needs images with at least two repeats"):
        metrics.fev(r, ids)
    with pytest.raises(ValueError, match="FEVE needs images with at least two repeats"):
        metrics.feve(r, r, ids)


def _repeat_metrics(r, p, ids):
    return {"oracle": metrics.oracle_corr(r, ids), "fev": metrics.fev(r, ids),
            "feve": metrics.feve(r, p, ids), "corr_to_avg": metrics.corr_to_average(r, p, ids)}


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000))
def test_repeat_metrics_ignore_trial_order_and_id_labels(seed):
    """Shuffling trials together with their image ids, and renaming the ids,
    changes no metric."""
    rng = np.random.default_rng(seed)
    r, signal, ids = repeated(n_images=8, n_repeats=4, seed=seed)
    p = signal + rng.normal(0, 0.5, signal.shape)
    before = _repeat_metrics(r, p, ids)
    order = rng.permutation(len(ids))
    names = rng.permutation(1000)[:8] * 3 - 500  # another label for each image
    after = _repeat_metrics(r[order], p[order], names[ids[order]])
    for k in before:
        np.testing.assert_allclose(after[k], before[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_images_shown_once_do_not_count_towards_repeat_metrics():
    r, signal, ids = repeated(n_images=10, n_repeats=3)
    rng = np.random.default_rng(5)
    p = signal + rng.normal(0, 0.5, signal.shape)
    once = rng.gamma(2.0, 1.0, (6, r.shape[1]))  # six images, each shown once
    r2, p2 = np.concatenate([r, once]), np.concatenate([p, once[::-1]])
    ids2 = np.concatenate([ids, 100 + np.arange(6)])
    np.testing.assert_allclose(metrics.oracle_corr(r2, ids2), metrics.oracle_corr(r, ids))
    np.testing.assert_allclose(metrics.fev(r2, ids2), metrics.fev(r, ids))
    np.testing.assert_allclose(metrics.feve(r2, p2, ids2), metrics.feve(r, p, ids))


def test_corr_to_average_with_unequal_repeats_by_hand():
    """Image a shown three times, b twice, c four times: the averages of each
    image's trials, then one correlation over the three images."""
    r = np.array([1.0, 2.0, 6.0, 4.0, 8.0, 0.0, 1.0, 1.0, 2.0])[:, None]
    p = np.array([2.0, 2.0, 2.0, 5.0, 3.0, 1.0, 0.0, 0.0, 3.0])[:, None]
    ids = np.array([7, 7, 7, 3, 3, 9, 9, 9, 9])
    # images in id order: 3 (b), 7 (a), 9 (c)
    r_avg = np.array([6.0, 3.0, 1.0])
    p_avg = np.array([4.0, 2.0, 1.0])
    expected = np.corrcoef(r_avg, p_avg)[0, 1]
    assert metrics.corr_to_average(r, p, ids)[0] == pytest.approx(expected, abs=1e-7)
    # which differs from the single trials' correlation
    assert abs(expected - np.corrcoef(r[:, 0], p[:, 0])[0, 1]) > 0.1


def test_fraction_oracle_is_slope_through_origin():
    oracle = np.array([0.2, 0.4, 0.6, 0.8])
    assert metrics.fraction_oracle(0.7 * oracle, oracle) == pytest.approx(0.7)
    rng = np.random.default_rng(1)
    y = 0.5 * oracle + rng.normal(0, 0.01, 4)
    expected = np.linalg.lstsq(oracle[:, None], y, rcond=None)[0][0]
    assert metrics.fraction_oracle(y, oracle) == pytest.approx(expected)
