"""A scan's data as the tensors a model trains on: named inputs, targets, and
the sample indices of each tier, normalised and on the device.

What the inputs are, and how each is normalised, comes from the scan's
schema (:mod:`v1lib.data.schemas`): inputs are keyed by the role they play in a
model, so the trainer calls ``model(scan, **tensors.batch(idx))`` whatever the
experiment. All data live on the device (no per-sample loading); inputs that
carry a channel axis are stored channels-last.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import xarray as xr

from .cache import config_hash
from .data import schemas
from .models.normalizer import InputStats, Normalizer, ScanInfo, input_stats, response_scale


@dataclass
class ScanTensors:
    """One scan on the device: normalised inputs by role and targets, with
    sample indices per tier; ``info`` holds what a model needs to know of it."""

    inputs: dict[str, torch.Tensor]  # role -> (S, ...)
    targets: torch.Tensor  # (S, ..., N) normalised responses, or (S,) class labels
    tiers: dict[str, torch.Tensor]
    info: ScanInfo | None = None
    # the time axis of each input (by role) and of the targets ("targets"), for
    # recordings in time; empty otherwise
    time_axes: dict[str, int] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return self.targets.shape[0]

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {role: x[idx] for role, x in self.inputs.items()}

    def windows(self, idx: torch.Tensor, length: int, gen: torch.Generator,
                features: torch.Tensor | None = None
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Inputs and targets of samples ``idx``, each cut to a window of ``length``
        time steps that starts at a random step (drawn from ``gen``). ``features``:
        a frozen core's output for every sample (S, C, T, h, w), cut to the same
        windows and returned as the input ``features``."""
        if not self.time_axes:
            raise ValueError("these samples have no time axis to cut windows from")
        steps = self.targets.shape[self.time_axes["targets"]]
        extra = {} if features is None else {"features": features}
        if length >= steps:
            return {**self.batch(idx), **{k: x[idx] for k, x in extra.items()}}, self.targets[idx]
        starts = torch.randint(0, steps - length + 1, (len(idx),), generator=gen).tolist()
        rows = idx.tolist()

        def cut(x, axis):  # axis counts the sample axis, which x[i] lacks
            return torch.stack([x[i].narrow(axis - 1, s, length) for i, s in zip(rows, starts)])

        inputs = {r: cut(x, self.time_axes[r]) if r in self.time_axes else x[idx]
                  for r, x in self.inputs.items()}
        inputs.update({k: cut(x, 2) for k, x in extra.items()})
        return inputs, cut(self.targets, self.time_axes["targets"])

    def subset(self, tiers) -> ScanTensors:
        """The samples of ``tiers`` only, renumbered (the same tensors' rows)."""
        keep = torch.cat([self.tiers[t] for t in tiers if t in self.tiers]).unique(sorted=True)
        pos = torch.full((self.n_samples,), -1, dtype=torch.long, device=keep.device)
        pos[keep] = torch.arange(len(keep), device=keep.device)
        return ScanTensors(inputs={r: x[keep] for r, x in self.inputs.items()},
                           targets=self.targets[keep], info=self.info, time_axes=self.time_axes,
                           tiers={t: pos[self.tiers[t]] for t in tiers if t in self.tiers})

    @property
    def device(self) -> torch.device:
        return self.targets.device


# bins of history a sample of a continuous recording carries (its own bin and the
# HISTORY - 1 before it): 8 input frames, one bin of latency and one more for the
# change of each input over a bin
HISTORY = 10


@dataclass
class HistoryTensors(ScanTensors):
    """A continuous recording (a schema with a ``block_key``): each sample is a
    time bin, its target the responses of that bin, and its inputs those of the
    :data:`HISTORY` bins up to and including it, ``(B, HISTORY, ...)``. Only
    bins whose history lies in their own block (a segment's part of one tier)
    are samples of a tier, so that every model, whatever history it reads, is
    trained and scored on the same bins. Inputs are stored once per bin."""

    history: int = HISTORY

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        at = idx[:, None] + torch.arange(1 - self.history, 1, device=idx.device)
        return {role: x[at] for role, x in self.inputs.items()}

    def windows(self, *args, **kwargs):
        raise ValueError("a continuous recording's samples are single bins with their history: "
                         "train it without a 'window'")

    def subset(self, tiers):
        raise ValueError("a continuous recording cannot be cut to a subset of tiers")


