"""The static-image experiment on the in-silico V1: several animals (scans),
each shown its own natural and synthetic images in the train / validation /
test tiers, with behaviour, eye movements and ground truth recorded. Each
animal's natural training images are crops of its own part of the training
photographs (``photo_parts``, ``first_photo_part``); the validation and test
photographs are shared (:mod:`v1lib.sim.photographs`).

``simulate_static(config, seed)`` returns one :class:`xarray.Dataset` per scan in
the static schema (:mod:`v1lib.data.static`), with the ground truth in ``gt_*``
variables. The result depends only on ``(config, seed)``, bit for bit on a
CPU (on a GPU, the same to float tolerance: see :func:`simulate_static`). A simulated scan
records its configuration and seed, so :func:`populations_of` rebuilds its
ground-truth neurons, and :func:`responder` turns them into a
:class:`~v1lib.probes.Responder` for the same probes a trained model gets.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np
import torch
import xarray as xr

from ..cache import canonical_json
from ..config import check_types
from ..data.static import BEHAVIOR_VARS, EYE_AXES
from ..probes import Responder
from ..profiles import device as pick_device
from . import rates
from .behavior import simulate_behavior
from .features import FeatureBank, FeatureBankConfig
from .photographs import parts_error, training_parts
from .population import Population, PopulationConfig
from .stimuli import mix_error, mixed_images

# Bump when a change of the simulator's code changes its output for a given
# config and seed: cached datasets are keyed by it. Version 5: the photographs of
# mvtb-data join scikit-image's, grouped into scenes, and each animal trains on
# its own part of the training scenes.
SIMULATOR_VERSION = 5


@dataclass(frozen=True)
class StaticConfig:
    n_animals: int = 3
    n_train: int = 2500
    n_validation: int = 300
    n_test_images: int = 100
    test_repeats: int = 10
    height: int = 36
    width: int = 64
    deg_per_px: float = 1.5  # the 64 px screen spans 96 degrees of azimuth
    eye_deg_per_camera_px: float = 0.6  # gaze change per pixel of pupil-centre motion
    image_mix: dict = field(default_factory=lambda: {"natural": 0.6, "dead_leaves": 0.2,
                                                     "pink_noise": 0.2})
    # the training scenes are split into `photo_parts` disjoint parts; animal a trains
    # on part (first_photo_part + a) % photo_parts, so no two animals share one
    photo_parts: int = 4
    first_photo_part: int = 0
    population: PopulationConfig = PopulationConfig()
    features: FeatureBankConfig = FeatureBankConfig()

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "config") -> StaticConfig:
        """Build from nested plain values; unknown keys and values of the wrong
        type raise a clear error naming the option."""
        d = dict(d or {})
        sub = {"population": PopulationConfig, "features": FeatureBankConfig}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{source}: unknown option '{unknown[0]}' for the static simulator; "
                             f"known options: {sorted(names)}")
        check_types(cls, {k: v for k, v in d.items() if k not in sub}, source)
        kwargs = {}
        for key, value in d.items():
            if key in sub:
                value = {} if value is None else value
                if not isinstance(value, (dict, sub[key])):
                    raise ValueError(f"{source}: {key}: expected a mapping of options, got {value!r}")
                if isinstance(value, dict):
                    known = {f.name for f in dataclasses.fields(sub[key])}
                    bad = set(value) - known
                    if bad:
                        raise ValueError(f"{source}: unknown option(s) {sorted(bad)} in '{key}'; "
                                         f"known options: {sorted(known)}")
                    check_types(sub[key], value, source, prefix=f"{key}.")
                    value = sub[key](**{k: tuple(v) if isinstance(v, list) else v
                                        for k, v in value.items()})
            kwargs[key] = value
        cfg = cls(**kwargs)
        cfg.check(source)
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self, source: str = "config") -> None:
        for name in ("n_animals", "n_train", "n_validation", "n_test_images", "height", "width"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{source}: '{name}' must be a positive integer")
        if self.test_repeats < 2:
            raise ValueError(f"{source}: 'test_repeats' must be at least 2 (oracle needs repeats)")
        if self.population.n_neurons < 1:
            raise ValueError(f"{source}: 'population.n_neurons' must be a positive integer")
        if error := mix_error(self.image_mix):
            raise ValueError(f"{source}: {error}")
        if error := parts_error(self.n_animals, self.photo_parts, self.first_photo_part):
            raise ValueError(f"{source}: {error}")


def photo_part(config: StaticConfig, index: int) -> int:
    """The part of the training scenes (of ``config.photo_parts``) that animal
    ``index`` (0-based) trains on."""
    return (config.first_photo_part + index) % config.photo_parts


def training_scenes(config: StaticConfig, index: int) -> tuple[str, ...]:
    """The scenes whose photographs animal ``index``'s natural training images
    are cropped from."""
    return training_parts(config.photo_parts)[photo_part(config, index)]


def feature_bank(config: StaticConfig) -> FeatureBank:
    return FeatureBank((config.height, config.width), config.deg_per_px, config.features)


def animals(config: StaticConfig, seed: int) -> list[Population]:
    """The simulated animals' populations (ground truth), deterministic in the seed."""
    bank = feature_bank(config)
    streams = np.random.SeedSequence(seed).spawn(config.n_animals)
    return [Population(config.population, bank, np.random.default_rng(s.spawn(1)[0]))
            for s in streams]


