"""The whole model, composed: a core shared by every animal (scan), and per scan
a readout, optionally a shifter and a modulator, and the normaliser of that
scan's data. Each part is named in :class:`ModelConfig` and looked up in a plain
dict of its module (``CORES``, ``READOUTS``, ``SHIFTERS``, ``MODULATORS``).

    rate = ELU(readout(core(stimulus), transform=shifter(eye))) + 1
    rate = rate * modulator(behavior)                 (with a modulator)

Inputs are named by role (``stimulus``, ``eye``, ``behavior``): a model is
called as ``model(scan, **inputs)`` with normalised tensors, and
:meth:`Encoder.predict` takes raw arrays and returns responses in the scan's
original units, so in-silico experiments need no knowledge of the scaling.

The modulator's gain multiplies the rate *after* the output nonlinearity, so a
gain of 2 doubles the predicted response, as behavioural gain does in the
simulated V1; neuralpredictors' ``MLPModulator`` is applied before it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import check_options, check_types
from .core import CORES, CoreConfig, stack_error
from .modulator import MODULATORS
from .normalizer import Normalizer, ScanInfo
from .readouts import POSITIONED, READOUTS
from .recurrent import Linear3dConfig, RecurrentConfig
from .shifter import SHIFTERS
from .task_core import TaskCoreConfig
from .true_bank import TrueBankConfig


@dataclass(frozen=True)
class ModelConfig:
    core: CoreConfig | TrueBankConfig | RecurrentConfig | Linear3dConfig | TaskCoreConfig = field(
        default_factory=CoreConfig)
    core_type: str = "stacked2d"  # a key of CORES
    readout: str = "gaussian"  # a key of READOUTS
    grid_predictor: bool = True  # Gaussian only: positions from cortical coordinates
    shifter: str | None = None  # a key of SHIFTERS, or None
    modulator: str | None = None  # a key of MODULATORS, or None
    gamma_readout: float = 0.0076  # L1 on the readout's weights
    init_sigma: float = 0.1
    init_mu_range: float = 0.3
    pool_kernel: int = 3  # point-pooled readout: kernel and stride of its average pooling

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "model config") -> ModelConfig:
        d = dict(d or {})
        check_options(cls, d, source)
        check_types(cls, d, source)
        for part, registry in (("core_type", CORES), ("readout", READOUTS),
                               ("shifter", SHIFTERS), ("modulator", MODULATORS)):
            name = d.get(part)
            if name is not None and name not in registry:
                raise ValueError(f"{source}: unknown {part.removesuffix('_type')} '{name}'; "
                                 f"choose from {list(registry)}")
        core_cls = CORES[d.get("core_type", "stacked2d")][0]
        if "core" in d and not isinstance(d["core"], core_cls):
            check_options(core_cls, d["core"], source, "core option")
            check_types(core_cls, d["core"], source, prefix="core.")
            d["core"] = core_cls(**d["core"])
        cfg = cls(**d)
        if isinstance(cfg.core, CoreConfig):
            for k in ("input_kernel", "hidden_kernel"):
                if getattr(cfg.core, k) % 2 == 0:
                    raise ValueError(f"{source}: core option '{k}' must be odd (got "
                                     f"{getattr(cfg.core, k)}): 'same' padding needs a centre "
                                     "pixel")
            if error := stack_error(cfg.core.stack, cfg.core.layers):
                raise ValueError(f"{source}: {error}")
        if cfg.shifter and cfg.readout not in POSITIONED:
            raise ValueError(f"{source}: the {cfg.readout} readout has no position for a shifter "
                             f"to move; use readout {' or '.join(map(repr, POSITIONED))} with a "
                             "shifter")
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def build(self, scans: dict[str, ScanInfo], stimulus_shape: tuple[int, int]) -> Encoder:
        """The model for ``scans``; a model of still stimuli has its convolutions
        in channels-last layout (depthwise ones run several times faster on CPU)."""
        model = Encoder(self, scans, stimulus_shape)
        return model if model.temporal else model.to(memory_format=torch.channels_last)


@torch.no_grad()
def start_at_mean(readout: nn.Module, mean: np.ndarray) -> None:
    """Set the readout's bias so that ELU + 1 of the bias alone (the readout's
    output without its features' term) is the neuron's mean training response,
    as the Lurz et al.
    (2021) code starts its readouts (the Sensorium 2022 baseline starts its bias
    at 0). Without it every neuron starts from the same prediction, and the first
    steps move all readout positions the same way; with a frozen core, the grid
    predictor can then saturate at a corner of the feature map and stay there."""
    m = torch.as_tensor(np.asarray(mean, dtype=np.float32)).clamp_min(1e-3)
    readout.bias.copy_(torch.where(m >= 1, m - 1, torch.log(m)))  # inverse of ELU + 1


class Encoder(nn.Module):
    def __init__(self, config: ModelConfig, scans: dict[str, ScanInfo],
                 stimulus_shape: tuple[int, int]):
        super().__init__()
        self.config = config
        self.scans = list(scans)
        self.core = CORES[config.core_type][1](config.core)
        h, w = self.core.output_shape(*stimulus_shape)
        if h < 1 or w < 1:
            raise ValueError(f"a stimulus of {tuple(stimulus_shape)} is too small for an input "
                             f"kernel of {config.core.input_kernel}")
        for role, part in (("eye", config.shifter), ("behavior", config.modulator)):
            lacking = [n for n, i in scans.items() if part and role not in i.inputs]
            if lacking:
                raise ValueError(f"the model's {'shifter' if role == 'eye' else 'modulator'} reads "
                                 f"input '{role}', which scan(s) {lacking} do not have")
        c = self.core.out_channels
        build = READOUTS[config.readout]
        self.readouts = nn.ModuleDict({n: build(i.n_neurons, c, (h, w), i.cortical_xy, config)
                                       for n, i in scans.items()})
        for n, i in scans.items():
            if i.response_mean is not None:
                start_at_mean(self.readouts[n], i.response_mean)
        self.shifters = (nn.ModuleDict({n: SHIFTERS[config.shifter](i.n_columns("eye"))
                                        for n, i in scans.items()}) if config.shifter else None)
        self.modulators = (nn.ModuleDict({n: MODULATORS[config.modulator](
            i.n_neurons, i.n_columns("behavior")) for n, i in scans.items()})
            if config.modulator else None)
        self.normalizers = nn.ModuleDict({n: Normalizer(i) for n, i in scans.items()})

    @property
    def roles(self) -> list[str]:
        """The inputs the model reads besides the stimulus."""
        return [r for r, part in (("eye", self.shifters), ("behavior", self.modulators))
                if part is not None]

    @property
    def temporal(self) -> bool:
        """Whether the model reads clips (B, C, T, H, W) and predicts (B, T, N)."""
        return bool(getattr(self.core, "temporal", False))

    def forward(self, scan: str, stimulus: torch.Tensor | None = None, eye=None, behavior=None,
                features: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised inputs -> predicted normalised responses (B, N), or (B, T, N)
        for a clip: the readout, shifter and modulator then act at every time step
        (``eye`` and ``behavior`` have a time axis too).

        ``features`` lets a caller pass a precomputed core output (frozen core)."""
        for role, value in (("eye", eye), ("behavior", behavior)):
            if value is None and role in self.roles:
                raise ValueError(f"this model reads input '{role}': pass {role}=... (B, columns)")
        x = self.core(stimulus) if features is None else features
        transform = self.shifters[scan](eye) if self.shifters is not None else None
        steps = x.shape[2] if x.dim() == 5 else None
        if steps is not None:  # (B, C, T, h, w): every time step is read like a still
            x = x.transpose(1, 2).flatten(0, 1)
            transform = None if transform is None else transform.flatten(0, 1)
        rate = F.elu(self.readouts[scan](x, transform)) + 1
        if steps is not None:
            rate = rate.unflatten(0, (-1, steps))
        if self.modulators is not None:
            rate = rate * self.modulators[scan](behavior)
        return rate

    def regularizer(self, scan: str, core: bool = True) -> torch.Tensor:
        reg = self.readouts[scan].regularizer()
        return reg + self.core.regularizer() if core else reg

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep learned positions on the feature map (after every optimiser step)."""
        for ro in self.readouts.values():
            if hasattr(ro, "clamp_"):
                ro.clamp_()

    def default_inputs(self, scan: str, batch: int) -> dict[str, torch.Tensor]:
        """The inputs besides the stimulus at their normalised training means."""
        return {r: self.normalizers[scan].mean_input(r, batch) for r in self.roles}

    @torch.no_grad()
    def predict(self, scan: str, stimulus, batch_size: int = 256, **raw) -> np.ndarray:
        """Raw stimuli (S, H, W), or clips (S, T, H, W), and optionally raw ``eye``
        (S, [T,] k) and ``behavior`` (S, [T,] k) -> responses in the scan's original
        units (S, [T,] N). An input not given is held at its training-set mean."""
        self.eval()
        dev = next(self.parameters()).device
        norm = self.normalizers[scan]
        unknown = set(raw) - set(norm.roles)
        if unknown:
            raise ValueError(f"unknown input(s) {sorted(unknown)}; this scan's inputs are "
                             f"{norm.roles}")
        stimulus = torch.as_tensor(np.asarray(stimulus, dtype=np.float32))
        per_sample = max(1, int(np.prod(stimulus.shape[1:])))
        batch_size = max(1, min(batch_size, 2**21 // per_sample))  # whole clips: a few at a time
        out = []
        for s in range(0, len(stimulus), batch_size):
            x = stimulus[s:s + batch_size].to(dev)
            one_channel = x.dim() == (4 if self.temporal else 3)
            x = norm.normalize("stimulus", x[:, None] if one_channel else x)
            inputs = self.default_inputs(scan, len(x))
            if self.temporal:  # held at the mean at every time step
                inputs = {r: v[:, None].expand(-1, x.shape[2], -1) for r, v in inputs.items()}
            for role, value in raw.items():
                if value is not None and role in inputs:
                    v = torch.as_tensor(np.asarray(value[s:s + batch_size], dtype=np.float32),
                                        device=dev)
                    inputs[role] = norm.normalize(role, v)
            out.append((self(scan, x, **inputs) * norm.response_std).float().cpu())
        return torch.cat(out).numpy()

    def n_parameters(self, part: str = "all", scan: str | None = None) -> int:
        """Number of trainable parameters of ``core``, ``readout`` (of ``scan``), or all."""
        mod = {"all": self, "core": self.core}.get(part)
        if part == "readout":
            mod = self.readouts[scan or self.scans[0]]
        if mod is None:
            raise ValueError(f"unknown part '{part}'; choose all, core or readout")
        return sum(p.numel() for p in mod.parameters() if p.requires_grad)
