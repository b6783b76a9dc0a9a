"""Shifter: where the eye points -> where every receptive field of an animal moves.

* :class:`MLPShifter` (the Sensorium baselines): an MLP with tanh units maps the
  normalised eye position of a sample to one shift of all readout positions of
  that animal.
* :class:`AffineShifter` (Sinz et al. 2018, ``StaticAffine``): ``tanh(W p + b)``,
  an affine map of the eye position bounded to the feature map.

Both read the eye position at every time step of a clip as well ((B, T, k) ->
(B, T, 2)). Their last layer starts at zero, i.e. with no shift.
"""

from __future__ import annotations

import torch
from torch import nn


class MLPShifter(nn.Module):
    def __init__(self, n_inputs: int = 2, hidden: int = 5, layers: int = 3):
        super().__init__()
        dims = [n_inputs] + [hidden] * (layers - 1) + [2]
        mods = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), nn.Tanh()]
        self.mlp = nn.Sequential(*mods)
        # start without a shift: a random initial shift can push every RF off the
        # feature map, where no gradient reaches the core (a run then never learns)
        nn.init.zeros_(self.mlp[-2].weight)
        nn.init.zeros_(self.mlp[-2].bias)

    def forward(self, eye: torch.Tensor) -> torch.Tensor:
        """(B, [T,] n_inputs) normalised eye position -> (B, [T,] 2) shift [x, y] in grid units."""
        return self.mlp(eye)


class AffineShifter(nn.Module):
    def __init__(self, n_inputs: int = 2):
        super().__init__()
        self.linear = nn.Linear(n_inputs, 2)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, eye: torch.Tensor) -> torch.Tensor:
        """(B, [T,] n_inputs) normalised eye position -> (B, [T,] 2) shift [x, y] in grid units."""
        return torch.tanh(self.linear(eye))


SHIFTERS = {"mlp": MLPShifter, "affine": AffineShifter}  # name -> class(n_inputs)
