"""A simulated population of V1 neurons in one animal (one scan).

Each neuron sits at a cortical position (µm). A smooth retinotopic map, with
scatter, sends it to a receptive-field (RF) centre on the screen. The neuron
pools one to three features of the shared :class:`~v1lib.sim.features.FeatureBank`
around its RF centre, passes the sum through a rectifying output nonlinearity,
and is gain-modulated by behaviour and a shared brain state. Responses are drawn
from a compound Poisson-gamma distribution, which is non-negative, heavy tailed
and exactly zero on many trials, like deconvolved calcium activity.

That much is the class of models the book fits (a shared feature bank read at
one point per neuron, an eye shift that translates every RF, a log-linear gain
after the nonlinearity): the *well-specified* world (``well_specified: true``).
By default the neurons also have mechanisms outside that class, each drawn per
neuron: RFs with spatial extent (the primary feature pooled along its
orientation) and a subtractive surround (same-orientation energy on a ring);
extra features of any orientation, frequency and type at offsets of several
pixels; a fraction of neurons driven by a luminance centre-surround feature
(ON or OFF) that the bank does not contain; behaviour acting on the drive
before the nonlinearity and additively after it; an eye-position gain field;
and a rotation of the RF positions about the screen centre with vertical eye
position (a torsion; preferred orientations stay), so that eye movements are
not a pure translation of every RF. With ``well_specified`` the neurons are of
the model class again; the data still differ from the simulator's first version
(photographs split by tier, the ceiling's expectation, the gains of behaviour
and of the state clipped separately).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.static import BEHAVIOR_VARS
from .features import FEATURE_TYPES, FeatureBank, bilinear, on_screen


@dataclass(frozen=True)
class PopulationConfig:
    n_neurons: int = 1000
    fov_um: float = 630.0  # side of the imaged square of cortex
    depth_um: tuple[float, float] = (200.0, 400.0)  # layer 2/3
    magnification_um_per_deg: float = 18.0  # cortical magnification
    rf_scatter_deg: float = 3.0  # scatter of RF centres around the map
    rf_centre_range_deg: tuple[float, float] = (12.0, 5.0)  # |azimuth|, |elevation| of map centre
    type_fractions: tuple[float, float, float] = (0.35, 0.5, 0.15)  # simple, complex, corner
    extra_feature_prob: float = 0.5  # chance of each of up to two extra pooled features
    threshold: tuple[float, float] = (0.0, 1.5)  # output threshold, in SDs of the drive
    amplitude_log_sd: float = 0.5  # lognormal spread of response amplitudes
    noise_log_mean: float = -0.3  # log event size relative to the amplitude (calibrated)
    noise_log_sd: float = 0.6
    unresponsive_fraction: float = 0.12  # barely responsive neurons (tiny amplitude)
    gamma_shape: float = 1.5  # shape of the event-amplitude gamma distribution
    behavior_weight_mean: tuple[float, float, float] = (0.10, 0.0, 0.25)  # pupil, dpupil, running
    behavior_weight_sd: tuple[float, float, float] = (0.10, 0.05, 0.15)
    state_loading: tuple[float, float] = (0.25, 0.10)  # mean, sd of brain-state loading
    # -- mechanisms outside the model class (all off with well_specified) ------
    well_specified: bool = False
    extent: float = 0.5  # weight of the primary feature at +-1/2 envelope sigma along its stripes
    surround_weight: tuple[float, float] = (0.3, 0.15)  # mean, sd (>= 0) of the subtractive surround
    surround_radius: float = 1.5  # surround ring radius, in envelope sigmas (<= 12 px)
    extra_spread_px: float = 3.0  # SD of the extra features' offsets (1 px when well specified)
    outside_fraction: float = 0.1  # neurons driven by a luminance ON/OFF feature outside the bank
    behavior_drive_sd: float = 0.25  # drive (SD units) per SD of behaviour, before the nonlinearity
    behavior_additive_sd: float = 0.1  # additive response (x amplitude) per SD of behaviour
    eye_gain_sd: float = 0.1  # log-gain per SD of the pupil position (gain field)
    torsion_deg: float = 1.5  # SD across animals of the rotation per SD of vertical pupil position


class Population:
    """Ground truth of one animal's neurons: :meth:`stimulus_rate` evaluates them
    on images, :meth:`gain` and :meth:`sample_responses` add behaviour and noise."""

    def __init__(self, config: PopulationConfig, bank: FeatureBank, rng: np.random.Generator):
        self.config, self.bank = config, bank
        self._place(rng)
        self._pool(rng)
        self._respond(rng)
        self._misspecify(rng)
        self.set_drive_statistics(None)
        self._calibrate_drive()

    # -- construction (in this order: each draws from the same generator) ----------
    def _place(self, rng: np.random.Generator) -> None:
        """Cortical positions (µm) and the retinotopic map cortex -> visual field -> screen."""
        c, n = self.config, self.config.n_neurons
        h, w = self.bank.shape
        dpp = self.bank.deg_per_px
        self.cortex = np.stack([rng.uniform(0, c.fov_um, n), rng.uniform(0, c.fov_um, n),
                                rng.uniform(*c.depth_um, n)], axis=1)
        centre = np.array([rng.uniform(-1, 1) * c.rf_centre_range_deg[0],
                           rng.uniform(-1, 1) * c.rf_centre_range_deg[1]])
        angle = rng.uniform(0, 2 * np.pi)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        if rng.random() < 0.5:  # the imaging window may be mirrored relative to the map
            rot = rot @ np.diag([1.0, -1.0])
        rel = (self.cortex[:, :2] - c.fov_um / 2) / c.magnification_um_per_deg
        warp = 0.08 * rel[:, [1, 0]] * rel / (c.fov_um / c.magnification_um_per_deg)  # smooth bend
        self.map_params = {"centre_deg": centre.tolist(), "angle_rad": float(angle),
                           "mirrored": bool(np.linalg.det(rot) < 0)}
        field = centre + (rel + warp) @ rot.T + rng.normal(0, c.rf_scatter_deg, (n, 2))
        # visual field (azimuth right, elevation up) -> screen pixels (x right, y down)
        self.rf_x = np.clip((w - 1) / 2 + field[:, 0] / dpp, 2, w - 3)
        self.rf_y = np.clip((h - 1) / 2 - field[:, 1] / dpp, 2, h - 3)

    def _pool(self, rng: np.random.Generator) -> None:
        """A primary feature and up to two extras near the RF centre."""
        c, n = self.config, self.config.n_neurons
        feats = self.bank.features
        by_type = {t: [i for i, f in enumerate(feats) if f.type == t] for t in FEATURE_TYPES}
        types = rng.choice(len(FEATURE_TYPES), n, p=np.array(c.type_fractions) / sum(c.type_fractions))
        self.primary = np.array([rng.choice(by_type[FEATURE_TYPES[t]]) for t in types])
        n_pool = 3
        self.pool_index = np.zeros((n, n_pool), dtype=np.int64)
        self.pool_weight = np.zeros((n, n_pool), dtype=np.float32)
        self.pool_dx = np.zeros((n, n_pool), dtype=np.float32)
        self.pool_dy = np.zeros((n, n_pool), dtype=np.float32)
        self.pool_index[:, 0], self.pool_weight[:, 0] = self.primary, 1.0
        # candidates for extra features: same type and scale, neighbouring orientation
        # (well specified), or any feature of the bank, further away
        near = lambda f, f0: (f.type == f0.type and f.sf == f0.sf
                              and _ori_dist(f.orientation, f0.orientation) <= 22.5 + 1e-6)
        cands = [[k for k, f in enumerate(feats) if not c.well_specified or near(f, f0)]
                 for f0 in feats]
        spread = 1.0 if c.well_specified else c.extra_spread_px
        for i in range(n):
            for j in (1, 2):
                if rng.random() < c.extra_feature_prob:
                    self.pool_index[i, j] = rng.choice(cands[self.primary[i]])
                    self.pool_weight[i, j] = rng.uniform(0.2, 0.6)
                    self.pool_dx[i, j], self.pool_dy[i, j] = rng.normal(0, spread, 2)
                else:
                    self.pool_index[i, j] = self.primary[i]
        self.feature_type = np.array([feats[k].type for k in self.primary])
        self.orientation = np.array([feats[k].orientation for k in self.primary])
        self.sf = np.array([feats[k].sf for k in self.primary])
        self.phase = np.array([feats[k].phase for k in self.primary])

    def _respond(self, rng: np.random.Generator) -> None:
        """Output nonlinearity, noise, and behaviour and brain-state gain weights."""
        c, n = self.config, self.config.n_neurons
        self.threshold = rng.uniform(*c.threshold, n).astype(np.float32)
        scale = np.exp(rng.normal(0, c.amplitude_log_sd, n)).astype(np.float32)
        self.responsive = rng.random(n) >= c.unresponsive_fraction
        self.amplitude = np.where(self.responsive, scale, 0.05 * scale).astype(np.float32)
        self.baseline = (0.03 * scale).astype(np.float32)
        # mean size of one calcium event: sets the noise level relative to the signal
        self.event_size = (scale * np.exp(rng.normal(c.noise_log_mean, c.noise_log_sd, n))
                           ).astype(np.float32)
        # behaviour and brain-state gain weights (log-gain per SD of each variable)
        self.behavior_weights = rng.normal(c.behavior_weight_mean, c.behavior_weight_sd,
                                           (n, len(BEHAVIOR_VARS))).astype(np.float32)
        self.state_loading = rng.normal(*c.state_loading, n).astype(np.float32)

    def _misspecify(self, rng: np.random.Generator) -> None:
        """The mechanisms outside the model class (module docstring); none when
        ``well_specified``."""
        c, n, B = self.config, self.config.n_neurons, len(BEHAVIOR_VARS)
        self.pre_weights = np.zeros((n, B), dtype=np.float32)
        self.additive_weights = np.zeros((n, B), dtype=np.float32)
        self.eye_gain_weights = np.zeros((n, 2), dtype=np.float32)
        self.surround = np.zeros(n, dtype=np.float32)
        self.outside_sign = np.zeros(n, dtype=np.float32)
        self.torsion_per_sd = 0.0
        if c.well_specified:
            return
        feats, bank = self.bank.features, self.bank
        sigma = np.array([bank.config.envelope_periods / feats[k].sf for k in self.primary]) \
            / bank.deg_per_px  # envelope sigma of the primary feature, px
        theta = np.deg2rad(self.orientation)  # stripes run along (cos, sin) in screen pixels
        cols = [(self.primary, np.full(n, c.extent), s * 0.5 * sigma * np.cos(theta),
                 s * 0.5 * sigma * np.sin(theta)) for s in (1, -1)]
        energy = {(f.orientation, f.sf): k for k, f in enumerate(feats) if f.type == "complex"}
        ring = np.array([energy[(feats[k].orientation, feats[k].sf)] for k in self.primary])
        self.surround = np.abs(rng.normal(*c.surround_weight, n)).astype(np.float32)
        radius, start = np.minimum(c.surround_radius * sigma, 12.0), rng.uniform(0, 2 * np.pi, n)
        cols += [(ring, -self.surround / 3, radius * np.cos(start + a), radius * np.sin(start + a))
                 for a in (0, 2 * np.pi / 3, 4 * np.pi / 3)]
        for name, k in (("pool_index", 0), ("pool_weight", 1), ("pool_dx", 2), ("pool_dy", 3)):
            old = getattr(self, name)
            setattr(self, name, np.concatenate([old, np.stack([col[k] for col in cols], 1)
                                                .astype(old.dtype)], 1))
        outside = rng.random(n) < c.outside_fraction
        self.outside_sign = np.where(outside, rng.choice([-1.0, 1.0], n), 0.0).astype(np.float32)
        self.pool_weight[outside] = 0.0
        self.surround[outside] = 0.0
        self.feature_type = np.where(outside, "luminance", self.feature_type)
        for name in ("orientation", "sf", "phase"):
            setattr(self, name, np.where(outside, np.nan, getattr(self, name)))
        self.pre_weights = rng.normal(0, c.behavior_drive_sd, (n, B)).astype(np.float32)
        self.additive_weights = rng.normal(0, c.behavior_additive_sd, (n, B)).astype(np.float32)
        self.eye_gain_weights = rng.normal(0, c.eye_gain_sd, (n, 2)).astype(np.float32)
        self.torsion_per_sd = float(np.deg2rad(rng.normal(0, c.torsion_deg)))

    # -- evaluation ------------------------------------------------------------
    def drive(self, images: torch.Tensor, shift_x=None, shift_y=None, rows=None,
              torsion=None, components=None, neurons=None) -> torch.Tensor:
        """Standardised feature drive (Q, N) for images seen with an RF shift
        (pixels) and a torsion (radians, rotation of the visual field about the
        screen centre). ``components``: the bank's :meth:`~FeatureBank.components`
        of ``images`` where the caller has them (a video's, filtered in time);
        ``neurons``: the indices of the neurons to compute (default: all).
        Computed on the device of ``images`` (of ``components`` where given)."""
        Q = len(images) if rows is None else len(rows)
        n = np.arange(self.config.n_neurons) if neurons is None else np.asarray(neurons)
        dev = images.device if components is None else components[0].device
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dev)

        def column(v):
            if v is None:
                return torch.zeros(Q, 1, device=dev)
            return torch.as_tensor(v, dtype=torch.float32).view(-1, 1).to(dev)

        sx, sy, rot = column(shift_x), column(shift_y), column(torsion)
        rows = torch.arange(len(images), device=dev) if rows is None else rows.to(dev)
        h, w = self.bank.shape
        cx, cy = (w - 1) / 2, (h - 1) / 2

        def where(dx, dy):  # screen positions (Q, n) of points at offsets (dx, dy) from the RFs
            x = t((self.rf_x[n] + dx - cx).astype(np.float32))[None]
            y = t((self.rf_y[n] + dy - cy).astype(np.float32))[None]
            cos, sin = torch.cos(rot), torch.sin(rot)
            return cx + cos * x - sin * y + sx, cy + sin * x + cos * y + sy

        comps = self.bank.components(images) if components is None else components
        total = 0.0
        for j in range(self.pool_index.shape[1]):
            x, y = where(self.pool_dx[n, j], self.pool_dy[n, j])
            index = torch.from_numpy(np.ascontiguousarray(self.pool_index[n, j]))  # read on the CPU
            f = self.bank.sample_from(comps, index, x, y, rows)
            total = total + t(self.pool_weight[n, j])[None] * f
        if self.outside_sign[n].any():
            x, y = where(0.0, 0.0)
            x, y = x.expand(Q, -1), y.expand(Q, -1)
            lum = bilinear(self.bank.luminance(images), torch.zeros(len(n), dtype=torch.long, device=dev),
                           rows, x, y) * on_screen(x, y, self.bank.shape)
            total = total + torch.relu(t(self.outside_sign[n])[None] * lum)
        return (total - t(self._drive_mean[n])) / t(self._drive_std[n])

    def stimulus_rate(self, images: torch.Tensor, shift_x=None, shift_y=None, rows=None,
                      torsion=None) -> torch.Tensor:
        """Noise-free response at unit gain and mean behaviour, (Q, N)."""
        return self.output(self.drive(images, shift_x, shift_y, rows, torsion))

    BETA = 3.0  # sharpness of the output nonlinearity's soft threshold

    def output(self, z: torch.Tensor) -> torch.Tensor:
        """The output nonlinearity: a soft threshold of the standardised drive."""
        t = lambda a: torch.from_numpy(a).to(z.device)
        out = torch.nn.functional.softplus(self.BETA * (z - t(self.threshold))) / self.BETA
        return t(self.baseline) + t(self.amplitude) * out

    def weighted_output(self, z: torch.Tensor, pre: torch.Tensor, weight: torch.Tensor
                        ) -> torch.Tensor:
        """``sum_km weight[k, m] * output(z[k] + pre[m])`` per neuron (N,), for
        drives ``z`` (K, N), pre-nonlinearity terms ``pre`` (M, N) and weights
        (K, M, N), without forming the outputs themselves."""
        b, t = self.BETA, lambda a: torch.from_numpy(a).to(z.device)
        sp = torch.nn.functional.softplus(b * (z[:, None] + (pre - t(self.threshold))[None]))
        return t(self.baseline) * weight.sum((0, 1)) + t(self.amplitude) / b * (sp * weight).sum((0, 1))

    def pre_drive(self, behavior_z: np.ndarray) -> np.ndarray:
        """Behaviour's part of the drive before the nonlinearity (T, N)."""
        return (behavior_z @ self.pre_weights.T).astype(np.float32)

    def additive(self, behavior_z: np.ndarray) -> np.ndarray:
        """Behaviour's additive response after the nonlinearity (T, N), >= 0."""
        return (self.amplitude * np.maximum(behavior_z @ self.additive_weights.T, 0)).astype(np.float32)

    def observable_gain(self, behavior_z: np.ndarray, eye_z: np.ndarray | None = None) -> np.ndarray:
        """The gain of z-scored behaviour (T, 3) and, where given, of the z-scored
        pupil position (T, 2, the gain field)."""
        log_g = behavior_z @ self.behavior_weights.T
        if eye_z is not None:
            log_g = log_g + eye_z @ self.eye_gain_weights.T
        return np.exp(np.clip(log_g, -2.5, 2.5)).astype(np.float32)

    def state_gain(self, state: np.ndarray) -> np.ndarray:
        """The latent brain state's gain (T, N)."""
        return np.exp(np.clip(state[:, None] * self.state_loading[None], -2.5, 2.5)).astype(np.float32)

    def sample_responses(self, rate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Compound Poisson-gamma responses with mean ``rate`` (T, N)."""
        k = self.config.gamma_shape
        size = self.event_size[None]
        lam = rate / size
        counts = rng.poisson(lam)
        # sum of `counts` gamma(k, size/k) events = gamma(k * counts, size/k)
        out = np.zeros_like(rate, dtype=np.float32)
        nz = counts > 0
        scale = np.broadcast_to(size / k, rate.shape)[nz]
        out[nz] = rng.gamma(k * counts[nz], scale)
        return out

    def set_drive_statistics(self, raw: torch.Tensor | None) -> None:
        """Standardise the drive by the mean and SD over samples of these raw
        drives (Q, N), computed with :meth:`drive` after ``set_drive_statistics(None)``
        (which leaves the drive raw)."""
        if raw is None:
            self._drive_mean = np.zeros(self.config.n_neurons, dtype=np.float32)
            self._drive_std = np.ones(self.config.n_neurons, dtype=np.float32)
            return
        self._drive_mean = raw.mean(0).numpy().astype(np.float32)
        self._drive_std = (raw.std(0).numpy() + 1e-6).astype(np.float32)

    def grey_drive(self) -> np.ndarray:
        """The standardised drive (N,) of a grey screen, where every feature is 0."""
        return -self._drive_mean / self._drive_std

    # -- helpers -----------------------------------------------------------------
    def _calibrate_drive(self, n_images: int = 256, seed: int = 777) -> None:
        from .stimuli import mixed_images

        imgs, _ = mixed_images(n_images, self.bank.shape,  # natural crops of every scene
                               {"natural": 0.7, "dead_leaves": 0.15, "pink_noise": 0.15},
                               np.random.default_rng(seed), pool=None)
        d = torch.cat([self.drive(torch.from_numpy(imgs[i : i + 64]))
                       for i in range(0, n_images, 64)])
        self.set_drive_statistics(d)


def _ori_dist(a: float, b: float) -> float:
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)
