"""Task-driven networks: the VGG-style baseline, task training with snapshots
(cached, resumable), the in-silico V1's responses to natural scenes, and the
similarity study of chapter 9."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import xarray as xr

from v1lib.models.mousenet import MouseNetConfig
from v1lib.models.vgg import VGGConfig
from v1lib.sim.scene_responses import scene_responses
from v1lib.studies import task_similarity as ts
from v1lib.studies import task_training as tt
from v1lib.tasks import accuracy, at_size
from v1lib.train import TrainConfig


def _info(n):
    return SimpleNamespace(n_neurons=n)


def _task(n_train=48, n_val=12, n_test=12, side=32, seed=0):
    """Bright or dark squares (two classes) on noise, in the task schema."""
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    labels = np.arange(n) % 2
    images = rng.integers(60, 120, (n, side, side)).astype(np.uint8)
    images[labels == 1, 8:24, 8:24] = 250
    return xr.Dataset(
        {"images": (("image", "y", "x"), images), "label": (("image",), labels)},
        coords={"tier": ("image", ["train"] * n_train + ["validation"] * n_val + ["test"] * n_test),
                "class_name": ("class", ["dark", "bright"])},
        attrs={"schema": "task", "scan": "objects"})


def test_vgg16_has_the_papers_convolutions():
    net = VGGConfig(width=1.0, in_channels=3).build({"objects": _info(1000)}, (64, 64))
    assert net.names == [f"conv{b}_{k}" for b, n in enumerate((2, 2, 3, 3, 3), 1)
                         for k in range(1, n + 1)]
    # VGG16's 14,714,688 convolution parameters, each bias replaced by a batch norm's
    # scale and shift (4,224 channels in all)
    assert sum(p.numel() for p in net.convs.parameters()) == 14_714_688 + 4_224
    x = torch.randn(2, 3, 64, 64)
    assert net("objects", stimulus=x).shape == (2, 1000)
    acts = net.populations(x, ["conv1_1", "conv3_3"])
    assert acts["conv1_1"].shape == (2, 64, 64, 64) and acts["conv3_3"].shape == (2, 256, 16, 16)


def test_vgg_and_mousenet_take_their_classes_from_the_data_and_refuse_mismatches():
    small = VGGConfig(width=0.125, blocks=(1, 1), channels=(64, 128), hidden=16)
    assert small.build({"a": _info(7)}, (32, 32))("a", torch.zeros(1, 1, 32, 32)).shape == (1, 7)
    with pytest.raises(ValueError, match="one classifier"):
        small.build({"a": _info(7), "b": _info(3)}, (32, 32))
    with pytest.raises(ValueError, match="unknown VGG population"):
        small.build({"a": _info(2)}, (32, 32)).populations(torch.zeros(1, 1, 32, 32), ["conv9_1"])
    mouse = MouseNetConfig(width=0.125, input_size=32)
    assert mouse.build({"a": _info(5)}, (32, 32)).classifier.out_features == 5
    with pytest.raises(ValueError, match="takes 32 x 32 px stimuli; these are 64 x 64"):
        mouse.build({"a": _info(5)}, (64, 64))


def test_at_size_resizes_the_images_only():
    ds = _task(side=32)
    half = at_size(ds, 16)
    assert half.images.shape == (72, 16, 16) and half.images.dtype == np.float32
    assert (half.label == ds.label).all() and (half.tier == ds.tier).all()
    assert half.attrs["resized_from"] == "32 x 32 px"
    assert at_size(ds, 32) is ds


def test_train_task_learns_keeps_snapshots_and_reloads(tmp_path):
    cfg = VGGConfig(width=0.0625, blocks=(1, 1), channels=(64, 128), hidden=8)
    train = TrainConfig(batch_size=16, lr=0.01, max_epochs=3, patience=100)
    scans = {"objects": _task()}
    run = tt.train_task(scans, cfg, train, 0, [2, 3], 32, tmp_path)
    assert run.snapshots == (0, 2, 3)
    for e in run.snapshots:
        assert (run.folder / f"epoch_{e:03d}.pt").is_file()
    assert not (run.folder / "checkpoint.pt").exists()
    tensors = run.tensors["objects"]
    acc = [accuracy(run.at_epoch(e), tensors, "test", scan="objects") for e in run.snapshots]
    assert acc[-1] == 1.0 and acc[0] < 1.0  # the bright square is learnt from random weights
    assert run.history.sizes["epoch"] == 3
    with pytest.raises(ValueError, match="no snapshot at epoch 1"):
        run.at_epoch(1)
    # the same call reloads the folder's weights instead of training again
    stamp = (run.folder / "model.pt").stat().st_mtime_ns
    again = tt.train_task(scans, cfg, train, 0, [2, 3], 32, tmp_path)
    assert again.folder == run.folder and (run.folder / "model.pt").stat().st_mtime_ns == stamp
    for a, b in zip(again.at_epoch(2).parameters(), run.at_epoch(2).parameters()):
        assert torch.equal(a, b)
    # a network shown the task at another size is another run
    assert tt.train_task(scans, cfg, train, 0, [1], 16, tmp_path).folder != run.folder


def test_task_settings_are_checked(monkeypatch):
    assert tt.task_data("smoke") == "insilico-objects-smoke"
    model, train = tt.configs("smoke", "mousenet")
    s = tt.settings("smoke")
    assert model.input_size == s["input_size"] and train.max_epochs == s["snapshots"][-1]
    with pytest.raises(ValueError, match="unknown task network 'alexnet'"):
        tt.configs("smoke", "alexnet")
    bad = {**s, "instances": 0}
    monkeypatch.setattr(tt.profiles, "settings", lambda profile, section: bad)
    with pytest.raises(ValueError, match="'instances' must be a positive integer"):
        tt.settings("smoke")


def test_a_network_may_train_with_its_own_options(monkeypatch):
    s = tt.profiles.settings("smoke", tt.SECTION)
    own = {**s, "networks": {"mousenet": {**s["networks"]["mousenet"], "train": {"lr": 0.01}},
                             "vgg": s["networks"]["vgg"]}}
    monkeypatch.setattr(tt.profiles, "settings", lambda profile, section: own)
    assert tt.configs("smoke", "mousenet")[1].lr == 0.01
    assert tt.configs("smoke", "vgg")[1].lr == s["train"]["lr"]
    own["networks"]["mousenet"]["train"] = {"learning_rate": 0.01}
    with pytest.raises(ValueError, match="mousenet.*learning_rate"):
        tt.configs("smoke", "mousenet")
    own["networks"]["mousenet"]["train"] = 0.01
    with pytest.raises(ValueError, match="mousenet: 'train' must be a mapping"):
        tt.configs("smoke", "mousenet")


def test_instances_trained_side_by_side_equal_those_trained_in_turn(monkeypatch, tmp_path):
    s = {"networks": {"vgg": {"width": 0.0625, "blocks": [1, 1], "channels": [64, 128],
                              "hidden": 8}},
         "input_size": 32, "train": {"batch_size": 16, "lr": 0.01, "patience": 100},
         "snapshots": [0, 2], "instances": 2}
    monkeypatch.setattr(tt.profiles, "settings", lambda profile, section: s)
    scans = {"objects": _task()}
    calls, run_jobs = [], tt.parallel.run_jobs

    def spy(fn, jobs, device, **kw):
        calls.append((list(jobs), tt.parallel.workers(device, len(jobs))))
        return run_jobs(fn, jobs, device, **kw)

    monkeypatch.setattr(tt.parallel, "run_jobs", spy)
    monkeypatch.setenv("V1LIB_WORKERS", "2")
    side = tt.runs(scans, "smoke", 0, tmp_path / "side")["vgg"]
    assert calls == [([("vgg", 0), ("vgg", 1)], 2)]  # both instances at once
    monkeypatch.setenv("V1LIB_WORKERS", "1")
    turn = tt.runs(scans, "smoke", 0, tmp_path / "turn")["vgg"]
    assert len(side) == len(turn) == 2 and side[0].folder.name != side[1].folder.name
    for a, b in zip(side, turn):
        assert a.folder.name == b.folder.name
        for p, q in zip(a.at_epoch(2).state_dict().values(), b.at_epoch(2).state_dict().values()):
            assert torch.equal(p, q)
    stamp = (side[1].folder / "model.pt").stat().st_mtime_ns
    assert tt.runs(scans, "smoke", 0, tmp_path / "side")["vgg"][1].folder == side[1].folder
    assert (side[1].folder / "model.pt").stat().st_mtime_ns == stamp  # reloaded, not retrained
    assert len(calls) == 2  # the side-by-side and the in-turn runs; nothing left to train after


@pytest.fixture(scope="module")
def scenes(tiny_config):
    return scene_responses(tiny_config, seed=3, images=12, repeats=4)


def test_scene_responses_repeat_noisy_trials_around_the_true_rates(scenes, tiny_config):
    assert scenes.responses.dims == ("repeat", "image", "neuron")
    assert scenes.sizes["repeat"] == 4 and scenes.sizes["image"] == 12
    assert scenes.gt_rate.dims == ("image", "neuron") and np.isfinite(scenes.gt_rate).all()
    # trials differ, yet the noise-free rates explain their mean
    r = scenes.responses.values
    assert not np.allclose(r[0], r[1])
    corr = np.corrcoef(r.mean(0).ravel(), scenes.gt_rate.values.ravel())[0, 1]
    assert corr > 0.5
    again = scene_responses(tiny_config, seed=3, images=12, repeats=4)
    assert np.array_equal(again.responses.values, r)


def test_v1_reference_sets_truth_above_pixels(scenes):
    ref = ts.v1_reference(scenes, draws=4, seed=0)
    assert -1 <= float(ref.pixels) <= 1 and float(ref.truth) > float(ref.pixels)
    assert ref.ceiling_ssm_draws.sizes["draw"] == 4
    assert ref.target.dims == ("image", "image_b") and ref.target.shape == (12, 12)


def test_similarity_of_populations_and_undefined_ones(scenes):
    ref = ts.v1_reference(scenes, draws=2)
    net = MouseNetConfig(width=0.125, input_size=32).build().eval()
    x = torch.as_tensor(np.asarray(scenes.images.values, np.float32))[:, None]
    x = torch.nn.functional.interpolate((x - 128) / 64, size=(32, 32))
    rdms = ts.population_rdms(net, x)
    assert set(rdms) == {p.name for p in net.arch.populations}
    sims = {n: ts._similarity(r, ref.target) for n, r in rdms.items()}
    assert all(np.isnan(s) or -1 <= s <= 1 for s in sims.values())
    assert all(np.isnan(sims[n]) for n, r in rdms.items() if r is None)
    assert np.isfinite(sims["LGNd"]) and rdms["LGNd"].dims == ("image", "image_b")
    # a population silent for a scene has no Pearson distance: None, not an error
    flat = xr.DataArray(np.zeros((12, 3)), dims=("image", "unit"))
    assert not ts._defined(flat)


def test_plateau_test_and_accuracy_ratio_read_instances():
    epochs, pops = [0, 2, 4], ["a", "b"]
    sim = np.array([[[0.1, 0.2], [0.3, 0.4], [0.3, 0.5]],
                    [[0.1, 0.2], [0.35, 0.4], [0.31, 0.52]],
                    [[0.1, 0.2], [0.32, 0.4], [0.29, 0.55]]])
    acc = np.array([[0.1, 0.5, 0.7], [0.1, 0.6, 0.8], [0.1, 0.55, 0.75]])
    ds = xr.Dataset({"similarity": (("instance", "epoch", "population"), sim),
                     "accuracy": (("instance", "epoch"), acc)},
                    coords={"epoch": epochs, "population": pops, "instance": [0, 1, 2]})
    assert ts.best_population(ds) == "b"
    t = ts.plateau_test(ds, "a")
    assert (t["from_epoch"], t["last_epoch"]) == (2, 4)
    assert t["accuracy_change"].mean == pytest.approx(0.2)
    assert t["similarity_change"].mean == pytest.approx((0.0 - 0.04 - 0.03) / 3)
    with pytest.raises(ValueError, match="no snapshot at epoch 3"):
        ts.plateau_test(ds, "a", from_epoch=3)
    other = ds.assign(accuracy=ds.accuracy * 2)
    ratio = ts.accuracy_ratio({"mousenet": ds, "vgg": other})
    assert ratio.mean == pytest.approx(0.5) and ratio.n == 3


def test_learned_text_flags_a_network_not_resolved_above_chance():
    def result(name, final):
        acc = np.array([[0.1, f] for f in final])  # (instance, epoch)
        return xr.Dataset({"accuracy": (("instance", "epoch"), acc)},
                          coords={"epoch": [0, 8]}, attrs={"network": name})

    good = {"mousenet": result("MouseNet", [0.5, 0.55, 0.6])}
    assert "not resolved" not in ts.learned_text(good, 0.1)
    mixed = {**good, "vgg": result("VGG-style", [0.05, 0.2, 0.1])}
    text = ts.learned_text(mixed, 0.1)
    assert "**VGG-style is not resolved above chance**" in text and "MouseNet +0.450" in text
