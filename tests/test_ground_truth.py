"""Model-vs-truth analyses: in-silico RF mapping and its comparison with the truth."""

import numpy as np
import torch
import xarray as xr

from v1lib import ground_truth
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
    c = ground_truth.map_centres(maps)
    h, w = m.core.output_shape(30, 40)
    assert (h, w) == (26, 36)
    assert np.isclose(c.rf_x[1] - c.rf_x[0], 21, atol=0.3)
    assert np.isclose(c.rf_y[1] - c.rf_y[0], 5, atol=0.3)


def test_compare_rf_centres_removes_one_global_offset():
    true = xr.Dataset({"gt_rf_x": ("neuron", [5.0, 10.0, 20.0]), "gt_rf_y": ("neuron", [3.0, 8.0, 1.0])},
                      coords={"unit_id": ("neuron", [0, 1, 2])})
    model = xr.Dataset({"rf_x": ("neuron", [7.0, 12.0, 22.0]), "rf_y": ("neuron", [2.0, 7.0, 4.0])})
    cmp = ground_truth.compare_rf_centres(model, true)
    assert cmp.attrs["offset_x_px"] == 2.0 and cmp.attrs["offset_y_px"] == -1.0
    np.testing.assert_allclose(cmp.error, [0.0, 0.0, 4.0])
