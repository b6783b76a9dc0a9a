"""One training loop for every kind of experiment: a recurrent model on inputs
with a time axis (Poisson loss with a burn-in period) and a classifier (cross
entropy) train through the same ``fit`` as the static-image models."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from v1lib.objectives import CrossEntropy, Poisson, batch_corr
from v1lib.tensors import ScanTensors
from v1lib.train import TrainConfig, fit, validation_score

from .conftest import SmallClassifier

TRAIN = TrainConfig(batch_size=16, lr=0.02, max_epochs=30, patience=30, lr_decay_steps=1)


def _tiers(n_train, n_val, n_test):
    idx = torch.arange(n_train + n_val + n_test)
    return {"train": idx[:n_train], "validation": idx[n_train:n_train + n_val],
            "test": idx[n_train + n_val:]}


class _Last(nn.Module):
    def __init__(self, gru):
        super().__init__()
        self.gru = gru

    def forward(self, x):
        return self.gru(x)[0]


class ToyRecurrent(nn.Module):
    """A GRU over time steps of a stimulus (B, T, k) -> rates (B, T, N)."""

    def __init__(self, n_in, n_neurons, hidden=8):
        super().__init__()
        self.core = _Last(nn.GRU(n_in, hidden, batch_first=True))
        self.readout = nn.Linear(hidden, n_neurons)

    def forward(self, scan, stimulus, features=None):
        h = self.core(stimulus) if features is None else features
        return F.softplus(self.readout(h)) + 1e-3

    def regularizer(self, scan, core=True):
        return torch.zeros(())

    def clamp_(self):
        pass


def _video(seed=0, samples=120, steps=20, n=6):
    """Responses that follow the stimulus one time step late: only a model with
    memory predicts them."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, steps, 2, generator=g)
    w = torch.randn(2, n, generator=g)
    delayed = torch.cat([torch.zeros(samples, 1, 2), x[:, :-1]], 1)
    rate = torch.exp(0.8 * delayed @ w)
    return x, torch.poisson(rate, generator=g), rate


def test_a_recurrent_model_on_time_series_trains_through_fit():
    x, y, rate = _video()
    data = {"v": ScanTensors({"stimulus": x}, y, _tiers(80, 20, 20))}
    objective = Poisson(burn_in=2)
    torch.manual_seed(0)
    model = ToyRecurrent(2, y.shape[-1])
    before = validation_score(model, data, objective)
    h = fit(model, data, TRAIN, 0, show_progress=False, objective=objective)
    after = validation_score(model, data, objective)
    assert after > 0.5 and after > before + 0.3, (before, after)
    assert h.attrs["objective"] == "poisson" and h.attrs["score"] == "correlation"
    # the score pools time bins after the burn-in: the correlation of the flattened traces
    model.eval()
    with torch.no_grad():
        val = data["v"].tiers["validation"]
        pred = model("v", x[val])[:, 2:].reshape(-1, y.shape[-1])
    expected = batch_corr(pred, y[val][:, 2:].reshape(-1, y.shape[-1])).mean()
    assert after == pytest.approx(float(expected), rel=1e-5)


def test_burn_in_steps_count_in_neither_loss_nor_score():
    x, y, _ = _video(seed=1)
    garbage = y.clone()
    garbage[:, :3] = 1000.0  # responses during the burn-in
    states = []
    for targets in (y, garbage):
        data = {"v": ScanTensors({"stimulus": x}, targets, _tiers(80, 20, 20))}
        torch.manual_seed(0)
        model = ToyRecurrent(2, y.shape[-1])
        h = fit(model, data, dataclasses.replace(TRAIN, max_epochs=3), 0, show_progress=False,
                objective=Poisson(burn_in=3))
        states.append(({k: v.clone() for k, v in model.state_dict().items()}, h.val_score.values))
    for k, v in states[0][0].items():
        assert torch.equal(v, states[1][0][k]), k
    np.testing.assert_array_equal(states[0][1], states[1][1])
    # without a burn-in the garbage counts
    pred = torch.full((2, 5, 1), 2.0)
    assert Poisson().loss(pred, garbage[:2, :5, :1], 2) != Poisson().loss(pred, y[:2, :5, :1], 2)
    assert Poisson(burn_in=3).loss(pred, garbage[:2, :5, :1], 2) == \
        Poisson(burn_in=3).loss(pred, y[:2, :5, :1], 2)


def _bars(samples=200, seed=0):
    """Images with a horizontal (class 0) or a vertical (class 1) bar in noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (samples,), generator=g)
    x = 0.3 * torch.randn(samples, 1, 12, 12, generator=g)
    pos = torch.randint(2, 10, (samples,), generator=g)
    for i in range(samples):
        if labels[i] == 0:
            x[i, 0, pos[i], :] += 1.0
        else:
            x[i, 0, :, pos[i]] += 1.0
    return x, labels


def test_a_classifier_trains_through_fit_with_cross_entropy():
    x, labels = _bars()
    data = {"task": ScanTensors({"stimulus": x}, labels, _tiers(140, 30, 30))}
    torch.manual_seed(0)
    model = SmallClassifier(2)
    h = fit(model, data, dataclasses.replace(TRAIN, lr=0.05, max_epochs=25), 0,
            show_progress=False, objective=CrossEntropy())
    assert h.attrs["objective"] == "cross_entropy" and h.attrs["score"] == "accuracy"
    assert h.attrs["best_val_score"] >= 0.9
    model.eval()
    with torch.no_grad():
        test = data["task"].tiers["test"]
        acc = (model("task", x[test]).argmax(-1) == labels[test]).float().mean()
    assert acc >= 0.9
    assert h.train_loss.values[-1] < h.train_loss.values[0]


def test_cross_entropy_score_is_the_accuracy_over_all_scans():
    preds = {"a": torch.tensor([[2.0, 1.0], [0.0, 1.0]]), "b": torch.tensor([[0.0, 3.0]])}
    targets = {"a": torch.tensor([0, 0]), "b": torch.tensor([1])}
    assert CrossEntropy().score(preds, targets) == pytest.approx(2 / 3)


def test_a_burn_in_on_data_without_a_time_axis_is_refused():
    with pytest.raises(ValueError, match=r"burn-in of 3 steps needs a time axis .* shape \(4, 5\)"):
        Poisson(burn_in=3).loss(torch.ones(4, 5), torch.ones(4, 5), 4)
