"""The freely moving experiment on the in-silico V1 (Xu et al. 2023; the data
of Parker et al. 2022): a mouse explores an arena with a head-mounted camera,
an eye camera, an IMU and a silicon probe in V1, binned at 48 ms.

* The world and the 60 x 80 head camera: :mod:`v1lib.sim.arena`; the body,
  head, eyes and pupil: :mod:`v1lib.sim.mouse`; the neurons:
  :mod:`v1lib.sim.gain_fields`, whose visual drive comes from the static
  simulator's neurons (:class:`~v1lib.sim.population.Population`, the shared
  feature bank) reading the *retinal* image: the camera frame shifted by the
  eye position (θ, φ over ``deg_per_px``) and rotated by the eye's torsion.
* The neurons respond with a latency of ``latency_bins`` (one bin, 48 ms): the
  rate of bin t is that of the retinal image and behaviour of bin t - 1, so
  the paper's model, which predicts the bin after its inputs, can be perfect.
* Responses are Poisson spike counts per bin. As in the paper, units firing
  below ``min_rate_hz`` (3 Hz) on average over the session are dropped;
  ``unit_id`` keeps each kept unit's index among all simulated units.
* The session is cut into ``segments`` consecutive segments; in each, the
  first ``1 - test_fraction`` is train and the rest test, and the last
  ``validation_fraction`` of each train part is validation (:func:`tiers`).

Ground truth: ``gt_rate`` (expected spike count per bin given everything,
including the latent state), ``gt_observable_rate`` (its expectation given
the recorded frames and behaviour alone: the latent state, independent of
them, averaged out; what a perfect model of the recorded inputs predicts),
``gt_stimulus_rate`` (behaviour at its standard centre, the retinal image as
seen), the eye's effect on the retinal image, the unrecorded movements, and
each neuron's dependencies, gain-field parameters and receptive field.
``simulate_freely_moving(config, seed)`` returns one dataset per session in
the session schema (:mod:`v1lib.data.session`); it depends only on
``(config, seed)``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from ..cache import canonical_json
from ..config import from_nested
from ..data.session import BEHAVIOR_VARS
from ..profiles import device as pick_device
from ..progress import progress
from . import arena as world
from . import gain_fields, mouse
from .behavior import _ar1_fast
from .features import FeatureBank, FeatureBankConfig
from .gain_fields import NeuronConfig
from .mouse import MouseConfig
from .population import Population, PopulationConfig
from .session_truth import dataset, tiers

# Bump when a change of the code changes the output for a given config and seed.
SIMULATOR_VERSION = 2
REFERENCE_VIEWS = 256  # random views of the arena the visual drive is standardised over


@dataclass(frozen=True)
class FreelyMovingConfig:
    n_animals: int = 3
    duration_s: float = 900.0  # per session
    bin_s: float = 0.048
    segments: int = 10
    test_fraction: float = 0.3  # the last part of each segment
    validation_fraction: float = 0.2  # the last part of each segment's train part
    height: int = 60
    width: int = 80
    deg_per_px: float = 1.5  # head camera: 80 px span 120 deg
    arena_cm: float = 60.0
    wall_height_cm: float = 30.0
    texel_cm: float = 0.5  # resolution of the wall and floor textures
    camera_height_cm: float = 3.0
    min_rate_hz: float = 3.0  # units firing less on average are dropped, as in the paper
    # the neurons respond to the retinal image and behaviour of this many bins earlier (one
    # bin: 48 ms, V1's latency; the paper's model predicts the bin after its inputs)
    latency_bins: int = 1
    population: PopulationConfig = PopulationConfig(n_neurons=100)
    features: FeatureBankConfig = FeatureBankConfig()
    mouse: MouseConfig = MouseConfig()
    neurons: NeuronConfig = NeuronConfig()

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "config") -> FreelyMovingConfig:
        cfg = from_nested(cls, d, source)
        cfg.check(source)
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def n_bins(self) -> int:
        return int(round(self.duration_s / self.bin_s))

    def check(self, source: str = "config") -> None:
        for name in ("n_animals", "segments", "height", "width"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{source}: '{name}' must be a positive integer")
        for name in ("duration_s", "bin_s", "deg_per_px", "arena_cm", "wall_height_cm",
                     "texel_cm", "camera_height_cm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{source}: '{name}' must be positive, got {getattr(self, name)}")
        for name in ("test_fraction", "validation_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{source}: '{name}' must be between 0 and 1, got "
                                 f"{getattr(self, name)}")
        if not (isinstance(self.latency_bins, int) and 0 <= self.latency_bins
                < self.n_bins // self.segments):
            raise ValueError(f"{source}: 'latency_bins' must be a whole number of bins, >= 0 and "
                             f"shorter than a segment, got {self.latency_bins}")
        if not self.min_rate_hz >= 0:
            raise ValueError(f"{source}: 'min_rate_hz' must be non-negative, got {self.min_rate_hz}")
        if not self.camera_height_cm < self.wall_height_cm:
            raise ValueError(f"{source}: 'camera_height_cm' must be below 'wall_height_cm'")
        if self.population.n_neurons < 1:
            raise ValueError(f"{source}: 'population.n_neurons' must be a positive integer")
        for key, error in (("mouse", mouse.config_error(self.mouse)),
                           ("neurons", gain_fields.config_error(self.neurons))):
            if error:
                raise ValueError(f"{source}: {key}: {error}")
        per = self.n_bins // self.segments
        if per < 10 or set(tiers(per, 1, self.test_fraction, self.validation_fraction)[1]) \
                != {"train", "validation", "test"}:
            raise ValueError(f"{source}: 'duration_s' / 'bin_s' = {self.n_bins} bins in "
                             f"{self.segments} 'segments' leaves too few bins per segment for "
                             f"train, validation and test parts")


def scan_names(config: FreelyMovingConfig, seed: int) -> list[str]:
    return [f"insilico-freely-moving-{seed}-{a + 1}" for a in range(config.n_animals)]


def make_arena(config: FreelyMovingConfig, seed: int) -> world.Arena:
    """The arena of every session of ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 10]))
    return world.make_arena(config.arena_cm, config.wall_height_cm, config.texel_cm, rng)


