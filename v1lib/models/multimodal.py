"""The multimodal recurrent model of Xu et al. (2023) for freely moving mice.

Per time bin, from the head-camera frame and the behaviour::

    frame' = warp(frame, shifter(θ, φ, pitch, roll))      (learned gaze correction)
    v      = Linear(CNN(frame'))                          one value per neuron
    b      = Linear(BatchNorm(behaviour features))        one value per neuron
    z      = BatchNorm([v, b, v * b])                      additive and gain-field terms
    rate   = softplus(Linear(GRU(z over the last `frames` bins)))

The model predicts the spikes of bin t from the inputs of the ``frames`` bins
that end ``offset`` bins earlier (the paper: offset 1, the next bin). A sample
carries :data:`~v1lib.tensors.HISTORY` bins of frames and behaviour; the model
takes what it reads from their end. Every part can be left out for the
ablations: the shifter, the visual stream (behaviour only), the behaviour
stream (vision only), the GRU (a linear readout of the fused features).

Behaviour features (:data:`FEATURE_SETS`) are built from the six z-scored
variables of the session schema, in the paper's order: speed, head pitch and
roll, the eye's φ and θ, and the eye's radius (the paper's ``eyerad``): the
variables, their change over one bin (all but speed), and pairwise products
(i < j; no squares) of either set. The paper forms products of the
raw values; here they are products of z-scored values (an affine change of
the raw products, which with the linear terms present spans the same
functions).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import check_options, check_types
from ..tensors import HISTORY
from .normalizer import Normalizer, ScanInfo

# the behaviour variables' columns (the session schema's order)
SPEED, PITCH, ROLL, EYE_PHI, EYE_THETA, EYE_RADIUS = range(6)
SHIFTER_INPUTS = (EYE_THETA, EYE_PHI, PITCH, ROLL)


def _products(x: torch.Tensor) -> torch.Tensor:
    """Pairwise products x_i x_j, i < j, of the last axis."""
    i, j = torch.triu_indices(x.shape[-1], x.shape[-1], offset=1, device=x.device)
    return x[..., i] * x[..., j]


def _sets(b: torch.Tensor, d: torch.Tensor) -> dict:
    velo = torch.cat([b[..., :1], d], -1)
    both = torch.cat([b, d], -1)
    return {"orig": b, "velo": velo, "all": both,
            "orig_prod": torch.cat([b, _products(b)], -1),
            "velo_prod": torch.cat([velo, _products(velo)], -1),
            "all_prod": torch.cat([both, _products(both)], -1),
            "S": torch.stack([b[..., SPEED], b[..., EYE_RADIUS], d[..., EYE_RADIUS - 1]], -1)}


# feature set -> its size, for 6 variables (the paper's Table 2)
FEATURE_SETS = {"orig": 6, "velo": 6, "all": 11, "orig_prod": 21, "velo_prod": 21,
                "all_prod": 66, "S": 3}


def behavior_features(window: torch.Tensor, name: str) -> torch.Tensor:
    """Feature set ``name`` of a behaviour window (B, L + 1, 6) -> (B, L, d): each
    bin's variables and their change since the bin before."""
    if name not in FEATURE_SETS:
        raise ValueError(f"unknown behaviour feature set '{name}'; choose from {list(FEATURE_SETS)}")
    b = window[:, 1:]
    d = window[:, 1:, 1:] - window[:, :-1, 1:]
    return _sets(b, d)[name]


@dataclass(frozen=True)
class MultimodalConfig:
    features: str = "all_prod"  # behaviour feature set, a key of FEATURE_SETS
    frames: int = 1  # bins of input history the GRU runs over (the paper's seq_len)
    offset: int = 1  # predict the bin this many bins after the last input bin
    vision: bool = True  # the visual stream (CNN on the head-camera frames)
    behavior: bool = True  # the behaviour stream and the fusion [v, b, v * b]
    shifter: bool = True  # learned gaze correction of the frames
    recurrent: bool = True  # a GRU; else a linear readout of the fused features
    channels: tuple[int, ...] = (128, 64, 32)  # of the CNN's layers (kernel, stride 2, no padding)
    kernel: int = 7
    dropout: float = 0.5
    hidden: int = 512  # GRU units
    shifter_hidden: int = 256
    max_shift: tuple[float, float] = (80 / 5.5, 60 / 5.5)  # px (x, y) at the shifter's tanh bounds
    max_rotation: float = 45.0  # deg at the tanh bound
    # L1 on the behaviour encoder's weights, sum |W| (the paper's mean |W| x 1 is about 10 x
    # sum |W| against our summed Poisson loss on ~5000 bins, for its batch of 256)
    gamma_behavior: float = 0.01

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "model config") -> MultimodalConfig:
        d = dict(d or {})
        check_options(cls, d, source)
        check_types(cls, d, source)
        for k in ("channels", "max_shift"):
            if k in d:
                d[k] = tuple(d[k])
        cfg = cls(**d)
        if cfg.features not in FEATURE_SETS:
            raise ValueError(f"{source}: unknown behaviour feature set '{cfg.features}'; choose "
                             f"from {list(FEATURE_SETS)}")
        if not (cfg.vision or cfg.behavior):
            raise ValueError(f"{source}: the model needs 'vision' or 'behavior' (or both)")
        if not 0 <= cfg.dropout < 1:
            raise ValueError(f"{source}: 'dropout' must be in [0, 1), got {cfg.dropout}")
        if cfg.frames < 1 or cfg.offset < 0 or cfg.history > HISTORY:
            raise ValueError(f"{source}: 'frames' must be >= 1 and 'offset' >= 0, with frames + "
                             f"offset <= {HISTORY - 1} (the history a sample carries); got "
                             f"{cfg.frames} and {cfg.offset}")
        if not cfg.channels or min(cfg.channels) < 1 or cfg.kernel < 1:
            raise ValueError(f"{source}: 'channels' must be positive layer widths and 'kernel' "
                             "positive")
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def history(self) -> int:
        """Bins of history a sample must carry: the frames, the offset, and one bin
        for the change of the behaviour."""
        return self.frames + self.offset + 1

    def build(self, scans: dict[str, ScanInfo], stimulus_shape: tuple[int, int]) -> Multimodal:
        return Multimodal(self, scans, stimulus_shape)


