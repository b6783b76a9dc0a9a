"""A simulated freely moving session as a dataset of the session schema: the
paper's split into segments and tiers, its 3 Hz unit filter, and the ground
truth (:mod:`v1lib.sim.freely_moving`)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..data.session import BEHAVIOR_VARS
from .gain_fields import DEPENDENCY_GROUPS, STANDARD, MovingNeurons
from .mouse import Motion
from .static import annotate, neuron_coords, neuron_truth

AXES = ("x", "y")
# the receptive-field truth of the static simulator that applies here
RF_TRUTH = ("gt_rf_x", "gt_rf_y", "gt_feature_type", "gt_orientation", "gt_sf", "gt_phase",
            "gt_surround_weight", "gt_outside_bank")


def tiers(n_bins: int, segments: int, test_fraction: float, validation_fraction: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """The segment (T,) and tier (T,) of each bin: ``segments`` consecutive
    segments of (nearly) equal length; in each, the first ``1 - test_fraction``
    (rounded) is the train part and the rest test, and the last
    ``validation_fraction`` (rounded) of the train part is validation."""
    segment = np.empty(n_bins, dtype=np.int64)
    tier = np.empty(n_bins, dtype=object)
    for k, idx in enumerate(np.array_split(np.arange(n_bins), segments)):
        n_train = int(round(len(idx) * (1 - test_fraction)))
        n_val = int(round(n_train * validation_fraction))
        segment[idx] = k
        tier[idx[:n_train - n_val]] = "train"
        tier[idx[n_train - n_val:n_train]] = "validation"
        tier[idx[n_train:]] = "test"
    return segment, tier.astype(str)


def kept_units(counts: np.ndarray, bin_s: float, min_rate_hz: float) -> np.ndarray:
    """The units (N,) whose mean rate over the session is at least ``min_rate_hz``."""
    return counts.mean(0) / bin_s >= min_rate_hz


def _neuron_vars(mn: MovingNeurons) -> dict:
    n1 = ("neuron",)
    truth = neuron_truth(mn.pop)
    return {**{k: truth[k] for k in RF_TRUTH},
            "gt_dependency": (("neuron", "dependency_group"), mn.dependency),
            "gt_neuron_class": (n1, mn.neuron_class.astype(str)),
            "gt_gain_weights": (("neuron", "behavior_var"), mn.gain_weights),
            "gt_additive_weights": (("neuron", "behavior_var"), mn.additive_weights),
            "gt_visual_weight": (n1, mn.visual_weight),
            "gt_base_rate_hz": (n1, mn.base_rate),
            "gt_history_weight": (n1, mn.history),
            "gt_threshold": (n1, mn.pop.threshold),
            "gt_visual_scale": (n1, mn.visual_scale),
            "gt_state_loading": (n1, mn.state_loading)}


def _time_vars(frames, counts, behavior, rates: dict, motion: Motion, shift, rotation,
               state) -> dict:
    t, tn = ("time",), ("time", "neuron")
    return {"frames": (("time", "y", "x"), frames),
            "responses": (tn, counts),
            "behavior": (("time", "behavior_var"), behavior),
            "gt_rate": (tn, rates["rate"]),
            "gt_observable_rate": (tn, rates["observable"]),
            "gt_stimulus_rate": (tn, rates["stimulus"]),
            "gt_state": (t, state),
            "gt_retinal_shift": (("time", "axis"), shift),
            "gt_retinal_rotation": (t, rotation),
            "gt_eye_torsion": (t, motion.torsion),
            "gt_position": (("time", "axis"), motion.position),
            "gt_head_yaw": (t, motion.head_yaw),
            "gt_running": (t, motion.running),
            "gt_saccade": (t, motion.saccade),
            "gt_arousal": (t, motion.arousal)}


def dataset(c, mn: MovingNeurons, name: str, frames, counts, behavior, rates: dict,
            motion: Motion, shift, rotation, state) -> xr.Dataset:
    """One session in the session schema, its units under ``c.min_rate_hz`` dropped."""
    segment, tier = tiers(len(frames), c.segments, c.test_fraction, c.validation_fraction)
    keep = kept_units(counts, c.bin_s, c.min_rate_hz)
    if not keep.any():
        raise ValueError(f"{name}: no unit fires at 'min_rate_hz' = {c.min_rate_hz} Hz or "
                         f"more; lower it or simulate more neurons")
    ds = xr.Dataset(
        {**_time_vars(frames, counts, behavior, rates, motion, shift, rotation, state),
         **_neuron_vars(mn)},
        coords={"time": ("time", np.arange(len(frames)) * c.bin_s, {"units": "s"}),
                "y": np.arange(c.height), "x": np.arange(c.width),
                "behavior_var": list(BEHAVIOR_VARS), "axis": list(AXES),
                "dependency_group": list(DEPENDENCY_GROUPS),
                "segment": ("time", segment), "tier": ("time", tier),
                "mean_rate_hz": ("neuron", (counts.mean(0) / c.bin_s).astype(np.float32)),
                **neuron_coords(mn.pop, name)},
        attrs={"scan": name, "schema": "session",
               "source": "simulated V1 (v1lib.sim.freely_moving)", "bin_s": float(c.bin_s),
               "deg_per_px": float(c.deg_per_px),
               "camera_fov_deg": [float(c.width * c.deg_per_px), float(c.height * c.deg_per_px)],
               "arena_cm": float(c.arena_cm), "wall_height_cm": float(c.wall_height_cm),
               "camera_height_cm": float(c.camera_height_cm),
               "min_rate_hz": float(c.min_rate_hz), "n_units_simulated": int(len(keep)),
               "gt_standard_centre": [float(STANDARD[v][0]) for v in BEHAVIOR_VARS],
               "gt_standard_scale": [float(STANDARD[v][1]) for v in BEHAVIOR_VARS]},
    )
    ds = ds.isel(neuron=np.flatnonzero(keep))
    annotate(ds, UNITS)
    return ds


UNITS = {  # variable -> (long name, units)
    "frames": ("head-camera frame (world camera), one per bin", "8-bit grey level"),
    "responses": ("spike count in the bin", "spikes"),
    "behavior": ("running speed, head pitch (nose up), head roll (right ear down), eye phi "
                 "(up), eye theta (right), pupil radius", "cm/s, deg, deg, deg, deg, eye-camera px"),
    "mean_rate_hz": ("mean firing rate over the session (units under min_rate_hz dropped)", "Hz"),
    "gt_rate": ("expected spike count given the frames, behaviour and latent state", "spikes"),
    "gt_observable_rate": ("expected spike count given the recorded frames and behaviour (the "
                           "latent state averaged out)", "spikes"),
    "gt_stimulus_rate": ("expected spike count with behaviour at its standard centre, the "
                         "retinal image as seen, the latent state averaged out", "spikes"),
    "gt_state": ("latent state of the neurons (not recorded)", "SD"),
    "gt_retinal_shift": ("where the retina reads the camera frame, relative to the frame: "
                         "eye theta and -phi over deg_per_px", "camera px"),
    "gt_retinal_rotation": ("rotation of the retina's reading of the camera frame about its "
                            "centre, clockwise on the image positive", "rad"),
    "gt_eye_torsion": ("eye torsion relative to the head (counter-roll; not recorded)", "deg"),
    "gt_position": ("head position in the arena, from its south-west corner", "cm"),
    "gt_head_yaw": ("compass heading of the head, clockwise positive (not recorded)", "deg"),
    "gt_running": ("in a running bout", "1"),
    "gt_saccade": ("a saccade in the bin", "1"),
    "gt_arousal": ("slow arousal state driving the pupil", "a.u."),
    "gt_dependency": ("the neuron depends on the group (visual: the retinal image; position: "
                      "head pitch, roll, eye theta, phi; speed; pupil)", "1"),
    "gt_neuron_class": ("visual (vision only), mixed (vision and behaviour) or behavior "
                        "(behaviour only)", "1"),
    "gt_gain_weights": ("log-gain per standard unit of each behaviour variable (the gain field)",
                        "1"),
    "gt_additive_weights": ("additive rate per standard unit of each behaviour variable, in "
                            "base rates (rectified sum)", "1"),
    "gt_visual_weight": ("weight of the visual drive in the multiplicative term", "1"),
    "gt_base_rate_hz": ("base rate R", "Hz"),
    "gt_history_weight": ("weight of the previous bin's drive", "1"),
    "gt_threshold": ("soft threshold of the standardised drive", "SD of the drive"),
    "gt_visual_scale": ("mean soft-thresholded drive over reference views (V's unit)", "1"),
    "gt_state_loading": ("log-gain per SD of the latent state", "1"),
    "gt_rf_x": ("RF centre on the retinal image (the camera frame at zero eye position)", "px"),
    "gt_rf_y": ("RF centre on the retinal image (the camera frame at zero eye position)", "px"),
    "gt_orientation": ("preferred orientation of the primary feature", "deg"),
    "gt_sf": ("preferred spatial frequency of the primary feature", "cycles/deg"),
    "gt_phase": ("preferred phase (simple cells)", "deg"),
    "gt_surround_weight": ("weight of the subtractive surround", "1"),
    "gt_outside_bank": ("driven by a luminance feature outside the bank: +1 ON, -1 OFF, 0 no",
                        "1"),
    "cortical_x": ("cortical position", "um"),
    "cortical_y": ("cortical position", "um"),
    "cortical_z": ("cortical depth", "um"),
}
