"""The static schema: what a dataset of responses to static images must hold.

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
"""

from __future__ import annotations

import numpy as np
import xarray as xr

BEHAVIOR_VARS = ["pupil", "dpupil", "running"]
EYE_AXES = ["x", "y"]
TIERS = {"train", "validation", "test", "final_test"}

VARIABLES = {
    "images": ("trial", "y", "x"),
    "responses": ("trial", "neuron"),
    "behavior": ("trial", "behavior_var"),
    "pupil_center": ("trial", "eye_axis"),
}
COORDS = {
    "tier": ("trial",),
    "image_id": ("trial",),
    "cortical_x": ("neuron",),
    "cortical_y": ("neuron",),
    "cortical_z": ("neuron",),
    "animal": ("neuron",),
    "unit_id": ("neuron",),
}


class SchemaError(ValueError):
    """A dataset does not follow the static schema."""


def validate_static(ds: xr.Dataset, source: str = "dataset") -> xr.Dataset:
    """Check ``ds`` against the static schema; raise :class:`SchemaError` naming
    the file (``source``), variable and problem. Returns ``ds`` unchanged."""

    def fail(msg):
        raise SchemaError(f"{source}: {msg}")

    if not isinstance(ds, xr.Dataset):
        fail(f"expected an xarray.Dataset, got {type(ds).__name__}")
    for name, dims in {**VARIABLES, **COORDS}.items():
        kind = "variable" if name in VARIABLES else "coordinate"
        if name not in ds.variables:
            fail(f"missing {kind} '{name}' with dims {dims}")
        if ds[name].dims != dims:
            fail(f"{kind} '{name}' has dims {ds[name].dims}; expected {dims}")
    for name in VARIABLES:
        if not np.issubdtype(ds[name].dtype, np.number):
            fail(f"variable '{name}' must be numeric, got dtype {ds[name].dtype}")
        values = ds[name].values
        if not np.all(np.isfinite(values)):
            bad = int(np.size(values) - np.isfinite(values).sum())
            fail(f"variable '{name}' holds {bad} NaN or infinite value(s)")
    if ds.sizes["trial"] < 1 or ds.sizes["neuron"] < 1:
        fail("needs at least one trial and one neuron")
    if (ds["responses"].values < 0).any():
        fail("variable 'responses' has negative values; expected non-negative activity "
             "(e.g. deconvolved calcium traces)")
    for dim, expected in (("behavior_var", BEHAVIOR_VARS), ("eye_axis", EYE_AXES)):
        got = [str(v) for v in ds[dim].values] if dim in ds.coords else None
        if got != expected:
            fail(f"coordinate '{dim}' must be {expected}, got {got}")
    tiers = set(str(t) for t in np.unique(ds["tier"].values))
    if not tiers <= TIERS:
        fail(f"coordinate 'tier' has unknown value(s) {sorted(tiers - TIERS)}; "
             f"allowed: {sorted(TIERS)}")
    for name in ("cortical_x", "cortical_y", "cortical_z"):
        if not np.all(np.isfinite(ds[name].values.astype(float))):
            fail(f"coordinate '{name}' holds NaN values")
    if len(np.unique(ds["unit_id"].values)) != ds.sizes["neuron"]:
        fail("coordinate 'unit_id' has duplicate values")
    return ds
