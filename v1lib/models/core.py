"""The core: a stack of 2D convolutions shared by every neuron of every animal.

Follows neuralpredictors' ``Stacked2dCore`` as the Lurz et al. (2021) and
Sensorium 2022 baselines configure it: a first convolution without padding
(``pad_input`` zero-pads it), then depth-separable hidden convolutions with
"same" padding, each followed by batch norm and an ELU. A Laplace penalty keeps
the first-layer filters smooth. The readout sees the last layer (``stack=-1``,
the baselines) or the concatenated outputs of the last k layers (``stack=-k``;
``None``: all, as in Sinz et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .penalties import laplace_l2norm


@dataclass(frozen=True)
class CoreConfig:
    in_channels: int = 1
    layers: int = 4
    channels: int = 64
    input_kernel: int = 9
    hidden_kernel: int = 7
    depth_separable: bool = True
    pad_input: bool = False  # zero-pad the first convolution: the feature map covers the screen
    stride: int = 1  # stride of the first convolution (2 quarters the cost of every later layer)
    bn_momentum: float = 0.9  # PyTorch convention: weight of the new batch statistics
    gamma_input: float = 6.3831  # weight of the Laplace penalty on the first layer
    linear: bool = False  # no nonlinearity inside the core (the LN baseline)
    stack: int | None = -1  # layers whose outputs are concatenated: -k = the last k, None = all


def stack_error(stack, layers: int) -> str | None:
    """Why ``stack`` is not a valid choice of layers for a core of ``layers``, or None."""
    if stack is None or (isinstance(stack, int) and not isinstance(stack, bool)
                         and -layers <= stack <= -1):
        return None
    return (f"core option 'stack' must be null (all layers) or an integer from -{layers} to -1 "
            f"(the last k layers); got {stack!r}")


class DepthSeparableConv2d(nn.Sequential):
    """1x1 conv -> depthwise kxk conv -> 1x1 conv."""

    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int):
        super().__init__(
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.Conv2d(c_out, c_out, kernel, padding=padding, groups=c_out, bias=False),
            nn.Conv2d(c_out, c_out, 1, bias=False),
        )


class Stacked2dCore(nn.Module):
    def __init__(self, config: CoreConfig):
        super().__init__()
        c = config
        if error := stack_error(c.stack, c.layers):
            raise ValueError(error)
        self.config = c
        act = nn.Identity if c.linear else nn.ELU
        pad = c.input_kernel // 2 if c.pad_input else 0
        layers = [nn.Sequential(
            nn.Conv2d(c.in_channels, c.channels, c.input_kernel, stride=c.stride, padding=pad,
                      bias=False),
            nn.BatchNorm2d(c.channels, momentum=c.bn_momentum), act())]
        for _ in range(c.layers - 1):
            conv = (DepthSeparableConv2d(c.channels, c.channels, c.hidden_kernel, c.hidden_kernel // 2)
                    if c.depth_separable
                    else nn.Conv2d(c.channels, c.channels, c.hidden_kernel,
                                   padding=c.hidden_kernel // 2, bias=False))
            layers.append(nn.Sequential(conv, nn.BatchNorm2d(c.channels, momentum=c.bn_momentum),
                                        act()))
        self.layers = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)

    @property
    def stacked(self) -> list[int]:
        """Indices of the layers whose outputs the readout sees."""
        layers = list(range(self.config.layers))
        return layers if self.config.stack is None else layers[self.config.stack:]

    @property
    def out_channels(self) -> int:
        return self.config.channels * len(self.stacked)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the feature map for an input of ``height x width``."""
        c = self.config
        pad = c.input_kernel // 2 if c.pad_input else 0
        size = lambda n: (n + 2 * pad - c.input_kernel) // c.stride + 1
        return size(height), size(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.stack == -1:
            return self.layers(x)
        outputs = []
        for layer in self.layers:
            x = layer(x)
            outputs.append(x)
        return torch.cat([outputs[i] for i in self.stacked], dim=1)

    def regularizer(self) -> torch.Tensor:
        return self.config.gamma_input * laplace_l2norm(self.layers[0][0].weight)


from .recurrent import Linear3dConfig, Linear3dCore, RecurrentConfig, RecurrentCore  # noqa: E402
from .task_core import TaskCore, TaskCoreConfig  # noqa: E402  (task-driven cores)
from .true_bank import TrueBankConfig, TrueBankCore  # noqa: E402  (the upper bound)

# name -> (configuration class, core class): what a model configuration's
# ``core_type`` can name
CORES = {"stacked2d": (CoreConfig, Stacked2dCore), "true_bank": (TrueBankConfig, TrueBankCore),
         "recurrent": (RecurrentConfig, RecurrentCore), "linear3d": (Linear3dConfig, Linear3dCore),
         "task": (TaskCoreConfig, TaskCore)}
