"""Saliency, mixed-selectivity classification and maximally activating stimuli
(v1lib.studies.what_drives, v1lib.studies.mas) on hand-built models and tables."""

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from v1lib.data.session import BEHAVIOR_VARS
from v1lib.models.multimodal import MultimodalConfig
from v1lib.models.normalizer import InputStats, ScanInfo
from v1lib.studies.mas import mas_agreement, maximally_activating, true_preferred_stimulus
from v1lib.studies.what_drives import (
    ANALYSES,
    analysis_settings,
    behavior_gradients,
    behavior_saliency,
    classify,
    dependency_recovery,
    paper_comparison,
    pooled_recovery,
    proportions,
    relative_effect,
)
from v1lib.tensors import HISTORY, HistoryTensors

SPEED, PITCH, ROLL, PHI, THETA, PUPIL = range(6)
H, W = 24, 32


def history_tensors(n_bins=40, n_neurons=3, shape=(H, W), seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    inputs = {"stimulus": torch.randn(n_bins, 1, *shape, generator=g),
              "behavior": torch.randn(n_bins, 6, generator=g)}
    return {"s": HistoryTensors(inputs=inputs, targets=torch.zeros(n_bins, n_neurons),
                                tiers={"test": torch.arange(HISTORY - 1, n_bins)})}


class SpeedModel(nn.Module):
    """Neuron n predicts a[n] x the speed of the bins, weighted by ``per_bin``."""

    def __init__(self, a, per_bin):
        super().__init__()
        self.a = nn.Parameter(torch.as_tensor(a, dtype=torch.float32))
        self.register_buffer("per_bin", torch.as_tensor(per_bin, dtype=torch.float32))

    def forward(self, scan, stimulus=None, behavior=None):
        return (behavior[..., SPEED] * self.per_bin).sum(1, keepdim=True) * self.a


def test_saliency_of_a_speed_model_is_its_speed_weight_summed_over_history():
    a, per_bin = [2.0, -1.0, 0.5], np.r_[np.zeros(HISTORY - 3), 0.25, 0.5, 0.0]
    model = SpeedModel(a, per_bin)
    s = behavior_saliency(model, history_tensors(), "s", batch_size=7)
    assert s.dims == ("neuron", "behavior_var") and list(s.behavior_var.values) == list(BEHAVIOR_VARS)
    np.testing.assert_allclose(s.sel(behavior_var="speed").values, 0.75 * np.array(a), rtol=1e-5)
    assert (s.drop_sel(behavior_var="speed").values == 0).all()
    assert s.attrs["n_bins"] == 40 - (HISTORY - 1)
    mag = behavior_saliency(model, history_tensors(), "s", absolute=True)
    np.testing.assert_allclose(mag.sel(behavior_var="speed").values, 0.75 * np.abs(a), rtol=1e-5)
    g1 = behavior_gradients(model, history_tensors(), "s", max_bins=10, seed=4)
    g2 = behavior_gradients(model, history_tensors(), "s", max_bins=10, seed=4)
    assert g1.sizes["bin"] == 10 and (g1.bin.values == g2.bin.values).all()
    assert set(g1.bin.values) <= set(range(HISTORY - 1, 40))
    with pytest.raises(ValueError, match="tier 'nope'"):
        behavior_saliency(model, history_tensors(), "s", tier="nope")
    with pytest.raises(ValueError, match="max_bins"):
        behavior_saliency(model, history_tensors(), "s", max_bins=0)


def tiny_multimodal(**options):
    info = ScanInfo(n_neurons=3, cortical_xy=None,
                    inputs={"stimulus": InputStats(np.array(0.0), np.array(1.0), True),
                            "behavior": InputStats(np.zeros(6), np.ones(6), True)},
                    response_std=np.ones(3, dtype=np.float32))
    torch.manual_seed(0)
    cfg = MultimodalConfig.from_dict({"channels": [4, 4], "kernel": 5, "hidden": 8, **options})
    return cfg.build({"s": info}, (H, W))


def test_saliency_flows_through_the_shifter_only_for_eye_and_head_position():
    model = tiny_multimodal(behavior=False)
    model.train()
    s = behavior_saliency(model, history_tensors(), "s")
    assert model.training  # the mode is given back
    assert (s.sel(behavior_var=["speed", "pupil"]).values == 0).all()
    assert (abs(s.sel(behavior_var=["pitch", "roll", "eye_phi", "eye_theta"])) > 0).all()
    none = behavior_saliency(model, history_tensors(), "s", shifter=False)
    assert (none.values == 0).all()
    full = behavior_saliency(tiny_multimodal(), history_tensors(), "s", max_bins=8)
    assert (abs(full.sel(behavior_var=["speed", "pupil"])) > 0).all()


def test_mas_of_the_multimodal_model_runs_without_dropout():
    model = tiny_multimodal()
    model.train()
    kw = dict(steps=5, restarts=2, shape=(H, W), seed=3)
    a, b = (maximally_activating(model, "s", [0, 2], **kw) for _ in range(2))
    assert model.training
    np.testing.assert_array_equal(a.mas.values, b.mas.values)
    assert list(a.neuron.values) == [0, 2] and np.isfinite(a.behavior.values).all()
    with pytest.raises(ValueError, match="neurons"):
        maximally_activating(model, "s", [3], **kw)


def saliency_table() -> xr.DataArray:
    s = np.zeros((10, 6))
    s[0, SPEED], s[4, SPEED] = 10.0, -10.0  # speed (|z| = 2.2)
    s[1, PITCH] = 10.0  # position (z = 3)
    s[2, THETA], s[2, PUPIL] = 10.0, 10.0  # position and pupil: mixed
    s[3, ROLL], s[3, PHI] = 10.0, 10.0  # two position variables: one group
    return xr.DataArray(s, dims=("neuron", "behavior_var"),
                        coords={"neuron": np.arange(10), "behavior_var": list(BEHAVIOR_VARS)})


def test_classification_of_a_hand_made_saliency_table():
    well_fit = np.array([True] * 8 + [False] * 2)
    c = classify(saliency_table(), well_fit)
    assert list(c.category.values) == ["speed", "position", "mixed", "position", "speed",
                                       *["none"] * 5]
    np.testing.assert_allclose(c.z.sel(neuron=1, behavior_var="pitch"), 3.0)
    assert c.modulated.sel(neuron=2).values.tolist() == [True, False, True]
    p = proportions(c)
    np.testing.assert_allclose(p.modulated_fraction.sel(group=["position", "speed", "pupil",
                                                               "none"]), [0.3, 0.2, 0.1, 0.5])
    # panel b over the 8 well-fit neurons: 2 speed, 2 position, 1 mixed, 3 none
    np.testing.assert_allclose(p.category_fraction.sel(category=["none", "position", "speed",
                                                                 "pupil", "mixed"]),
                               np.array([3, 2, 2, 0, 1]) / 8)
    assert p.attrs["n_well_fit"] == 8
    assert (classify(saliency_table(), threshold=3.5).category == "none").all()
    paper_b = classify(saliency_table(), head_eye=True)  # roll and eye φ: head and eye, mixed
    assert paper_b.category.values[[1, 3]].tolist() == ["position", "mixed"]
    with pytest.raises(ValueError, match="well_fit"):
        classify(saliency_table(), np.linspace(0, 1, 10))
    with pytest.raises(ValueError, match="pupil"):
        classify(saliency_table().drop_sel(behavior_var="pupil"))


def test_dependency_recovery_against_a_hand_made_truth():
    c = classify(saliency_table())
    truth = np.zeros((10, 4), dtype=bool)  # visual, position, speed, pupil
    truth[[0, 5], 2] = True  # speed: neuron 0 found, 5 missed, 4 a false positive
    truth[[1, 2, 3], 1] = True  # position: all three found
    truth[2, 3] = truth[6, 3] = True  # pupil: 2 found, 6 missed
    truth[6, 2] = True  # neurons 2 and 6 truly mixed; 2 found
    ds = xr.Dataset({"gt_dependency": (("neuron", "dependency_group"), truth)},
                    coords={"dependency_group": ["visual", "position", "speed", "pupil"]})
    r = dependency_recovery(c, ds)
    assert r.loc["speed"].to_dict() | {} == {"true_positives": 1, "predicted": 2, "true": 3,
                                             "precision": 0.5, "recall": 1 / 3,
                                             "prevalence": 0.3}
    assert r.loc["position", "precision"] == 1.0 and r.loc["position", "recall"] == 1.0
    assert r.loc["pupil", "recall"] == 0.5 and r.loc["pupil", "precision"] == 1.0
    assert r.loc["mixed", "true_positives"] == 1 and r.loc["mixed", "true"] == 2
    # neurons 5-9 classified none; 7, 8, 9 truly have no behavioural dependency
    assert r.loc["none"][["true_positives", "predicted", "true"]].tolist() == [3, 5, 4]
    sub = dependency_recovery(c.isel(neuron=[0, 4, 5]), ds)
    assert sub.loc["speed", "predicted"] == 2 and sub.loc["speed", "true"] == 2
    with pytest.raises(ValueError, match="ground truth"):
        dependency_recovery(c, ds.drop_vars("gt_dependency"))


def test_an_absolute_effect_rule_and_pooled_recovery():
    s = saliency_table()
    effect = relative_effect(s, np.full(10, 20.0))  # 10 / 20: an effect of 50 % per SD
    c = classify(effect, threshold=0.1, standardise=False)
    assert c.category.values[[0, 1, 2, 5]].tolist() == ["speed", "position", "mixed", "none"]
    assert (classify(effect, threshold=0.6, standardise=False).category == "none").all()
    with pytest.raises(ValueError, match="one positive value per neuron"):
        relative_effect(s, np.zeros(10))
    truth = np.zeros((10, 4), dtype=bool)
    truth[[0, 5], 2] = True
    ds = xr.Dataset({"gt_dependency": (("neuron", "dependency_group"), truth)},
                    coords={"dependency_group": ["visual", "position", "speed", "pupil"]})
    one = dependency_recovery(c, ds)
    two = pooled_recovery([one, one], 20)
    assert two.loc["speed", "true_positives"] == 2 * one.loc["speed", "true_positives"]
    assert two.loc["speed", "recall"] == one.loc["speed", "recall"] == 0.5
    assert two.loc["speed", "prevalence"] == one.loc["speed", "prevalence"] == 0.2
    assert np.isnan(two.loc["pupil", "recall"])  # no neuron truly depends on the pupil


def test_analysis_sizes_come_from_the_profile():
    smoke = analysis_settings("smoke")
    assert smoke["mas_neurons"] == 2 and set(smoke) == set(ANALYSES)


def gabor(x0, y0, theta, shape=(H, W), sigma=3.0, period=8.0):
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(float)
    u = (xx - x0) * np.cos(theta) + (yy - y0) * np.sin(theta)
    env = np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))
    return (env * np.cos(2 * np.pi * u / period)).astype(np.float32)


