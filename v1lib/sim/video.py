"""The video experiment on the in-silico V1 (Sinz et al. 2018; Sensorium 2023):
several animals, each shown natural movies, the two noise stimuli Monet and
Trippy, and drifting gratings (:mod:`v1lib.sim.movies`) at 30 Hz, with
behaviour, eye movements and responses sampled at the frame rate.

The neurons are the static simulator's (:class:`~v1lib.sim.population.Population`)
with temporal kernels (:mod:`v1lib.sim.temporal`). Per frame, a neuron's rate is
the static simulator's, computed from its temporally filtered drive, with
behaviour acting through its own time course (a causal low-pass of
``gain_tau_s``). Responses are deconvolved-calcium-like: compound
Poisson-gamma events per frame (``event_rate`` times the rate) smeared by a
causal exponential of ``calcium_tau_frames``, cut after five time constants
(the imperfect deconvolution and low-pass of real traces; silent frames stay
exactly zero). ``gt_rate`` and its kin are the *expected* responses,
the same smear of the rates, so they are what a perfect model would predict.

Each animal's natural training clips are cut from its own part of the training
photographs; validation and test clips come from the shared scenes, and test
clips are shown ``test_repeats`` times, interleaved with the rest.
``simulate_video(config, seed)`` returns one :class:`xarray.Dataset` per scan in
the video schema (:mod:`v1lib.data.video`); it depends only on ``(config, seed)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
import xarray as xr

from ..cache import canonical_json
from ..config import from_nested
from ..data.static import BEHAVIOR_VARS, EYE_AXES
from ..data.video import STIMULUS_TYPES
from ..profiles import device as pick_device
from ..progress import progress
from . import movies, rates
from .behavior import lowpass, simulate_behavior_frames
from .features import FeatureBank, FeatureBankConfig
from .photographs import parts_error, training_parts
from .population import Population, PopulationConfig
from .static import annotate, gaze_map, neuron_coords, neuron_truth
from .temporal import TemporalConfig, VideoNeurons
from .temporal import config_error as temporal_error
from .tuning_truth import grating_tuning

# Bump when a change of the code changes the output for a given config and seed.
SIMULATOR_VERSION = 2
TIER_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class VideoConfig:
    n_animals: int = 3
    frames: int = 300  # per clip (10 s at 30 Hz)
    fps: float = 30.0
    # clips of each stimulus type: [train, validation, test]; test clips are repeated
    clips: dict = field(default_factory=lambda: {"natural": [40, 4, 4], "monet": [20, 2, 2],
                                                 "trippy": [20, 2, 2], "grating": [0, 0, 2]})
    test_repeats: int = 10
    height: int = 36
    width: int = 64
    deg_per_px: float = 1.5
    eye_deg_per_camera_px: float = 0.6
    photo_parts: int = 4
    first_photo_part: int = 0
    event_rate: float = 0.25  # expected events per frame, relative to the static rate
    calcium_tau_frames: float = 2.0
    gain_tau_s: float = 1.0  # time constant of behaviour's effect on the neurons
    population: PopulationConfig = PopulationConfig(n_neurons=500)
    features: FeatureBankConfig = FeatureBankConfig()
    temporal: TemporalConfig = TemporalConfig()

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "config") -> VideoConfig:
        cfg = from_nested(cls, d, source)
        cfg.check(source)
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self, source: str = "config") -> None:
        for name in ("n_animals", "frames", "height", "width"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{source}: '{name}' must be a positive integer")
        for name in ("fps", "deg_per_px", "eye_deg_per_camera_px", "event_rate",
                     "calcium_tau_frames", "gain_tau_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{source}: '{name}' must be positive, got {getattr(self, name)}")
        if error := temporal_error(self.temporal):
            raise ValueError(f"{source}: temporal: {error}")
        if self.test_repeats < 2:
            raise ValueError(f"{source}: 'test_repeats' must be at least 2 (oracle needs repeats)")
        for kind, counts in self.clips.items():
            if kind not in movies.GENERATORS:
                raise ValueError(f"{source}: clips: unknown stimulus type '{kind}'; choose from "
                                 f"{list(movies.GENERATORS)}")
            if (not isinstance(counts, (list, tuple)) or len(counts) != 3
                    or not all(isinstance(k, int) and k >= 0 for k in counts)):
                raise ValueError(f"{source}: clips: '{kind}' must be a list of three counts "
                                 f"[train, validation, test], got {counts!r}")
        for i, tier in enumerate(TIER_NAMES):
            if sum(c[i] for c in self.clips.values()) < 1:
                raise ValueError(f"{source}: clips: no {tier} clips; every tier needs one")
        if error := parts_error(self.n_animals, self.photo_parts, self.first_photo_part):
            raise ValueError(f"{source}: {error}")


def scan_names(config: VideoConfig, seed: int) -> list[str]:
    return [f"insilico-video-{seed}-{a + 1}" for a in range(config.n_animals)]


def reference_clips(config: VideoConfig, frames: int = 120) -> list[np.ndarray]:
    """The clips every animal's drive is standardised over: one of each
    stimulus type, the same for every animal and seed."""
    rng = np.random.default_rng(777)
    return [movies.clip(kind, frames, (config.height, config.width), rng, config.fps,
                        config.deg_per_px).frames for kind in movies.GENERATORS]


def neurons(config: VideoConfig, seed: int, index: int) -> VideoNeurons:
    """Animal ``index``'s neurons (ground truth), deterministic in the seed."""
    bank = FeatureBank((config.height, config.width), config.deg_per_px, config.features)
    stream = np.random.SeedSequence([seed, 2]).spawn(config.n_animals)[index]
    rng = np.random.default_rng(stream)
    pop = Population(config.population, bank, rng)
    return VideoNeurons(pop, config.temporal, config.fps, rng, reference_clips(config))


