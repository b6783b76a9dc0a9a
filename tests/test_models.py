"""Core, readouts, shifter, modulator and the whole model."""

import dataclasses

import numpy as np
import pytest
import torch

from v1lib.models import CoreConfig, Encoder, InputStats, ModelConfig, ScanInfo, Stacked2dCore
from v1lib.models.core import laplace_l2norm
from v1lib.models.readouts import (
    FactorizedReadout,
    GaussianReadout,
    PointPooledReadout,
    apply_transform,
)

SMALL_CORE = CoreConfig(layers=2, channels=4, input_kernel=5, hidden_kernel=3)


def info(n=5):
    r = np.random.default_rng(0)
    return ScanInfo(n_neurons=n, cortical_xy=r.normal(0, 100, (n, 2)).astype(np.float32),
                    inputs={"stimulus": InputStats(np.array(100.0), np.array(50.0), True),
                            "eye": InputStats(np.zeros(2), np.ones(2), True),
                            "behavior": InputStats(np.array([20.0, 0.0, 3.0]), np.ones(3), False)},
                    response_std=np.ones(n, np.float32))


def test_core_output_shape_and_valid_first_conv():
    core = Stacked2dCore(CoreConfig(layers=3, channels=8, input_kernel=9, hidden_kernel=7))
    y = core(torch.randn(2, 1, 36, 64))
    assert y.shape == (2, 8, 28, 56) and core.output_shape(36, 64) == (28, 56)