def render(config: FreelyMovingConfig, arena: world.Arena, position, yaw, pitch, roll
           ) -> np.ndarray:
    """Head-camera frames (T, H, W), float grey levels, of head poses (deg, cm)."""
    return world.render(arena, np.asarray(position), config.camera_height_cm, yaw, pitch, roll,
                        (config.height, config.width), config.deg_per_px)


def reference_views(config: FreelyMovingConfig, arena: world.Arena, seed: int) -> np.ndarray:
    """Views (Q, H, W) from random poses in the arena, rounded to grey levels."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 13]))
    Q, L = REFERENCE_VIEWS, config.arena_cm
    pos = rng.uniform(0.1 * L, 0.9 * L, (Q, 2))
    m = config.mouse
    frames = render(config, arena, pos, rng.uniform(0, 360, Q),
                    m.pitch_mean_deg + m.pitch_sd_deg * rng.standard_normal(Q),
                    m.roll_sd_deg * rng.standard_normal(Q))
    return np.round(frames).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _bank(shape: tuple[int, int], deg_per_px: float, features: FeatureBankConfig) -> FeatureBank:
    """The shared feature bank (read only once built), made once per process."""
    return FeatureBank(shape, deg_per_px, features)


def neurons(config: FreelyMovingConfig, seed: int, index: int,
            arena: world.Arena) -> gain_fields.MovingNeurons:
    """Animal ``index``'s neurons (ground truth), deterministic in the seed; the
    drive standardised over :func:`reference_views` of the arena."""
    bank = _bank((config.height, config.width), config.deg_per_px, config.features)
    stream = np.random.SeedSequence([seed, 11]).spawn(config.n_animals)[index]
    rng = np.random.default_rng(stream)
    pop = Population(config.population, bank, rng)
    views = torch.from_numpy(reference_views(config, arena, seed))
    with torch.no_grad():
        pop.set_drive_statistics(None)
        raw = pop.drive(views)
    pop.set_drive_statistics(raw)
    reference = ((raw.numpy() - raw.numpy().mean(0)) / (raw.numpy().std(0, ddof=1) + 1e-6))
    mn = gain_fields.MovingNeurons(pop, config.neurons, rng)
    mn.calibrate(reference)
    return mn


def retinal_effects(config: FreelyMovingConfig, eye_theta, eye_phi, torsion_deg
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The retinal image's shift (T, 2) [x, y] camera px and rotation (T,) rad:
    the retina reads the camera frame at its own position rotated by the
    rotation (clockwise on the image positive) about the frame centre and
    moved by the shift. Gaze right (θ > 0) reads further right, gaze up
    (φ > 0) further up (smaller y)."""
    shift = np.stack([np.asarray(eye_theta), -np.asarray(eye_phi)], 1) / config.deg_per_px
    return shift.astype(np.float32), np.deg2rad(np.asarray(torsion_deg)).astype(np.float32)


