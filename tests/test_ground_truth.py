"""Model-vs-truth analyses: in-silico RF mapping and its comparison with the truth."""

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from v1lib import ground_truth, probes
from v1lib.models import CoreConfig, Encoder, ModelConfig

from .test_models import info


def test_rf_maps_follow_the_readout_position():
    """Moving a Gaussian readout's mean by k feature-map pixels moves the mapped
    RF by k image pixels (the core is translation-equivariant, stride 1)."""
    cfg = ModelConfig(core=CoreConfig(layers=2, channels=4, input_kernel=5, hidden_kernel=3),
                      grid_predictor=False)
    torch.manual_seed(0)
    m = Encoder(cfg, {"a": info(2)}, (30, 40)).eval()
    with torch.no_grad():
        # feature-map pixels (7, 10) and (28, 15) of the 36 x 26 map: whole pixels, so
        # that bilinear sampling reads the same filter shape at both places
        m.readouts["a"]._mu[:] = torch.tensor([[2 * 7 / 35 - 1, 2 * 10 / 25 - 1],
                                               [2 * 28 / 35 - 1, 2 * 15 / 25 - 1]])
    maps = ground_truth.rf_maps(m, "a", (30, 40), n_samples=96)
    c = probes.map_centres(maps)
    h, w = m.core.output_shape(30, 40)
    assert (h, w) == (26, 36)
    assert np.isclose(c.rf_x[1] - c.rf_x[0], 21, atol=0.3)
    assert np.isclose(c.rf_y[1] - c.rf_y[0], 5, atol=0.3)


@pytest.mark.slow
def test_the_same_rf_probe_maps_the_true_neurons(stats_scans):
    """Sensitivity maps of the ground-truth neurons (through the same probe a
    model gets) are centred on their true RF centres."""
    from v1lib.sim.static import populations_of, truth_function

    _, scans = stats_scans
    pop = next(iter(populations_of(scans).values()))
    ds = next(iter(scans.values()))
    keep = np.flatnonzero(pop.responsive)[:40]
    maps = probes.sensitivity_maps(lambda x: truth_function(pop)(x)[:, keep], len(keep),
                                   pop.bank.shape, n_samples=4)
    c = probes.map_centres(maps)
    err = np.hypot(c.rf_x - ds.gt_rf_x.values[keep], c.rf_y - ds.gt_rf_y.values[keep])
    assert float(np.median(err)) < 2.0


def test_compare_rf_centres_removes_one_global_offset():
    true = xr.Dataset({"gt_rf_x": ("neuron", [5.0, 10.0, 20.0]), "gt_rf_y": ("neuron", [3.0, 8.0, 1.0])},
                      coords={"unit_id": ("neuron", [0, 1, 2])})
    model = xr.Dataset({"rf_x": ("neuron", [7.0, 12.0, 22.0]), "rf_y": ("neuron", [2.0, 7.0, 4.0])})
    cmp = ground_truth.compare_rf_centres(model, true)
    assert cmp.attrs["offset_x_px"] == 2.0 and cmp.attrs["offset_y_px"] == -1.0
    np.testing.assert_allclose(cmp.error, [0.0, 0.0, 4.0])


class _Identity(torch.nn.Module):
    def forward(self, x):
        return x


def test_recovered_shifts_convert_grid_units_to_screen_pixels():
    """A shift of d grid units moves the readout by d (W'-1)/2 feature pixels,
    each ``stride`` screen pixels wide."""
    cfg = ModelConfig(core=CoreConfig(layers=1, channels=2, input_kernel=5, stride=2), shifter="mlp")
    m = Encoder(cfg, {"a": info(3)}, (21, 41)).eval()
    m.shifters["a"] = _Identity()  # shift = z-scored pupil centre (info(): mean 0, SD 1)
    h, w = m.core.output_shape(21, 41)
    assert (h, w) == (9, 19)
    pupil = np.array([[0.5, -0.25], [-1.0, 1.0]])
    ds = xr.Dataset({"pupil_center": (("trial", "eye_axis"), pupil),
                     "gt_eye_shift": (("trial", "eye_axis"), pupil * [18, 8]),
                     "images": (("trial", "y", "x"), np.zeros((2, 21, 41)))},
                    coords={"tier": ("trial", ["test", "test"])})
    s = ground_truth.recovered_shifts(m, "a", ds)
    np.testing.assert_allclose(s.model_shift, pupil * [9 * 2, 4 * 2], rtol=1e-6)
    agree = ground_truth.shift_agreement(s)
    np.testing.assert_allclose(agree.slope, 1.0, rtol=1e-6)
    np.testing.assert_allclose(agree.corr, 1.0, rtol=1e-6)
    np.testing.assert_allclose(agree.tail_slope, 1.0, rtol=1e-6)


def test_shift_agreement_tail_slope_sees_a_saturating_shifter():
    true = np.linspace(-5, 5, 201)
    shifts = xr.Dataset({"true_shift": (("trial", "eye_axis"), np.stack([true, true], 1)),
                         "model_shift": (("trial", "eye_axis"),
                                         np.stack([true, 4 * np.tanh(true / 4)], 1))},
                        coords={"eye_axis": ["x", "y"]})
    agree = ground_truth.shift_agreement(shifts, tail=0.1)
    np.testing.assert_allclose(agree.tail_slope.sel(eye_axis="x"), 1.0)
    assert agree.tail_slope.sel(eye_axis="y") < agree.slope.sel(eye_axis="y") - 0.05
    text = ground_truth.shift_tail_text(agree)
    assert "on axis y the shifter moves the RFs" in text and "too little" in text
    assert "axis x" not in text