def history_bins(block: np.ndarray, history: int = HISTORY) -> np.ndarray:
    """Whether each bin's ``history`` bins (itself included) lie in its block
    (``block``: a label per bin; a block is a run of equal labels)."""
    start = np.r_[True, block[1:] != block[:-1]]
    run_start = np.maximum.accumulate(np.where(start, np.arange(len(block)), 0))
    return np.arange(len(block)) - run_start >= history - 1


def block_labels(ds: xr.Dataset) -> np.ndarray:
    """The block of every bin of a continuous recording: its ``block_key`` and
    tier (``"3/test"``)."""
    key = schemas.of(ds).block_key
    if key is None:
        raise ValueError(f"scan '{ds.attrs.get('scan', '')}': its schema has no blocks of bins")
    return np.char.add(np.asarray(ds[key].values).astype(str),
                       np.char.add("/", ds.tier.values.astype(str)))


def history_tensors(ds: xr.Dataset, info: ScanInfo, train_idx: np.ndarray, device,
                    history: int = HISTORY) -> HistoryTensors:
    """:func:`to_tensors` of a continuous recording: all bins' inputs and
    targets, and as the samples of each tier its bins with a whole history."""
    schema = schemas.of(ds)
    dim = schema.sample_dim
    blocks = block_labels(ds)
    if ds.sizes[dim] and np.unique(blocks).size != np.r_[True, blocks[1:] != blocks[:-1]].sum():
        raise ValueError(f"scan '{ds.attrs.get('scan', '')}': the bins of a "
                         f"'{schema.block_key}' and tier are not consecutive along '{dim}'")
    whole = history_bins(blocks, history)
    norm = Normalizer(info).to(device)
    f = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)
    inputs = {i.role: norm.normalize(i.role, f(ds[i.variable].values)) for i in schema.inputs}
    inputs = {r: x.unsqueeze(1) if schema.input(r).channel else x for r, x in inputs.items()}
    keep = lambda idx: torch.as_tensor(idx[whole[idx]], device=device)
    tiers = {str(t): keep(np.flatnonzero(ds.tier.values == t)) for t in np.unique(ds.tier.values)}
    tiers["train"] = keep(np.asarray(train_idx))
    for t in ("train", "validation"):
        if t in tiers and len(tiers[t]) == 0:
            raise ValueError(f"scan '{ds.attrs.get('scan', '')}': no '{t}' bin has a whole history "
                             f"of {history} bins inside its '{schema.block_key}' and tier: the "
                             f"'{t}' parts are too short")
    return HistoryTensors(inputs=inputs, targets=f(ds[schema.responses].values) / norm.response_std,
                          tiers=tiers, info=info, history=history)


def train_subset(ds: xr.Dataset, fraction: float, subset_seed: int = 0) -> np.ndarray:
    """Sample indices of the training samples kept at ``fraction``: a random
    order per scan and ``subset_seed``, so that, for one subset seed, smaller
    fractions are subsets of larger ones, and other subset seeds resample."""
    train = np.flatnonzero(ds.tier.values == "train")
    if fraction >= 1:
        return train
    key = str(ds.attrs.get("scan", "")) + (f"/{subset_seed}" if subset_seed else "")
    rng = np.random.default_rng(int(config_hash(key, 8), 16))
    order = rng.permutation(len(train))
    keep = max(1, int(round(fraction * len(train))))
    return np.sort(train[order[:keep]])