def retinal_frames(frames: np.ndarray, shift: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """The retinal images (T, H, W) of camera frames seen with the retinal
    ``shift`` (T, 2) px and ``rotation`` (T,) rad (:func:`retinal_effects`):
    retinal pixel p shows the frame at ``c + R(rotation) (p - c) + shift``
    (c the frame centre), bilinearly, mean grey beyond the frame. The neurons
    read this image at their RFs (:meth:`Population.drive` moves the RFs
    instead of the image)."""
    T, h, w = frames.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    x, y = xx - (w - 1) / 2, yy - (h - 1) / 2
    rot = torch.as_tensor(np.asarray(rotation, dtype=np.float32)).view(T, 1, 1)
    sh = torch.as_tensor(np.asarray(shift, dtype=np.float32))
    cos, sin = torch.cos(rot), torch.sin(rot)
    xs = (w - 1) / 2 + cos * x - sin * y + sh[:, 0].view(T, 1, 1)
    ys = (h - 1) / 2 + sin * x + cos * y + sh[:, 1].view(T, 1, 1)
    grid = torch.stack([xs / (w - 1) * 2 - 1, ys / (h - 1) * 2 - 1], dim=-1)
    img = torch.as_tensor(np.asarray(frames, dtype=np.float32))[:, None] - 127.5
    out = torch.nn.functional.grid_sample(img, grid, mode="bilinear", padding_mode="zeros",
                                          align_corners=True)
    return (out[:, 0] + 127.5).numpy()


def drives(mn: gain_fields.MovingNeurons, frames: np.ndarray, shift: np.ndarray,
           rotation: np.ndarray, name: str, show_progress: bool, chunk: int = 16,
           device="cpu") -> np.ndarray:
    """The standardised visual drive (T, N) of the retinal image of every bin,
    computed on ``device``."""
    out = np.empty((len(frames), mn.pop.config.n_neurons), dtype=np.float32)
    with torch.no_grad():
        for s in progress(range(0, len(frames), chunk), desc=f"simulating {name}",
                          unit="chunk", disable=not show_progress):
            sl = slice(s, s + chunk)
            out[sl] = mn.pop.drive(torch.from_numpy(frames[sl]).to(device), shift[sl, 0],
                                   shift[sl, 1], None, rotation[sl]).cpu().numpy()
    return out


def simulate_freely_moving(config: FreelyMovingConfig, seed: int, show_progress: bool = True,
                           device: str = "auto") -> dict[str, xr.Dataset]:
    """Simulate every session. Returns ``{session: Dataset}``. The drives are
    computed on ``device`` (as in :func:`~v1lib.sim.static.simulate_static`)."""
    return {name: simulate_scan(config, seed, a, show_progress, device)
            for a, name in enumerate(scan_names(config, seed))}


def behavior_matrix(motion: mouse.Motion) -> np.ndarray:
    """The recorded behaviour (T, 6) in :data:`~v1lib.data.session.BEHAVIOR_VARS` order."""
    return np.stack([motion.speed, motion.pitch, motion.roll, motion.eye_phi, motion.eye_theta,
                     motion.pupil], axis=1).astype(np.float32)


def simulate_scan(config: FreelyMovingConfig, seed: int, index: int,
                  show_progress: bool = True, device: str = "auto") -> xr.Dataset:
    """Session ``index`` of :func:`simulate_freely_moving`, on its own (same result)."""
    if not 0 <= index < config.n_animals:
        raise ValueError(f"session index {index} out of range for n_animals={config.n_animals}")
    device = pick_device(device)
    torch.manual_seed(seed)
    c, name = config, scan_names(config, seed)[index]
    arena = make_arena(c, seed)
    mn = neurons(c, seed, index, arena)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 12]).spawn(c.n_animals)[index])
    motion = mouse.simulate_motion(c.mouse, c.n_bins, c.bin_s, c.arena_cm, rng)
    frames = np.round(render(c, arena, motion.position, motion.head_yaw, motion.pitch,
                             motion.roll)).astype(np.uint8)
    shift, rotation = retinal_effects(c, motion.eye_theta, motion.eye_phi, motion.torsion)
    drive = drives(mn, frames, shift, rotation, name, show_progress,
                   device=device)
    behavior = behavior_matrix(motion)
    state = _latent_state(c.n_bins, c.bin_s, rng)
    seen, acting = delayed(drive, c.latency_bins), delayed(behavior, c.latency_bins)
    rates = {"rate": mn.rates(seen, acting, state), "observable": mn.rates(seen, acting),
             "stimulus": mn.rates(seen, np.tile([gain_fields.STANDARD[v][0] for v in
                                                 BEHAVIOR_VARS], (c.n_bins, 1)))}
    rates = {k: v * c.bin_s for k, v in rates.items()}  # expected counts per bin
    counts = rng.poisson(rates["rate"]).astype(np.float32)
    ds = dataset(c, mn, name, frames, counts, behavior, rates, motion, shift, rotation, state)
    ds.attrs.update(sim_config=canonical_json(c.to_dict()), sim_seed=int(seed),
                    sim_version=SIMULATOR_VERSION, sim_device=torch.device(device).type)
    return ds


def delayed(x: np.ndarray, bins: int) -> np.ndarray:
    """``x`` (T, ...) as the neurons see it ``bins`` bins later: row t holds
    ``x[t - bins]`` (the first rows repeat ``x[0]``)."""
    if bins == 0:
        return x
    return np.concatenate([np.repeat(x[:1], bins, axis=0), x[:-bins]])


def _latent_state(n: int, bin_s: float, rng: np.random.Generator, tau_s: float = 20.0
                  ) -> np.ndarray:
    """The neurons' latent state: a stationary unit-variance AR(1) of ``tau_s``."""
    return _ar1_fast(n, tau_s / bin_s, rng).astype(np.float32)
