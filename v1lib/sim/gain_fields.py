"""The neurons of the freely moving mouse: a visual drive from the retinal
image, combined with behaviour through gain fields and additive terms.

Each neuron's visual drive ``z`` is the static simulator's standardised
feature drive (:meth:`~v1lib.sim.population.Population.drive`) of the retinal
image: the head-camera frame read at the neuron's RF shifted by the eye
position and rotated by the eye's torsion. Its rate (Hz) in a bin is

    rate = R [(1 - m) + m V] exp(w . b) + R max(a . b, 0),    x  exp(l s - l^2 / 2)

with ``V`` the soft-thresholded drive (mixing the bin's and the previous bin's
drive by the history weight ``h``), scaled to mean 1 over reference views of
the arena; ``b`` the behaviour variables, each standardised by a fixed centre
and scale (:data:`STANDARD`); ``w`` the log-gain weights (the gain fields)
and ``a`` the additive weights; ``R`` the base rate, ``m`` the visual weight;
and a latent state ``s`` (unit-variance AR(1), not recorded) with loading
``l``, whose gain has mean 1.

Each neuron depends on a known subset of :data:`DEPENDENCY_GROUPS`: ``visual``
(m > 0), ``position`` (head pitch and roll, eye θ and φ), ``speed`` and
``pupil``; the weights of the groups it does not depend on are exactly 0.
Classes: ``visual`` (vision only), ``mixed`` (vision and at least one
behaviour group) and ``behavior`` (one or more behaviour groups, no vision).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.session import BEHAVIOR_VARS
from .population import Population

DEPENDENCY_GROUPS = ("visual", "position", "speed", "pupil")
GROUP_VARS = {"position": ("pitch", "roll", "eye_phi", "eye_theta"), "speed": ("speed",),
              "pupil": ("pupil",)}
NEURON_CLASSES = ("visual", "mixed", "behavior")
# the centre and scale each behaviour variable is standardised by, in its units
STANDARD = {"speed": (8.0, 10.0), "pitch": (-5.0, 10.0), "roll": (0.0, 8.0),
            "eye_phi": (2.5, 6.0), "eye_theta": (0.0, 8.0), "pupil": (18.0, 2.0)}


@dataclass(frozen=True)
class NeuronConfig:
    class_fractions: tuple[float, float, float] = (0.3, 0.5, 0.2)  # visual, mixed, behavior
    group_prob: float = 0.5  # chance of each behaviour group (at least one where needed)
    base_rate_hz: tuple[float, float] = (4.0, 0.8)  # median and log-SD of R
    visual_weight: tuple[float, float] = (0.6, 0.95)  # range of m
    gain_sd: float = 0.3  # SD of the log-gain weights
    speed_gain_mean: float = 0.25  # running raises most rates
    additive_sd: float = 0.3  # SD of the additive weights
    history_weight: tuple[float, float] = (0.0, 0.5)  # range of h
    state_loading_sd: float = 0.2


def config_error(c: NeuronConfig) -> str | None:
    """Why ``c`` cannot make neurons; None where it can."""
    fr = c.class_fractions
    if any(not f >= 0 for f in fr) or not sum(fr) > 0:
        return f"'class_fractions' must be non-negative with a positive sum, got {list(fr)}"
    if not 0 < c.group_prob <= 1:
        return f"'group_prob' must be above 0 and at most 1, got {c.group_prob}"
    if not c.base_rate_hz[0] > 0 or not c.base_rate_hz[1] >= 0:
        return f"'base_rate_hz' must be [median > 0, log-SD >= 0], got {list(c.base_rate_hz)}"
    for name in ("visual_weight", "history_weight"):
        lo, hi = getattr(c, name)
        if not 0 <= lo <= hi <= 1:
            return f"'{name}' must be [low, high] with 0 <= low <= high <= 1, got {[lo, hi]}"
    for name in ("gain_sd", "additive_sd", "state_loading_sd"):
        if not getattr(c, name) >= 0:
            return f"'{name}' must be non-negative, got {getattr(c, name)}"
    return None


def standardise(behavior: np.ndarray) -> np.ndarray:
    """Behaviour (T, 6, in :data:`BEHAVIOR_VARS` order) in standard units."""
    centre, scale = (np.array([STANDARD[v][k] for v in BEHAVIOR_VARS]) for k in (0, 1))
    return ((np.asarray(behavior, dtype=np.float64) - centre) / scale).astype(np.float32)


class MovingNeurons:
    """Ground truth of the neurons of one animal (module docstring)."""

    def __init__(self, pop: Population, config: NeuronConfig, rng: np.random.Generator):
        self.pop, self.config = pop, config
        n = pop.config.n_neurons
        fr = np.asarray(config.class_fractions, dtype=float)
        self.neuron_class = np.array(NEURON_CLASSES)[rng.choice(3, n, p=fr / fr.sum())]
        self.dependency = self._dependencies(rng)
        base, log_sd = config.base_rate_hz
        self.base_rate = (base * np.exp(rng.normal(0, log_sd, n))).astype(np.float32)
        self.visual_weight = np.where(self.dependency[:, 0], rng.uniform(*config.visual_weight, n),
                                      0.0).astype(np.float32)
        self.history = rng.uniform(*config.history_weight, n).astype(np.float32)
        self.gain_weights, self.additive_weights = self._weights(rng)
        self.state_loading = np.abs(rng.normal(0, config.state_loading_sd, n)).astype(np.float32)
        self.visual_scale = np.ones(n, dtype=np.float32)

    def _dependencies(self, rng: np.random.Generator) -> np.ndarray:
        """(N, 4) booleans over :data:`DEPENDENCY_GROUPS`."""
        n, p = len(self.neuron_class), self.config.group_prob
        groups = rng.random((n, 3)) < p
        needs = self.neuron_class != "visual"
        none = needs & ~groups.any(1)
        groups[none, rng.integers(0, 3, int(none.sum()))] = True  # at least one group
        groups[self.neuron_class == "visual"] = False
        return np.concatenate([(self.neuron_class != "behavior")[:, None], groups], axis=1)

    def _weights(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Log-gain and additive weights (N, 6), zero outside each neuron's groups."""
        c, n = self.config, len(self.neuron_class)
        gain = rng.normal(0, c.gain_sd, (n, len(BEHAVIOR_VARS)))
        gain[:, BEHAVIOR_VARS.index("speed")] += c.speed_gain_mean
        additive = rng.normal(0, c.additive_sd, (n, len(BEHAVIOR_VARS)))
        mask = np.zeros((n, len(BEHAVIOR_VARS)), dtype=bool)
        for group, variables in GROUP_VARS.items():
            for v in variables:
                mask[:, BEHAVIOR_VARS.index(v)] = self.dependency[:, DEPENDENCY_GROUPS.index(group)]
        return (np.where(mask, gain, 0.0).astype(np.float32),
                np.where(mask, additive, 0.0).astype(np.float32))

    def _soft(self, drive: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(np.ascontiguousarray(drive, dtype=np.float32))
        thr = torch.from_numpy(self.pop.threshold)
        b = self.pop.BETA
        return (torch.nn.functional.softplus(b * (z - thr)) / b).numpy()

    def calibrate(self, reference_drive: np.ndarray) -> None:
        """Scale ``V`` to mean 1 over the drives (Q, N) of reference views."""
        self.visual_scale = (self._soft(reference_drive).mean(0) + 1e-6).astype(np.float32)

    def visual(self, drive: np.ndarray) -> np.ndarray:
        """``V`` (T, N) from the drive of consecutive bins (T, N)."""
        previous = np.concatenate([drive[:1], drive[:-1]])
        mixed = (1 - self.history) * drive + self.history * previous
        return self._soft(mixed) / self.visual_scale

    def rates(self, drive: np.ndarray, behavior: np.ndarray, state: np.ndarray | None = None
              ) -> np.ndarray:
        """Rates (T, N) in Hz given the drive (T, N), the behaviour (T, 6, in
        :data:`BEHAVIOR_VARS` order) and the latent state (T,); without the
        state (None), its expectation: the rate a model of the recorded inputs
        can at best predict."""
        b = standardise(behavior)
        log_gain = np.clip(b @ self.gain_weights.T, -2.0, 2.0)
        m = self.visual_weight[None]
        rate = self.base_rate * ((1 - m + m * self.visual(drive)) * np.exp(log_gain)
                                 + np.maximum(b @ self.additive_weights.T, 0.0))
        if state is not None:
            loading = self.state_loading[None]
            rate = rate * np.exp(loading * state[:, None] - loading**2 / 2)
        return rate.astype(np.float32)