def scan_info(ds: xr.Dataset, train_idx: np.ndarray) -> ScanInfo:
    """Normalisation statistics from the training samples (neuralpredictors'
    rules, which take them from all tiers) and the neurons' positions."""
    schema = schemas.of(ds)
    stats = {i.role: (input_stats(ds[i.variable].values[train_idx], i.per_column, i.center)
                      if i.fixed is None else InputStats(np.asarray(i.fixed[0], dtype=np.float64),
                                                          np.asarray(i.fixed[1], dtype=np.float64),
                                                          i.center))
             for i in schema.inputs}
    xy = (np.stack([ds.cortical_x.values, ds.cortical_y.values], 1).astype(np.float32)
          if "cortical_x" in ds.coords and "cortical_y" in ds.coords else None)
    responses = ds[schema.responses].values[train_idx]
    std = response_scale(responses)
    mean = responses.reshape(-1, responses.shape[-1]).astype(np.float64).mean(0) / std
    return ScanInfo(n_neurons=ds.sizes["neuron"], cortical_xy=xy, inputs=stats,
                    response_std=std, response_mean=mean.astype(np.float32))


def to_tensors(ds: xr.Dataset, info: ScanInfo, train_idx: np.ndarray, device) -> ScanTensors:
    schema = schemas.of(ds)
    if schema.block_key is not None:
        return history_tensors(ds, info, train_idx, device)
    norm = Normalizer(info).to(device)
    f = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)
    inputs = {}
    for i in schema.inputs:
        x = norm.normalize(i.role, f(ds[i.variable].values))
        if i.channel:
            x = x.unsqueeze(1)
            if x.dim() == 4:  # channels-last 2D convolutions: depthwise ones run faster on CPU
                x = x.contiguous(memory_format=torch.channels_last)
        inputs[i.role] = x
    tiers = {str(t): torch.as_tensor(np.flatnonzero(ds.tier.values == t), device=device)
             for t in np.unique(ds.tier.values)}
    tiers["train"] = torch.as_tensor(train_idx, device=device)
    targets = f(ds[schema.responses].values) / norm.response_std
    return ScanTensors(inputs=inputs, targets=targets, tiers=tiers, info=info,
                       time_axes=time_axes(ds, schema))


def time_axes(ds: xr.Dataset, schema) -> dict[str, int]:
    """Where the schema's time dimension is in each model input (after the
    channel axis a stimulus gains) and in the targets."""
    if schema.time_dim is None:
        return {}
    out = {"targets": ds[schema.responses].dims.index(schema.time_dim)}
    for i in schema.inputs:
        dims = ds[i.variable].dims
        if schema.time_dim in dims:
            axis = dims.index(schema.time_dim)
            out[i.role] = axis + 1 if i.channel and axis >= 1 else axis
    return out


def prepare(scans: dict[str, xr.Dataset], device="cpu", train_fraction: float = 1.0,
            subset_seed: int = 0) -> dict[str, ScanTensors]:
    """``{scan: ScanTensors}`` ready for training and evaluation."""
    out = {}
    for name, ds in scans.items():
        idx = train_subset(ds, train_fraction, subset_seed)
        for tier, n in (("train", len(idx)), ("validation", int((ds.tier == "validation").sum()))):
            if n == 0:
                raise ValueError(f"scan '{name}' has no '{tier}' samples: training needs them")
        out[name] = to_tensors(ds, scan_info(ds, idx), idx, device)
    return out


def stimulus_shape(tensors: dict[str, ScanTensors]) -> tuple[int, int]:
    """Height and width of the stimulus frames."""
    x = next(iter(tensors.values())).inputs["stimulus"]
    return tuple(int(s) for s in x.shape[-2:])


def data_fingerprint(scans: dict[str, xr.Dataset]) -> str:
    """A short hash that changes when the data change (cache key of models)."""
    desc = {}
    for n, ds in scans.items():
        schema = schemas.of(ds)
        stim = ds[schema.input("stimulus").variable].values
        outputs = ds.sizes["neuron"] if schema.has_neurons else ds[schema.responses].size
        desc[n] = [int(ds.sizes[schema.sample_dim]), int(outputs),
                   float(ds[schema.responses].values.astype(np.float64).sum()),
                   float(stim[:16].astype(np.float64).sum())]
    return config_hash(desc)
