"""Scoring on any sample layout: a time axis between samples and neurons, and
repeats marked by the schema's repeat key."""

import numpy as np
import pytest
import torch
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


def test_summarize_from_known_scores():
    """FEVE over the neurons with FEV >= 0.15 (NaN ignored), fraction oracle as
    the slope through the origin, ceiling fractions as ratios of means."""
    scores = xr.Dataset({
        "fev": ("neuron", [0.05, 0.3, 0.5, 0.2, 0.9]),
        "feve": ("neuron", [0.9, 0.4, 0.6, np.nan, 0.2]),
        "single_trial_corr": ("neuron", [0.1, 0.2, 0.3, 0.4, 0.5]),
        "corr_to_avg": ("neuron", [0.2, 0.3, 0.5, 0.6, 0.9]),
        "oracle_corr": ("neuron", [0.2, 0.4, 0.5, 0.6, 0.7]),
        "gt_ceiling_corr": ("neuron", [0.5, 0.5, 0.6, 0.7, 0.7])})
    out = summarize(scores)
    assert out["n_neurons"] == 5
    assert out["single_trial_corr"] == pytest.approx(0.3)
    assert out["corr_to_avg"] == pytest.approx(0.5)
    assert out["feve"] == pytest.approx((0.4 + 0.6 + 0.2) / 3)
    slope = (0.02 + 0.08 + 0.15 + 0.24 + 0.35) / (0.04 + 0.16 + 0.25 + 0.36 + 0.49)
    assert out["fraction_oracle"] == pytest.approx(slope)
    assert out["gt_ceiling_fraction"] == pytest.approx(0.3 / 0.6)
    assert "gt_observable_ceiling_fraction" not in out


def _model(scans):
    from v1lib.model_cache import build_model
    from v1lib.models import CoreConfig, ModelConfig
    from v1lib.tensors import prepare

    tensors = prepare(scans)
    core = CoreConfig(layers=1, channels=4, input_kernel=5, hidden_kernel=3)
    model = build_model(tensors, ModelConfig(core=core, shifter="mlp", modulator="mlp"), 0)
    gen = torch.Generator().manual_seed(0)
    for ro in model.readouts.values():  # feature weights as after training: predictions that vary
        ro.features.data = torch.randn(ro.features.shape, generator=gen)
    return model, tensors


def test_predictions_are_the_models_own_output_in_raw_units(tiny_scans):
    from v1lib.evaluation import evaluate

    model, tensors = _model(tiny_scans)
    scores, summary, preds = evaluate(model, tensors, tiny_scans, "test")
    for s, ds in tiny_scans.items():
        test = np.flatnonzero(ds.tier.values == "test")
        own = model.predict(s, ds.images.values[test], eye=ds.pupil_center.values[test],
                            behavior=ds.behavior.values[test])
        np.testing.assert_allclose(preds[s].values, own, rtol=1e-5)
        np.testing.assert_array_equal(preds[s].trial, ds.trial[test])
        # the scale: each neuron's SD over the training trials, floored at 1 % of the mean SD
        sd = ds.responses.values[ds.tier.values == "train"].std(0)
        np.testing.assert_allclose(tensors[s].info.response_std, np.maximum(sd, 0.01 * sd.mean()),
                                   rtol=1e-5)
        # and the scores are those of these predictions against the raw responses
        r, ids = ds.responses.values[test], ds.image_id.values[test]
        sc = scores.isel(neuron=scores.scan.values == s)
        np.testing.assert_allclose(sc.feve, metrics.feve(r, own, ids), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(sc.single_trial_corr, metrics.corr(r, own), atol=1e-5)


def test_scores_follow_the_responses_scale(tiny_scans):
    """Responses in other units (x 10) give predictions in those units and the
    same scores: a missing or doubled response scale would change FEVE."""
    from v1lib.evaluation import evaluate

    scaled = {s: ds.assign(responses=ds.responses * np.float32(10)) for s, ds in tiny_scans.items()}
    a_scores, a, a_preds = evaluate(*_model(tiny_scans), tiny_scans)
    b_scores, b, b_preds = evaluate(*_model(scaled), scaled)
    for s in tiny_scans:
        np.testing.assert_allclose(b_preds[s].values, 10 * a_preds[s].values, rtol=1e-4)
    for k in ("feve", "single_trial_corr", "corr_to_avg", "fraction_oracle"):
        assert b[k] == pytest.approx(a[k], rel=1e-4), k
    keep = a_scores.fev.values >= metrics.FEV_THRESHOLD
    assert keep.sum() > 20
    np.testing.assert_allclose(b_scores.feve[keep], a_scores.feve[keep], rtol=1e-3)