def scan_names(config: StaticConfig, seed: int) -> list[str]:
    return [f"insilico-{seed}-{a + 1}" for a in range(config.n_animals)]


def gaze_map(rng: np.random.Generator, config: StaticConfig) -> np.ndarray:
    """2x2 map from pupil-centre offset (camera px) to RF shift on the screen (px)."""
    angle = rng.normal(0, 0.2)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    # camera y grows downwards like screen y: a positive map up to a small rotation
    return (config.eye_deg_per_camera_px / config.deg_per_px) * rot


def simulate_static(config: StaticConfig, seed: int, show_progress: bool = True,
                    device: str = "auto") -> dict[str, xr.Dataset]:
    """Simulate every scan of the static experiment. Returns ``{scan: Dataset}``.

    The neurons' drives are computed on ``device`` (``auto``: CUDA when present).
    The same seed gives the same scans bit for bit on a CPU; on a GPU, the same
    to float tolerance (the sums run in another order), and the sampled
    responses may then differ in a rare trial."""
    return {name: simulate_scan(config, seed, a, show_progress, device)
            for a, name in enumerate(scan_names(config, seed))}


def simulate_scan(config: StaticConfig, seed: int, index: int,
                  show_progress: bool = True, device: str = "auto") -> xr.Dataset:
    """Scan ``index`` of :func:`simulate_static`, on its own (same result)."""
    if not 0 <= index < config.n_animals:
        raise ValueError(f"scan index {index} out of range for n_animals={config.n_animals}")
    device = pick_device(device)
    torch.manual_seed(seed)
    bank = feature_bank(config)
    pop_stream = np.random.SeedSequence(seed).spawn(config.n_animals)[index]
    pop = Population(config.population, bank, np.random.default_rng(pop_stream.spawn(1)[0]))
    name = scan_names(config, seed)[index]
    stream = np.random.SeedSequence([seed, 1]).spawn(config.n_animals)[index]
    ds = _simulate_scan(config, pop, name, np.random.default_rng(stream), show_progress,
                        training_scenes(config, index), device)
    # enough to rebuild the ground-truth populations (populations_of)
    ds.attrs.update(sim_config=canonical_json(config.to_dict()), sim_seed=int(seed),
                    sim_version=SIMULATOR_VERSION, photo_part=photo_part(config, index),
                    sim_device=torch.device(device).type)
    return ds


