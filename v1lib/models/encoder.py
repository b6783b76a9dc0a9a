"""The whole model: a shared core, and per animal (scan) a readout, optionally a
shifter and a modulator, and the normalisation of that scan's data.

    rate = ELU(readout(core(image), shift=shifter(pupil_center))) + 1
    rate = rate * modulator(behavior)                 (with a modulator)

The model works on normalised data (images z-scored, responses divided by their
SD, behaviour divided by its SD, pupil centre z-scored), with the rules of
neuralpredictors' ``NeuroNormalizer`` but statistics from the training trials
only (it uses all tiers), so that nothing of the test set leaks into training.

The modulator's gain multiplies the rate *after* the output nonlinearity, so a
gain of 2 doubles the predicted response, as behavioural gain does in the
in-silico V1; neuralpredictors' ``MLPModulator`` is applied before it.
:meth:`Encoder.predict` takes raw arrays and returns responses in their
original units, so in-silico experiments need no knowledge of the scaling.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import check_options
from .behavior import Modulator, Shifter
from .core import CoreConfig, Stacked2dCore, stack_error
from .readouts import FactorizedReadout, GaussianReadout, PointPooledReadout

READOUTS = ("gaussian", "factorized", "point")


@dataclass(frozen=True)
class ModelConfig:
    core: CoreConfig = field(default_factory=CoreConfig)
    readout: str = "gaussian"  # gaussian | factorized | point
    grid_predictor: bool = True  # Gaussian only: positions from cortical coordinates
    shifter: bool = False
    modulator: bool = False
    gamma_readout: float = 0.0076  # L1 on the readout's weights
    init_sigma: float = 0.1
    init_mu_range: float = 0.3

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "model config") -> ModelConfig:
        d = dict(d or {})
        check_options(cls, d, source)
        if "core" in d and not isinstance(d["core"], CoreConfig):
            check_options(CoreConfig, d["core"], source, "core option")
            d["core"] = CoreConfig(**d["core"])
        cfg = cls(**d)
        if cfg.readout not in READOUTS:
            raise ValueError(f"{source}: unknown readout '{cfg.readout}'; choose from {list(READOUTS)}")
        for k in ("input_kernel", "hidden_kernel"):
            if getattr(cfg.core, k) % 2 == 0:
                raise ValueError(f"{source}: core option '{k}' must be odd (got "
                                 f"{getattr(cfg.core, k)}): 'same' padding needs a centre pixel")
        if error := stack_error(cfg.core.stack, cfg.core.layers):
            raise ValueError(f"{source}: {error}")
        if cfg.shifter and cfg.readout == "factorized":
            raise ValueError(f"{source}: the factorized readout has no position for a shifter to "
                             "move; use readout 'gaussian' or 'point' with shifter=True")
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class ScanInfo:
    """What the model needs to know of a scan to build its readout."""

    n_neurons: int
    cortical_xy: np.ndarray  # (N, 2) µm
    image_mean: float
    image_std: float
    response_std: np.ndarray  # (N,) the divisor of the responses
    behavior_mean: np.ndarray  # (3,) raw units: the behaviour assumed when none is given
    behavior_std: np.ndarray  # (3,)
    pupil_mean: np.ndarray  # (2,)
    pupil_std: np.ndarray  # (2,)


class Normalizer(nn.Module):
    """A scan's data statistics, kept with the model (buffers, saved in checkpoints)."""

    def __init__(self, info: ScanInfo):
        super().__init__()
        f = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))
        self.register_buffer("image_mean", f(info.image_mean))
        self.register_buffer("image_std", f(info.image_std))
        self.register_buffer("response_std", f(info.response_std))
        self.register_buffer("behavior_mean", f(info.behavior_mean))
        self.register_buffer("behavior_std", f(info.behavior_std))
        self.register_buffer("pupil_mean", f(info.pupil_mean))
        self.register_buffer("pupil_std", f(info.pupil_std))

    def images(self, x):
        return (x - self.image_mean) / self.image_std

    def behavior(self, b):
        return b / self.behavior_std

    def pupil(self, p):
        return (p - self.pupil_mean) / self.pupil_std


