"""A task's tensors, the scores of a classifier on them, and a small network
that learns the object-recognition task through ``fit``."""

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from v1lib.objectives import CrossEntropy
from v1lib.sim.objects import SHAPES, ObjectsConfig, simulate_objects
from v1lib.tasks import accuracy, confusion, predict_labels, resize_stimuli, task_tensors
from v1lib.train import TrainConfig, fit

from .conftest import SmallClassifier


def _task(n_train=8, n_val=4, n_test=4, side=6, seed=0):
    """Random images of three classes in the task schema."""
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    return xr.Dataset(
        {"images": (("image", "y", "x"), rng.integers(0, 256, (n, side, side)).astype(np.uint8)),
         "label": (("image",), np.arange(n) % 3)},
        coords={"tier": ("image", ["train"] * n_train + ["validation"] * n_val + ["test"] * n_test),
                "class_name": ("class", ["a", "b", "c"])},
        attrs={"schema": "task", "scan": "toy"})


def test_task_tensors_z_score_with_the_training_images():
    ds = _task()
    t = task_tensors(ds)
    x = t.inputs["stimulus"]
    assert x.shape == (16, 1, 6, 6) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    train = x[t.tiers["train"]].double()
    assert float(train.mean()) == pytest.approx(0, abs=1e-5)
    assert float(train.std(unbiased=False)) == pytest.approx(1, abs=1e-5)
    assert t.targets.dtype == torch.int64 and t.targets.tolist() == list(np.arange(16) % 3)
    assert {k: v.tolist() for k, v in t.tiers.items()} == {
        "train": list(range(8)), "validation": [8, 9, 10, 11], "test": [12, 13, 14, 15]}
    assert t.class_names == ("a", "b", "c") and t.scan == "toy" and t.info.n_neurons == 3
    part = t.subset(["validation", "test"])
    assert part.class_names == ("a", "b", "c") and part.scan == "toy" and part.n_samples == 8
    half = task_tensors(ds, train_fraction=0.5)
    assert len(half.tiers["train"]) == 4
    assert float(half.info.inputs["stimulus"].mean) == pytest.approx(
        ds.images.values[half.tiers["train"].numpy()].mean())


def test_task_tensors_refuse_other_schemas_and_bad_labels():
    with pytest.raises(ValueError, match="'static' schema, not the task schema"):
        task_tensors(xr.Dataset(attrs={"schema": "static"}))
    bad = _task()
    bad["label"].values[0] = 7
    with pytest.raises(ValueError, match=r"variable 'label' has value\(s\) \[7\]"):
        task_tensors(bad)


class Oracle(nn.Module):
    """Reads the class off the image's first pixel; wrong on class 2 (says 0)."""

    def forward(self, scan, stimulus):
        assert scan == "toy" and not self.training and not torch.is_grad_enabled()
        k = self.lookup[stimulus[:, 0, 0, 0]]
        k = torch.where(k == 2, torch.zeros_like(k), k)
        return nn.functional.one_hot(k, 3).float()


def test_accuracy_and_confusion_of_a_known_classifier():
    ds = _task()
    ds["images"].values[:, 0, 0] = 10 * ds.label.values
    t = task_tensors(ds)
    model = Oracle()
    model.lookup = _Lookup(sorted(set(t.inputs["stimulus"][:, 0, 0, 0].tolist())))
    model.train()
    assert predict_labels(model, t, "test", batch_size=3).tolist() == [0, 1, 0, 0]
    assert model.training  # the mode is restored
    assert accuracy(model, t, "test") == pytest.approx(0.75)  # labels 0, 1, 2, 0
    c = confusion(model, t, "validation", batch_size=2)
    assert c.dims == ("true_class", "predicted_class")
    assert list(c.true_class.values) == ["a", "b", "c"]
    np.testing.assert_array_equal(c.values, [[1, 0, 0], [0, 1, 0], [2, 0, 0]])
    with pytest.raises(KeyError, match="no tier 'final_test'"):
        accuracy(model, t, "final_test")


class _Lookup:
    def __init__(self, values):
        self.values = torch.tensor(values)

    def __getitem__(self, x):
        return torch.searchsorted(self.values, x.contiguous())


def test_resize_stimuli_numpy_and_torch():
    images = np.full((3, 36, 64), 80, dtype=np.uint8)
    out = resize_stimuli(images, 32)
    assert isinstance(out, np.ndarray) and out.shape == (3, 32, 32) and out.dtype == np.float32
    np.testing.assert_allclose(out, 80, atol=1e-4)
    x = torch.rand(2, 1, 64, 64)
    y = resize_stimuli(x, (16, 32))
    assert isinstance(y, torch.Tensor) and y.shape == (2, 1, 16, 32)
    assert float(y.mean()) == pytest.approx(float(x.mean()), abs=1e-3)
    assert resize_stimuli(x, 64) is not None and torch.equal(resize_stimuli(x, 64), x)
    with pytest.raises(ValueError, match="expected images"):
        resize_stimuli(np.zeros((4, 4)), 2)


@pytest.mark.slow
def test_a_small_network_learns_the_objects_task_through_fit():
    cfg = ObjectsConfig.from_dict({"size": 32, "n_train": 1000, "n_validation": 200, "n_test": 100,
                                   "classes": list(SHAPES)[:10], "scale": [0.5, 0.8],
                                   "contrast": [50.0, 90.0], "background_contrast": [5.0, 15.0]})
    t = task_tensors(simulate_objects(cfg, 0, show_progress=False)["objects"])
    torch.manual_seed(0)
    model = SmallClassifier(10, channels=(16, 32), pool="max")
    train = TrainConfig(batch_size=32, lr=0.005, max_epochs=6, patience=6, lr_decay_steps=1)
    h = fit(model, {"objects": t}, train, 0, show_progress=False,
            objective=CrossEntropy())
    assert h.attrs["best_val_score"] > 0.3
    assert accuracy(model, t, "validation") == pytest.approx(h.attrs["best_val_score"])
    assert accuracy(model, t, "test") > 0.3
