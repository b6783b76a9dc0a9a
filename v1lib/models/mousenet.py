"""MouseNet (Shi et al. 2022): a feedforward convolutional network of the mouse
visual cortex whose populations, projections and sparse connections follow
anatomy (:mod:`v1lib.anatomy`).

Populations are visited in topological order; each is ``ReLU(BN(sum of its
incoming masked convolutions))``. A projection's weights are multiplied by a
fixed binary mask, drawn once per (output, input) kernel slice with probability
``min(1, peak exp(-r^2 / 2 sigma^2))`` (the two LGN projections are dense). The
classifier is one linear map of the L5 populations, each average-pooled to
``pool`` x ``pool`` and concatenated in the architecture's order. Called as
``model(scan, stimulus)`` on stimuli (B, in_channels, input_size, input_size),
it returns class logits (B, classes), so it trains through
:func:`v1lib.train.fit` with :class:`v1lib.objectives.CrossEntropy`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..anatomy import INPUT, Architecture, Projection, architecture
from ..config import check_options, check_types


@dataclass(frozen=True)
class MouseNetConfig:
    width: float = 1.0  # multiplies every population's channels (the paper: 1)
    input_size: int = 64  # px per side of the stimulus; scales grids and mask widths
    in_channels: int = 1  # 1 for grey stimuli (the paper: 3, colour)
    classes: int = 10
    pool: int = 4  # px per side of each pooled L5 population
    mask_seed: int = 2021  # the masks' seed (the paper's fixed masks: 2021)

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "model config") -> MouseNetConfig:
        d = dict(d or {})
        check_options(cls, d, source)
        check_types(cls, d, source)
        cfg = cls(**d)
        if cfg.classes < 1 or cfg.pool < 1:
            raise ValueError(f"{source}: 'classes' and 'pool' must be positive integers, got "
                             f"{cfg.classes} and {cfg.pool}")
        try:
            cfg.architecture()
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from e
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def architecture(self) -> Architecture:
        return architecture(self.width, self.input_size, self.in_channels)

    def build(self, scans: dict | None = None, stimulus_shape=None) -> MouseNet:
        """The network; called by the trainer with the scans' infos (one
        classifier: the number of classes is their ``n_neurons``, the output
        units) and the stimulus shape, which must be ``input_size`` square."""
        cfg = self
        if scans:
            classes = {info.n_neurons for info in scans.values()}
            if len(classes) != 1:
                raise ValueError(f"MouseNet has one classifier; the scans have {sorted(classes)} "
                                 "classes")
            cfg = dataclasses.replace(cfg, classes=classes.pop())
        if stimulus_shape is not None and tuple(stimulus_shape) != (cfg.input_size,) * 2:
            raise ValueError(f"MouseNet with input_size {cfg.input_size} takes "
                             f"{cfg.input_size} x {cfg.input_size} px stimuli; these are "
                             f"{stimulus_shape[0]} x {stimulus_shape[1]} (resize them, or set "
                             "input_size)")
        return MouseNet(cfg)


def projection_seed(seed: int, index: int) -> int:
    """The seed of projection ``index``'s mask, from the network's ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def draw_mask(projection: Projection, c_in: int, c_out: int, seed: int) -> torch.Tensor:
    """A binary (c_out, c_in, k, k) mask: each kernel slice drawn independently,
    ``rand(k, k) < peak exp(-r^2 / 2 sigma^2)``; all ones for a dense projection."""
    k = projection.kernel
    if projection.dense:
        return torch.ones(c_out, c_in, k, k)
    g = torch.Generator().manual_seed(seed)
    prob = torch.as_tensor(projection.probability(), dtype=torch.float32)
    return (torch.rand(c_out, c_in, k, k, generator=g) < prob).float()


class MaskedConv2d(nn.Module):
    """A convolution whose weight is multiplied by a fixed binary mask (a buffer:
    saved with the weights, never trained), with the projection's explicit
    padding (asymmetric for stride 2, so that the grid halves exactly)."""

    def __init__(self, projection: Projection, c_in: int, c_out: int, seed: int):
        super().__init__()
        conv = nn.Conv2d(c_in, c_out, projection.kernel)  # PyTorch's default initialisation
        self.weight, self.bias = conv.weight, conv.bias
        self.stride, self.padding = projection.stride, projection.padding
        self.register_buffer("mask", draw_mask(projection, c_in, c_out, seed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, self.padding), self.weight * self.mask, self.bias, self.stride)

    def extra_repr(self) -> str:
        c_out, c_in, k = self.weight.shape[:3]
        return (f"{c_in}, {c_out}, kernel={k}, stride={self.stride}, padding={self.padding}, "
                f"density={float(self.mask.mean()):.3f}")


def _key(name: str) -> str:
    """A population's name as a module key ("VISp2/3" -> "VISp23")."""
    return name.replace("/", "")