class Shifter(nn.Module):
    """θ, φ, pitch, roll -> a shift (px) and rotation of the frame, applied as an
    affine warp about the frame's centre (the paper's MLP; its tanh outputs
    plus a learned bias, scaled to ``max_shift`` and ``max_rotation``)."""

    def __init__(self, c: MultimodalConfig):
        super().__init__()
        h = c.shifter_hidden
        self.mlp = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, h), nn.BatchNorm1d(h), nn.Tanh(),
                                 nn.Linear(h, h), nn.BatchNorm1d(h), nn.Tanh(), nn.Linear(h, 3),
                                 nn.Tanh())
        self.bias = nn.Parameter(torch.zeros(3))
        self.register_buffer("scale", torch.tensor([*c.max_shift, c.max_rotation],
                                                   dtype=torch.float32))

    def forward(self, eye_head: torch.Tensor) -> torch.Tensor:
        """(B, 4) -> (B, 3): x shift, y shift (px), rotation (deg)."""
        return (self.mlp(eye_head) + self.bias) * self.scale

    @staticmethod
    def warp(frames: torch.Tensor, moves: torch.Tensor) -> torch.Tensor:
        """Frames (B, 1, H, W) read at ``c + R (p - c) + shift`` (bilinear; zero,
        the mean grey of z-scored frames, beyond the edges)."""
        h, w = frames.shape[-2:]
        a = torch.deg2rad(moves[:, 2])
        cos, sin = torch.cos(a), torch.sin(a)
        # affine_grid works in [-1, 1] coordinates: scale pixel shifts and keep the
        # rotation isotropic in pixels
        sx, sy = (w - 1) / 2, (h - 1) / 2
        theta = torch.stack([torch.stack([cos, -sin * sy / sx, moves[:, 0] / sx], -1),
                             torch.stack([sin * sx / sy, cos, moves[:, 1] / sy], -1)], 1)
        grid = F.affine_grid(theta, list(frames.shape), align_corners=True)
        return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros",
                             align_corners=True)