def simulator_config(ds: xr.Dataset) -> StaticConfig:
    """The simulator configuration a simulated scan was made with (its provenance)."""
    if "sim_config" not in ds.attrs or "sim_seed" not in ds.attrs:
        raise ValueError("these scans carry no simulator provenance (attrs 'sim_config', "
                         "'sim_seed'): ground-truth experiments need the simulated V1")
    return StaticConfig.from_dict(json.loads(ds.attrs["sim_config"]), source="dataset attrs")


def populations_of(scans: dict[str, xr.Dataset]) -> dict[str, Population]:
    """Rebuild the ground-truth populations of simulated scans from their provenance."""
    first = next(iter(scans.values()))
    cfg = simulator_config(first)
    seed = int(first.attrs["sim_seed"])
    return {n: p for n, p in zip(scan_names(cfg, seed), animals(cfg, seed)) if n in scans}


def responder(pop: Population) -> Responder:
    """The ground-truth neurons as a responder: noise-free rates at unit gain
    and the mean eye position."""

    def respond(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return pop.stimulus_rate(torch.from_numpy(images)).numpy()

    return Responder(respond, pop.bank.shape, pop.bank.deg_per_px)


def truth_function(pop: Population, contrast: float = 50.0):
    """The ground-truth neurons as a differentiable function of stimuli
    (B, 1, H, W) in SD units around mean grey (``contrast`` grey levels per SD),
    for :func:`v1lib.probes.sensitivity_maps`."""
    return lambda x: pop.stimulus_rate(127.5 + contrast * x[:, 0])


def _simulate_scan(config: StaticConfig, pop: Population, name: str, rng: np.random.Generator,
                   show_progress: bool, train_scenes: tuple[str, ...], device) -> xr.Dataset:
    c = config
    images, kinds, tier_of_image, trial_image = _trials(c, rng, train_scenes)
    T = len(trial_image)
    beh = simulate_behavior(T, rng)
    behavior = np.stack([beh.pupil, beh.dpupil, beh.running], axis=1)
    G = gaze_map(rng, c)
    eye = rates.eye_effects(beh.pupil_center, G, pop.torsion_per_sd)
    b = behavior.astype(np.float64)
    bz = ((b - b.mean(0)) / b.std(0)).astype(np.float32)
    drive = rates.drives(pop, images, trial_image, eye, name, show_progress, device=device)
    r = rates.trial_rates(pop, drive, bz, eye, beh.state)
    responses = pop.sample_responses(r["rate"], rng)
    stimulus_only = rates.stimulus_only_rates(pop, images, trial_image, tier_of_image,
                                              beh.pupil_center, G, bz, beh.state, device=device)
    trial_vars = {
        "images": (("trial", "y", "x"), images[trial_image]),
        "responses": (("trial", "neuron"), responses),
        "behavior": (("trial", "behavior_var"), behavior),
        "pupil_center": (("trial", "eye_axis"), beh.pupil_center),
        "gt_rate": (("trial", "neuron"), r["rate"]),
        "gt_observable_rate": (("trial", "neuron"), r["observable"]),
        "gt_stimulus_rate": (("trial", "neuron"), r["stimulus"]),
        "gt_stimulus_only_rate": (("trial", "neuron"), stimulus_only),
        "gt_eye_shift": (("trial", "eye_axis"), eye.shift),
        "gt_torsion": (("trial",), eye.torsion),
        "gt_state": (("trial",), beh.state),
    }
    trial_coords = {"tier": ("trial", tier_of_image[trial_image]),
                    "image_id": ("trial", trial_image.astype(np.int64)),
                    "image_class": ("trial", kinds[trial_image].astype(str))}
    ds = _dataset(c, pop, name, trial_vars, trial_coords)
    ds.attrs["gt_gaze_map"] = G.astype(np.float64).ravel().tolist()
    ds.attrs["gt_torsion_per_sd"] = float(pop.torsion_per_sd)
    ds.attrs["well_specified"] = int(pop.config.well_specified)
    return ds


def _trials(c: StaticConfig, rng: np.random.Generator, train_scenes: tuple[str, ...]):
    """The images, their class and tier, and the image of each trial in
    presentation order (test images repeated and interleaved). The natural
    images of each tier are crops of that tier's own photographs: the shared
    validation and test scenes, and the animal's ``train_scenes``."""
    sizes = {"train": c.n_train, "validation": c.n_validation, "test": c.n_test_images}
    pools = {"train": train_scenes, "validation": "validation", "test": "test"}
    drawn = [mixed_images(n, (c.height, c.width), c.image_mix, rng, pool=pools[tier])
             for tier, n in sizes.items()]
    images = np.round(np.concatenate([d[0] for d in drawn])).astype(np.uint8)
    kinds = np.concatenate([d[1] for d in drawn])
    tier_of_image = np.repeat(list(sizes), list(sizes.values()))
    n_img = len(images)
    trial_image = np.concatenate([np.arange(c.n_train + c.n_validation),
                                  np.repeat(np.arange(c.n_train + c.n_validation, n_img),
                                            c.test_repeats)])
    return images, kinds, tier_of_image, trial_image[rng.permutation(len(trial_image))]


def neuron_truth(pop: Population) -> dict:
    """The ground truth of every neuron (``gt_*`` variables along ``neuron``)."""
    neuron_dims = ("neuron",)
    return {
        "gt_rf_x": (neuron_dims, pop.rf_x.astype(np.float32)),
        "gt_rf_y": (neuron_dims, pop.rf_y.astype(np.float32)),
        "gt_feature_type": (neuron_dims, pop.feature_type.astype(str)),
        "gt_orientation": (neuron_dims, pop.orientation.astype(np.float32)),
        "gt_sf": (neuron_dims, pop.sf.astype(np.float32)),
        "gt_phase": (neuron_dims, pop.phase.astype(np.float32)),
        "gt_responsive": (neuron_dims, pop.responsive),
        "gt_behavior_weights": (("neuron", "behavior_var"), pop.behavior_weights),
        "gt_state_loading": (neuron_dims, pop.state_loading),
        "gt_behavior_drive_weights": (("neuron", "behavior_var"), pop.pre_weights),
        "gt_behavior_additive_weights": (("neuron", "behavior_var"), pop.additive_weights),
        "gt_eye_gain_weights": (("neuron", "eye_axis"), pop.eye_gain_weights),
        "gt_surround_weight": (neuron_dims, pop.surround),
        "gt_outside_bank": (neuron_dims, pop.outside_sign),
    }


def neuron_coords(pop: Population, name: str) -> dict:
    """The neuron coordinates of a scan (ids, cortical position, animal)."""
    n = pop.config.n_neurons
    return {"unit_id": ("neuron", np.arange(n, dtype=np.int64)),
            "cortical_x": ("neuron", pop.cortex[:, 0].astype(np.float32)),
            "cortical_y": ("neuron", pop.cortex[:, 1].astype(np.float32)),
            "cortical_z": ("neuron", pop.cortex[:, 2].astype(np.float32)),
            "animal": ("neuron", np.full(n, name))}


def _dataset(c: StaticConfig, pop: Population, name: str, trial_vars: dict,
             trial_coords: dict) -> xr.Dataset:
    """One scan in the static schema, with the population's ground truth."""
    ds = xr.Dataset(
        {**trial_vars, **neuron_truth(pop)},
        coords={
            "trial": np.arange(len(trial_vars["responses"][1])),
            "y": np.arange(c.height),
            "x": np.arange(c.width),
            "behavior_var": list(BEHAVIOR_VARS),
            "eye_axis": list(EYE_AXES),
            **trial_coords,
            **neuron_coords(pop, name),
        },
        attrs={"scan": name, "schema": "static", "source": "simulated V1 (v1lib.sim.static)",
               "deg_per_px": c.deg_per_px},
    )
    annotate(ds, UNITS)
    return ds


UNITS = {  # variable -> (long name, units)
    "images": ("stimulus luminance", "8-bit grey level"),
    "responses": ("deconvolved calcium activity", "a.u."),
    "behavior": ("pupil diameter, its change per trial, running speed",
                 "camera px, camera px/trial, cm/s"),
    "pupil_center": ("pupil centre in the eye camera", "camera px"),
    "gt_rate": ("expected response given image, eye position, behaviour and state", "a.u."),
    "gt_observable_rate": ("expected response given image, eye position and behaviour, "
                           "without the latent state", "a.u."),
    "gt_stimulus_rate": ("expected response at unit gain, behaviour at its mean", "a.u."),
    "gt_stimulus_only_rate": ("expected response given the image alone, over the session's eye "
                      "positions, behaviour and state (test tier; NaN elsewhere)", "a.u."),
    "gt_eye_shift": ("receptive-field shift on the screen caused by eye position", "px"),
    "gt_state": ("latent brain state", "SD"),
    "gt_rf_x": ("RF centre on the screen at the mean eye position", "px"),
    "gt_rf_y": ("RF centre on the screen at the mean eye position", "px"),
    "gt_orientation": ("preferred orientation of the primary feature", "deg"),
    "gt_sf": ("preferred spatial frequency of the primary feature", "cycles/deg"),
    "gt_phase": ("preferred phase (simple cells)", "deg"),
    "gt_behavior_weights": ("log-gain per SD of each behaviour variable", "1"),
    "gt_state_loading": ("log-gain per SD of the latent state", "1"),
    "gt_torsion": ("rotation of the visual field about the screen centre", "rad"),
    "gt_behavior_drive_weights": ("drive before the nonlinearity per SD of each behaviour "
                                  "variable", "SD of the drive"),
    "gt_behavior_additive_weights": ("additive response per SD of each behaviour variable "
                                     "(rectified sum)", "response amplitude"),
    "gt_eye_gain_weights": ("log-gain per SD of the pupil position (gain field)", "1"),
    "gt_surround_weight": ("weight of the subtractive surround", "1"),
    "gt_outside_bank": ("driven by a luminance feature outside the bank: +1 ON, -1 OFF, 0 no",
                        "1"),
    "cortical_x": ("cortical position", "um"),
    "cortical_y": ("cortical position", "um"),
    "cortical_z": ("cortical depth", "um"),
}


def annotate(ds: xr.Dataset, units: dict) -> None:
    """Long names and units of the variables of ``ds`` named in ``units``."""
    for name, (long_name, unit) in units.items():
        if name in ds.variables:
            ds[name].attrs.update(long_name=long_name, units=unit)


def unique_images(ds: xr.Dataset, tier: str, image_class: str | None = None) -> np.ndarray:
    """The distinct images of ``tier`` (of ``image_class`` only, if given), one
    per image id, in order of id."""
    keep = ds.tier.values == tier
    if image_class is not None:
        keep &= ds.image_class.values == image_class
    trials = np.flatnonzero(keep)
    _, first = np.unique(ds.image_id.values[trials], return_index=True)
    return ds.images.values[trials[first]]


def log_gain_r2(ds: xr.Dataset) -> np.ndarray:
    """Per neuron, the R² of a linear fit of log(gt_observable_rate /
    gt_stimulus_rate) on the z-scored behaviour and pupil position: 1 where
    behaviour and the eye act only as a log-linear gain (the well-specified world)."""
    z = lambda a: (a - a.mean(0)) / a.std(0)
    X = np.c_[z(ds.behavior.values.astype(np.float64)), z(ds.pupil_center.values.astype(np.float64)),
              np.ones(ds.sizes["trial"])]
    y = np.log(ds.gt_observable_rate.values.astype(np.float64)
               / ds.gt_stimulus_rate.values.astype(np.float64))
    res = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    return 1 - res.var(0) / np.maximum(y.var(0), 1e-12)
