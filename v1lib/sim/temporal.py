"""Time in the in-silico V1: the static simulator's neurons watching a screen
that changes every frame.

Each neuron keeps its receptive field (:class:`~v1lib.sim.population.Population`:
features, pooling, surround, output nonlinearity) and gains a temporal kernel.
The feature bank's first stage, the Gabor filters, is linear, so a kernel in
time is applied to the filter outputs before any nonlinearity: a simple cell
rectifies its temporally filtered linear response, a complex cell takes the
energy of a temporally filtered quadrature pair. Three temporal types:

* ``sustained``: a monophasic kernel (positive gain for a static pattern):
  responds for as long as a pattern is shown;
* ``transient``: a biphasic kernel (no gain for a static pattern): responds to
  change;
* ``direction``: the even filter through one kernel plus the odd filter through
  the other (the motion energy of Adelson & Bergen 1985), a filter oriented in
  space-time: it prefers one of the two directions of motion orthogonal to its
  orientation (``direction_sign``). Simple and complex units only.

Each neuron responds after a latency of the kernel's own delay plus 0 to 2
frames. The contrast-normalisation pools follow the sustained signal. Before
a clip the screen is grey.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .population import Population

TEMPORAL_TYPES = ("sustained", "transient", "direction")


@dataclass(frozen=True)
class TemporalConfig:
    tau_ms: float = 30.0  # time constant of the monophasic kernel (peak at 2 tau)
    kernel_frames: int = 12  # length of the kernels
    transient_fraction: float = 0.4  # of the units that are not direction selective
    direction_fraction: float = 0.3  # of the simple and complex units
    latency_frames: tuple[int, int] = (0, 2)  # extra delay, frames (inclusive range)


def config_error(c: TemporalConfig) -> str | None:
    """Why ``c`` cannot make kernels and latencies; None where it can."""
    if not c.tau_ms > 0:
        return f"'tau_ms' must be positive, got {c.tau_ms}"
    if c.kernel_frames < 3:  # tap 0 is zero; the biphasic kernel needs two taps more
        return f"'kernel_frames' must be at least 3, got {c.kernel_frames}"
    for name in ("transient_fraction", "direction_fraction"):
        if not 0 <= getattr(c, name) <= 1:
            return f"'{name}' must be from 0 to 1, got {getattr(c, name)}"
    lo, hi = c.latency_frames
    if not 0 <= lo <= hi:
        return f"'latency_frames' must be [low, high] with 0 <= low <= high, got {[lo, hi]}"
    return None


def kernels(c: TemporalConfig, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """The monophasic and biphasic kernels (k,) of unit L2 norm, tap 0 = now."""
    t = np.arange(c.kernel_frames) / fps
    gamma = lambda tau: (lambda g: g / g.sum())((t / tau) ** 2 * np.exp(-t / tau))
    tau = c.tau_ms / 1000.0
    mono = gamma(tau)
    bi = gamma(tau) - gamma(2.0 * tau)  # equal areas: no response to a static pattern
    return mono / np.linalg.norm(mono), bi / np.linalg.norm(bi)


def causal(x: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """``x`` (T, ...) filtered along time by ``kernel`` (tap 0 = now), zero
    (grey) before the first frame."""
    out = torch.zeros_like(x)
    for k, w in enumerate(kernel):
        if k < len(x):
            out[k:] += float(w) * x[: len(x) - k]
    return out


class VideoNeurons:
    """A population with temporal kernels: :meth:`drive` of a clip seen with an
    eye shift per frame, standardised over a reference set of clips."""

    def __init__(self, pop: Population, config: TemporalConfig, fps: float,
                 rng: np.random.Generator, reference=None):
        self.pop, self.config, self.fps = pop, config, float(fps)
        n = pop.config.n_neurons
        spatial = np.isin(pop.feature_type, ("simple", "complex"))
        ds = spatial & (rng.random(n) < config.direction_fraction)
        transient = rng.random(n) < config.transient_fraction
        self.temporal_type = np.where(ds, "direction", np.where(transient, "transient",
                                                                "sustained"))
        self.direction_sign = np.where(ds, rng.choice([-1.0, 1.0], n), 0.0).astype(np.float32)
        lo, hi = config.latency_frames
        self.latency = rng.integers(lo, hi + 1, n)
        self.mono, self.bi = kernels(config, fps)
        if reference is not None:
            self.calibrate(reference)

    def calibrate(self, clips) -> None:
        """Standardise the drive over ``clips`` (a list of (T, H, W) frames; the
        first 10 frames of each, the onset, left out), seen at the mean eye position."""
        self.pop.set_drive_statistics(None)
        raw = [self.drive(c)[10:] for c in clips]
        self.pop.set_drive_statistics(torch.from_numpy(np.concatenate(raw)))

    def filtered(self, frames: np.ndarray, device="cpu") -> dict:
        """What a clip's drives are read from: per temporal type (and direction
        sign), the luminance input and the bank's components, on ``device``.
        The frames are filtered in time first (the Gabor filters are linear, so
        this is the same as filtering their outputs)."""
        bank = self.pop.bank
        grey = torch.from_numpy(np.asarray(frames)).to(device).float() - 127.5
        lum_s, lum_t = 127.5 + causal(grey, self.mono), 127.5 + causal(grey, self.bi)
        zs, zt = bank.filter(lum_s), bank.filter(lum_t)
        d = bank.denominator(zs)
        out = {("sustained", 0.0): (lum_s, (zs.real.contiguous(), zs.imag.contiguous(), d)),
               ("transient", 0.0): (lum_t, (zt.real.contiguous(), zt.imag.contiguous(), d))}
        for sign in (-1.0, 1.0):
            out[("direction", sign)] = (lum_s, ((zs.real + sign * zt.imag).contiguous(),
                                                (zs.imag - sign * zt.real).contiguous(), d))
        return out

    def drive(self, frames: np.ndarray, shift: np.ndarray | None = None,
              torsion: np.ndarray | None = None, filtered: dict | None = None) -> np.ndarray:
        """Standardised drive (T, N) of a clip (T, H, W) seen with an RF shift
        (T, 2) px and a torsion (T,) rad per frame (none by default).
        ``filtered``: the clip's :meth:`filtered`, to read several presentations
        of one clip without filtering it again."""
        filtered = self.filtered(frames) if filtered is None else filtered
        T, n = len(frames), self.pop.config.n_neurons
        sx, sy = (None, None) if shift is None else (shift[:, 0], shift[:, 1])
        out = np.empty((T, n), dtype=np.float32)
        with torch.no_grad():
            for (kind, sign), (lum, comps) in filtered.items():
                who = np.flatnonzero((self.temporal_type == kind) & (self.direction_sign == sign))
                if len(who):
                    out[:, who] = self.pop.drive(lum, sx, sy, None, torsion, components=comps,
                                                 neurons=who).cpu().numpy()
        return self._delay(out, self.pop.grey_drive())

    def _delay(self, drive: np.ndarray, grey: np.ndarray) -> np.ndarray:
        """Each neuron's drive ``latency`` frames later, grey before."""
        out = np.empty_like(drive)
        for lag in np.unique(self.latency):
            who = self.latency == lag
            out[:lag, who] = grey[who]
            out[lag:, who] = drive[: len(drive) - lag, who]
        return out