class LinearModel(nn.Module):
    """Neuron n: a linear filter of the frame plus a linear function of the
    behaviour, of the bin before the last (the multimodal model's offset)."""

    def __init__(self, filters, weights):
        super().__init__()
        self.f = nn.Parameter(torch.as_tensor(np.asarray(filters)))
        self.w = nn.Parameter(torch.as_tensor(np.asarray(weights, dtype=np.float32)))

    def forward(self, scan, stimulus=None, behavior=None):
        x, b = stimulus[:, -2, 0], behavior[:, -2]
        return torch.einsum("bhw,nhw->bn", x, self.f) + b @ self.w.T


def test_mas_of_linear_filters_and_gain_weights():
    filters = 0.2 * np.stack([gabor(10, 12, 0.3), gabor(22, 8, 1.8)])
    weights = [[0.15, -0.1, 0.0, 0.05, -0.15, 0.1], [-0.1, 0.0, 0.15, 0.1, 0.05, -0.15]]
    model = LinearModel(filters, weights)
    kw = dict(steps=60, restarts=4, shape=(H, W))
    m = maximally_activating(model, "s", [0, 1], **kw)
    assert m.mas.dims == ("neuron", "y", "x") and m.behavior.dims == ("neuron", "behavior_var")
    for k in (0, 1):
        r = np.corrcoef(m.mas.values[k].ravel(), filters[k].ravel())[0, 1]
        other = np.corrcoef(m.mas.values[k].ravel(), filters[1 - k].ravel())[0, 1]
        assert r > 0.8 and abs(other) < 0.3, (k, r, other)
        assert np.corrcoef(m.behavior.values[k], weights[k])[0, 1] > 0.9
    assert (m.activation > 0).all()
    one = maximally_activating(model, "s", [1], batch_neurons=1, **kw)
    np.testing.assert_allclose(one.mas.sel(neuron=1), m.mas.sel(neuron=1), atol=1e-5)
    fixed = maximally_activating(model, "s", [0], behavior=False, **kw)
    assert (fixed.behavior == 0).all() and fixed.attrs["behavior_optimised"] == 0
    with pytest.raises(ValueError, match="steps"):
        maximally_activating(model, "s", [0], steps=0)


