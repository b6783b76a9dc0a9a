"""The static schema: responses to static images, one image per trial.

One :class:`xarray.Dataset` per scan (one animal, one imaging session):

==================  ======================  =====================================
variable            dims                    meaning
==================  ======================  =====================================
images              (trial, y, x)           stimulus shown on each trial
responses           (trial, neuron)         response of each neuron, >= 0
behavior            (trial, behavior_var)   pupil, dpupil, running
pupil_center        (trial, eye_axis)       eye position, [x, y]
==================  ======================  =====================================

Coordinates: ``tier(trial)`` in train/validation/test/final_test,
``image_id(trial)`` (repeats share it), ``cortical_x/y/z(neuron)`` in µm,
``animal(neuron)``, ``unit_id(neuron)`` (unique). Optional ground truth lives
in ``gt_*`` variables.

A model sees the image as its stimulus (z-scored over all pixels, one channel),
the pupil centre as the eye position (z-scored per axis) and the behaviour
divided by its SD (neuralpredictors' rules).
"""

from __future__ import annotations

from .schema import Input, Schema

BEHAVIOR_VARS = ("pupil", "dpupil", "running")
EYE_AXES = ("x", "y")
TIERS = frozenset({"train", "validation", "test", "final_test"})

STATIC = Schema(
    name="static",
    description="responses to static images, one image per trial",
    sample_dim="trial",
    variables={
        "images": ("trial", "y", "x"),
        "responses": ("trial", "neuron"),
        "behavior": ("trial", "behavior_var"),
        "pupil_center": ("trial", "eye_axis"),
    },
    coords={
        "tier": ("trial",),
        "image_id": ("trial",),
        "cortical_x": ("neuron",),
        "cortical_y": ("neuron",),
        "cortical_z": ("neuron",),
        "animal": ("neuron",),
        "unit_id": ("neuron",),
    },
    labels={"behavior_var": BEHAVIOR_VARS, "eye_axis": EYE_AXES},
    tiers=TIERS,
    repeat_key="image_id",
    inputs=(
        Input("images", "stimulus", center=True, per_column=False, channel=True),
        Input("pupil_center", "eye", center=True, per_column=True),
        Input("behavior", "behavior", center=False, per_column=True),
    ),
)