class Dropout(nn.Module):
    """Element-wise dropout, as ``nn.Dropout`` (kept values scaled by 1 / (1 - p)),
    with its mask drawn by ``rand_like``: three times faster on a CPU."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * (torch.rand_like(x) >= self.p) / (1 - self.p)


class VisualEncoder(nn.Module):
    """Conv (stride 2, no padding) + batch norm + ReLU + dropout per layer, then
    a linear map of the flattened features to one value per neuron. The
    convolutions run channels-last (on a CPU a third faster for these shapes)."""

    def __init__(self, c: MultimodalConfig, n_neurons: int, shape: tuple[int, int]):
        super().__init__()
        layers, cin, (h, w) = [], 1, shape
        for cout in c.channels:
            layers += [nn.Conv2d(cin, cout, c.kernel, stride=2), nn.BatchNorm2d(cout), nn.ReLU(),
                       Dropout(c.dropout)]
            cin, h, w = cout, (h - c.kernel) // 2 + 1, (w - c.kernel) // 2 + 1
            if h < 1 or w < 1:
                raise ValueError(f"frames of {tuple(shape)} are too small for {len(c.channels)} "
                                 f"layers of kernel {c.kernel} and stride 2")
        self.conv = nn.Sequential(*layers).to(memory_format=torch.channels_last)
        self.linear = nn.Linear(cin * h * w, n_neurons)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.conv(frames.contiguous(memory_format=torch.channels_last))
        return self.linear(x.contiguous().flatten(1))


class Multimodal(nn.Module):
    """One animal's model (Xu et al. 2023); called as ``model(scan, stimulus,
    behavior)`` with a sample's history: frames (B, T, 1, H, W) and behaviour
    (B, T, 6), normalised; returns normalised spike counts (B, N)."""

    temporal = False

    def __init__(self, config: MultimodalConfig, scans: dict[str, ScanInfo],
                 stimulus_shape: tuple[int, int]):
        super().__init__()
        if len(scans) != 1:
            raise ValueError(f"the multimodal model is fitted to one session; got {len(scans)}: "
                             f"{list(scans)}")
        (self.scan, info), = scans.items()
        if config.behavior or config.shifter:
            if "behavior" not in info.inputs or info.n_columns("behavior") != 6:
                raise ValueError("the multimodal model's behaviour stream and shifter read the 6 "
                                 "behaviour variables of the session schema (input 'behavior')")
        c, n = config, info.n_neurons
        self.config, self.scans = c, [self.scan]
        self.shifter = Shifter(c) if c.shifter and c.vision else None
        self.visual = VisualEncoder(c, n, stimulus_shape) if c.vision else None
        self.behavior_encoder = (nn.Sequential(nn.BatchNorm1d(FEATURE_SETS[c.features]),
                                               nn.Linear(FEATURE_SETS[c.features], n))
                                 if c.behavior else None)
        streams = 3 if c.vision and c.behavior else 1
        self.fusion = nn.BatchNorm1d(streams)
        if c.recurrent:
            self.gru = nn.GRU(streams * n, c.hidden, batch_first=True)
            self.readout = nn.Linear(c.hidden, n)
        else:
            self.gru = None
            self.readout = nn.Linear(streams * n * c.frames, n)
        self.normalizers = nn.ModuleDict({self.scan: Normalizer(info)})
        if info.response_mean is not None:  # start at each neuron's mean response
            with torch.no_grad():
                m = torch.as_tensor(np.asarray(info.response_mean, dtype=np.float32)).clamp_min(1e-3)
                self.readout.bias.copy_(m + torch.log(-torch.expm1(-m)))  # inverse softplus

    def window(self, x: torch.Tensor, extra: int = 0) -> torch.Tensor:
        """The bins the model reads from a sample's history (B, T, ...): the last
        ``frames`` (+ ``extra`` before them) that end ``offset`` bins before the
        sample's own bin."""
        c = self.config
        if x.shape[1] < c.history:
            raise ValueError(f"the model reads {c.history} bins of history (frames {c.frames}, "
                             f"offset {c.offset}); the samples carry {x.shape[1]}")
        end = x.shape[1] - c.offset
        return x[:, end - c.frames - extra:end]

    def streams(self, stimulus: torch.Tensor | None, behavior: torch.Tensor | None
                ) -> torch.Tensor:
        """The fused per-bin features (B, frames, streams x N)."""
        c = self.config
        parts = []
        if c.vision:
            frames = self.window(stimulus)
            B, L = frames.shape[:2]
            x = frames.flatten(0, 1)
            if self.shifter is not None:
                eye_head = self.window(behavior)[..., list(SHIFTER_INPUTS)].flatten(0, 1)
                x = Shifter.warp(x, self.shifter(eye_head))
            parts.append(self.visual(x).unflatten(0, (B, L)))
        if c.behavior:
            feats = behavior_features(self.window(behavior, extra=1), c.features)
            B, L = feats.shape[:2]
            parts.append(self.behavior_encoder(feats.flatten(0, 1)).unflatten(0, (B, L)))
        if len(parts) == 2:
            parts.append(parts[0] * parts[1])
        z = torch.stack(parts, 2)  # (B, L, streams, N)
        return self.fusion(z.flatten(0, 1)).unflatten(0, (B, L)).flatten(2)

    def forward(self, scan: str, stimulus: torch.Tensor | None = None,
                behavior: torch.Tensor | None = None) -> torch.Tensor:
        if scan != self.scan:
            raise ValueError(f"this model was fitted to session '{self.scan}', not '{scan}'")
        one = stimulus if stimulus is not None else behavior
        if self.training and one is not None and len(one) == 1:
            # batch norm needs two values: a batch of one bin (a pass's last) runs as two copies
            twice = lambda x: None if x is None else torch.cat([x, x])
            return self(scan, twice(stimulus), twice(behavior))[:1]
        z = self.streams(stimulus, behavior)
        if self.gru is not None:
            z = self.gru(z)[0][:, -1]
        else:
            z = z.flatten(1)
        return F.softplus(self.readout(z))

    def regularizer(self, scan: str, core: bool = True) -> torch.Tensor:
        """L1 on the behaviour encoder's weights (``gamma_behavior`` x sum |W|)."""
        if self.behavior_encoder is None:
            return torch.zeros((), device=self.readout.weight.device)
        return self.config.gamma_behavior * self.behavior_encoder[1].weight.abs().sum()

    def clamp_(self) -> None:
        """Nothing to keep in range (the trainer calls it after every step)."""

    def n_parameters(self, part: str = "all", scan: str | None = None) -> int:
        parts = {"all": self, "shifter": self.shifter, "visual": self.visual,
                 "behavior": self.behavior_encoder, "recurrent": self.gru}
        if part not in parts:
            raise ValueError(f"unknown part '{part}'; choose from {list(parts)}")
        mod = parts[part]
        return 0 if mod is None else sum(p.numel() for p in mod.parameters() if p.requires_grad)

