"""Readouts: from the core's feature map to one predicted response per neuron.

Three ways to say where a neuron looks and what it pools:

* :class:`GaussianReadout` (Lurz et al. 2021): one position per neuron, learned
  as a 2D Gaussian whose samples pick the feature vector during training and
  whose mean does at evaluation; optionally the position is predicted from the
  neuron's cortical coordinates (the grid mean predictor, i.e. retinotopy).
* :class:`FactorizedReadout` (Klindt et al. 2017): a full spatial mask per
  neuron times a feature vector.
* :class:`PointPooledReadout` (Sinz et al. 2018): a learned point that samples
  the feature map and average-pooled copies of it.

Positions are in grid units: [-1, 1] spans the feature map with
``align_corners=True``. A per-sample ``transform`` (from a shifter) moves every
neuron's position: a shift (B, 2) is added to it, an affine map (B, 2, 3)
``[A | t]`` takes p to A p + t (a rotation of the eye as well as its shift).
:data:`READOUTS` names them for a model configuration.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def sample_features(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``x`` (B, C, H, W) at ``grid`` (B, N, 2) -> (B, C, N)."""
    return F.grid_sample(x, grid[:, :, None, :], align_corners=True).squeeze(-1)


def apply_transform(grid: torch.Tensor, transform: torch.Tensor | None) -> torch.Tensor:
    """Positions ``grid`` (B, N, 2) moved by a shift (B, 2) or an affine map (B, 2, 3)."""
    if transform is None:
        return grid
    if transform.dim() == 2 and transform.shape[-1] == 2:
        return grid + transform[:, None, :]
    if transform.dim() == 3 and tuple(transform.shape[-2:]) == (2, 3):
        return grid @ transform[:, :, :2].transpose(1, 2) + transform[:, None, :, 2]
    raise ValueError(f"a readout transform must be a shift (B, 2) or an affine map (B, 2, 3); "
                     f"got shape {tuple(transform.shape)}")