def simulate_video(config: VideoConfig, seed: int, show_progress: bool = True,
                   device: str = "auto") -> dict[str, xr.Dataset]:
    """Simulate every scan of the video experiment. Returns ``{scan: Dataset}``.
    The drives are computed on ``device`` (as in :func:`~v1lib.sim.static.simulate_static`)."""
    return {name: simulate_scan(config, seed, a, show_progress, device)
            for a, name in enumerate(scan_names(config, seed))}


def simulate_scan(config: VideoConfig, seed: int, index: int,
                  show_progress: bool = True, device: str = "auto") -> xr.Dataset:
    """Scan ``index`` of :func:`simulate_video`, on its own (same result)."""
    if not 0 <= index < config.n_animals:
        raise ValueError(f"scan index {index} out of range for n_animals={config.n_animals}")
    device = pick_device(device)
    torch.manual_seed(seed)
    vn = neurons(config, seed, index)
    name = scan_names(config, seed)[index]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3]).spawn(config.n_animals)[index])
    part = (config.first_photo_part + index) % config.photo_parts
    clips, tiers = _clips(config, rng, training_parts(config.photo_parts)[part])
    order = _order(config, tiers, rng)
    ds = _simulate(config, vn, clips, tiers, order, rng, name, show_progress, device)
    ds.attrs.update(sim_config=canonical_json(config.to_dict()), sim_seed=int(seed),
                    sim_version=SIMULATOR_VERSION, photo_part=part,
                    sim_device=torch.device(device).type)
    return ds


def _clips(c: VideoConfig, rng: np.random.Generator, train_scenes) -> tuple[list, np.ndarray]:
    """The distinct clips of a scan and the tier of each."""
    pools = {"train": train_scenes, "validation": "validation", "test": "test"}
    clips, tiers = [], []
    for kind, counts in c.clips.items():
        for tier, n in zip(TIER_NAMES, counts):
            for _ in range(n):
                clips.append(movies.clip(kind, c.frames, (c.height, c.width), rng, c.fps,
                                         c.deg_per_px, pool=pools[tier] if kind == "natural"
                                         else None))
                tiers.append(tier)
    return clips, np.array(tiers)


