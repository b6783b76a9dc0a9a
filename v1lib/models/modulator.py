"""Modulator: what the animal's behaviour does to each neuron's response.

* :class:`MLPModulator` (the Sensorium baselines): an MLP maps the normalised
  behaviour of a sample to one multiplicative gain per neuron,
  ``ELU(MLP(behaviour)) + 1``, which starts at 1 (no modulation; the last layer
  starts at zero).
* :class:`GRUModulator` (Sinz et al. 2018, ``GateGRU``): a GRU runs over the
  behaviour time series of a clip (B, T, k) from a zero state, and a linear map
  of its state gives the gain ``exp(linear(h_t)) + 1`` of every neuron at every
  time step, so the gain can follow behaviour with a time course of its own.

The gain multiplies the predicted rate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLPModulator(nn.Module):
    def __init__(self, n_neurons: int, n_behavior: int, hidden: int = 10):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(n_behavior, hidden), nn.ELU(), nn.Linear(hidden, n_neurons))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, behavior: torch.Tensor) -> torch.Tensor:
        """(B, [T,] n_behavior) normalised behaviour -> (B, [T,] N) gain > 0."""
        return F.elu(self.mlp(behavior)) + 1


class GRUModulator(nn.Module):
    def __init__(self, n_neurons: int, n_behavior: int, hidden: int = 50):
        super().__init__()
        self.gru = nn.GRU(n_behavior, hidden, batch_first=True)
        self.linear = nn.Linear(hidden, n_neurons)
        nn.init.zeros_(self.linear.weight)  # the same gain (2) for every neuron at first
        nn.init.zeros_(self.linear.bias)

    def forward(self, behavior: torch.Tensor) -> torch.Tensor:
        """(B, T, n_behavior) normalised behaviour -> (B, T, N) gain > 1."""
        if behavior.dim() != 3:
            raise ValueError(f"the GRU modulator reads a time series (B, T, columns); got shape "
                             f"{tuple(behavior.shape)}")
        h, _ = self.gru(behavior)
        return torch.exp(self.linear(h)) + 1


MODULATORS = {"mlp": MLPModulator, "gru": GRUModulator}  # name -> class(n_neurons, n_behavior)
