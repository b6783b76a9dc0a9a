"""Modulator: what the animal's behaviour does to each neuron's response.

An MLP maps the normalised behaviour of a sample to one multiplicative gain per
neuron, ``ELU(MLP(behaviour)) + 1``. The gain multiplies the predicted rate, so a
gain of 1 means no modulation (the last layer starts at zero).
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
        """(B, n_behavior) normalised behaviour -> (B, N) gain > 0."""
        return F.elu(self.mlp(behavior)) + 1


MODULATORS = {"mlp": MLPModulator}  # name -> class(n_neurons, n_behavior)
