"""Scoring on any sample layout: a time axis between samples and neurons, and
repeats marked by the schema's repeat key."""

import numpy as np
import pytest
import xarray as xr

from v1lib import metrics
from v1lib.evaluation import neuron_scores, observations, summarize


def _clips(seed=0, clips=6, steps=5, n=4):
    r = np.random.default_rng(seed)
    clip_id = np.array([0, 1, 0, 2, 1, 0])  # clip 0 shown three times, clip 1 twice, clip 2 once
    signal = r.normal(0, 1, (3, steps, n))
    resp = np.abs(signal[clip_id] + 0.5 * r.normal(0, 1, (clips, steps, n)))
    pred = np.abs(signal[clip_id] + 0.1 * r.normal(0, 1, (clips, steps, n)))
    dims = ("clip", "time", "neuron")
    coords = {"clip_id": ("clip", clip_id), "unit_id": ("neuron", np.arange(n))}
    return (xr.DataArray(resp, dims=dims, coords=coords),
            xr.DataArray(pred, dims=dims, coords=coords), clip_id)


def test_observations_pool_time_bins_and_repeat_each_bin_of_a_clip():
    resp, _, clip_id = _clips()
    values, ids = observations(resp, "clip_id")
    assert values.shape == (6 * 5, 4)
    np.testing.assert_array_equal(values[7], resp.values[1, 2])  # clip 1, bin 2
    # the same bin of two presentations of one clip shares an id, other bins do not
    same = ids.reshape(6, 5)
    assert same[0, 3] == same[2, 3] == same[5, 3] and same[0, 3] != same[0, 4]
    assert same[1, 0] == same[4, 0] and same[3, 0] not in (same[0, 0], same[1, 0])
    static, sid = observations(resp.isel(time=0), "clip_id")
    np.testing.assert_array_equal(sid, clip_id)


def test_scores_with_a_time_axis_equal_scores_of_the_flattened_observations():
    resp, pred, clip_id = _clips()
    s = neuron_scores(resp, pred, repeat_key="clip_id")
    r = resp.values.reshape(-1, 4)
    p = pred.values.reshape(-1, 4)
    ids = np.repeat(clip_id, 5) * 5 + np.tile(np.arange(5), 6)
    np.testing.assert_allclose(s.single_trial_corr, metrics.corr(r, p), rtol=1e-6)
    np.testing.assert_allclose(s.oracle_corr, metrics.oracle_corr(r, ids), rtol=1e-6)
    np.testing.assert_allclose(s.feve, metrics.feve(r, p, ids), rtol=1e-6)
    np.testing.assert_allclose(s.corr_to_avg, metrics.corr_to_average(r, p, ids), rtol=1e-6)
    out = summarize(s)
    assert out["n_neurons"] == 4 and out["fraction_oracle"] == pytest.approx(
        metrics.fraction_oracle(s.single_trial_corr.values, s.oracle_corr.values))


def test_scores_need_the_scan_or_its_repeat_key():
    resp, pred, _ = _clips()
    with pytest.raises(ValueError, match="repeat key"):
        neuron_scores(resp, pred)


def test_burn_in_steps_are_left_out_of_the_scores():
    resp, pred, clip_id = _clips()
    s = neuron_scores(resp, pred, repeat_key="clip_id", burn_in=2)
    r = resp.values[:, 2:].reshape(-1, 4)
    p = pred.values[:, 2:].reshape(-1, 4)
    np.testing.assert_allclose(s.single_trial_corr, metrics.corr(r, p), rtol=1e-6)
    with pytest.raises(ValueError, match="burn-in of 2 steps needs a time axis"):
        neuron_scores(resp.isel(time=0), pred.isel(time=0), repeat_key="clip_id", burn_in=2)
