"""Training loop: learning, determinism, resuming, caching, evaluation."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from v1lib import metrics
from v1lib.evaluation import summarize
from v1lib.model_cache import build_model, fit_cached, train_model
from v1lib.models import CoreConfig, ModelConfig
from v1lib.predict import core_features
from v1lib.tensors import prepare, train_subset
from v1lib.train import TrainConfig, fit

CORE = CoreConfig(layers=2, channels=6, input_kernel=7, hidden_kernel=3)
TRAIN = TrainConfig(batch_size=32, lr=0.01, max_epochs=4, patience=2, lr_decay_steps=1)


def _fit(scans, seed=0, epochs=4, checkpoint=None, patience=2, **model):
    tensors = prepare(scans)
    m = build_model(tensors, ModelConfig(core=CORE, **model), seed)
    h = fit(m, tensors, dataclasses.replace(TRAIN, max_epochs=epochs, patience=patience), seed,
            checkpoint, show_progress=False)
    return m, tensors, h


def _state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def _teacher_scans(n_trials=600, n_neurons=12, seed=0):
    """Responses of a random model (the teacher) to noise images, with Poisson
    noise: the student's model class contains the truth."""
    import xarray as xr
    from scipy.ndimage import gaussian_filter

    from v1lib.models.encoder import Encoder

    from .test_models import info

    r = np.random.default_rng(seed)
    torch.manual_seed(seed)
    # smooth noise: spatially correlated like natural images, so that a readout
    # starting at the wrong position still gets a gradient towards the right one
    noise = gaussian_filter(r.normal(0, 1, (n_trials, 20, 30)), (0, 1.0, 1.0))
    images = (128 + 40 * noise / noise.std()).clip(0, 255).astype(np.float32)
    teacher = Encoder(ModelConfig(core=CORE, grid_predictor=False), {"t": info(n_neurons)},
                      (20, 30)).eval()
    with torch.no_grad():  # each neuron pools its own random mix of features
        teacher.readouts["t"].features.normal_(0, 1.0)
    rate = teacher.predict("t", images)
    tier = np.array(["train"] * (n_trials - 200) + ["validation"] * 100 + ["test"] * 100)
    image_id = np.arange(n_trials)
    image_id[-100:] = n_trials - 100 + np.arange(100) // 5  # 20 test images x 5 repeats
    images[-100:] = images[image_id[-100:]]
    with torch.no_grad():
        rate[-100:] = teacher.predict("t", images[-100:])
    ds = xr.Dataset(
        {"images": (("trial", "y", "x"), images),
         "responses": (("trial", "neuron"), r.poisson(rate).astype(np.float32)),
         "behavior": (("trial", "behavior_var"), r.normal(1, 0.1, (n_trials, 3))),
         "pupil_center": (("trial", "eye_axis"), r.normal(0, 1, (n_trials, 2)))},
        coords={"tier": ("trial", tier), "image_id": ("trial", image_id),
                "behavior_var": ["pupil", "dpupil", "running"], "eye_axis": ["x", "y"],
                "cortical_x": ("neuron", r.normal(0, 100, n_neurons)),
                "cortical_y": ("neuron", r.normal(0, 100, n_neurons)),
                "cortical_z": ("neuron", np.zeros(n_neurons)),
                "animal": ("neuron", ["t"] * n_neurons), "unit_id": ("neuron", np.arange(n_neurons))},
        attrs={"scan": "t"})
    return {"t": ds}, rate


@pytest.mark.slow
def test_training_recovers_a_teacher_model():
    scans, rate = _teacher_scans()
    tensors = prepare(scans)
    test = tensors["t"].tiers["test"].numpy()
    untrained = build_model(tensors, ModelConfig(core=CORE, grid_predictor=False), 0)
    before = metrics.corr(untrained.predict("t", scans["t"].images.values[test]), rate[test]).mean()
    m, tensors, h = _fit(scans, epochs=15, patience=20, grid_predictor=False)
    after = metrics.corr(m.predict("t", scans["t"].images.values[test]), rate[test]).mean()
    assert after > 0.4 and after > before + 0.3, (before, after)
    assert h.val_score.max() == pytest.approx(h.attrs["best_val_score"])


def test_same_seed_same_model_on_cpu(tiny_scans):
    a, _, ha = _fit(tiny_scans, seed=5, epochs=2, shifter="mlp", modulator="mlp")
    b, _, hb = _fit(tiny_scans, seed=5, epochs=2, shifter="mlp", modulator="mlp")
    for k, v in _state(a).items():
        assert torch.equal(v, b.state_dict()[k]), k
    np.testing.assert_array_equal(ha.val_score, hb.val_score)
    c, _, _ = _fit(tiny_scans, seed=6, epochs=2, shifter="mlp", modulator="mlp")
    assert not torch.equal(_state(a)["core.layers.0.0.weight"], c.state_dict()["core.layers.0.0.weight"])


