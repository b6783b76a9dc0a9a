"""A VGG-style network: the task-driven baseline Shi et al. (2022) trained beside
MouseNet (VGG16, Simonyan & Zisserman 2015, on 64 x 64 px inputs).

Five blocks of 3 x 3 convolutions (VGG16: 2, 2, 3, 3 and 3 of them, with 64,
128, 256, 512 and 512 channels), each convolution followed by batch norm and
ReLU, and 2 x 2 max pooling after every block; then average pooling to
``pool`` x ``pool``, ``fc_layers`` hidden fully connected layers of ``hidden``
units (ReLU, dropout) and a linear map to the classes. ``width`` scales every
block's channels. Two departures from VGG16, both for training from scratch
with Adam at small scale: batch norm after every convolution (torchvision's
``vgg16_bn``), and average pooling to 2 x 2 instead of 7 x 7 before the
classifier (at 64 px the last block's map is 2 x 2 already).

The model's *populations* are the convolutions' outputs after ReLU, named
``conv<block>_<k>`` (``conv1_1`` ... ``conv5_3``), for representational
similarity.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..config import check_options, check_types
from .normalizer import ScanInfo


@dataclass(frozen=True)
class VGGConfig:
    blocks: tuple[int, ...] = (2, 2, 3, 3, 3)  # convolutions per block
    channels: tuple[int, ...] = (64, 128, 256, 512, 512)  # per block, before ``width``
    width: float = 1.0
    in_channels: int = 1
    pool: int = 2
    fc_layers: int = 2
    hidden: int = 4096
    dropout: float = 0.5

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "VGG config") -> VGGConfig:
        d = dict(d or {})
        check_options(cls, d, source)
        check_types(cls, d, source)
        for k in ("blocks", "channels"):
            if k in d:
                d[k] = tuple(d[k])
        cfg = cls(**d)
        if len(cfg.blocks) != len(cfg.channels) or not cfg.blocks:
            raise ValueError(f"{source}: 'blocks' and 'channels' need one entry per block, got "
                             f"{list(cfg.blocks)} and {list(cfg.channels)}")
        if min(cfg.blocks) < 1 or min(cfg.channels) < 1 or cfg.width <= 0:
            raise ValueError(f"{source}: 'blocks', 'channels' and 'width' must be positive")
        if cfg.pool < 1 or cfg.fc_layers < 0 or cfg.hidden < 1 or not 0 <= cfg.dropout < 1:
            raise ValueError(f"{source}: 'pool' and 'hidden' must be positive, 'fc_layers' "
                             "non-negative and 'dropout' in [0, 1)")
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def block_channels(self) -> list[int]:
        return [max(1, int(round(self.width * c))) for c in self.channels]

    def build(self, scans: dict[str, ScanInfo], stimulus_shape: tuple[int, int]) -> VGG:
        classes = {info.n_neurons for info in scans.values()}
        if len(classes) != 1:
            raise ValueError(f"a VGG network has one classifier; the scans have {sorted(classes)} "
                             "classes")
        return VGG(self, classes.pop(), stimulus_shape)


class VGG(nn.Module):
    def __init__(self, c: VGGConfig, classes: int, stimulus_shape: tuple[int, int]):
        super().__init__()
        self.config = c
        self.names, layers = [], []
        prev = c.in_channels
        for b, (n, ch) in enumerate(zip(c.blocks, c.block_channels()), 1):
            for k in range(1, n + 1):
                self.names.append(f"conv{b}_{k}")
                layers.append(nn.Sequential(nn.Conv2d(prev, ch, 3, padding=1, bias=False),
                                            nn.BatchNorm2d(ch), nn.ReLU(inplace=True)))
                prev = ch
        self.convs = nn.ModuleList(layers)
        self.last_in_block = {sum(c.blocks[:b]) - 1 for b in range(1, len(c.blocks) + 1)}
        head, width = [nn.AdaptiveAvgPool2d(c.pool), nn.Flatten()], prev * c.pool**2
        for _ in range(c.fc_layers):
            head += [nn.Linear(width, c.hidden), nn.ReLU(inplace=True), nn.Dropout(c.dropout)]
            width = c.hidden
        self.head = nn.Sequential(*head, nn.Linear(width, classes))
        self.stimulus_shape = tuple(stimulus_shape)

    def _layers(self, x: torch.Tensor, last: int):
        """Yield (name, output) of every convolution up to index ``last``."""
        for i, conv in enumerate(self.convs[: last + 1]):
            x = conv(x)
            yield self.names[i], x
            if i in self.last_in_block:
                x = nn.functional.max_pool2d(x, 2, ceil_mode=True)

    def forward(self, scan: str, stimulus: torch.Tensor, features=None) -> torch.Tensor:
        if features is not None:
            return self.head(features)
        *_, (_, x) = self._layers(stimulus, len(self.convs) - 1)
        return self.head(nn.functional.max_pool2d(x, 2, ceil_mode=True))

    def populations(self, stimulus: torch.Tensor, names=None) -> dict[str, torch.Tensor]:
        """The output of each named convolution (all when ``names`` is None)."""
        names = list(self.names if names is None else names)
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(f"unknown VGG population(s) {unknown}; choose from {self.names}")
        last = max(self.names.index(n) for n in names)
        return {n: x for n, x in self._layers(stimulus, last) if n in names}

    def regularizer(self, scan: str, core: bool = True) -> torch.Tensor:
        return torch.zeros((), device=self.head[-1].weight.device)

    def clamp_(self) -> None:
        pass

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
