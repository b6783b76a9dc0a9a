"""Shifter and modulator: what eye position and behaviour do to the responses.

* :class:`Shifter`: pupil centre -> one shift of every receptive field of an
  animal, per trial (an MLP with tanh units, as in the Sensorium baselines; its
  last layer starts at zero, i.e. with no shift).
* :class:`Modulator`: pupil size, its derivative and running speed -> one
  multiplicative gain per neuron and trial, ``ELU(MLP(behaviour)) + 1``.
  The gain multiplies the predicted rate, so a gain of 1 means no modulation
  (the last layer starts at zero).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Shifter(nn.Module):
    def __init__(self, hidden: int = 5, layers: int = 3):
        super().__init__()
        dims = [2] + [hidden] * (layers - 1) + [2]
        mods = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), nn.Tanh()]
        self.mlp = nn.Sequential(*mods)
        # start without a shift: a random initial shift can push every RF off the
        # feature map, where no gradient reaches the core (a run then never learns)
        nn.init.zeros_(self.mlp[-2].weight)
        nn.init.zeros_(self.mlp[-2].bias)

    def forward(self, pupil_center: torch.Tensor) -> torch.Tensor:
        """(B, 2) z-scored pupil centre [x, y] -> (B, 2) shift in grid units."""
        return self.mlp(pupil_center)


class Modulator(nn.Module):
    def __init__(self, n_neurons: int, n_behavior: int = 3, hidden: int = 10):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(n_behavior, hidden), nn.ELU(), nn.Linear(hidden, n_neurons))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, behavior: torch.Tensor) -> torch.Tensor:
        """(B, 3) normalised behaviour -> (B, N) gain > 0."""
        return F.elu(self.mlp(behavior)) + 1
