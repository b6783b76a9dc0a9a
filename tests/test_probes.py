"""Probes take any responder: the ground-truth neurons and a trained model are
measured by the same function, with the same stimuli."""

import numpy as np
import pytest
import xarray as xr

from v1lib import probes
from v1lib.models import CoreConfig, Encoder, ModelConfig

from .test_models import info


def test_a_model_and_a_linear_filter_are_probed_alike():
    """A responder whose neuron k is a vertical-grating detector prefers 90°."""
    shape, dpp = (24, 32), 1.5
    yy, xx = np.mgrid[0:24, 0:32]
    template = np.sin(2 * np.pi * 0.06 * (xx - 15.5) * dpp)  # vertical stripes at 0.06 cyc/deg
    linear = probes.Responder(lambda im: np.abs(((im - 127.5) * template).sum((1, 2)))[:, None],
                              shape, dpp)
    tun = probes.orientation_tuning(linear, [0], [0.06])
    assert tun.dims == ("neuron", "orientation", "phase")
    summary = probes.tuning_summary(tun)
    assert abs(float(summary.preferred_orientation[0]) - 90) < 1
    model = Encoder(ModelConfig(core=CoreConfig(layers=1, channels=2, input_kernel=5)),
                    {"a": info(3)}, shape).eval()
    resp = probes.model_responder(model, "a", shape, dpp)
    tun = probes.orientation_tuning(resp, [0, 2], [0.03, 0.12])
    assert tun.shape == (2, 16, 8) and np.isfinite(tun.values).all()
    np.testing.assert_allclose(
        tun.sel(neuron=2).values.reshape(-1),
        model.predict("a", probes.gratings(tun.orientation.values, [0.12], tun.phase.values, shape,
                                           dpp))[:, 2], rtol=1e-5)
    plaid = probes.plaid_test(resp, [1], [45.0], [0.06])
    assert set(plaid.data_vars) == {"preferred", "orthogonal", "plaid"}


@pytest.mark.parametrize("orientation", [0.0, 45.0, 90.0])
def test_gratings_have_their_stripes_at_the_orientation(orientation):
    g = probes.gratings([orientation], [0.05], [0.0], (41, 41), 1.0)[0] - 127.5
    # along the stripes (direction (cos, sin) in screen x, y) the grating is constant
    a, c = np.deg2rad(orientation), 20
    along = [g[int(round(c + t * np.sin(a))), int(round(c + t * np.cos(a)))] for t in range(-5, 6)]
    across = [g[int(round(c + t * np.cos(a))), int(round(c - t * np.sin(a)))] for t in range(-5, 6)]
    assert np.ptp(along) < 0.05 * np.ptp(g) < np.ptp(across)


def test_a_survey_in_groups_side_by_side_equals_one_in_a_single_group(monkeypatch):
    """The tuning survey splits its neurons between workers; the result is the
    same, neuron by neuron and in the order asked for."""
    from v1lib import parallel

    shape, dpp = (24, 32), 1.5
    model = Encoder(ModelConfig(core=CoreConfig(layers=1, channels=2, input_kernel=5)),
                    {"a": info(5)}, shape).eval()
    resp = probes.model_responder(model, "a", shape, dpp)
    neurons, ori, sf = [4, 0, 2, 3, 1], [0.0, 30.0, 60.0, 90.0, 120.0], [0.03, 0.06, 0.12, 0.06, 0.03]
    out = {}
    for n in ("1", "2"):
        monkeypatch.setenv(parallel.ENV, n)
        out[n] = probes.tuning_survey(resp, neurons, ori, sf)
    assert list(out["2"].neuron.values) == neurons
    xr.testing.assert_allclose(out["1"], out["2"], rtol=1e-5)
    assert np.isfinite(out["2"].orientation_error.values).all()
