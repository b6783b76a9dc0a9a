"""What a model knows of one scan's data: its neurons, and the statistics that
normalise its inputs and responses (the one normaliser of the package).

Inputs are named by the role they play in a model (``stimulus``, ``eye``,
``behavior``, ...); a data schema says which variable plays which role. Each
input is either z-scored (``center``) or only divided by its SD, with one
statistic over all values or one per column (last axis). Responses are divided
by their SD, floored at 1 % of the mean SD (neuralpredictors' rules). The
statistics come from the training samples only, so nothing of the test set
leaks into training. The same :class:`Normalizer` prepares the training tensors
and the raw inputs of :meth:`~v1lib.models.encoder.Encoder.predict`, and it is
saved with the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class InputStats:
    mean: np.ndarray  # () or (columns,): also the value assumed when the input is not given
    std: np.ndarray
    center: bool  # subtract the mean (else divide by the SD only)


@dataclass
class ScanInfo:
    """What a model needs to know of a scan to build its readout and normalise its data."""

    n_neurons: int
    cortical_xy: np.ndarray | None  # (N, 2) µm: neuron positions, for the grid predictor
    inputs: dict[str, InputStats]  # by role
    response_std: np.ndarray  # (N,) the divisor of the responses
    response_mean: np.ndarray | None = None  # (N,) mean normalised training response

    def n_columns(self, role: str) -> int:
        """Length of the last axis of input ``role`` (1 for a scalar statistic)."""
        return int(np.size(self.inputs[role].mean))


def input_stats(values: np.ndarray, per_column: bool, center: bool) -> InputStats:
    """Statistics of one input over the training samples: over all values in
    float64 (a scalar), or per column (last axis) in the data's own precision."""
    safe = lambda s: np.where(s > 1e-8, s, 1.0)
    if per_column:
        cols = values.reshape(-1, values.shape[-1])
        return InputStats(cols.mean(0), safe(cols.std(0)), center)
    v = values.astype(np.float64)
    return InputStats(np.asarray(v.mean()), np.asarray(safe(v.std())), center)


def response_scale(responses: np.ndarray) -> np.ndarray:
    """Per-neuron SD over the training samples, floored at 1 % of the mean SD."""
    sd = responses.reshape(-1, responses.shape[-1]).std(0)
    floor = 0.01 * sd.mean()
    return np.where(sd > floor, sd, max(floor, 1e-8)).astype(np.float32)


class Normalizer(nn.Module):
    """A scan's data statistics as buffers (moved and saved with the model)."""

    def __init__(self, info: ScanInfo):
        super().__init__()
        f = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))
        self.centered = {}
        for role, st in info.inputs.items():
            self.register_buffer(f"{role}_mean", f(st.mean))
            self.register_buffer(f"{role}_std", f(st.std))
            self.centered[role] = st.center
        self.register_buffer("response_std", f(info.response_std))

    @property
    def roles(self) -> list[str]:
        return list(self.centered)

    def normalize(self, role: str, x: torch.Tensor) -> torch.Tensor:
        mean, std = getattr(self, f"{role}_mean"), getattr(self, f"{role}_std")
        return (x - mean) / std if self.centered[role] else x / std

    def mean_input(self, role: str, batch: int) -> torch.Tensor:
        """The normalised training mean of input ``role``, repeated ``batch`` times."""
        m = self.normalize(role, getattr(self, f"{role}_mean"))
        return m[None].expand(batch, *m.shape)