def test_mas_agreement_finds_a_displacement_and_the_behaviour_correlation():
    rng = np.random.default_rng(0)
    img = gabor(14, 12, 0.5)[None]
    gain = rng.normal(size=(1, 6))
    coords = {"neuron": [3], "behavior_var": list(BEHAVIOR_VARS)}
    truth = xr.Dataset({"preferred": (("neuron", "y", "x"), img),
                        "gain_weights": (("neuron", "behavior_var"), gain)},
                       coords={**coords, "visual": ("neuron", [True])})
    moved = np.roll(img, (1, -2), axis=(1, 2))  # the MAS 1 px lower, 2 px left
    mas = xr.Dataset({"mas": (("neuron", "y", "x"), moved),
                      "behavior": (("neuron", "behavior_var"), 2 * gain + 1)}, coords=coords,
                     attrs={"behavior_optimised": 1})
    a = mas_agreement(mas, truth, max_shift=3)
    assert a.behavior_corr.item() == pytest.approx(1.0)
    assert a.image_corr.item() < 0.9 and a.best_shift_corr.item() == pytest.approx(1.0)
    assert (a.shift_dx.item(), a.shift_dy.item()) == (-2, 1)
    assert a.visual.item()
    with pytest.raises(ValueError, match="no neuron"):
        mas_agreement(mas.assign_coords(neuron=[4]), truth)


