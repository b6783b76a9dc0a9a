"""Task-trained networks as frozen cores (chapter 10): the letterboxed view of
the stimulus, the cropped and standardised feature maps, the readout trained on
them through the model cache, and the comparison's words."""

import numpy as np
import pytest
import torch
import xarray as xr

from v1lib.models.mousenet import MouseNetConfig
from v1lib.models.task_core import TaskCore, TaskCoreConfig
from v1lib.models.vgg import VGGConfig
from v1lib.studies import task_cores as tc
from v1lib.studies import task_training as tt
from v1lib.studies.static import study_settings
from v1lib.train import TrainConfig

MOUSE = MouseNetConfig(width=0.125, input_size=32, classes=2).to_dict()


def _core(**kw) -> TaskCore:
    cfg = dict(network="mousenet", network_options=MOUSE, classes=2, input_size=32,
               populations=("VISp4", "VISp5"), height=36, width=64, stimulus_mean=100.0,
               stimulus_std=50.0, task_mean=80.0, task_std=40.0)
    return TaskCore(TaskCoreConfig(**{**cfg, **kw}))


def test_the_stimulus_is_letterboxed_into_the_networks_input():
    core = _core()
    assert core.inner == (18, 32)  # 36 x 64 scaled by 32 / 64, aspect kept
    raw = torch.full((1, 1, 36, 64), 200.0)
    x = core._letterbox((raw - 100.0) / 50.0)
    assert x.shape == (1, 1, 32, 32)
    inside = (200.0 - 80.0) / 40.0
    assert torch.allclose(x[0, 0, 7:25], torch.full((18, 32), inside), atol=1e-4)
    # above and below: the task's mean grey, normalised like the task's images
    assert (x[0, 0, :7] == 0).all() and (x[0, 0, 25:] == 0).all()


def test_feature_maps_cover_the_stimulus_only_and_nothing_trains():
    core = _core()
    h, w = core.output_shape(36, 64)
    grid = core.network.arch.population("VISp4").grid  # VISp's grid is the input's
    assert grid == 32 and (h, w) == (18, 32)  # rows 7-25: the stimulus, not the grey bands
    out = core(torch.randn(3, 1, 36, 64))
    assert out.shape == (3, core.out_channels, h, w)
    assert core.out_channels == sum(core.network.arch.population(p).channels
                                    for p in ("VISp4", "VISp5"))
    assert not any(p.requires_grad for p in core.parameters())
    before = {k: v.clone() for k, v in core.network.state_dict().items() if "running" in k}
    core.train()
    core(torch.randn(4, 1, 36, 64))
    after = core.network.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())  # batch norms keep the task's
    with pytest.raises(ValueError, match="built for 36 x 64 stimuli, got 36 x 48"):
        core.output_shape(36, 48)


def test_calibration_standardises_every_channel_on_the_given_stimuli():
    core = _core(network="vgg", populations=("conv1_1", "conv2_1"),
                 network_options=VGGConfig(width=0.0625, blocks=(1, 1), channels=(64, 128),
                                           hidden=8).to_dict())
    x = torch.randn(40, 1, 36, 64)
    f = core.calibrate_(x, batch=16)(x)
    live = core.features(x).std((0, 2, 3)) > 0
    assert torch.allclose(f.mean((0, 2, 3)), torch.zeros(len(live)), atol=1e-3)
    assert torch.allclose(f.std((0, 2, 3), correction=0)[live], torch.ones(int(live.sum())),
                          atol=1e-2)
    assert f.shape[-2:] == (18, 32)  # conv2_1's 9 x 16 resampled to conv1_1's cropped grid


