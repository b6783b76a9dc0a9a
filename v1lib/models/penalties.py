"""Penalties on convolution weights that the cores share."""

from __future__ import annotations

import torch
import torch.nn.functional as F

_LAPLACE = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])


def laplace_l2norm(weight: torch.Tensor) -> torch.Tensor:
    """sum ||L * W||^2 / sum ||W||^2 over all (out, in) filters of a conv weight."""
    o, i, h, w = weight.shape
    flat = weight.reshape(o * i, 1, h, w)
    lap = F.conv2d(flat, _LAPLACE.to(weight)[None, None], padding=1)
    return lap.pow(2).sum() / flat.pow(2).sum().clamp_min(1e-12)


def group_sparsity(weight: torch.Tensor) -> torch.Tensor:
    """Mean over (out, in) filters of their L2 norms."""
    return weight.pow(2).sum((2, 3)).clamp_min(1e-12).sqrt().mean()