def _order(c: VideoConfig, tiers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The clip shown in each presentation: test clips ``test_repeats`` times,
    all interleaved at random."""
    shown = np.concatenate([np.flatnonzero(tiers != "test"),
                            np.repeat(np.flatnonzero(tiers == "test"), c.test_repeats)])
    return shown[rng.permutation(len(shown))]


def _drives(vn: VideoNeurons, clips: list, order: np.ndarray, eye: rates.Eye, frames: int,
            name: str, show_progress: bool, device) -> np.ndarray:
    """The drive (presentations * frames, N): each clip filtered once and read
    at the eye positions of each of its presentations."""
    out = np.empty((len(order) * frames, vn.pop.config.n_neurons), dtype=np.float32)
    for u in progress(range(len(clips)), desc=f"simulating {name}", unit="clip",
                      disable=not show_progress):
        shown = np.flatnonzero(order == u)
        if len(shown) == 0:
            continue
        filtered = vn.filtered(clips[u].frames, device)
        for p in shown:
            rows = slice(p * frames, (p + 1) * frames)
            out[rows] = vn.drive(clips[u].frames, eye.shift[rows], eye.torsion[rows], filtered)
    return out


def calcium_smear(x: np.ndarray, tau: float) -> np.ndarray:
    """``x`` (frames, ...) convolved along frames with a causal exponential of
    time constant ``tau`` frames, cut after 5 tau, of unit sum."""
    from scipy.signal import lfilter

    kernel = np.exp(-np.arange(int(np.ceil(5 * tau)) + 1) / tau)
    return lfilter(kernel / kernel.sum(), [1.0], x, axis=0).astype(np.float32)


def _simulate(c: VideoConfig, vn: VideoNeurons, clips: list, tiers: np.ndarray,
              order: np.ndarray, rng: np.random.Generator, name: str,
              show_progress: bool, device) -> xr.Dataset:
    P, F, pop = len(order), c.frames, vn.pop
    beh = simulate_behavior_frames(P * F, c.fps, rng)
    behavior = np.stack([beh.pupil, beh.dpupil, beh.running], axis=1)
    G = gaze_map(rng, c)
    eye = rates.eye_effects(beh.pupil_center, G, pop.torsion_per_sd)
    drive = _drives(vn, clips, order, eye, F, name, show_progress, device)
    b = behavior.astype(np.float64)
    gain_z = lowpass((b - b.mean(0)) / b.std(0), c.gain_tau_s * c.fps).astype(np.float32)
    r = rates.trial_rates(pop, drive, gain_z, eye, beh.state)
    del drive
    smear = lambda x: calcium_smear(x, c.calcium_tau_frames)
    events = pop.sample_responses(c.event_rate * r["rate"], rng)
    per_clip = lambda x: x.reshape(P, F, *x.shape[1:])
    clip_vars = {
        "videos": (("clip", "time", "y", "x"), np.stack([clips[u].frames for u in order])),
        "responses": (("clip", "time", "neuron"), per_clip(smear(events))),
        "behavior": (("clip", "time", "behavior_var"), per_clip(behavior)),
        "pupil_center": (("clip", "time", "eye_axis"), per_clip(beh.pupil_center)),
        "motion_direction": (("clip", "time"), np.stack([clips[u].direction for u in order])),
        "gt_rate": (("clip", "time", "neuron"), per_clip(smear(c.event_rate * r["rate"]))),
        "gt_observable_rate": (("clip", "time", "neuron"),
                               per_clip(smear(c.event_rate * r["observable"]))),
        "gt_stimulus_rate": (("clip", "time", "neuron"),
                             per_clip(smear(c.event_rate * r["stimulus"]))),
        "gt_eye_shift": (("clip", "time", "eye_axis"), per_clip(eye.shift)),
        "gt_state": (("clip", "time"), per_clip(beh.state)),
    }
    coords = {"tier": ("clip", tiers[order]), "clip_id": ("clip", order.astype(np.int64)),
              "stimulus_type": ("clip", np.array([clips[u].kind for u in order]))}
    return _dataset(c, vn, name, clip_vars, coords, G)


def _dataset(c: VideoConfig, vn: VideoNeurons, name: str, clip_vars: dict, clip_coords: dict,
             G: np.ndarray) -> xr.Dataset:
    """One scan in the video schema, with the neurons' ground truth."""
    pop = vn.pop
    tuning = grating_tuning(vn, c.fps, c.deg_per_px)
    n_dims = ("neuron",)
    truth = {**neuron_truth(pop),
             "gt_temporal_type": (n_dims, vn.temporal_type.astype(str)),
             "gt_latency_frames": (n_dims, vn.latency.astype(np.int64)),
             **{f"gt_{k}": (n_dims, v.astype(np.float32)) for k, v in tuning.items()}}
    ds = xr.Dataset(
        {**clip_vars, **truth},
        coords={"clip": np.arange(len(clip_vars["responses"][1])),
                "time": ("time", np.arange(c.frames) / c.fps, {"units": "s"}),
                "y": np.arange(c.height), "x": np.arange(c.width),
                "behavior_var": list(BEHAVIOR_VARS), "eye_axis": list(EYE_AXES),
                **clip_coords, **neuron_coords(pop, name)},
        attrs={"scan": name, "schema": "video", "source": "simulated V1 (v1lib.sim.video)",
               "deg_per_px": c.deg_per_px, "frame_rate_hz": c.fps,
               "stimulus_types": ",".join(t for t in STIMULUS_TYPES if t in c.clips),
               "gt_gaze_map": G.astype(np.float64).ravel().tolist(),
               "gt_torsion_per_sd": float(pop.torsion_per_sd)},
    )
    annotate(ds, UNITS)
    return ds


UNITS = {  # variable -> (long name, units)
    "videos": ("stimulus luminance", "8-bit grey level"),
    "responses": ("deconvolved calcium activity per frame", "a.u."),
    "behavior": ("pupil diameter, its change per frame, running speed",
                 "camera px, camera px/frame, cm/s"),
    "pupil_center": ("pupil centre in the eye camera", "camera px"),
    "motion_direction": ("direction of coherent motion on the screen (NaN: none); 0 = "
                         "rightward, 90 = downward", "deg"),
    "gt_rate": ("expected response given the video, eye, behaviour and state", "a.u."),
    "gt_observable_rate": ("expected response given the video, eye and behaviour, without the "
                           "latent state", "a.u."),
    "gt_stimulus_rate": ("expected response at unit gain, behaviour at its mean", "a.u."),
    "gt_eye_shift": ("receptive-field shift on the screen caused by eye position", "px"),
    "gt_state": ("latent brain state", "SD"),
    "gt_orientation": ("preferred orientation of the primary feature (stripes)", "deg"),
    "gt_direction": ("preferred direction of drifting gratings (vector sum; meaningful where "
                     "gt_dsi is high, noise for units that are not direction selective)", "deg"),
    "gt_dsi": ("direction selectivity: |sum r e^(i theta)| / sum r", "1"),
    "gt_osi": ("orientation selectivity: |sum r e^(2 i theta)| / sum r", "1"),
    "gt_tuning_width": ("orientation tuning half-width at half height", "deg"),
    "gt_latency_frames": ("delay beyond the temporal kernel's own", "frames"),
    "gt_rf_x": ("RF centre on the screen at the mean eye position", "px"),
    "gt_rf_y": ("RF centre on the screen at the mean eye position", "px"),
    "cortical_x": ("cortical position", "um"),
    "cortical_y": ("cortical position", "um"),
    "cortical_z": ("cortical depth", "um"),
}