def _task(n=48, side=32, seed=0):
    """Bright or dark squares (two classes) on noise, in the task schema."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(60, 120, (n, side, side)).astype(np.uint8)
    images[labels == 1, 8:24, 8:24] = 250
    tier = ["train"] * (n - 16) + ["validation"] * 8 + ["test"] * 8
    return xr.Dataset({"images": (("image", "y", "x"), images), "label": (("image",), labels)},
                      coords={"tier": ("image", tier), "class_name": ("class", ["dark", "bright"])},
                      attrs={"schema": "task", "scan": "objects"})


def test_a_readout_on_a_frozen_task_core_trains_on_its_weights_and_reloads(tiny_scans, tmp_path):
    net = VGGConfig(width=0.0625, blocks=(1, 1), channels=(64, 128), hidden=8)
    run = tt.train_task({"objects": _task()}, net, TrainConfig(batch_size=16, max_epochs=1), 0,
                        [1], 32, tmp_path)
    assert tc.candidates(run.model) == [("conv1_1",), ("conv2_1",)]
    animal = next(iter(tiny_scans))
    fit = tc.readout_fit(tiny_scans, "smoke", run, "vgg", ["conv2_1"], animal, 1, 1.0, tmp_path)
    core = fit.model.core
    assert isinstance(core, TaskCore) and fit.model.n_parameters("core") == 0
    for k, v in run.model.state_dict().items():
        assert torch.equal(core.network.state_dict()[k].cpu(), v.cpu()), k
    assert float(core.feature_std.min()) > 0 and not torch.equal(core.feature_std,
                                                                 torch.ones_like(core.feature_std))
    stim = tiny_scans[animal].images.values[:5]
    again = tc.readout_fit(tiny_scans, "smoke", run, "vgg", ["conv2_1"], animal, 1, 1.0, tmp_path)
    assert again.folder == fit.folder
    np.testing.assert_array_equal(again.model.predict(animal, stim), fit.model.predict(animal, stim))
    other = tc.readout_fit(tiny_scans, "smoke", run, "vgg", ["conv1_1"], animal, 1, 1.0, tmp_path)
    assert other.folder != fit.folder


def _curve(direct, transfer, mousenet, vgg, fractions=(0.1, 1.0)):
    fo = np.array([direct, transfer, mousenet, vgg], dtype=float)
    dims = ("condition", "fraction", "animal")
    n = np.broadcast_to((np.array(fractions) * 1000)[None, :, None], fo.shape)
    return xr.Dataset({"fraction_oracle": (dims, fo), "n_train_images": (dims, n)},
                      coords={"condition": ["direct", "transfer", "mousenet", "vgg"],
                              "fraction": list(fractions),
                              "animal": [f"a{k}" for k in range(fo.shape[-1])]})


def test_the_claims_are_relative_changes_per_animal_or_absolute_ones_where_they_must_be():
    low, high = [0.2, 0.21, 0.19], [0.4, 0.42, 0.38]
    curve = _curve([low, high], [high, [0.6, 0.63, 0.57]], [low, [0.3, 0.3, 0.3]],
                   [low, [0.45, 0.46, 0.44]])
    iv, relative = tc.gain(curve, "transfer", "vgg")
    assert relative and iv.n == 3
    assert iv.mean == pytest.approx(np.mean([100 * (0.6 / 0.45 - 1), 100 * (0.63 / 0.46 - 1),
                                             100 * (0.57 / 0.44 - 1)]))
    assert ("with 1000 training images: data-driven core (transferred) (0.600) > VGG-style core "
            "(task-trained) (0.450) > direct training (0.400) > MouseNet core (task-trained) "
            "(0.300)") in tc.ranking_text(curve)
    text = tc.claims_text(curve)
    assert "With all 1000 training images" in text and "Lurz et al.'s +33 % over VGG16" in text
    # a reference at or below zero for one animal: the absolute difference instead
    curve["fraction_oracle"].loc[dict(condition="vgg", fraction=1.0, animal="a1")] = -0.01
    iv, relative = tc.gain(curve, "transfer", "vgg")
    assert not relative and iv.mean == pytest.approx(np.mean([0.6 - 0.45, 0.63 + 0.01, 0.57 - 0.44]))
    assert "in absolute terms" in tc.claims_text(curve)


def test_the_chosen_populations_are_the_best_on_validation():
    sel = xr.Dataset({"validation_corr": (("network", "populations"),
                                          [[0.1, 0.3, np.nan], [np.nan, np.nan, 0.2]])},
                     coords={"network": ["mousenet", "vgg"],
                             "populations": ["VISp4", "VISp4+VISp5", "conv1_2"]})
    assert tc.chosen(sel) == {"mousenet": ["VISp4", "VISp5"], "vgg": ["conv1_2"]}


def test_the_task_cores_fractions_are_some_of_chapter_3s(monkeypatch):
    ch3 = sorted(study_settings("cpu")["fractions"])
    assert tc.curve_fractions("smoke") == sorted(study_settings("smoke")["fractions"])
    section = {**tc.profiles.settings("cpu", "task_models"), "core_fractions": [1.0, ch3[0]]}
    real = tc.profiles.settings
    monkeypatch.setattr(tc.profiles, "settings", lambda profile, name: section
                        if name == "task_models" else real(profile, name))
    assert tc.curve_fractions("cpu") == [ch3[0], 1.0]
    for bad, message in (([0.3, 1.0], r"\[0.3\] are not among"), ([ch3[0]], "must include all data"),
                         (0.25, "must be a list")):
        section["core_fractions"] = bad
        with pytest.raises(ValueError, match=f"'core_fractions'.*{message}"):
            tc.curve_fractions("cpu")