@pytest.mark.parametrize("stride", [1, 2])
def test_padded_first_conv_covers_the_screen(stride):
    """With pad_input the map's pixel (0, 0) is centred on image pixel (0, 0) and
    the map spans the screen; without it the first 7 px (kernel 15) are cut."""
    for pad, first_centre in ((True, 0), (False, 7)):
        core = Stacked2dCore(CoreConfig(layers=1, channels=2, input_kernel=15, stride=stride,
                                        pad_input=pad)).eval()
        x = torch.zeros(1, 1, 36, 64, requires_grad=True)
        out = core(x)
        assert tuple(out.shape[-2:]) == core.output_shape(36, 64)
        out[0, :, 0, 0].sum().backward()
        rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
        assert int(rows.max()) == first_centre + 7  # the kernel reaches 7 px past its centre
    assert core.output_shape(36, 64) == ((36 - 15) // stride + 1, (64 - 15) // stride + 1)
    padded = Stacked2dCore(CoreConfig(input_kernel=15, stride=stride, pad_input=True))
    assert padded.output_shape(36, 64) == (-(-36 // stride), -(-64 // stride))


def test_laplace_penalty_of_a_delta_filter_is_20():
    w = torch.zeros(2, 1, 7, 7)
    w[:, :, 3, 3] = 1.0  # the Laplacian of a delta is the kernel: 4^2 + 4 * 1^2 = 20 per filter
    assert torch.isclose(laplace_l2norm(w), torch.tensor(20.0))


def test_laplace_penalty_is_zero_for_flat_interior_and_scale_free():
    w = torch.zeros(1, 1, 7, 7)
    w[..., 2:5, 2:5] = 1.0  # a flat patch has a Laplacian only at its border
    flat = laplace_l2norm(w)
    assert flat > 0
    assert torch.isclose(laplace_l2norm(3 * w), flat)  # a ratio: invariant to scale
    rough = torch.zeros(1, 1, 7, 7)
    rough[..., ::2, ::2] = 1.0  # a checkerboard is rougher than a patch
    assert laplace_l2norm(rough) > flat


def test_gaussian_readout_samples_in_training_and_is_deterministic_in_eval():
    ro = GaussianReadout(5, 3, init_sigma=0.3)
    x = torch.randn(4, 3, 10, 12)
    ro.train()
    assert not torch.allclose(ro(x), ro(x))
    ro.eval()
    assert torch.equal(ro(x), ro(x))


def test_gaussian_readout_reads_the_feature_at_its_position():
    ro = GaussianReadout(1, 1).eval()
    with torch.no_grad():
        ro._mu[:] = torch.tensor([[1.0, -1.0]])  # right edge, top row
        ro.features[:] = 1.0
    x = torch.zeros(1, 1, 5, 7)
    x[0, 0, 0, 6] = 2.0
    assert torch.isclose(ro(x)[0, 0], torch.tensor(2.0))
    # a shift of (-1/3, 0) grid units moves one pixel to the left (7 px wide)
    x[0, 0, 0, 5] = 5.0
    assert torch.isclose(ro(x, torch.tensor([[-1 / 3, 0.0]]))[0, 0], torch.tensor(5.0), atol=1e-5)


def test_grid_predictor_normalises_cortical_coordinates():
    xy = np.array([[0, 0], [100, 0], [0, 300]], dtype=np.float32)
    ro = GaussianReadout(3, 2, cortical_xy=xy)
    g = ro.source_grid.numpy()
    # centred, then divided by one maximum over all neurons and both axes (200 um)
    expected = (xy - xy.mean(0)) / 200.0
    np.testing.assert_allclose(g, expected, atol=1e-6)
    assert ro.mu.shape == (3, 2) and ro._mu is None


def test_factorized_and_point_readouts():
    x = torch.randn(2, 3, 8, 9)
    fac = FactorizedReadout(4, 3, 8, 9)
    assert fac(x).shape == (2, 4)
    with pytest.raises(ValueError, match="no position to shift"):
        fac(x, torch.zeros(2, 2))
    pt = PointPooledReadout(4, 3, pool_steps=2)
    assert pt(x).shape == (2, 4) and pt.features.shape == (4, 9)
    assert fac.regularizer() > 0 and pt.regularizer() > 0


def test_point_pooled_readout_reads_its_point_on_every_pooling_level():
    """Output: w . [x(p), pool(x)(p), pool(pool(x))(p)] + b, the channels of a
    level together, levels in order; pooling with kernel = stride, the last
    window cut short (ceil mode)."""
    x = torch.arange(2 * 5 * 5, dtype=torch.float32).reshape(1, 2, 5, 5) ** 1.5
    ro = PointPooledReadout(2, 2, pool_steps=2, pool_kernel=2)
    w = torch.tensor([[1.0, -2.0, 0.5, 3.0, -1.0, 0.25], [0.0, 1.0, 0.0, 0.0, 2.0, 0.0]])
    with torch.no_grad():
        ro.grid[:] = torch.tensor([[-1.0, -1.0], [1.0, 1.0]])  # top left, bottom right
        ro.features[:] = w
        ro.bias[:] = torch.tensor([0.5, -0.5])
    v = x[0].numpy()
    level1 = v.reshape(2, 25)  # by hand: 2 x 2 windows, the last row and column alone
    pool1 = np.array([[[v[c, i:i + 2, j:j + 2].mean() for j in (0, 2, 4)] for i in (0, 2, 4)]
                      for c in range(2)])
    pool2 = np.array([[[pool1[c, i:i + 2, j:j + 2].mean() for j in (0, 2)] for i in (0, 2)]
                      for c in range(2)])
    top_left = np.concatenate([level1[:, 0], pool1[:, 0, 0], pool2[:, 0, 0]])
    bottom_right = np.concatenate([level1[:, -1], pool1[:, -1, -1], pool2[:, -1, -1]])
    expected = [w[0].numpy() @ top_left + 0.5, w[1].numpy() @ bottom_right - 0.5]
    np.testing.assert_allclose(ro(x)[0].detach().numpy(), expected, rtol=1e-5)
    assert ro.regularizer().item() == pytest.approx(ro.gamma * w.abs().sum().item())


def test_factorized_readout_pools_its_unit_norm_mask_and_weighs_the_channels():
    r = np.random.default_rng(0)
    x = r.normal(size=(3, 2, 4, 5)).astype(np.float32)
    mask = r.normal(size=(2, 4, 5)).astype(np.float32)
    w = r.normal(size=(2, 2)).astype(np.float32)
    ro = FactorizedReadout(2, 2, 4, 5, gamma=0.1)
    with torch.no_grad():
        ro.spatial[:] = torch.from_numpy(3 * mask)  # the mask's scale does not matter
        ro.features[:] = torch.from_numpy(w)
        ro.bias[:] = torch.tensor([1.0, -1.0])
    unit = mask / np.sqrt((mask**2).sum((1, 2), keepdims=True))
    expected = np.zeros((3, 2))
    for b in range(3):
        for n in range(2):
            expected[b, n] = sum(w[n, c] * (x[b, c] * unit[n]).sum() for c in range(2))
    expected += [1.0, -1.0]
    np.testing.assert_allclose(ro(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-4,
                               atol=1e-5)
    penalty = 0.1 * sum(np.abs(unit[n]).sum() * np.abs(w[n]).sum() for n in range(2))
    assert ro.regularizer().item() == pytest.approx(penalty, rel=1e-4)


def test_encoder_positive_rates_and_behaviour_paths():
    cfg = ModelConfig(core=SMALL_CORE, shifter="mlp", modulator="mlp")
    m = Encoder(cfg, {"a": info(5), "b": info(3)}, (20, 30)).eval()
    x = torch.randn(2, 1, 20, 30)
    inputs = {"behavior": torch.randn(2, 3), "eye": torch.randn(2, 2)}
    assert m("a", x, **inputs).shape == (2, 5) and m("b", x, **inputs).shape == (2, 3)
    assert (m("a", x, **inputs) > 0).all()
    # the modulator starts at gain 1, so behaviour changes nothing before training
    assert torch.allclose(m("a", x, **inputs), m("a", x, **{**inputs, "behavior": inputs["behavior"] + 5}))
    raw = m.predict("a", np.full((3, 20, 30), 100.0))
    assert raw.shape == (3, 5) and np.isfinite(raw).all()
    # inputs not given are held at their training means: the same as passing the means
    means = m.predict("a", np.full((3, 20, 30), 100.0), eye=np.zeros((3, 2)),
                      behavior=np.tile([20.0, 0.0, 3.0], (3, 1)))
    np.testing.assert_array_equal(raw, means)
    with pytest.raises(ValueError, match=r"unknown input\(s\) \['pupil'\]"):
        m.predict("a", np.zeros((1, 20, 30)), pupil=np.zeros((1, 2)))


def test_model_config_errors_name_the_option():
    with pytest.raises(ValueError, match="unknown readout 'gausian'"):
        ModelConfig.from_dict({"readout": "gausian"})
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['shiftr'\]"):
        ModelConfig.from_dict({"shiftr": True})
    with pytest.raises(ValueError, match=r"unknown core option\(s\) \['chanels'\]"):
        ModelConfig.from_dict({"core": {"chanels": 3}})
    with pytest.raises(ValueError, match="factorized readout has no position"):
        ModelConfig.from_dict({"readout": "factorized", "shifter": "mlp"})
    with pytest.raises(ValueError, match=r"unknown shifter 'linear'; choose from \['mlp', 'affine'\]"):
        ModelConfig.from_dict({"shifter": "linear"})
    with pytest.raises(ValueError, match="unknown core 'resnet'"):
        ModelConfig.from_dict({"core_type": "resnet"})


def test_parameters_per_neuron_gaussian_far_below_factorized():
    g = Encoder(ModelConfig(core=SMALL_CORE), {"a": info(5)}, (36, 64))
    f = Encoder(ModelConfig(core=SMALL_CORE, readout="factorized"), {"a": info(5)}, (36, 64))
    # Gaussian: C features + 4 covariance + 1 bias per neuron (+ a shared grid predictor)
    grid = sum(p.numel() for p in g.readouts["a"].mu_predictor.parameters())
    assert g.n_parameters("readout") - grid == 5 * (4 + 4 + 1)
    assert f.n_parameters("readout") == 5 * (32 * 60 + 4 + 1)


def test_even_kernels_and_missing_inputs_are_refused():
    with pytest.raises(ValueError, match="'hidden_kernel' must be odd"):
        ModelConfig.from_dict({"core": {"hidden_kernel": 6}})
    m = Encoder(ModelConfig(core=SMALL_CORE, shifter="mlp", modulator="mlp"), {"a": info(2)},
                (20, 30))
    x = torch.randn(1, 1, 20, 30)
    with pytest.raises(ValueError, match="reads input 'eye': pass eye="):
        m("a", x, behavior=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="reads input 'behavior': pass behavior="):
        m("a", x, eye=torch.zeros(1, 2))


def test_factorized_masks_are_normalised_and_penalised_jointly():
    ro = FactorizedReadout(3, 2, 4, 5)
    with torch.no_grad():
        ro.spatial.normal_()
    assert torch.allclose(ro.normalized_spatial.pow(2).sum((1, 2)), torch.ones(3), atol=1e-3)
    with torch.no_grad():
        ro.features.zero_()
    assert ro.regularizer() == 0  # a neuron without feature weights costs nothing


def test_stack_concatenates_the_last_layers_outputs():
    torch.manual_seed(0)
    last = Stacked2dCore(CoreConfig(layers=3, channels=4, input_kernel=5, hidden_kernel=3)).eval()
    x = torch.randn(2, 1, 20, 30)
    per_layer, h = [], x
    for layer in last.layers:
        h = layer(h)
        per_layer.append(h)
    assert torch.equal(last(x), per_layer[-1]) and last.out_channels == 4
    for stack, layers in ((-2, [1, 2]), (None, [0, 1, 2])):
        core = Stacked2dCore(dataclasses.replace(last.config, stack=stack)).eval()
        core.load_state_dict(last.state_dict())
        assert core.out_channels == 4 * len(layers)
        assert torch.equal(core(x), torch.cat([per_layer[i] for i in layers], dim=1))


def test_stacked_core_feeds_every_readout():
    cfg = dataclasses.replace(SMALL_CORE, stack=None)
    for readout in ("gaussian", "factorized", "point"):
        model = Encoder(ModelConfig(core=cfg, readout=readout), {"a": info()}, (20, 30)).eval()
        assert model("a", torch.randn(3, 1, 20, 30)).shape == (3, 5)


@pytest.mark.parametrize("stack", [0, -3, 1, True, 1.5, "all"])
def test_bad_stack_is_refused_by_name(stack):
    with pytest.raises(ValueError, match="stack"):
        ModelConfig.from_dict({"core": {"layers": 2, "stack": stack}})
    with pytest.raises(ValueError, match="'stack'"):
        Stacked2dCore(CoreConfig(layers=2, stack=stack))


def test_affine_transform_rotates_and_shifts_readout_positions():
    grid = torch.tensor([[[0.5, 0.0], [0.0, -0.25]]])  # one sample, two positions [x, y]
    shift = torch.tensor([[0.1, -0.2]])
    np.testing.assert_allclose(apply_transform(grid, shift), grid + shift[:, None])
    identity = torch.tensor([[[1.0, 0.0, 0.1], [0.0, 1.0, -0.2]]])
    assert torch.equal(apply_transform(grid, identity), apply_transform(grid, shift))
    quarter = torch.tensor([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]])  # 90 degrees counter-clockwise
    np.testing.assert_allclose(apply_transform(grid, quarter), [[[0.0, 0.5], [0.25, 0.0]]], atol=1e-7)
    with pytest.raises(ValueError, match="a shift \\(B, 2\\) or an affine map \\(B, 2, 3\\)"):
        apply_transform(grid, torch.zeros(1, 3))


def test_readouts_read_rotated_positions():
    """An affine map that swaps the axes makes a Gaussian and a point-pooled
    readout read the feature at the mirrored place."""
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 0, 4] = 3.0  # row 0, column 4: position (x=1, y=-1)
    swap = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])
    g = GaussianReadout(1, 1).eval()
    p = PointPooledReadout(1, 1, pool_steps=0)
    with torch.no_grad():
        g._mu[:] = torch.tensor([[-1.0, 1.0]])  # (x=-1, y=1) swapped is (1, -1)
        p.grid[:] = torch.tensor([[-1.0, 1.0]])
        g.features[:] = 1.0
        p.features[:] = 1.0
    assert g(x)[0, 0] == 0 and torch.isclose(g(x, swap)[0, 0], torch.tensor(3.0))
    assert p(x)[0, 0] == 0 and torch.isclose(p(x, swap)[0, 0], torch.tensor(3.0))