def test_test_tier_never_reaches_training(tiny_scans):
    """Garbage in place of the test tier's responses and images changes
    neither the weights nor the history, to the bit."""
    r = np.random.default_rng(0)
    garbage = {}
    for name, ds in tiny_scans.items():
        test = ds.tier.values == "test"
        resp, img = ds.responses.values.copy(), ds.images.values.copy()
        resp[test] = r.exponential(1e3, resp[test].shape)
        img[test] = r.uniform(0, 255, img[test].shape)
        garbage[name] = ds.assign(responses=(ds.responses.dims, resp.astype(resp.dtype)),
                                  images=(ds.images.dims, img.astype(img.dtype)))
    a, _, ha = _fit(tiny_scans, seed=2, epochs=2)
    b, _, hb = _fit(garbage, seed=2, epochs=2)
    for k, v in _state(a).items():
        assert torch.equal(v, b.state_dict()[k]), k
    for k in ("train_loss", "val_score", "lr"):
        np.testing.assert_array_equal(ha[k], hb[k])


def test_interrupted_run_resumes_to_the_same_result(tiny_scans, tmp_path):
    full, _, hf = _fit(tiny_scans, seed=1, epochs=4)
    ck = tmp_path / "checkpoint.pt"
    _fit(tiny_scans, seed=1, epochs=2, checkpoint=ck)  # "interrupted" after two epochs
    assert ck.is_file()
    resumed, _, hr = _fit(tiny_scans, seed=1, epochs=4, checkpoint=ck)
    np.testing.assert_allclose(hr.val_score, hf.val_score, rtol=1e-6)
    for k, v in _state(full).items():
        torch.testing.assert_close(resumed.state_dict()[k], v)


def test_early_stopping_restores_the_best_weights_and_decays_the_lr(tiny_scans, monkeypatch):
    import v1lib.train as train

    # patience 2, two cycles: epochs 3-4 exhaust the first (restore, decay),
    # epochs 5-6 the second (restore, stop)
    scores = iter([0.1, 0.5, 0.2, 0.1, 0.3, 0.4, 0.1, 0.1])
    seen = {}

    def fake_score(model, tensors, objective, features=None):
        s = next(scores)
        seen[s] = {k: v.clone() for k, v in model.state_dict().items()}
        return s

    monkeypatch.setattr(train, "validation_score", fake_score)
    tensors = prepare(tiny_scans)
    m = build_model(tensors, ModelConfig(core=CORE), 0)
    cfg = dataclasses.replace(TRAIN, max_epochs=8, patience=2, lr_decay_steps=2, lr_decay_factor=0.5)
    h = fit(m, tensors, cfg, 0, show_progress=False)
    assert h.attrs["best_val_score"] == 0.5 and h.attrs["best_epoch"] == 1
    assert h.attrs["stopped"] == "early stopping" and h.sizes["epoch"] == 6
    np.testing.assert_allclose(h.lr, [0.01] * 4 + [0.005] * 2)
    for k, v in seen[0.5].items():
        assert torch.equal(m.state_dict()[k], v), k


def test_min_lr_floor(tiny_scans, monkeypatch):
    import v1lib.train as train

    monkeypatch.setattr(train, "validation_score", lambda model, tensors, objective, features=None: 0.1)
    tensors = prepare(tiny_scans)
    m = build_model(tensors, ModelConfig(core=CORE), 0)
    cfg = dataclasses.replace(TRAIN, max_epochs=20, patience=1, lr_decay_steps=4,
                              lr_decay_factor=0.1, min_lr=2e-4)
    h = fit(m, tensors, cfg, 0, show_progress=False)
    np.testing.assert_allclose(h.lr, [0.01, 0.01, 0.001, 2e-4, 2e-4])  # per epoch, at its start


def test_fit_cached_reloads_without_training(tiny_scans, tmp_path, monkeypatch):
    cfg = ModelConfig(core=CORE)
    tc = dataclasses.replace(TRAIN, max_epochs=1)
    a = fit_cached(tiny_scans, cfg, tc, 0, tmp_path, show_progress=False)
    assert (a.folder / "model.pt").is_file() and not (a.folder / "checkpoint.pt").exists()
    prov = json.loads((a.folder / "provenance.json").read_text())
    assert {"git_commit", "versions", "seed", "config_hash"} <= set(prov)
    import v1lib.model_cache as model_cache

    monkeypatch.setattr(model_cache, "fit", lambda *a, **k: pytest.fail("retrained a cached model"))
    b = fit_cached(tiny_scans, cfg, tc, 0, tmp_path, show_progress=False)
    assert b.folder == a.folder
    for k, v in a.model.state_dict().items():
        assert torch.equal(b.model.state_dict()[k], v)