class GaussianReadout(nn.Module):
    """Gaussian readout with a full covariance (``FullGaussian2d``).

    Training: position p = clamp(mu + S z, -1, 1), one z ~ N(0, I) per sample
    and neuron; evaluation: p = clamp(mu, -1, 1). The transform is applied after
    the clamp. Output: w_n . x(p_n) + b_n. Penalty: ``gamma`` * sum |w|.
    """

    def __init__(self, n_neurons: int, channels: int, cortical_xy: np.ndarray | None = None,
                 init_mu_range: float = 0.3, init_sigma: float = 0.1, gamma: float = 0.0076,
                 grid_hidden: int = 30):
        super().__init__()
        self.n_neurons, self.gamma = n_neurons, gamma
        if cortical_xy is not None:  # grid mean predictor from cortical coordinates
            c = np.asarray(cortical_xy, dtype=np.float32)[:, :2]
            c = c - c.mean(0)
            c = c / max(np.abs(c).max(), 1e-9)
            self.register_buffer("source_grid", torch.from_numpy(c))
            self.mu_predictor = nn.Sequential(nn.Linear(2, grid_hidden), nn.ELU(),
                                              nn.Linear(grid_hidden, 2), nn.Tanh())
            self._mu = None
        else:
            self.mu_predictor = None
            self._mu = nn.Parameter(torch.empty(n_neurons, 2).uniform_(-init_mu_range, init_mu_range))
        self.sigma = nn.Parameter(torch.empty(n_neurons, 2, 2).uniform_(-init_sigma, init_sigma))
        self.features = nn.Parameter(torch.full((n_neurons, channels), 1.0 / channels))
        self.bias = nn.Parameter(torch.zeros(n_neurons))

    @property
    def mu(self) -> torch.Tensor:
        """Mean position of each neuron (N, 2), [x, y] in grid units."""
        return self.mu_predictor(self.source_grid) if self.mu_predictor is not None else self._mu

    def positions(self, batch: int, transform: torch.Tensor | None = None) -> torch.Tensor:
        mu = self.mu[None].expand(batch, -1, -1)
        if self.training:
            z = torch.randn(batch, self.n_neurons, 1, 2, device=mu.device)
            mu = mu + (self.sigma[None] * z).sum(-1)  # S z, one z per sample and neuron
        return apply_transform(mu.clamp(-1, 1), transform)

    def forward(self, x: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        y = sample_features(x, self.positions(x.shape[0], transform))  # (B, C, N)
        return (y * self.features.T).sum(1) + self.bias

    def regularizer(self) -> torch.Tensor:
        return self.gamma * self.features.abs().sum()

    @torch.no_grad()
    def clamp_(self) -> None:
        if self._mu is not None:
            self._mu.clamp_(-1, 1)


class FactorizedReadout(nn.Module):
    """Spatial mask times feature weights (``FullFactorized2d``): each neuron's
    mask (H, W) is divided by its L2 norm, and the penalty is
    ``gamma`` * sum_n |mask_n|_1 * |w_n|_1, both started at small random values."""

    def __init__(self, n_neurons: int, channels: int, height: int, width: int,
                 gamma: float = 0.0076, init_noise: float = 4.1232e-05):
        super().__init__()
        self.gamma = gamma
        self.spatial = nn.Parameter(init_noise * torch.randn(n_neurons, height, width))
        self.features = nn.Parameter(init_noise * torch.randn(n_neurons, channels))
        self.bias = nn.Parameter(torch.zeros(n_neurons))

    @property
    def normalized_spatial(self) -> torch.Tensor:
        norm = self.spatial.pow(2).sum((1, 2), keepdim=True).sqrt()
        return self.spatial / (norm + 1e-6)

    def forward(self, x: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        if transform is not None:
            raise ValueError("the factorized readout has no position to shift; "
                             "use it without a shifter")
        pooled = torch.einsum("bchw,nhw->bnc", x, self.normalized_spatial)
        return (pooled * self.features).sum(-1) + self.bias

    def regularizer(self) -> torch.Tensor:
        spatial = self.normalized_spatial.abs().sum((1, 2))
        return self.gamma * (spatial * self.features.abs().sum(1)).sum()


class PointPooledReadout(nn.Module):
    """A learned point per neuron sampling the feature map and ``pool_steps``
    successively average-pooled (kernel = stride = ``pool_kernel``) copies of it
    (``PointPooled2d``)."""

    def __init__(self, n_neurons: int, channels: int, pool_steps: int = 2, pool_kernel: int = 3,
                 init_range: float = 0.2, gamma: float = 0.0207):
        super().__init__()
        self.pool_steps, self.pool_kernel, self.gamma = pool_steps, pool_kernel, gamma
        self.grid = nn.Parameter(torch.empty(n_neurons, 2).uniform_(-init_range, init_range))
        self.features = nn.Parameter(torch.full((n_neurons, channels * (pool_steps + 1)),
                                                1.0 / (channels * (pool_steps + 1))))
        self.bias = nn.Parameter(torch.zeros(n_neurons))

    def forward(self, x: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        grid = apply_transform(self.grid.clamp(-1, 1)[None].expand(x.shape[0], -1, -1), transform)
        samples = [sample_features(x, grid)]
        for _ in range(self.pool_steps):
            x = F.avg_pool2d(x, self.pool_kernel, stride=self.pool_kernel, ceil_mode=True)
            samples.append(sample_features(x, grid))
        y = torch.cat(samples, dim=1)  # (B, C * (steps + 1), N)
        return (y * self.features.T).sum(1) + self.bias

    def regularizer(self) -> torch.Tensor:
        return self.gamma * self.features.abs().sum()

    @torch.no_grad()
    def clamp_(self) -> None:
        self.grid.clamp_(-1, 1)


# name -> builder(n_neurons, channels, (map height, map width), cortical_xy, model config)
READOUTS = {
    "gaussian": lambda n, c, hw, xy, cfg: GaussianReadout(
        n, c, xy if cfg.grid_predictor else None, init_mu_range=cfg.init_mu_range,
        init_sigma=cfg.init_sigma, gamma=cfg.gamma_readout),
    "factorized": lambda n, c, hw, xy, cfg: FactorizedReadout(n, c, *hw, gamma=cfg.gamma_readout),
    "point": lambda n, c, hw, xy, cfg: PointPooledReadout(n, c, pool_kernel=cfg.pool_kernel,
                                                          gamma=cfg.gamma_readout),
}
POSITIONED = ("gaussian", "point")  # readouts with a position a shifter can move
