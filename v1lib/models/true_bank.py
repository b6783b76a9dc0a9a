"""The simulator's own feature bank as a model core: the upper bound of a core.

A model whose core is the true feature bank of the in-silico V1, frozen, needs
to learn only its readout. With a Gaussian readout it shows how far the readout
and the model class go when the core is perfect: in the well-specified world it
should come close to the ceiling, and what it misses with the mechanisms
outside the model class switched on is what no better-trained core can recover.

The core takes the normalised stimulus the other cores take, undoes the scan's
normalisation (its training mean and SD are part of the configuration) and
averages the bank's feature maps over ``stride`` x ``stride`` pixels, so that
its grid matches that of the trained cores it is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TrueBankConfig:
    height: int = 36  # stimulus size, pixels
    width: int = 64
    deg_per_px: float = 1.5
    bank: dict = field(default_factory=dict)  # FeatureBankConfig options
    stimulus_mean: float = 127.5  # the scan's normalisation, undone before the bank
    stimulus_std: float = 64.0
    stride: int = 1  # average the maps over stride x stride pixels


class TrueBankCore(nn.Module):
    """Frozen: no trainable parameters, no regulariser."""

    def __init__(self, config: TrueBankConfig):
        super().__init__()
        from ..sim.features import FeatureBank, FeatureBankConfig  # the simulator's bank

        c = self.config = config
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in c.bank.items()}
        self.bank = FeatureBank((c.height, c.width), c.deg_per_px, FeatureBankConfig(**options))

    @property
    def out_channels(self) -> int:
        return len(self.bank.features)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        if (height, width) != (self.config.height, self.config.width):
            raise ValueError(f"the true-bank core is built for {self.config.height} x "
                             f"{self.config.width} stimuli, got {height} x {width}")
        s = self.config.stride
        return -(-height // s), -(-width // s)

    def forward(self, x: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        # a stimulus shown several times (the test tier) is filtered once
        unique, back = torch.unique(x[:, 0].float(), dim=0, return_inverse=True)
        raw = (unique * self.config.stimulus_std + self.config.stimulus_mean).cpu()
        s = self.config.stride
        out = []
        for k in range(0, len(raw), chunk):  # the full-resolution maps are large: a few at a time
            maps = self.bank.dense(raw[k:k + chunk])
            out.append(F.avg_pool2d(maps, s, ceil_mode=True) if s > 1 else maps)
        return torch.cat(out).to(x.device)[back.to(x.device)]

    def regularizer(self) -> torch.Tensor:
        return torch.zeros(())
