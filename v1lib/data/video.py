"""The video schema: responses to movie clips, every variable sampled at the
frame rate (Sinz et al. 2018; the Sensorium 2023 data).

One :class:`xarray.Dataset` per scan (one animal, one imaging session):

=================  ===============================  ==================================
variable           dims                             meaning
=================  ===============================  ==================================
videos             (clip, time, y, x)               the frames of each clip
responses          (clip, time, neuron)             response of each neuron, >= 0
behavior           (clip, time, behavior_var)       pupil, dpupil, running
pupil_center       (clip, time, eye_axis)           eye position, [x, y]
=================  ===============================  ==================================

Coordinates: ``time(time)`` in seconds from the clip's start; ``tier(clip)`` in
train/validation/test/final_test; ``clip_id(clip)`` (repeats of a clip share
it); ``stimulus_type(clip)`` in :data:`STIMULUS_TYPES`; the neuron coordinates
of the static schema. ``dpupil`` is the change of the pupil size per frame.
The frame rate is ``attrs["frame_rate_hz"]``. Optional ground truth lives in
``gt_*`` variables.

A model sees the video as its stimulus, one channel before the time axis, as
8-bit grey levels scaled to (x - 127.5) / 64: one fixed scale, so that a core
trained on one kind of stimulus reads every other kind as it would the raw
pixels (Sinz et al. 2018 fed raw pixels); the pupil centre as the eye position
(z-scored per axis) and the behaviour divided by its SD, all with their time axis.
"""

from __future__ import annotations

from .schema import Input, Schema
from .static import BEHAVIOR_VARS, EYE_AXES, TIERS

# what a clip shows: natural movies, the two noise stimuli of Sinz et al. 2018
# (Monet, Trippy), drifting gratings, and any other stimulus of a real dataset
STIMULUS_TYPES = ("natural", "monet", "trippy", "grating", "other")

VIDEO = Schema(
    name="video",
    description="responses to video clips, every variable at the frame rate",
    sample_dim="clip",
    variables={
        "videos": ("clip", "time", "y", "x"),
        "responses": ("clip", "time", "neuron"),
        "behavior": ("clip", "time", "behavior_var"),
        "pupil_center": ("clip", "time", "eye_axis"),
    },
    coords={
        "time": ("time",),
        "tier": ("clip",),
        "clip_id": ("clip",),
        "stimulus_type": ("clip",),
        "cortical_x": ("neuron",),
        "cortical_y": ("neuron",),
        "cortical_z": ("neuron",),
        "animal": ("neuron",),
        "unit_id": ("neuron",),
    },
    labels={"behavior_var": BEHAVIOR_VARS, "eye_axis": EYE_AXES},
    categories={"stimulus_type": STIMULUS_TYPES},
    tiers=TIERS,
    repeat_key="clip_id",
    time_dim="time",
    inputs=(
        Input("videos", "stimulus", center=True, per_column=False, channel=True,
              fixed=(127.5, 64.0)),
        Input("pupil_center", "eye", center=True, per_column=True),
        Input("behavior", "behavior", center=False, per_column=True),
    ),
)