class MouseNet(nn.Module):
    """MouseNet built from ``architecture(width, input_size, in_channels)``;
    ``model(scan, stimulus)`` -> class logits (B, classes)."""

    temporal = False

    def __init__(self, config: MouseNetConfig | None = None):
        super().__init__()
        c = self.config = config or MouseNetConfig()
        arch = self.arch = c.architecture()
        self.convs = nn.ModuleList(
            MaskedConv2d(p, arch.channels(p.source), arch.channels(p.target),
                         projection_seed(c.mask_seed, i))
            for i, p in enumerate(arch.projections))
        self.norms = nn.ModuleDict({_key(p.name): nn.BatchNorm2d(p.channels)
                                    for p in arch.populations})
        self.pool = nn.AdaptiveAvgPool2d(c.pool)
        n = sum(arch.population(o).channels for o in arch.outputs) * c.pool**2
        self.classifier = nn.Linear(n, c.classes)
        self._inputs = {p.name: [i for i, q in enumerate(arch.projections) if q.target == p.name]
                        for p in arch.populations}
        # projections from one source with the same stride and kernel centre run as one
        # convolution (smaller kernels zero-padded): a third of the time on a CPU
        key = lambda q: (q.source, q.stride, (q.kernel - 1) // 2 - q.padding[0])
        self._group = [[j for j, r in enumerate(arch.projections) if key(r) == key(q)]
                       for q in arch.projections]

    def _check(self, stimulus: torch.Tensor) -> None:
        a = self.arch
        want = (a.in_channels, a.input_size, a.input_size)
        if stimulus.ndim != 4 or tuple(stimulus.shape[1:]) != want:
            raise ValueError(f"MouseNet takes stimuli of (B, {', '.join(map(str, want))}) "
                             f"(in_channels, input_size, input_size); got "
                             f"{tuple(stimulus.shape)}")

    def _needed(self, names: list[str]) -> set[str]:
        """The populations that ``names`` are computed from, and themselves."""
        needed = set(names)
        for p in reversed(self.arch.populations):
            if p.name in needed:
                needed.update(self.arch.projections[i].source for i in self._inputs[p.name])
        return needed

    def populations(self, stimulus: torch.Tensor, names=None) -> dict[str, torch.Tensor]:
        """The activations (B, channels, grid, grid) of populations ``names`` (all
        when None), computing only the populations they depend on."""
        self._check(stimulus)
        names = [p.name for p in self.arch.populations] if names is None else list(names)
        for n in names:
            self.arch.population(n)
        needed, acts, out = self._needed(names), {INPUT: stimulus}, {}
        for p in self.arch.populations:
            if p.name in needed:
                for i in self._inputs[p.name]:
                    if i not in out:
                        out.update(self._project(i, acts, needed))
                x = sum(out.pop(i) for i in self._inputs[p.name])
                acts[p.name] = F.relu(self.norms[_key(p.name)](x))
        return {n: acts[n] for n in names}

    def _project(self, i: int, acts: dict, needed: set) -> dict[int, torch.Tensor]:
        """The output of projection ``i`` and of the needed projections grouped with it,
        by projection index, from one convolution."""
        projections = self.arch.projections
        members = [j for j in self._group[i] if projections[j].target in needed]
        x = acts[projections[i].source]
        if len(members) == 1:
            return {i: self.convs[i](x)}
        widest = max(members, key=lambda j: projections[j].kernel)
        k, convs = projections[widest].kernel, [self.convs[j] for j in members]
        weight = torch.cat([F.pad(c.weight * c.mask, ((k - c.weight.shape[-1]) // 2,) * 4)
                            for c in convs])
        bias = torch.cat([c.bias for c in convs])
        y = F.conv2d(F.pad(x, projections[widest].padding), weight, bias,
                     projections[widest].stride)
        return dict(zip(members, y.split([c.weight.shape[0] for c in convs], 1)))

    def features(self, stimulus: torch.Tensor) -> torch.Tensor:
        """The classifier's input (B, F): each output population pooled and flattened."""
        acts = self.populations(stimulus, self.arch.outputs)
        return torch.cat([self.pool(acts[o]).flatten(1) for o in self.arch.outputs], 1)

    def forward(self, scan: str, stimulus: torch.Tensor | None = None,
                features: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits (B, classes); ``features`` (from :meth:`features`) skip the network."""
        if features is None:
            if stimulus is None:
                raise ValueError("MouseNet needs a stimulus (or its features)")
            features = self.features(stimulus)
        return self.classifier(features)

    def regularizer(self, scan: str, core: bool = True) -> torch.Tensor:
        """No penalty (the paper trains with weight decay only)."""
        return torch.zeros((), device=self.classifier.weight.device)

    def clamp_(self) -> None:
        """Nothing to keep in range (the trainer calls it after every step)."""

    def n_parameters(self) -> int:
        """Trainable parameters (the masks are buffers, not counted)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