TINY_SIM = {"n_animals": 1, "duration_s": 24.0, "segments": 5, "population": {"n_neurons": 30},
            "features": {"sf_cpd": [0.06]}}


@pytest.mark.slow
def test_true_preferred_stimulus_lies_at_the_receptive_field():
    from scipy.ndimage import gaussian_filter

    from v1lib.sim.freely_moving import FreelyMovingConfig, simulate_scan

    ds = simulate_scan(FreelyMovingConfig.from_dict(TINY_SIM), 0, 0, show_progress=False)
    ok = ((ds.gt_feature_type == "simple") & ds.gt_dependency.sel(dependency_group="visual")
          & (ds.gt_rf_x > 12) & (ds.gt_rf_x < 68) & (ds.gt_rf_y > 12) & (ds.gt_rf_y < 48))
    k = int(np.flatnonzero(ok.values)[0])
    eye = xr.DataArray(np.zeros((1, 6)), dims=("neuron", "behavior_var"),
                       coords={"neuron": [k], "behavior_var": list(BEHAVIOR_VARS)})
    t = true_preferred_stimulus(ds, [k], steps=40, restarts=4)
    for truth in (t, true_preferred_stimulus(ds, [k], steps=40, restarts=4, behavior=eye)):
        energy = gaussian_filter(truth.preferred.values[0] ** 2, 2.0)
        y, x = np.unravel_index(energy.argmax(), energy.shape)
        rf = truth.rf_x.values[0] + truth.shift_x.values[0], truth.rf_y.values[0] + truth.shift_y.values[0]
        assert np.hypot(x - rf[0], y - rf[1]) < 6, (x, y, rf)
        assert truth.drive.item() > 1.0
    assert t.shift_x.item() == 0 and t.shift_y.item() == 0
    assert truth.shift_y.item() != 0  # the session's mean eye position is not at rest
    mas = t.rename(preferred="mas").assign(behavior=t.gain_weights)
    np.testing.assert_allclose(mas_agreement(mas, t).image_corr, 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="not a simulated"):
        true_preferred_stimulus(ds.drop_vars("unit_id"), [k])


def test_change_saliency_sees_what_the_model_reads_of_changes():
    """Features S read speed, pupil and its change: the change columns of every
    other variable are zero, d_pupil is not; a change alone classifies."""
    model = tiny_multimodal(vision=False, features="S")
    s = behavior_saliency(model, history_tensors(), "s", max_bins=8)
    assert list(s.behavior_var.values)[6:] == ["d_pitch", "d_roll", "d_eye_phi", "d_eye_theta",
                                               "d_pupil"]
    assert (abs(s.sel(behavior_var="d_pupil")) > 0).all()
    assert (s.sel(behavior_var=["d_pitch", "d_roll", "d_eye_phi", "d_eye_theta", "pitch"]) == 0).all()
    table = xr.DataArray(np.zeros((6, 11)), dims=("neuron", "behavior_var"),
                         coords={"neuron": np.arange(6), "behavior_var": list(s.behavior_var.values)})
    table[0, 6] = 10.0  # d_pitch only
    assert classify(table).category.values[0] == "position"


def test_paper_comparison_pools_the_animals():
    c = classify(saliency_table(), np.array([True] * 8 + [False] * 2))
    table = paper_comparison([c, c])
    assert table.attrs == {"n_neurons": 20, "n_well_fit": 16}
    assert table.loc["modulated by position (of all)", "ours (%)"] == 30.0
    assert table.loc["mixed (of well-fit)", "ours (%)"] == 12.5
    assert table.loc["mixed (of well-fit)", "paper, mouse 2 (%)"] == "50"
