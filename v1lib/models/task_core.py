"""A task-trained network, frozen, as a model core: the task-driven cores of
Lurz et al. (2021) (their VGG16, pre-trained on object recognition) and of chapter 10
(MouseNet and the VGG-style network trained on the object task).

The core takes the normalised stimulus every core takes, undoes the scan's
normalisation, and shows the stimulus to the network as the network saw its
task: letterboxed into its square input (scaled by ``input_size / max(height,
width)``, which keeps the aspect ratio, and padded with the task's mean grey),
then normalised like the task's stimuli. The chosen populations' activations
are cropped to the rows and columns that cover the stimulus, resampled to the
finest of their grids and concatenated. Each channel is then standardised with
its mean and SD over the new animal's training stimuli (``calibrate_``), the
part that neuralpredictors' ``TransferLearningCore`` leaves to a batch norm after
the frozen features; it keeps the readout's L1 penalty on the scale it has on a
trained core. Nothing of the core is trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

NETWORK_TYPES = ("mousenet", "vgg")


@dataclass(frozen=True)
class TaskCoreConfig:
    network: str = "mousenet"  # "mousenet" or "vgg"
    network_options: dict = field(default_factory=dict)  # the network's configuration
    classes: int = 10  # the task's classes (the network's classifier is not used)
    input_size: int = 64  # px per side of the network's input
    populations: tuple[str, ...] = ("VISp5",)  # whose activations the readout sees
    height: int = 36  # the stimulus, px
    width: int = 64
    stimulus_mean: float = 127.5  # the scan's normalisation, undone
    stimulus_std: float = 64.0
    task_mean: float = 127.5  # the task's normalisation, applied
    task_std: float = 64.0


def build_network(c: TaskCoreConfig) -> nn.Module:
    """The task network of ``c`` (random weights; the trained ones are loaded into it)."""
    from .mousenet import MouseNet, MouseNetConfig
    from .vgg import VGG, VGGConfig

    if c.network == "mousenet":
        return MouseNet(MouseNetConfig.from_dict({**c.network_options, "classes": c.classes,
                                                  "input_size": c.input_size}))
    if c.network == "vgg":
        return VGG(VGGConfig.from_dict(c.network_options), c.classes, (c.input_size,) * 2)
    raise ValueError(f"unknown task network '{c.network}'; choose from {list(NETWORK_TYPES)}")


class TaskCore(nn.Module):
    """Frozen: no trainable parameters, no regulariser."""

    def __init__(self, config: TaskCoreConfig):
        super().__init__()
        c = self.config = config
        if not c.populations:
            raise ValueError("a task core needs at least one population")
        self.network = build_network(c)
        for p in self.network.parameters():
            p.requires_grad_(False)
        scale = c.input_size / max(c.height, c.width)
        self.inner = (max(1, round(c.height * scale)), max(1, round(c.width * scale)))
        with torch.no_grad():
            acts = self._activations(torch.zeros(1, 1, c.height, c.width))
        self._grid = max((a.shape[-2:] for a in acts.values()), key=lambda s: s[0] * s[1])
        n = sum(a.shape[1] for a in acts.values())
        self.register_buffer("feature_mean", torch.zeros(n))
        self.register_buffer("feature_std", torch.ones(n))
        self.network.eval()

    def train(self, mode: bool = True):
        """The network's batch norms keep their task statistics in every mode."""
        super().train(mode)
        self.network.eval()
        return self

    @property
    def out_channels(self) -> int:
        return len(self.feature_mean)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        c = self.config
        if (height, width) != (c.height, c.width):
            raise ValueError(f"the task core is built for {c.height} x {c.width} stimuli, got "
                             f"{height} x {width}")
        return tuple(self._grid)

    def _letterbox(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised stimuli -> the network's normalised input, aspect kept, padded."""
        c = self.config
        raw = x.float() * c.stimulus_std + c.stimulus_mean
        raw = F.interpolate(raw, size=self.inner, mode="bilinear", antialias=True,
                            align_corners=False)
        (h, w), s = self.inner, c.input_size
        top, left = (s - h) // 2, (s - w) // 2
        raw = F.pad(raw, (left, s - w - left, top, s - h - top), value=c.task_mean)
        return (raw - c.task_mean) / c.task_std

    def _activations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each population's activations over the stimulus (the padding cropped off)."""
        c = self.config
        acts = self.network.populations(self._letterbox(x), list(c.populations))
        (h, w), s = self.inner, c.input_size
        top, left = (s - h) // 2, (s - w) // 2
        out = {}
        for name, a in acts.items():
            g = a.shape[-1] / s  # grid px per input px
            r0, r1 = math.floor(top * g), math.ceil((top + h) * g)
            c0, c1 = math.floor(left * g), math.ceil((left + w) * g)
            out[name] = a[..., r0:r1, c0:c1]
        return out

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The populations' cropped activations on one grid, concatenated (not standardised)."""
        acts = self._activations(x)
        return torch.cat([a if tuple(a.shape[-2:]) == tuple(self._grid) else
                          F.interpolate(a, size=tuple(self._grid), mode="bilinear",
                                        align_corners=False) for a in acts.values()], 1)

    @torch.no_grad()
    def calibrate_(self, stimuli: torch.Tensor, batch: int = 256) -> TaskCore:
        """Set each channel's mean and SD from normalised ``stimuli`` (S, 1, H, W)."""
        total = total_sq = 0.0
        n = 0
        for k in range(0, len(stimuli), batch):
            f = self.features(stimuli[k:k + batch]).double()
            total = total + f.sum((0, 2, 3))
            total_sq = total_sq + (f**2).sum((0, 2, 3))
            n += f.shape[0] * f.shape[2] * f.shape[3]
        mean = total / n
        sd = (total_sq / n - mean**2).clamp_min(0).sqrt()
        self.feature_mean.copy_(mean.float())
        # a channel silent on every stimulus stays zero (its SD floored, not divided by 0)
        self.feature_std.copy_(sd.clamp_min(1e-3 * float(sd.max()) + 1e-8).float())
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return (f - self.feature_mean[:, None, None]) / self.feature_std[:, None, None]

    def regularizer(self) -> torch.Tensor:
        return torch.zeros((), device=self.feature_mean.device)
