"""A task's data as the tensors a classifier trains on, and how a trained
classifier scores: accuracy and confusion per tier.

:func:`task_tensors` turns a dataset of the task schema (:mod:`v1lib.data.task`)
into :class:`~v1lib.tensors.ScanTensors` for :func:`v1lib.train.fit` with
:class:`~v1lib.objectives.CrossEntropy`: the images z-scored with the training
images' statistics, (S, 1, H, W), and the labels as targets. A model is called
as ``model(scan, stimulus=x)`` and returns class scores (B, n classes).
:func:`resize_stimuli` presents other stimuli at a network's input size.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr

from .data import schemas
from .models.normalizer import Normalizer, ScanInfo, input_stats
from .tensors import ScanTensors, train_subset


@dataclass
class TaskTensors(ScanTensors):
    """:class:`ScanTensors` of a task: targets are class indices; the names of
    the classes and the scan name a model is called with come along."""

    class_names: tuple[str, ...] = ()
    scan: str = "objects"

    def subset(self, tiers) -> TaskTensors:
        part = super().subset(tiers)
        return TaskTensors(**{f.name: getattr(part, f.name) for f in fields(ScanTensors)},
                           class_names=self.class_names, scan=self.scan)


def task_tensors(ds: xr.Dataset, device="cpu", train_fraction: float = 1.0,
                 subset_seed: int = 0) -> TaskTensors:
    """The task ``ds`` on ``device``: its images z-scored with the mean and SD
    of the training images (those kept at ``train_fraction``, chosen as
    :func:`v1lib.tensors.train_subset` does), (S, 1, H, W) float32
    channels-last; int64 labels as targets; the sample indices of each tier.
    ``info`` holds the image statistics and one output unit per class."""
    schema = schemas.of(ds, "task_tensors")
    if schema.name != "task":
        raise ValueError(f"task_tensors: these data follow the '{schema.name}' schema, not the "
                         "task schema (labelled images)")
    schema.validate(ds, "task_tensors")
    train_idx = train_subset(ds, train_fraction, subset_seed)
    stim = schema.input("stimulus")
    n_classes = ds.sizes["class"]
    info = ScanInfo(n_neurons=n_classes, cortical_xy=None,
                    inputs={"stimulus": input_stats(ds[stim.variable].values[train_idx],
                                                    stim.per_column, stim.center)},
                    response_std=np.ones(n_classes, dtype=np.float32))
    norm = Normalizer(info).to(device)
    x = torch.as_tensor(np.asarray(ds[stim.variable].values, dtype=np.float32), device=device)
    x = norm.normalize("stimulus", x).unsqueeze(1).contiguous(memory_format=torch.channels_last)
    tiers = {str(t): torch.as_tensor(np.flatnonzero(ds.tier.values == t), device=device)
             for t in np.unique(ds.tier.values)}
    tiers["train"] = torch.as_tensor(train_idx, device=device)
    return TaskTensors(inputs={"stimulus": x},
                       targets=torch.as_tensor(ds[schema.responses].values.astype(np.int64),
                                               device=device),
                       tiers=tiers, info=info,
                       class_names=tuple(str(c) for c in ds.class_name.values),
                       scan=str(ds.attrs.get("scan", "objects")))


def predict_labels(model, tensors: ScanTensors, tier: str, batch_size: int = 256,
                   scan: str | None = None) -> torch.Tensor:
    """The class ``model`` predicts for each sample of ``tier`` (in eval mode,
    without gradients; the model's mode is restored after). ``scan``: the name
    the model is called with (default: the tensors' scan, else "objects")."""
    if tier not in tensors.tiers:
        raise KeyError(f"no tier '{tier}' in these data; tiers: {sorted(tensors.tiers)}")
    scan = scan or getattr(tensors, "scan", "objects")
    idx = tensors.tiers[tier]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = [model(scan, **tensors.batch(idx[a:a + batch_size])).argmax(-1)
                   for a in range(0, len(idx), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=tensors.device)


def accuracy(model, tensors: ScanTensors, tier: str, batch_size: int = 256,
             scan: str | None = None) -> float:
    """The fraction of the samples of ``tier`` whose class ``model`` predicts."""
    pred = predict_labels(model, tensors, tier, batch_size, scan)
    truth = tensors.targets[tensors.tiers[tier]]
    return float((pred == truth).float().mean()) if len(truth) else float("nan")


def confusion(model, tensors: ScanTensors, tier: str, batch_size: int = 256,
              scan: str | None = None, class_names=None) -> xr.DataArray:
    """Counts of the samples of ``tier`` by true and predicted class, dims
    (true_class, predicted_class) labelled with the class names (those of
    the tensors, else ``class_names``, else the class indices)."""
    pred = predict_labels(model, tensors, tier, batch_size, scan).cpu().numpy()
    truth = tensors.targets[tensors.tiers[tier]].cpu().numpy()
    names = list(class_names or getattr(tensors, "class_names", ()) or ())
    n = len(names) or int(max(pred.max(initial=-1), truth.max(initial=-1)) + 1)
    names = names or [str(k) for k in range(n)]
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (truth, pred), 1)
    return xr.DataArray(counts, dims=("true_class", "predicted_class"),
                        coords={"true_class": names, "predicted_class": names},
                        name="count", attrs={"tier": tier})


def at_size(ds: xr.Dataset, size: int) -> xr.Dataset:
    """The task ``ds`` with its images resized to ``size`` x ``size`` px
    (:func:`resize_stimuli`; float32 grey levels); ``ds`` itself when they
    already are."""
    stim = schemas.of(ds, "at_size").input("stimulus").variable
    if ds.sizes["y"] == size and ds.sizes["x"] == size:
        return ds
    images = resize_stimuli(ds[stim].values, size)
    out = ds.drop_vars([stim, "y", "x"], errors="ignore")
    out[stim] = (ds[stim].dims, images, ds[stim].attrs)
    return out.assign_attrs(resized_from=f"{ds.sizes['y']} x {ds.sizes['x']} px")


def resize_stimuli(images, size: int | tuple[int, int]):
    """``images`` (n, h, w) or (n, c, h, w), numpy or torch, resized to
    ``size`` (a side, or (height, width)) by antialiased bilinear
    interpolation; float32, numpy for numpy input."""
    hw = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    is_numpy = not isinstance(images, torch.Tensor)
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)) if is_numpy else images.float()
    if x.dim() not in (3, 4):
        raise ValueError(f"resize_stimuli: expected images (n, h, w) or (n, c, h, w), got shape "
                         f"{tuple(x.shape)}")
    y = x[:, None] if x.dim() == 3 else x
    if tuple(y.shape[-2:]) != hw:
        y = F.interpolate(y, size=hw, mode="bilinear", align_corners=False, antialias=True)
    y = y[:, 0] if x.dim() == 3 else y
    return y.numpy() if is_numpy else y
