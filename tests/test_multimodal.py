"""The multimodal model of freely moving mice (Xu et al. 2023): the history a
sample carries, the behaviour feature sets, the shifter's warp, what the model
reads, and its training and scores on a session."""

import numpy as np
import pytest
import torch
import xarray as xr

from v1lib import metrics
from v1lib.data.session import BEHAVIOR_VARS
from v1lib.evaluation import evaluate
from v1lib.model_cache import build_model
from v1lib.models.multimodal import (
    FEATURE_SETS,
    MultimodalConfig,
    Shifter,
    behavior_features,
)
from v1lib.sim.freely_moving import retinal_frames
from v1lib.sim.session_truth import tiers
from v1lib.tensors import HISTORY, history_bins, prepare
from v1lib.train import TrainConfig, fit

SMALL = {"channels": [4, 4], "kernel": 3, "hidden": 8, "shifter_hidden": 8}


def session(n_bins=600, n_neurons=5, shape=(16, 20), seed=0, lag=1) -> xr.Dataset:
    """A session in the session schema whose neurons respond, ``lag`` bins
    later, to the mean brightness of the frame's left half and to speed."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n_bins, *shape)).astype(np.uint8)
    behavior = rng.standard_normal((n_bins, 6)).astype(np.float32)
    left = frames[:, :, : shape[1] // 2].mean((1, 2)) / 255.0
    drive = np.stack([left, behavior[:, 0]], 1)
    w = rng.uniform(0.5, 1.5, (2, n_neurons))
    rate = np.exp(0.5 + (drive - drive.mean(0)) / drive.std(0) @ w * 0.5)
    rate = np.concatenate([rate[:lag], rate[:-lag]]) if lag else rate
    segment, tier = tiers(n_bins, 4, 0.3, 0.2)
    return xr.Dataset(
        {"frames": (("time", "y", "x"), frames),
         "responses": (("time", "neuron"), rng.poisson(rate).astype(np.float32)),
         "behavior": (("time", "behavior_var"), behavior),
         "gt_observable_rate": (("time", "neuron"), rate.astype(np.float32))},
        coords={"time": np.arange(n_bins) * 0.048, "segment": ("time", segment),
                "tier": ("time", tier), "behavior_var": list(BEHAVIOR_VARS),
                "animal": ("neuron", ["m1"] * n_neurons), "unit_id": ("neuron", np.arange(n_neurons))},
        attrs={"schema": "session", "bin_s": 0.048, "scan": "m1"})


@pytest.fixture(scope="module")
def tensors():
    return prepare({"m1": session()})


def test_history_bins_stay_inside_their_block():
    block = np.array([0] * 5 + [1] * 3 + [0] * 4)
    assert history_bins(block, 3).tolist() == [False, False, True, True, True, False, False, True,
                                               False, False, True, True]
    assert history_bins(block, 1).all()


def test_a_sample_carries_the_history_of_its_block(tensors):
    d, ds = tensors["m1"], session()
    blocks = [f"{s}/{t}" for s, t in zip(ds.segment.values, ds.tier.values)]
    for tier, idx in d.tiers.items():
        i = idx.numpy()
        assert (ds.tier.values[i] == tier).all()
        assert all(len({blocks[k] for k in range(j - HISTORY + 1, j + 1)}) == 1 for j in i)
    j = d.tiers["test"][:3]
    b = d.batch(j)
    assert b["stimulus"].shape == (3, HISTORY, 1, 16, 20) and b["behavior"].shape == (3, HISTORY, 6)
    frames = d.inputs["stimulus"]
    assert torch.equal(b["stimulus"][:, -1], frames[j]) and torch.equal(b["stimulus"][:, 0],
                                                                        frames[j - HISTORY + 1])
    with pytest.raises(ValueError, match="window"):
        d.windows(j, 4, torch.Generator())


def test_feature_sets_are_the_papers():
    w = torch.randn(2, 4, 6)  # 3 bins read, and the one before
    for name, size in FEATURE_SETS.items():
        assert behavior_features(w, name).shape == (2, 3, size)
    full = behavior_features(w, "all_prod")
    b, d = w[:, 1:], w[:, 1:, 1:] - w[:, :-1, 1:]
    assert torch.allclose(full[..., :6], b) and torch.allclose(full[..., 6:11], d)
    both = torch.cat([b, d], -1)
    assert torch.allclose(full[..., 11], both[..., 0] * both[..., 1])  # first product: x0 x1
    assert torch.allclose(full[..., -1], both[..., 9] * both[..., 10])  # last: x9 x10
    s = behavior_features(w, "S")
    assert torch.allclose(s, torch.stack([b[..., 0], b[..., 5], d[..., 4]], -1))
    with pytest.raises(ValueError, match="feature set 'speed'"):
        behavior_features(w, "speed")


def test_the_shifter_warp_can_be_the_eyes_own():
    """The learned warp and the simulator's retinal image share one convention,
    so the shifter can represent the true eye exactly."""
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (3, 24, 32)).astype(np.float32)
    shift = np.array([[0.0, 0.0], [3.0, -2.0], [-1.5, 2.5]], dtype=np.float32)
    rot = np.array([0.0, 0.1, -0.2], dtype=np.float32)
    truth = retinal_frames(frames, shift, rot) - 127.5
    moves = torch.as_tensor(np.c_[shift, np.rad2deg(rot)])
    warped = Shifter.warp(torch.as_tensor(frames - 127.5)[:, None], moves)[:, 0].numpy()
    np.testing.assert_allclose(warped, truth, atol=1e-3)
    np.testing.assert_allclose(warped[0], frames[0] - 127.5, atol=1e-3)


def _model(tensors, **options):
    return build_model(tensors, MultimodalConfig.from_dict({**SMALL, **options}), 0).eval()


@pytest.mark.parametrize("options", [{}, {"frames": 3}, {"offset": 0}, {"frames": 2, "recurrent": False}])
def test_the_model_reads_only_its_window(tensors, options):
    d = tensors["m1"]
    model = _model(tensors, **options)
    c = model.config
    batch = d.batch(d.tiers["train"][:4])
    base = model("m1", **batch)
    assert base.shape == (4, 5) and (base > 0).all()
    first = HISTORY - c.offset - c.frames  # the first bin the model reads
    for t in range(HISTORY):
        moved = {k: v.clone() for k, v in batch.items()}
        moved["stimulus"][:, t] += 1.0
        changed = not torch.allclose(model("m1", **moved), base)
        assert changed == (first <= t < HISTORY - c.offset), t


def test_ablations_leave_out_their_part(tensors):
    full = _model(tensors)
    assert full.shifter is not None and full.gru is not None
    assert full.n_parameters("behavior") == 66 * 2 + 67 * 5  # batch norm + linear
    vision = _model(tensors, behavior=False, shifter=False, recurrent=False)
    assert vision.behavior_encoder is None and vision.shifter is None and vision.gru is None
    assert float(vision.regularizer("m1")) == 0.0 and float(full.regularizer("m1").detach()) > 0
    blind = _model(tensors, vision=False)
    assert blind.visual is None and blind.shifter is None
    d = tensors["m1"]
    b = d.batch(d.tiers["train"][:4])
    b["stimulus"] = torch.randn_like(b["stimulus"])
    assert torch.allclose(blind("m1", **b), blind("m1", **d.batch(d.tiers["train"][:4])))
    with pytest.raises(ValueError, match="'vision' or 'behavior'"):
        MultimodalConfig.from_dict({"vision": False, "behavior": False})
    with pytest.raises(ValueError, match="unknown behaviour feature set 'x'"):
        MultimodalConfig.from_dict({"features": "x"})
    with pytest.raises(ValueError, match="one session"):
        build_model({**tensors, "m2": tensors["m1"]}, MultimodalConfig(), 0)
    with pytest.raises(ValueError, match="'m2'"):
        full("m2", **d.batch(d.tiers["train"][:2]))


def test_boxcar_smooths_within_blocks():
    x = np.arange(8.0)[:, None]
    out = metrics.boxcar(x, 3, np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    np.testing.assert_allclose(out[:, 0], [0.5, 1, 2, 2.5, 4.5, 5, 6, 6.5])
    np.testing.assert_allclose(metrics.boxcar(x, 1), x)
    with pytest.raises(ValueError, match="width"):
        metrics.boxcar(x, 0)


def test_a_fitted_model_learns_the_session_and_is_scored_smoothed(tensors):
    ds = session()
    model = _model(tensors)
    model.train()
    torch.manual_seed(0)
    history = fit(model, tensors, TrainConfig(batch_size=32, lr=0.01, max_epochs=6, patience=6),
                  0, show_progress=False)
    assert history.val_score.values.max() > 0.2
    scores, summary, preds = evaluate(model, tensors, {"m1": ds}, "test")
    assert {"smoothed_corr", "gt_observable_ceiling_smoothed_corr"} <= set(scores.data_vars)
    assert np.isnan(summary["fraction_oracle"])  # no repeats: no oracle
    assert summary["smoothed_corr"] > summary["single_trial_corr"] > 0.15
    assert 0 < summary["gt_observable_ceiling_smoothed_fraction"] < 1.2
    assert preds["m1"].sizes["time"] == len(tensors["m1"].tiers["test"])


# ---------------------------------------------------------------- the command line

def _fit_cli(data, out, *extra):
    from v1lib.cli import main

    return main(["fit", "--data", str(data), *extra, "--profile", "smoke", "--seed", "1",
                 "--out", str(out), "--quiet", "--results-dir", str(out.parent / "results")])


@pytest.mark.slow
def test_cli_fits_the_multimodal_model_on_one_session(tmp_path, capsys, tiny_scans):
    import json

    from v1lib.data import save_scans

    path = tmp_path / "fm.nc"
    save_scans({f"m{k}": session(shape=(40, 48), seed=k).assign_attrs(scan=f"m{k}")
                for k in (1, 2)}, path)
    out = tmp_path / "run"
    assert _fit_cli(path, out, "--model", "multimodal") == 1
    assert "choose it with --session from ['m1', 'm2']" in capsys.readouterr().err
    assert _fit_cli(path, out, "--model", "multimodal", "--session", "m3") == 1
    assert "--session m3: not in --data" in capsys.readouterr().err
    assert _fit_cli(path, out, "--model", "gaussian") == 1
    assert "freely moving recordings" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert _fit_cli(path, out, "--model", "multimodal", "--session", "m2", "--shifter",
                    "--features", "S", "--frames", "2") == 0
    m = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(m["smoothed_corr"]) and m["fraction_oracle"] is None
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["features"] == "S" and config["model"]["frames"] == 2
    assert config["model"]["shifter"] and config["scans"] == ["m2"]
    with xr.open_dataset(out / "predictions.nc", group="m2", engine="h5netcdf") as p:
        assert p.predictions.dims == ("time", "neuron") and "smoothed_corr" in p
    assert "smoothed_corr=" in capsys.readouterr().out
    static = tmp_path / "static.nc"
    save_scans(tiny_scans, static)
    assert _fit_cli(static, tmp_path / "b", "--model", "multimodal") == 1
    assert "still-image recordings" in capsys.readouterr().err
    assert _fit_cli(static, tmp_path / "b", "--model", "gaussian", "--frames", "2") == 1
    assert "--frames: set(s) the multimodal model" in capsys.readouterr().err
    assert _fit_cli(path, out, "--model", "multimodal", "--session", "m1", "--modulator") == 1
    assert "--modulator: not an option of the multimodal model" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_fits_a_session_of_the_authors_release(tmp_path, monkeypatch):
    import json

    from . import test_xu2023 as xu

    monkeypatch.setattr(xu, "TRAIN", 120)
    monkeypatch.setattr(xu, "TEST", 40)
    root = tmp_path / xu.RELEASE
    xu.write_session(root / xu.SESSION_NAME)
    out = tmp_path / "run"
    assert _fit_cli(root, out, "--model", "multimodal", "--shifter") == 0
    assert np.isfinite(json.loads((out / "metrics.json").read_text())["smoothed_corr"])


def test_a_training_batch_of_one_bin_runs(tensors):
    model = _model(tensors).train()
    d = tensors["m1"]
    out = model("m1", **d.batch(d.tiers["train"][:1]))
    assert out.shape == (1, 5)
    with pytest.raises(ValueError, match="frames \\+ offset <= 9"):
        MultimodalConfig.from_dict({"frames": 8, "offset": 2})


def test_the_command_line_offers_the_models_feature_sets():
    from v1lib import cli

    assert cli.FEATURE_SETS == tuple(FEATURE_SETS)


def test_shifter_agreement_reads_correlation_and_slope():
    from v1lib.studies.freely_moving import shifter_agreement

    t = np.linspace(-5, 5, 50)
    rec = xr.Dataset({f"{k}_{a}": ("time", v) for a in ("x", "y", "rotation")
                      for k, v in (("true", t), ("learned", 0.5 * t + 1))})
    out = shifter_agreement(rec)
    np.testing.assert_allclose(out.correlation, 1.0)
    np.testing.assert_allclose(out.slope, 0.5)