def test_model_is_composed_from_the_registries():
    from v1lib.models.modulator import MLPModulator
    from v1lib.models.readouts import READOUTS
    from v1lib.models.shifter import MLPShifter

    for readout, cls in (("gaussian", GaussianReadout), ("factorized", FactorizedReadout),
                         ("point", PointPooledReadout)):
        m = Encoder(ModelConfig(core=SMALL_CORE, readout=readout), {"a": info(3)}, (20, 30))
        assert isinstance(m.readouts["a"], cls) and m.shifters is None and m.modulators is None
    assert set(READOUTS) == {"gaussian", "factorized", "point"}
    m = Encoder(ModelConfig(core=SMALL_CORE, shifter="mlp", modulator="mlp"), {"a": info(3)}, (20, 30))
    assert isinstance(m.shifters["a"], MLPShifter) and isinstance(m.modulators["a"], MLPModulator)
    assert m.modulators["a"].mlp[0].in_features == 3  # the behaviour's columns, from the data
    assert m.roles == ["eye", "behavior"]


def test_a_part_that_reads_an_input_the_scan_lacks_is_refused_by_name():
    lacking = info(3)
    del lacking.inputs["eye"]
    with pytest.raises(ValueError, match=r"shifter reads input 'eye', which scan\(s\) \['a'\] do not"):
        Encoder(ModelConfig(core=SMALL_CORE, shifter="mlp"), {"a": lacking}, (20, 30))