def test_output_folder_of_another_config_is_refused(tiny_scans, tmp_path):
    tc = dataclasses.replace(TRAIN, max_epochs=1)
    train_model(tiny_scans, ModelConfig(core=CORE), tc, 0, tmp_path, show_progress=False)
    with pytest.raises(ValueError, match="holds a run of another configuration"):
        train_model(tiny_scans, ModelConfig(core=CORE, readout="point"), tc, 0, tmp_path,
                    show_progress=False)


def test_frozen_core_is_not_trained(tiny_scans):
    source, _, _ = _fit(tiny_scans, epochs=1)
    tensors = prepare(tiny_scans)
    m = build_model(tensors, ModelConfig(core=CORE), 3)
    m.core.load_state_dict(source.core.state_dict())
    before = {k: v.clone() for k, v in m.core.state_dict().items()}
    fit(m, tensors, dataclasses.replace(TRAIN, max_epochs=2, freeze_core=True), 0, show_progress=False)
    for k, v in before.items():
        assert torch.equal(m.core.state_dict()[k], v), k


def test_frozen_core_features_are_those_of_the_core_in_eval_mode(tiny_scans):
    source, tensors, _ = _fit(tiny_scans, epochs=1)
    source.train()  # as fit leaves it before the first epoch
    stats = {k: v.clone() for k, v in source.core.state_dict().items() if "running" in k}
    feats = core_features(source, tensors)
    for k, v in stats.items():  # batch-norm statistics untouched
        assert torch.equal(source.core.state_dict()[k], v), k
    source.eval()
    for s, d in tensors.items():
        i = d.tiers["train"][:7]
        assert feats[s].shape[0] == d.n_samples
        torch.testing.assert_close(feats[s][i], source.core(d.inputs["stimulus"][i]))


def test_frozen_core_fit_reads_the_same_features_as_a_core_run_every_step(tiny_scans, monkeypatch):
    import v1lib.train as train

    source, _, _ = _fit(tiny_scans, epochs=1)
    cfg = dataclasses.replace(TRAIN, max_epochs=2, freeze_core=True)
    states = []
    for cached in (True, False):
        if not cached:  # features recomputed by the (eval-mode, frozen) core at every step
            monkeypatch.setattr(train, "core_features", lambda model, tensors: None)
        tensors = prepare(tiny_scans)
        m = build_model(tensors, ModelConfig(core=CORE), 3)
        m.core.load_state_dict(source.core.state_dict())
        fit(m, tensors, cfg, 0, show_progress=False)
        states.append(_state(m))
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k], msg=k)


def test_a_frozen_core_runs_once_not_every_epoch(tiny_scans):
    """Training steps and validation checks read the features computed before
    the first epoch: the frozen core is called only by core_features."""
    source, _, _ = _fit(tiny_scans, epochs=1)
    tensors = prepare(tiny_scans)
    m = build_model(tensors, ModelConfig(core=CORE), 3)
    m.core.load_state_dict(source.core.state_dict())
    calls = []
    m.core.register_forward_hook(lambda mod, inp, out: calls.append(len(inp[0])))
    fit(m, tensors, dataclasses.replace(TRAIN, max_epochs=3, patience=5, freeze_core=True), 0,
        show_progress=False)
    assert sum(calls) == sum(d.n_samples for d in tensors.values())


def test_readouts_start_at_each_neurons_mean_response(tiny_scans):
    """Before training, ELU + 1 of each readout's bias is the neuron's mean
    normalised training response (its rate with the features' term left out)."""
    tensors = prepare(tiny_scans)
    m = build_model(tensors, ModelConfig(core=CORE), 0)
    for s, d in tensors.items():
        mean = d.targets[d.tiers["train"]].double().mean(0).clamp_min(1e-3)
        rate = torch.nn.functional.elu(m.readouts[s].bias.double()) + 1
        torch.testing.assert_close(rate, mean, rtol=1e-4, atol=1e-5)
        assert mean.std() > 0.05 * mean.mean()  # the neurons do differ


def test_train_fraction_subsets_are_nested(tiny_scans):
    ds = next(iter(tiny_scans.values()))
    small, half, full = (set(train_subset(ds, f)) for f in (0.25, 0.5, 1.0))
    assert small < half < full and len(full) == int((ds.tier == "train").sum())
    with pytest.raises(ValueError, match="train_fraction"):
        TrainConfig.from_dict({"train_fraction": 0})


def _corrcoef(x, y):
    """Per-column Pearson correlation, 0 where either column is constant."""
    return np.array([np.corrcoef(x[:, n], y[:, n])[0, 1] if x[:, n].std() and y[:, n].std()
                     else 0.0 for n in range(x.shape[1])])