class Encoder(nn.Module):
    def __init__(self, config: ModelConfig, scans: dict[str, ScanInfo], image_shape: tuple[int, int]):
        super().__init__()
        self.config = config
        self.scans = list(scans)
        self.core = Stacked2dCore(config.core)
        h, w = self.core.output_shape(*image_shape)
        if h < 1 or w < 1:
            raise ValueError(f"images of {image_shape} are too small for an input kernel of "
                             f"{config.core.input_kernel}")
        c = self.core.out_channels
        self.readouts = nn.ModuleDict()
        for name, info in scans.items():
            if config.readout == "gaussian":
                ro = GaussianReadout(info.n_neurons, c,
                                     info.cortical_xy if config.grid_predictor else None,
                                     init_mu_range=config.init_mu_range,
                                     init_sigma=config.init_sigma, gamma=config.gamma_readout)
            elif config.readout == "factorized":
                ro = FactorizedReadout(info.n_neurons, c, h, w, gamma=config.gamma_readout)
            else:
                ro = PointPooledReadout(info.n_neurons, c, gamma=config.gamma_readout)
            self.readouts[name] = ro
        self.shifters = nn.ModuleDict({n: Shifter() for n in scans}) if config.shifter else None
        self.modulators = (nn.ModuleDict({n: Modulator(i.n_neurons) for n, i in scans.items()})
                           if config.modulator else None)
        self.normalizers = nn.ModuleDict({n: Normalizer(i) for n, i in scans.items()})

    def forward(self, images: torch.Tensor, scan: str, behavior: torch.Tensor | None = None,
                pupil_center: torch.Tensor | None = None, features: torch.Tensor | None = None):
        """Normalised inputs -> predicted normalised responses (B, N).

        ``features`` lets a caller pass a precomputed core output (frozen core)."""
        if self.shifters is not None and pupil_center is None:
            raise ValueError("this model has a shifter: pass 'pupil_center' (B, 2)")
        if self.modulators is not None and behavior is None:
            raise ValueError("this model has a modulator: pass 'behavior' (B, 3)")
        x = self.core(images) if features is None else features
        shift = self.shifters[scan](pupil_center) if self.shifters is not None else None
        rate = F.elu(self.readouts[scan](x, shift)) + 1
        if self.modulators is not None:
            rate = rate * self.modulators[scan](behavior)
        return rate

    def regularizer(self, scan: str, core: bool = True) -> torch.Tensor:
        reg = self.readouts[scan].regularizer()
        return reg + self.core.regularizer() if core else reg

    @torch.no_grad()
    def predict(self, images, scan: str, behavior=None, pupil_center=None,
                batch_size: int = 256) -> np.ndarray:
        """Raw images (T, H, W) (+ raw behaviour and pupil centre) -> responses in
        the scan's original units (T, N). Missing behaviour or pupil centre means
        their training-set average."""
        self.eval()
        dev = next(self.parameters()).device
        norm = self.normalizers[scan]
        images = torch.as_tensor(np.asarray(images, dtype=np.float32))
        T = images.shape[0]
        out = []
        for s in range(0, T, batch_size):
            x = norm.images(images[s:s + batch_size].to(dev)[:, None])
            b = p = None
            if self.modulators is not None:
                b = (norm.behavior(torch.as_tensor(np.asarray(behavior[s:s + batch_size],
                                                              dtype=np.float32), device=dev))
                     if behavior is not None else self.mean_behavior(scan, x.shape[0]))
            if self.shifters is not None:
                p = (norm.pupil(torch.as_tensor(np.asarray(pupil_center[s:s + batch_size],
                                                           dtype=np.float32), device=dev))
                     if pupil_center is not None else torch.zeros(x.shape[0], 2, device=dev))
            out.append((self(x, scan, b, p) * norm.response_std).float().cpu())
        return torch.cat(out).numpy()

    def mean_behavior(self, scan: str, batch: int) -> torch.Tensor:
        """The normalised training-set mean behaviour, repeated ``batch`` times."""
        norm = self.normalizers[scan]
        return norm.behavior(norm.behavior_mean)[None].expand(batch, -1)

    def n_parameters(self, part: str = "all", scan: str | None = None) -> int:
        """Number of trainable parameters of ``core``, ``readout`` (of ``scan``), or all."""
        mod = {"all": self, "core": self.core}.get(part)
        if part == "readout":
            mod = self.readouts[scan or self.scans[0]]
        if mod is None:
            raise ValueError(f"unknown part '{part}'; choose all, core or readout")
        return sum(p.numel() for p in mod.parameters() if p.requires_grad)