def test_shift_tail_text_names_overshoot_and_agreement():
    agree = xr.Dataset({"tail_slope": ("eye_axis", [1.2, 1.02])}, coords={"eye_axis": ["x", "y"]})
    assert ground_truth.shift_tail_text(agree) == (
        "At the largest shifts, on axis x the shifter moves the RFs 20 % too far (tail slope 1.20).")
    agree["tail_slope"][:] = [0.97, 1.03]
    assert "stays within 5 %" in ground_truth.shift_tail_text(agree)


def test_shift_tail_text_names_a_shifter_that_moves_against_the_truth():
    agree = xr.Dataset({"corr": ("eye_axis", [0.99, -0.95]), "tail_slope": ("eye_axis", [0.98, -0.3])},
                       coords={"eye_axis": ["x", "y"]})
    text = ground_truth.shift_tail_text(agree)
    assert text.startswith("The shifter moves the RFs against the true shift on axis y (r = -0.95)")
    assert "on axis y the shifter moves the RFs the opposite way (tail slope -0.30)" in text
    assert "axis x" not in text


def test_recovered_gain_weights_read_a_log_linear_modulator():
    """A modulator whose log gain is linear in z-scored behaviour gives back its weights."""
    cfg = ModelConfig(core=CoreConfig(layers=1, channels=2, input_kernel=5), modulator="mlp")
    m = Encoder(cfg, {"a": info(2)}, (20, 30)).eval()
    W = torch.tensor([[0.3, 0.0, -0.2], [0.0, 0.5, 0.1]])
    r = np.random.default_rng(0)
    b = r.normal([20, 0, 5], [2, 1, 3], (500, 3))
    mean, sd = b.mean(0), b.std(0)

    class LogLinear(torch.nn.Module):  # input: behaviour / SD (info(): SD 1)
        def forward(self, x):
            z = (x - torch.as_tensor(mean, dtype=x.dtype)) / torch.as_tensor(sd, dtype=x.dtype)
            return torch.exp(z @ W.T)

    m.modulators["a"] = LogLinear()
    ds = xr.Dataset({"behavior": (("trial", "behavior_var"), b),
                     "gt_behavior_weights": (("neuron", "behavior_var"), W.numpy())},
                    coords={"behavior_var": ["pupil", "dpupil", "running"],
                            "unit_id": ("neuron", [0, 1])})
    g = ground_truth.recovered_gain_weights(m, "a", ds)
    np.testing.assert_allclose(g.model_weight, W.numpy(), atol=1e-4)


def test_gain_agreement_gives_correlation_and_slope_over_the_chosen_neurons():
    r = np.random.default_rng(1)
    true = r.normal(0, 1, (50, 3))
    model = true * np.array([1.0, 0.5, -2.0]) + np.array([0.0, 0.3, 0.0])
    model[0] = 99.0  # excluded below
    w = xr.Dataset({"true_weight": (("neuron", "behavior_var"), true),
                    "model_weight": (("neuron", "behavior_var"), model)},
                   coords={"behavior_var": ["pupil", "dpupil", "running"]})
    keep = np.arange(50) > 0
    table = ground_truth.gain_agreement(w, keep)
    np.testing.assert_allclose(table.slope, [1.0, 0.5, -2.0], atol=1e-9)
    np.testing.assert_allclose(table.correlation, [1.0, 1.0, -1.0], atol=1e-9)
    assert ground_truth.gain_agreement(w).loc["pupil", "correlation"] < 0.9  # the outlier counts


def test_gain_text_names_the_closest_and_furthest_gain_and_the_covariation():
    gains = pd.DataFrame({"correlation": [0.8, 0.7, 0.9], "slope": [0.5, 1.1, 0.97]},
                         index=["pupil", "dpupil", "running"])
    t = np.arange(200.0)
    running = (t % 20 < 10) * 10.0
    ds = xr.Dataset({"behavior": (("trial", "behavior_var"),
                                  np.stack([20 + running / 5, np.zeros(200), running], 1))},
                    coords={"behavior_var": ["pupil", "dpupil", "running"]})
    text = ground_truth.gain_text(gains, ds)
    assert "**running speed** is closest to the truth in size (slope 0.97" in text
    assert "**pupil size** is furthest (slope 0.50" in text
    assert "r = 1.00, which leaves fewer trials" in text


def test_ceiling_by_tuning_groups_responsive_neurons_by_true_type_and_sf():
    ds = xr.Dataset({"gt_feature_type": ("neuron", ["simple", "simple", "complex", "complex", "simple"]),
                     "gt_sf": ("neuron", [0.03, 0.12, 0.03, 0.12, 0.12]),
                     "gt_responsive": ("neuron", [True, True, True, True, False])})
    scores = xr.Dataset({"single_trial_corr": ("neuron", [0.4, 0.1, 0.3, 0.2, 0.0]),
                         "gt_observable_ceiling_corr": ("neuron", [0.4, 0.4, 0.3, 0.4, 0.5])})
    t = ground_truth.ceiling_by_tuning(scores, ds)
    assert t.loc["simple", "0.03 cyc/deg"] == 1.0 and t.loc["simple", "0.12 cyc/deg"] == 0.25
    assert t.loc["complex", "0.12 cyc/deg"] == 0.5
    # ratios of means over the group, the unresponsive neuron left out
    np.testing.assert_allclose(t.loc["all types", "0.12 cyc/deg"], 0.3 / 0.8)
    np.testing.assert_allclose(t.loc["simple", "all SFs"], 0.5 / 0.8)
    np.testing.assert_allclose(t.loc["all types", "all SFs"], 1.0 / 1.5)
    with pytest.raises(ValueError, match="this scan only"):
        ground_truth.ceiling_by_tuning(scores.isel(neuron=slice(0, 3)), ds)
