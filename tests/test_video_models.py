"""The video model of Sinz et al. (2018): temporal cores, the convolutional GRU,
the affine shifter and GRU modulator read frame by frame, windows of clips,
burn-in, training, the study configurations and the command line on video data."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr
import yaml

from v1lib import profiles
from v1lib.cli import main
from v1lib.data import load_scans, save_scans, schemas
from v1lib.evaluation import neuron_scores
from v1lib.model_cache import build_model
from v1lib.models import Encoder, InputStats, ModelConfig, ScanInfo
from v1lib.models.modulator import GRUModulator
from v1lib.models.recurrent import (
    ConvGRUCell,
    Linear3dConfig,
    Linear3dCore,
    RecurrentConfig,
    RecurrentCore,
)
from v1lib.objectives import Poisson
from v1lib.predict import predict_tier, samples_per_batch
from v1lib.studies import video as video_study
from v1lib.tensors import ScanTensors, prepare, time_axes
from v1lib.train import TrainConfig, fit, validation_score

# A small screen, short temporal kernels and a high event rate: the simulation
# takes seconds, and the responses carry enough signal for a few optimiser steps.
SIM = {"n_animals": 1, "frames": 60, "height": 18, "width": 32, "deg_per_px": 3.0,
       "event_rate": 2.0, "test_repeats": 3, "population": {"n_neurons": 40},
       "temporal": {"kernel_frames": 6},
       "clips": {"natural": [6, 3, 1], "monet": [10, 3, 1], "trippy": [0, 0, 0],
                 "grating": [0, 0, 0]}}
SMALL_REC = RecurrentConfig(layers=2, channels=3, rec_channels=4, input_kernel=5)
SMALL_LIN = Linear3dConfig(channels=3, kernel=5, time_kernel=3)
TRAIN = TrainConfig(batch_size=4, lr=0.01, max_epochs=3, patience=1, lr_decay_steps=3,
                    steps_per_epoch=2, window=30)
BURN_IN = Poisson(burn_in=5)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    """The simulated video data, made by the command line (once per module)."""
    folder = tmp_path_factory.mktemp("video")
    cfg = folder / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(SIM))
    out = folder / "v.nc"
    assert main(["simulate", "video", "--seed", "3", "--config", str(cfg), "--out", str(out),
                 "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def video_scans(video_file):
    return load_scans(video_file)


@pytest.fixture(scope="module")
def video_tensors(video_scans):
    return prepare(video_scans)


def _info(n=5):
    r = np.random.default_rng(0)
    return ScanInfo(n_neurons=n, cortical_xy=r.normal(0, 100, (n, 2)).astype(np.float32),
                    inputs={"stimulus": InputStats(np.array(100.0), np.array(50.0), True),
                            "eye": InputStats(np.array([3.0, -2.0]), np.array([2.0, 1.0]), True),
                            "behavior": InputStats(np.array([20.0, 0.5, 3.0]),
                                                   np.array([2.0, 1.0, 1.5]), False)},
                    response_std=np.linspace(0.5, 2.0, n).astype(np.float32))


def _encoder(seed=0, n=5, shape=(12, 16), **model) -> Encoder:
    torch.manual_seed(seed)
    cfg = ModelConfig(**{"core": SMALL_REC, "core_type": "recurrent", "readout": "point",
                         "pool_kernel": 2, **model})
    return cfg.build({"a": _info(n)}, shape).eval()


def _state(m):
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


# ---------------------------------------------------------------- temporal cores

def _cores(stride=1):
    torch.manual_seed(0)
    return [RecurrentCore(dataclasses.replace(SMALL_REC, stride=stride)),
            Linear3dCore(dataclasses.replace(SMALL_LIN, stride=stride))]


@pytest.mark.parametrize("stride", [1, 2])
def test_temporal_cores_output_shape(stride):
    for core in _cores(stride):
        core.eval()
        y = core(torch.randn(2, 1, 7, 11, 14))
        assert y.shape == (2, core.out_channels, 7, *core.output_shape(11, 14)), type(core)
        expected = (11, 14) if stride == 1 else (6, 7)
        assert core.output_shape(11, 14) == expected
    assert _cores()[0].out_channels == SMALL_REC.rec_channels
    assert _cores()[1].out_channels == SMALL_LIN.channels


@pytest.mark.parametrize("which", [0, 1], ids=["recurrent", "linear3d"])
def test_temporal_cores_are_causal(which):
    core = _cores()[which].eval()
    torch.manual_seed(1)
    x = torch.randn(2, 1, 9, 12, 16)
    t = 4
    with torch.no_grad():
        y = core(x)
        later = x.clone()
        later[:, :, t + 1:] = torch.randn_like(later[:, :, t + 1:])
        y_later = core(later)
        now = x.clone()
        now[:, :, t] = torch.randn_like(now[:, :, t])
        y_now = core(now)
    torch.testing.assert_close(y_later[:, :, :t + 1], y[:, :, :t + 1], rtol=0, atol=1e-6)
    assert not torch.allclose(y_later[:, :, t + 1:], y[:, :, t + 1:])
    torch.testing.assert_close(y_now[:, :, :t], y[:, :, :t], rtol=0, atol=1e-6)
    assert (y_now[:, :, t] - y[:, :, t]).abs().max() > 1e-3


@pytest.mark.parametrize("input_kernel", [3, 1])
def test_recurrent_core_is_the_gru_stepped_over_the_frame_features(input_kernel):
    """The core convolves the GRU's input for all frames at once; that is the
    cell stepped frame by frame from the learned initial state."""
    torch.manual_seed(0)
    core = RecurrentCore(dataclasses.replace(SMALL_REC, rec_input_kernel=input_kernel)).eval()
    with torch.no_grad():
        core.initial_state.normal_()
        x = torch.randn(2, 1, 5, 10, 12)
        y = core(x)
        h = core.initial_state.expand(2, -1, 10, 12)
        for t in range(5):
            h = core.gru(core.frame(x[:, :, t]), h)
            torch.testing.assert_close(y[:, :, t], h, rtol=1e-5, atol=1e-6)
    assert core.gru.input.kernel_size == (input_kernel, input_kernel)


def test_linear3d_core_remembers_time_kernel_frames():
    """A frame reaches the outputs of itself and the next time_kernel - 1 frames only."""
    core = _cores()[1].eval()
    x = torch.randn(1, 1, 8, 12, 16)
    changed = x.clone()
    changed[:, :, 0] += 1.0
    with torch.no_grad():
        d = (core(changed) - core(x)).abs().amax((0, 1, 3, 4))
    k = SMALL_LIN.time_kernel
    assert (d[:k] > 1e-4).all() and (d[k:] == 0).all(), d


def test_recurrent_core_rejects_even_kernels():
    """An even hidden or recurrent kernel has no centre pixel: its 'same'
    padding would grow the map by one pixel per layer."""
    for option in ("hidden_kernel", "rec_kernel", "rec_input_kernel"):
        with pytest.raises(ValueError, match=option):
            RecurrentCore(dataclasses.replace(SMALL_REC, **{option: 4}))


# ---------------------------------------------------------------- the convolutional GRU

def _gru_case():
    torch.manual_seed(0)
    cell = ConvGRUCell(3, 4, kernel=3)
    x, h = torch.randn(2, 3, 6, 7), torch.randn(2, 4, 6, 7)
    return cell, x, h


def _gate(cell, chunk, value):
    """Force gate ``chunk`` (0: update z, 1: reset r) shut (-) or open (+)."""
    c = cell.c_hidden
    with torch.no_grad():
        cell.input.weight[chunk * c:(chunk + 1) * c] = 0
        cell.input.bias[chunk * c:(chunk + 1) * c] = value


def _candidate_input(cell, x):
    c = cell.c_hidden
    return F.conv2d(x, cell.input.weight[2 * c:], cell.input.bias[2 * c:],
                    padding=cell.input.padding)


@torch.no_grad()
def test_conv_gru_keeps_its_state_when_the_update_gate_is_shut():
    cell, x, h = _gru_case()
    _gate(cell, 0, -1e4)
    assert torch.equal(cell(x, h), h)


@torch.no_grad()
def test_conv_gru_takes_the_candidate_when_the_update_gate_is_open():
    cell, x, h = _gru_case()
    _gate(cell, 0, 1e4)
    cell.candidate.weight.zero_()
    torch.testing.assert_close(cell(x, h), torch.tanh(_candidate_input(cell, x)))
    # with candidate weights, the reset gate decides whether the state enters the candidate
    cell, x, h = _gru_case()
    _gate(cell, 0, 1e4)
    _gate(cell, 1, -1e4)
    torch.testing.assert_close(cell(x, h), torch.tanh(_candidate_input(cell, x)))
    _gate(cell, 1, 1e4)
    torch.testing.assert_close(cell(x, h), torch.tanh(_candidate_input(cell, x) + cell.candidate(h)))
    # the reset gate acts on the state before the candidate convolution mixes its channels
    open_ = torch.tensor([1.0, 0.0, 1.0, 0.0])
    cell.input.bias[4:8] = 2e4 * open_ - 1e4
    expected = torch.tanh(_candidate_input(cell, x) + cell.candidate(h * open_[:, None, None]))
    torch.testing.assert_close(cell(x, h), expected)


# ---------------------------------------------------------------- the encoder in time

def _clip_inputs(b=2, t=6, shape=(12, 16), seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 1, t, *shape, generator=g), torch.randn(b, t, 2, generator=g),
            torch.randn(b, t, 3, generator=g))


def test_temporal_encoder_predicts_positive_rates_per_time_step():
    for core_type, core in (("recurrent", SMALL_REC), ("linear3d", SMALL_LIN)):
        m = _encoder(core=core, core_type=core_type, shifter="affine", modulator="gru")
        assert m.temporal
        x, eye, beh = _clip_inputs()
        y = m("a", x, eye=eye, behavior=beh)
        assert y.shape == (2, 6, 5) and (y > 0).all(), core_type


@torch.no_grad()
def test_affine_shifter_moves_the_readout_of_its_frame_only():
    m = _encoder(shifter="affine")
    plain = _encoder(seed=1)  # no shifter: the same model once it holds the same weights
    plain.load_state_dict({k: v for k, v in m.state_dict().items()
                           if not k.startswith("shifters.")})
    W = torch.tensor([[0.4, 0.0], [0.0, -0.3]])
    m.shifters["a"].linear.weight.copy_(W)
    x, _, _ = _clip_inputs()
    eye = torch.zeros(2, 6, 2)
    torch.testing.assert_close(m("a", x, eye=eye), plain("a", x))  # tanh(0) = no shift
    eye[1, 3] = torch.tensor([1.5, 2.0])  # sample 1, frame 3 only
    moved, still = m("a", x, eye=eye), plain("a", x)
    changed = (moved - still).abs().amax(-1) > 1e-5
    assert changed[1, 3] and changed.sum() == 1, changed
    shift = torch.tanh(W @ eye[1, 3])
    features = plain.core(x)[1:2, :, 3]
    expected = F.elu(plain.readouts["a"](features, shift[None])) + 1
    torch.testing.assert_close(moved[1:2, 3], expected)


@torch.no_grad()
def test_gru_modulator_gain_exceeds_one_and_reads_the_past_only():
    torch.manual_seed(0)
    mod = GRUModulator(5, 3)
    mod.linear.weight.normal_(0, 1.0)
    beh = torch.randn(2, 8, 3)
    gain = mod(beh)
    assert gain.shape == (2, 8, 5) and (gain > 1).all()
    t = 3
    later = beh.clone()
    later[:, t + 1:] += 2.0
    g2 = mod(later)
    torch.testing.assert_close(g2[:, :t + 1], gain[:, :t + 1], rtol=0, atol=0)
    assert not torch.allclose(g2[:, t + 1:], gain[:, t + 1:])
    with pytest.raises(ValueError, match="time series"):
        mod(torch.randn(2, 3))
    # in the model, the gain multiplies every time step's rate
    m = _encoder(modulator="gru")
    m.modulators["a"].load_state_dict(mod.state_dict())
    x, _, _ = _clip_inputs(t=8)
    plain = _encoder(seed=1)
    plain.load_state_dict({k: v for k, v in m.state_dict().items()
                           if not k.startswith("modulators.")})
    torch.testing.assert_close(m("a", x, behavior=beh), plain("a", x) * gain)
    with pytest.raises(ValueError, match="time series"):
        m("a", x, behavior=beh[:, 0])


def test_predict_takes_raw_clips_and_holds_missing_inputs_at_their_means():
    m = _encoder(shifter="affine", modulator="gru")
    with torch.no_grad():  # make eye and behaviour matter
        m.shifters["a"].linear.weight.fill_(0.3)
        m.modulators["a"].linear.weight.normal_(0, 1.0)
    info = _info()
    clips = np.random.default_rng(0).integers(0, 256, (3, 6, 12, 16)).astype(np.uint8)
    raw = m.predict("a", clips)
    assert raw.shape == (3, 6, 5) and raw.dtype == np.float32
    eye_mean = np.broadcast_to(info.inputs["eye"].mean, (3, 6, 2))
    beh_mean = np.broadcast_to(info.inputs["behavior"].mean, (3, 6, 3))
    np.testing.assert_allclose(m.predict("a", clips, eye=eye_mean, behavior=beh_mean), raw,
                               rtol=1e-6)
    with torch.no_grad():  # original units: the normalised prediction times the response SD
        x = (torch.from_numpy(clips.astype(np.float32))[:, None] - 100.0) / 50.0
        beh = torch.from_numpy((beh_mean / info.inputs["behavior"].std).astype(np.float32))
        expected = m("a", x, eye=torch.zeros(3, 6, 2), behavior=beh) * torch.from_numpy(
            info.response_std)
    np.testing.assert_allclose(raw, expected.numpy(), rtol=1e-5)
    # other eye positions and behaviour change the prediction; the batch size does not
    eye = np.random.default_rng(1).normal(0, 3, (3, 6, 2))
    assert not np.allclose(m.predict("a", clips, eye=eye), raw)
    np.testing.assert_allclose(m.predict("a", clips, batch_size=1), raw, rtol=1e-6)


def test_build_keeps_temporal_models_out_of_channels_last():
    scans = {"a": _info()}
    for core_type, core in (("linear3d", SMALL_LIN), ("recurrent", SMALL_REC)):
        m = ModelConfig(core=core, core_type=core_type, readout="point").build(scans, (12, 16))
        assert m.temporal and m("a", torch.randn(1, 1, 4, 12, 16)).shape == (1, 4, 5)
    static = ModelConfig().build(scans, (36, 64))
    assert not static.temporal
    assert static.core.layers[0][0].weight.is_contiguous(memory_format=torch.channels_last)


# ---------------------------------------------------------------- windows and time axes

def _timed_tensors(S=6, T=50, N=3):
    """Every value encodes (sample, time step): 1000 s + t."""
    code = (1000 * torch.arange(S)[:, None] + torch.arange(T)[None]).float()  # (S, T)
    return ScanTensors(
        inputs={"stimulus": code[:, None, :, None, None].expand(S, 1, T, 2, 3).clone(),
                "eye": code[..., None].expand(S, T, 2).clone(),
                "behavior": code[..., None].expand(S, T, 3).clone(),
                "static": 1000 * torch.arange(S)[:, None].float().expand(S, 4).clone()},
        targets=code[..., None].expand(S, T, N).clone(),
        tiers={"train": torch.arange(S)},
        time_axes={"targets": 1, "stimulus": 2, "eye": 1, "behavior": 1})


def test_windows_cut_every_timed_input_at_the_targets_start():
    d = _timed_tensors()
    idx = torch.tensor([4, 1, 1, 5])
    inputs, targets = d.windows(idx, 10, torch.Generator().manual_seed(0))
    starts = targets[:, 0, 0] - 1000 * idx
    assert ((starts >= 0) & (starts <= 40)).all()
    run = 1000 * idx[:, None] + starts[:, None] + torch.arange(10)[None]  # (B, 10)
    assert torch.equal(targets, run[..., None].expand(4, 10, 3).float())
    assert torch.equal(inputs["stimulus"], run[:, None, :, None, None].expand(4, 1, 10, 2, 3).float())
    assert torch.equal(inputs["eye"], run[..., None].expand(4, 10, 2).float())
    assert torch.equal(inputs["behavior"], run[..., None].expand(4, 10, 3).float())
    assert torch.equal(inputs["static"], d.inputs["static"][idx])  # no time axis: indexed
    # the two draws of sample 1 are independent windows
    many = d.windows(torch.ones(20, dtype=torch.long), 10, torch.Generator().manual_seed(0))[1]
    assert len(set(many[:, 0, 0].tolist())) > 1


def test_windows_are_deterministic_in_the_generator():
    d = _timed_tensors()
    idx = torch.arange(6)
    g = torch.Generator().manual_seed(7)
    a = d.windows(idx, 10, g)[1]
    b = d.windows(idx, 10, torch.Generator().manual_seed(7))[1]
    assert torch.equal(a, b)
    assert not torch.equal(d.windows(idx, 10, g)[1], a)  # the generator moved on


def test_windows_of_whole_samples_and_of_static_tensors():
    d = _timed_tensors()
    idx = torch.tensor([2, 0])
    for length in (50, 80):
        inputs, targets = d.windows(idx, length, torch.Generator())
        assert torch.equal(targets, d.targets[idx])
        for role, x in d.batch(idx).items():
            assert torch.equal(inputs[role], x), role
    static = dataclasses.replace(d, time_axes={})
    with pytest.raises(ValueError, match="no time axis"):
        static.windows(idx, 10, torch.Generator())


def test_windows_cut_a_frozen_cores_features_where_they_cut_the_stimulus():
    d = _timed_tensors()
    feats = d.inputs["stimulus"].expand(-1, 2, -1, -1, -1) + 0.5  # (S, C, T, h, w)
    idx = torch.tensor([3, 0, 3])
    inputs, _ = d.windows(idx, 10, torch.Generator().manual_seed(1), features=feats)
    assert torch.equal(inputs["features"], inputs["stimulus"].expand(-1, 2, -1, -1, -1) + 0.5)
    whole, _ = d.windows(idx, 80, torch.Generator(), features=feats)
    assert torch.equal(whole["features"], feats[idx])


def test_subset_keeps_the_samples_of_some_tiers_renumbered():
    d = dataclasses.replace(_timed_tensors(), tiers={"train": torch.tensor([5, 1]),
                                                     "validation": torch.tensor([3]),
                                                     "test": torch.tensor([0, 2, 4])})
    sub = d.subset(("train", "validation"))
    assert sub.n_samples == 3 and sub.time_axes == d.time_axes
    for tier in ("train", "validation"):
        for role in d.inputs:
            assert torch.equal(sub.inputs[role][sub.tiers[tier]], d.inputs[role][d.tiers[tier]])
        assert torch.equal(sub.targets[sub.tiers[tier]], d.targets[d.tiers[tier]])
    assert "test" not in sub.tiers


def test_time_axes_of_the_video_schema(video_scans, video_tensors, tiny_scans):
    name, ds = next(iter(video_scans.items()))
    axes = {"targets": 1, "stimulus": 2, "eye": 1, "behavior": 1}
    assert time_axes(ds, schemas.of(ds)) == axes
    d = video_tensors[name]
    assert d.time_axes == axes
    assert d.inputs["stimulus"].shape == (ds.sizes["clip"], 1, 60, 18, 32)
    static = next(iter(tiny_scans.values()))
    assert time_axes(static, schemas.of(static)) == {}
    # a window of the real tensors: every input cut where the targets are
    i = torch.tensor([d.tiers["train"][0].item()])
    inputs, targets = d.windows(i, 20, torch.Generator().manual_seed(3))
    starts = [s for s in range(41) if torch.equal(d.targets[i[0], s:s + 20], targets[0])]
    assert len(starts) == 1
    s = starts[0]
    assert torch.equal(inputs["stimulus"][0], d.inputs["stimulus"][i[0], :, s:s + 20])
    assert torch.equal(inputs["eye"][0], d.inputs["eye"][i[0], s:s + 20])
    assert torch.equal(inputs["behavior"][0], d.inputs["behavior"][i[0], s:s + 20])


# ---------------------------------------------------------------- batches of clips

def test_samples_per_batch_shrinks_for_clips():
    def tensors(shape):
        return ScanTensors(inputs={"stimulus": torch.zeros(shape)}, targets=torch.zeros(2, 1),
                           tiers={})

    assert samples_per_batch(tensors((2, 1, 36, 64)), 64) == 64  # still images
    clips = samples_per_batch(tensors((2, 1, 300, 36, 64)), 64)
    assert 1 <= clips < 64 and clips * 300 * 36 * 64 <= 2**21
    assert samples_per_batch(tensors((2, 1, 300, 36, 64)), 64, budget=10) == 1
    no_stimulus = ScanTensors(inputs={}, targets=torch.zeros(2, 1), tiers={})
    assert samples_per_batch(no_stimulus, 32) == 32


def test_predict_tier_is_the_same_whatever_the_batch(video_tensors):
    m = build_model(video_tensors, video_study.model_configs("smoke", "recurrent")[0], 0)
    a = predict_tier(m, video_tensors, "validation")
    b = predict_tier(m, video_tensors, "validation", batch_size=1)
    for s, d in video_tensors.items():
        assert a[s].shape == (len(d.tiers["validation"]), 60, d.info.n_neurons)
        torch.testing.assert_close(b[s], a[s], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- burn-in

def test_poisson_burn_in_leaves_the_first_frames_out():
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(4, 12, 6, generator=g) + 0.1
    target = torch.poisson(torch.rand(4, 12, 6, generator=g) * 2, generator=g)
    obj = Poisson(burn_in=5)
    early, late = pred.clone(), pred.clone()
    early[:, :5] = torch.rand(4, 5, 6, generator=g) * 3 + 0.1
    late[:, 5] = torch.rand(4, 6, generator=g) * 3 + 0.1
    loss, score = obj.loss(pred, target, 40), obj.score({"s": pred}, {"s": target})
    assert obj.loss(early, target, 40) == loss
    assert obj.score({"s": early}, {"s": target}) == score
    assert obj.loss(late, target, 40) != loss
    assert obj.score({"s": late}, {"s": target}) != score
    assert Poisson().loss(early, target, 40) != Poisson().loss(pred, target, 40)  # no burn-in
    with pytest.raises(ValueError, match="time axis"):
        obj.loss(pred[:, 0], target[:, 0], 40)


def test_scores_leave_the_burn_in_out(video_scans):
    ds = next(iter(video_scans.values()))
    test = ds.isel(clip=ds.tier.values == "test")
    resp = test.responses
    pred = resp.copy(data=np.asarray(test.gt_rate.values))
    noisy = pred.copy(data=pred.values.copy())
    noisy.values[:, :10] = np.random.default_rng(0).exponential(1.0, noisy.values[:, :10].shape)
    a = neuron_scores(resp, pred, test, burn_in=10)
    b = neuron_scores(resp, noisy, test, burn_in=10)
    for k in ("single_trial_corr", "corr_to_avg", "feve"):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.allclose(neuron_scores(resp, noisy, test).single_trial_corr,
                           neuron_scores(resp, pred, test).single_trial_corr)


# ---------------------------------------------------------------- training

def _recurrent_config(shifter=True, modulator=True):
    return video_study.model_configs("smoke", "recurrent", shifter=shifter, modulator=modulator)[0]


def _fit(tensors, seed=0, checkpoint=None, config=None, **train):
    m = build_model(tensors, config or _recurrent_config(), seed)
    h = fit(m, tensors, dataclasses.replace(TRAIN, **train), seed, checkpoint,
            show_progress=False, objective=BURN_IN)
    return m, h


def test_recurrent_model_learns_from_windows(video_tensors):
    untrained = build_model(video_tensors, _recurrent_config(), 0)
    before = validation_score(untrained, video_tensors, BURN_IN)
    m, h = _fit(video_tensors, max_epochs=4, steps_per_epoch=10, patience=10)
    val = h.val_score.values
    assert np.isfinite(h.train_loss).all() and h.train_loss[-1] < h.train_loss[0]
    assert val[1:].max() > val[0] or val.max() > 0.05, val
    assert h.attrs["best_val_score"] > max(before, 0.0) + 0.05, (before, val)
    assert validation_score(m, video_tensors, BURN_IN) == pytest.approx(
        h.attrs["best_val_score"], abs=1e-6)  # the best weights are kept


def test_video_training_is_deterministic(video_tensors):
    a, ha = _fit(video_tensors, seed=4)
    b, hb = _fit(video_tensors, seed=4)
    for k, v in _state(a).items():
        assert torch.equal(v, b.state_dict()[k]), k
    np.testing.assert_array_equal(ha.val_score, hb.val_score)
    c, _ = _fit(video_tensors, seed=5)
    assert not torch.equal(_state(a)["core.gru.input.weight"], c.state_dict()["core.gru.input.weight"])


def test_interrupted_video_run_resumes_to_the_same_result(video_tensors, tmp_path):
    full, hf = _fit(video_tensors, seed=2)
    ck = tmp_path / "checkpoint.pt"
    _fit(video_tensors, seed=2, checkpoint=ck, max_epochs=1)  # "interrupted" after one epoch
    assert ck.is_file()
    resumed, hr = _fit(video_tensors, seed=2, checkpoint=ck)
    np.testing.assert_allclose(hr.val_score, hf.val_score, rtol=1e-6)
    for k, v in _state(full).items():
        torch.testing.assert_close(resumed.state_dict()[k], v)


def test_a_frozen_temporal_core_runs_once_over_the_training_and_validation_clips(
        video_tensors, monkeypatch):
    """Its features are computed on whole clips before the first epoch (the
    state a clip's test prediction sees too) and cut into the training windows;
    where they would not fit in memory, the core runs at every step instead."""
    import v1lib.train as train

    source, _ = _fit(video_tensors, max_epochs=1)
    n_fit = sum(len(d.tiers["train"]) + len(d.tiers["validation"]) for d in video_tensors.values())
    frames, enough = {}, train.FEATURE_MEMORY
    for memory in (enough, 0):
        monkeypatch.setattr(train, "FEATURE_MEMORY", memory)
        m = build_model(video_tensors, _recurrent_config(), 1)
        m.core.load_state_dict(source.core.state_dict())
        calls = []
        m.core.register_forward_hook(lambda mod, inp, out, calls=calls: calls.append(len(inp[0])))
        cfg = dataclasses.replace(TRAIN, max_epochs=2, patience=5, freeze_core=True)
        scales = []
        monkeypatch.setattr(Poisson, "loss", lambda self, p, t, n, loss=Poisson.loss, scales=scales:
                            scales.append(n) or loss(self, p, t, n))
        h = fit(m, video_tensors, cfg, 1, show_progress=False, objective=BURN_IN)
        monkeypatch.undo()
        assert np.isfinite(h.val_score).all()
        # the loss keeps the scale of the whole scan (its number of samples)
        assert set(scales) == {d.n_samples for d in video_tensors.values()}
        for k, v in source.core.state_dict().items():
            assert torch.equal(m.core.state_dict()[k], v), k
        frames[memory] = sum(calls)
    assert frames[enough] == n_fit
    assert frames[0] == 2 * (TRAIN.steps_per_epoch * TRAIN.batch_size  # every step's windows
                             + n_fit - sum(len(d.tiers["train"]) for d in video_tensors.values()))


def test_ln_model_trains(video_tensors):
    cfg = video_study.model_configs("smoke", "ln")[0]
    m, h = _fit(video_tensors, config=cfg, max_epochs=1)
    assert np.isfinite(h.train_loss).all() and np.isfinite(h.val_score).all()
    assert isinstance(m.core, Linear3dCore)


# ---------------------------------------------------------------- the study's configurations

def test_video_model_configs_of_the_smoke_profile():
    section = profiles.settings("smoke", video_study.SECTION)
    assert section["model"]["pool_kernel"] == 4 and section["burn_in"] == 10
    for name, core_type, core_class in (("recurrent", "recurrent", RecurrentConfig),
                                        ("ln", "linear3d", Linear3dConfig)):
        cfg, tc, obj = video_study.model_configs("smoke", name)
        assert cfg.core_type == core_type and cfg.core == core_class(**section[name]["core"])
        assert cfg.readout == "point" and cfg.pool_kernel == 4
        assert cfg.shifter == "affine" and cfg.modulator == "gru"
        assert tc == TrainConfig.from_dict(section["train"]) and tc.window == section["train"]["window"]
        assert obj == Poisson(burn_in=10)
        bare = video_study.model_configs("smoke", name, shifter=False, modulator=False)[0]
        assert bare.shifter is None and bare.modulator is None and bare.core == cfg.core
        assert bare.readout == "point" and bare.pool_kernel == 4
    with pytest.raises(ValueError, match="unknown video model 'lstm'"):
        video_study.model_configs("smoke", "lstm")


# ---------------------------------------------------------------- the command line

def _fit_cli(data, out, model, *extra):
    return main(["fit", "--data", str(data), "--model", model, *extra, "--profile", "smoke",
                 "--seed", "1", "--out", str(out), "--quiet", "--results-dir",
                 str(out.parent / "results")])


def test_cli_simulates_video_data(video_scans):
    (name, ds), = video_scans.items()
    assert name == "insilico-video-3-1" and schemas.of(ds).time_dim == "time"
    assert ds.videos.dims == ("clip", "time", "y", "x") and ds.videos.shape[1:] == (60, 18, 32)
    assert ds.attrs["sim_seed"] == 3


def test_cli_fits_the_recurrent_model_on_video(video_file, video_scans, tmp_path, capsys):
    out = tmp_path / "run"
    assert _fit_cli(video_file, out, "recurrent", "--shifter", "--modulator") == 0
    m = json.loads((out / "metrics.json").read_text())
    for k in ("single_trial_corr", "corr_to_avg", "fraction_oracle", "gt_ceiling_fraction"):
        assert m[k] is not None and np.isfinite(m[k]), k
    assert m["burn_in"] == 10
    for scan, ds in video_scans.items():
        with xr.open_dataset(out / "predictions.nc", group=scan, engine="h5netcdf") as p:
            n_test = int((ds.tier == "test").sum())
            assert p.predictions.dims == ("clip", "time", "neuron")
            assert p.predictions.shape == (n_test, 60, ds.sizes["neuron"])
            assert (p.predictions > 0).all() and "single_trial_corr" in p
    assert "single_trial_corr=" in capsys.readouterr().out


def test_cli_fits_the_ln_model_on_video(video_file, tmp_path):
    out = tmp_path / "run"
    assert _fit_cli(video_file, out, "ln") == 0
    m = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(m["single_trial_corr"]) and m["burn_in"] == 10


def test_cli_refuses_a_model_of_the_other_kind(video_file, tiny_scans, tmp_path, capsys):
    assert _fit_cli(video_file, tmp_path / "a", "gaussian") == 1
    err = capsys.readouterr().err
    assert "video recordings" in err and "'recurrent'" in err and "'ln'" in err
    static = tmp_path / "static.nc"
    save_scans(tiny_scans, static)
    assert _fit_cli(static, tmp_path / "b", "recurrent") == 1
    err = capsys.readouterr().err
    assert "still-image recordings" in err
    assert all(f"'{m}'" in err for m in ("gaussian", "factorized", "point"))
    assert not (tmp_path / "a" / "model.pt").exists() and not (tmp_path / "b" / "model.pt").exists()