def test_ground_truth_ceilings_match_a_hand_calculation(tiny_scans):
    """The ceilings are the responses' correlations with the true rates, and a
    model's fraction of them is the ratio of population means."""
    scan, ds = next(iter(tiny_scans.items()))
    test = ds.isel(trial=np.flatnonzero(ds.tier.values == "test"))
    from v1lib.evaluation import neuron_scores

    # a model that knows the stimulus only, not behaviour or the brain state
    pred = test.gt_stimulus_rate.astype(np.float32).rename("p")
    s = neuron_scores(test.responses, pred, test)
    r = test.responses.values.astype(np.float64)
    model = _corrcoef(r, pred.values.astype(np.float64))
    ceiling = _corrcoef(r, test.gt_rate.values.astype(np.float64))
    observable = _corrcoef(r, test.gt_observable_rate.values.astype(np.float64))
    np.testing.assert_allclose(s.single_trial_corr, model, atol=1e-5)
    np.testing.assert_allclose(s.gt_ceiling_corr, ceiling, atol=1e-5)
    np.testing.assert_allclose(s.gt_observable_ceiling_corr, observable, atol=1e-5)
    summary = summarize(s)
    assert summary["gt_ceiling_fraction"] == pytest.approx(model.mean() / ceiling.mean(), rel=1e-4)
    assert summary["gt_observable_ceiling_fraction"] == pytest.approx(
        model.mean() / observable.mean(), rel=1e-4)
    assert 0 < summary["gt_ceiling_fraction"] < 1  # the stimulus alone falls short of the truth
    # the observable rate lacks only the latent state: it correlates more with
    # gt_rate than the stimulus rate alone does
    obs = ds.gt_observable_rate.values
    assert metrics.corr(ds.gt_rate.values, obs).mean() > metrics.corr(
        ds.gt_rate.values, ds.gt_stimulus_rate.values).mean()
    # it is the full rate without the latent state's gain
    state = np.exp(np.clip(ds.gt_state.values[:, None] * ds.gt_state_loading.values[None], -2.5, 2.5))
    np.testing.assert_allclose(obs * state, ds.gt_rate.values, rtol=1e-5)


def test_missing_tiers_are_named_before_any_work(tiny_scans):
    from v1lib.evaluation import evaluate

    scan, ds = next(iter(tiny_scans.items()))
    no_train = ds.assign_coords(tier=("trial", np.where(ds.tier == "train", "final_test",
                                                        ds.tier.values)))
    with pytest.raises(ValueError, match=f"scan '{scan}' has no 'train' samples"):
        prepare({scan: no_train})
    tensors = prepare({scan: ds})
    m = build_model(tensors, ModelConfig(core=CORE), 0)
    with pytest.raises(ValueError, match=f"scan '{scan}' has no 'final_test' samples to score"):
        evaluate(m, tensors, {scan: ds}, "final_test")
    assert set(tensors[scan].tiers) == {"train", "validation", "test"}


def test_batches_cover_each_pass_once_and_never_span_two_passes():
    import torch

    from v1lib.train import _batch, _sample_order

    train = torch.arange(100, 110)  # 10 samples, batch 4: 3 batches per pass (4, 4, 2)
    gen = torch.Generator().manual_seed(0)
    order = _sample_order(train, steps=7, batch_size=4, gen=gen)  # 7 steps: 3 passes
    assert len(order) == 30
    batches = [_batch(order, s, 4, 10) for s in range(7)]
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2, 4]
    for p in range(2):  # every full pass sees every sample once
        seen = torch.cat(batches[3 * p:3 * p + 3])
        assert sorted(seen.tolist()) == list(range(100, 110))
    assert torch.equal(batches[6], order[20:24])
    # one pass is one random order: the default epoch draws no more than it needs
    assert len(_sample_order(train, steps=3, batch_size=4, gen=gen)) == 10


def test_bfloat16_on_cuda_only_and_float32_only_switches_it_off():
    """Training on CUDA runs under bfloat16 autocast; the CPU never does;
    ``float32_only`` (the benchmarks' float32 reference) turns it off inside its
    block only, an exception included."""
    import warnings

    from v1lib.predict import autocast, float32_only

    with warnings.catch_warnings():  # torch warns that CUDA is absent, where it is
        warnings.simplefilter("ignore")
        assert autocast("cuda").fast_dtype == torch.bfloat16
        assert not autocast("cpu")._enabled
        with pytest.raises(RuntimeError), float32_only():
            inside = autocast("cuda")
            raise RuntimeError
        assert not inside._enabled and inside.fast_dtype != torch.bfloat16
        assert autocast("cuda").fast_dtype == torch.bfloat16
        assert autocast("cuda")._enabled == torch.cuda.is_available()
