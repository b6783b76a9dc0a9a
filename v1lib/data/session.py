"""The session schema: one freely moving recording, binned in time (Xu et al.
2023; the data of Parker et al. 2022).

One :class:`xarray.Dataset` per session (one animal):

=================  ===========================  ===========================================
variable           dims                         meaning
=================  ===========================  ===========================================
frames             (time, y, x)                 the head-mounted world camera, one frame per bin
responses          (time, neuron)               spike count of each unit in the bin, >= 0
behavior           (time, behavior_var)         the variables of :data:`BEHAVIOR_VARS`
=================  ===========================  ===========================================

Coordinates: ``time(time)`` in seconds from the session's start, one bin per
sample (48 ms in the paper); ``segment(time)``, the consecutive part of the
session a bin belongs to (windows of past frames never cross a segment's
boundary); ``tier(time)`` in train/validation/test; ``unit_id(neuron)`` and
``animal(neuron)``. The bin width is ``attrs["bin_s"]``. Optional ground truth
lives in ``gt_*`` variables.

Behaviour: running speed (cm/s), head pitch and roll (deg, from the
head-mounted IMU), the eye's vertical and horizontal position φ and θ (deg,
from the eye camera) and the pupil radius. There are no repeated stimuli in a
freely moving session (no ``repeat_key``), so no oracle: models are scored
against the single trial, smoothed and unsmoothed.

A model sees the frames as its stimulus (one channel, z-scored over all pixels
of the training bins) and the behaviour z-scored per variable.
"""

from __future__ import annotations

from .schema import Input, Schema

BEHAVIOR_VARS = ("speed", "pitch", "roll", "eye_phi", "eye_theta", "pupil")
TIERS = frozenset({"train", "validation", "test"})

SESSION = Schema(
    name="session",
    description="a freely moving session binned in time: head-camera frames, behaviour, spikes",
    sample_dim="time",
    variables={
        "frames": ("time", "y", "x"),
        "responses": ("time", "neuron"),
        "behavior": ("time", "behavior_var"),
    },
    coords={
        "time": ("time",),
        "segment": ("time",),
        "tier": ("time",),
        "animal": ("neuron",),
        "unit_id": ("neuron",),
    },
    labels={"behavior_var": BEHAVIOR_VARS},
    tiers=TIERS,
    repeat_key=None,
    block_key="segment",
    inputs=(
        Input("frames", "stimulus", center=True, per_column=False, channel=True),
        Input("behavior", "behavior", center=True, per_column=True),
    ),
    finite_coords=("time",),
)
