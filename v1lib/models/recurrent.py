"""Cores for video: they read a clip (B, C, T, H, W) and return features
(B, C', T, h, w), one map per time step, which the readout reads frame by frame.

* :class:`RecurrentCore` (Sinz et al. 2018, ``StackedFeatureGRU``): every frame
  goes through a small 2D convolutional core (:class:`FrameCore`), and a
  convolutional GRU (:class:`ConvGRUCell`) integrates its features over time.
  The GRU's initial state is learned (one value per channel; the paper learns
  a full map).
* :class:`Linear3dCore` (the paper's LN baseline): one spatio-temporal linear
  convolution, causal in time, and batch norm; no nonlinearity before the
  readout's.

Both are causal: the features at time t depend on frames up to t only. Before
the first frame, the screen is the clip's mean (zero after normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .penalties import group_sparsity, laplace_l2norm


@dataclass(frozen=True)
class RecurrentConfig:
    in_channels: int = 1
    layers: int = 3  # of the frame core
    channels: int = 12  # per layer of the frame core; the GRU reads all layers' outputs
    input_kernel: int = 7
    hidden_kernel: int = 3
    skip: int = 2  # a hidden layer reads the outputs of the previous `skip` layers
    stride: int = 1  # of the first convolution (2 quarters the cost of everything after it)
    rec_channels: int = 36
    rec_kernel: int = 3  # of the GRU's state convolutions
    rec_input_kernel: int = 3  # of the GRU's input convolution (1: a per-pixel mixing of the features)
    bn_momentum: float = 0.1
    gamma_input: float = 50.0  # Laplace penalty on the first layer's filters
    gamma_hidden: float = 0.1  # group sparsity of the hidden layers


@dataclass(frozen=True)
class Linear3dConfig:
    in_channels: int = 1
    channels: int = 36
    kernel: int = 13  # spatial size of the filters
    time_kernel: int = 13  # frames
    stride: int = 1
    bn_momentum: float = 0.1
    gamma_input: float = 50.0  # Laplace penalty on every time slice of the filters


class FrameCore(nn.Module):
    """The per-frame convolutional core: a ``input_kernel`` convolution, then
    ``hidden_kernel`` convolutions each reading the last ``skip`` outputs; each
    followed by batch norm and an ELU; the output is every layer's, stacked."""

    def __init__(self, c: RecurrentConfig):
        super().__init__()
        if c.hidden_kernel % 2 == 0:  # 'same' padding needs a centre pixel
            raise ValueError(f"core option 'hidden_kernel' must be odd (got {c.hidden_kernel})")
        self.config = c
        self.layers = nn.ModuleList()
        for k in range(c.layers):
            c_in = c.in_channels if k == 0 else c.channels * min(k, c.skip)
            kernel = c.input_kernel if k == 0 else c.hidden_kernel
            self.layers.append(nn.Sequential(
                nn.Conv2d(c_in, c.channels, kernel, stride=c.stride if k == 0 else 1,
                          padding=kernel // 2, bias=False),
                nn.BatchNorm2d(c.channels, momentum=c.bn_momentum), nn.ELU()))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)

    @property
    def out_channels(self) -> int:
        return self.config.channels * self.config.layers

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        c = self.config
        size = lambda n: (n + 2 * (c.input_kernel // 2) - c.input_kernel) // c.stride + 1
        return size(height), size(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = []
        for k, layer in enumerate(self.layers):
            inp = x if k == 0 else torch.cat(outputs[-self.config.skip:], dim=1)
            outputs.append(layer(inp))
        return torch.cat(outputs, dim=1)

    def regularizer(self) -> torch.Tensor:
        c = self.config
        reg = c.gamma_input * laplace_l2norm(self.layers[0][0].weight)
        if c.layers > 1:
            hidden = [group_sparsity(layer[0].weight) for layer in self.layers[1:]]
            reg = reg + c.gamma_hidden * torch.stack(hidden).mean()
        return reg


class ConvGRUCell(nn.Module):
    """h' = (1 - z) h + z tanh(W x + U (r h)), with update and reset gates
    z, r = sigmoid(W_z x + U_z h), sigmoid(W_r x + U_r h); every W and U a
    ``kernel`` convolution, biases on the input side."""

    def __init__(self, c_in: int, c_hidden: int, kernel: int = 3, input_kernel: int = 3):
        super().__init__()
        for name, k in (("rec_kernel", kernel), ("rec_input_kernel", input_kernel)):
            if k % 2 == 0:  # 'same' padding needs a centre pixel
                raise ValueError(f"core option '{name}' must be odd (got {k})")
        pad = kernel // 2
        self.c_hidden = c_hidden
        self.input = nn.Conv2d(c_in, 3 * c_hidden, input_kernel, padding=input_kernel // 2)
        self.gates = nn.Conv2d(c_hidden, 2 * c_hidden, kernel, padding=pad, bias=False)
        self.candidate = nn.Conv2d(c_hidden, c_hidden, kernel, padding=pad, bias=False)
        for m in (self.input, self.gates, self.candidate):
            nn.init.xavier_normal_(m.weight)
        nn.init.zeros_(self.input.bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step from the input ``x`` (B, c_in, h, w)."""
        return self.step(self.input(x), h)

    def step(self, wx: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step from the input's convolution ``wx = self.input(x)``, which does
        not depend on the state: a sequence computes it for all frames at once."""
        xz, xr, xc = wx.chunk(3, dim=1)
        hz, hr = self.gates(h).chunk(2, dim=1)
        z, r = torch.sigmoid(xz + hz), torch.sigmoid(xr + hr)
        return (1 - z) * h + z * torch.tanh(xc + self.candidate(r * h))


class RecurrentCore(nn.Module):
    temporal = True

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = config
        self.frame = FrameCore(config)
        self.gru = ConvGRUCell(self.frame.out_channels, config.rec_channels, config.rec_kernel,
                               config.rec_input_kernel)
        self.initial_state = nn.Parameter(torch.zeros(1, config.rec_channels, 1, 1))

    @property
    def out_channels(self) -> int:
        return self.config.rec_channels

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        return self.frame.output_shape(height, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, rec_channels, T, h, w)."""
        B, C, T = x.shape[:3]
        wx = self.gru.input(self.frame(x.transpose(1, 2).reshape(B * T, C, *x.shape[-2:])))
        wx = wx.view(B, T, *wx.shape[1:])
        h = self.initial_state.expand(B, -1, *wx.shape[-2:])
        states = []
        for frame in wx.unbind(1):  # one backward for all steps (indexing f[:, t] makes one each)
            h = self.gru.step(frame, h)
            states.append(h)
        return torch.stack(states, dim=2)

    def regularizer(self) -> torch.Tensor:
        return self.frame.regularizer()


class Linear3dCore(nn.Module):
    temporal = True

    def __init__(self, config: Linear3dConfig):
        super().__init__()
        c = self.config = config
        self.conv = nn.Conv3d(c.in_channels, c.channels, (c.time_kernel, c.kernel, c.kernel),
                              stride=(1, c.stride, c.stride), padding=(0, c.kernel // 2,
                                                                       c.kernel // 2), bias=False)
        nn.init.xavier_normal_(self.conv.weight)
        self.bn = nn.BatchNorm3d(c.channels, momentum=c.bn_momentum)

    @property
    def out_channels(self) -> int:
        return self.config.channels

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        c = self.config
        size = lambda n: (n + 2 * (c.kernel // 2) - c.kernel) // c.stride + 1
        return size(height), size(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, channels, T, h, w), causal in time."""
        return self.bn(self.conv(F.pad(x, (0, 0, 0, 0, self.config.time_kernel - 1, 0))))

    def regularizer(self) -> torch.Tensor:
        k = self.config.kernel  # every time slice of every filter is a spatial filter
        return self.config.gamma_input * laplace_l2norm(self.conv.weight.reshape(-1, 1, k, k))
