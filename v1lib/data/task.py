"""The task schema: images labelled with object classes, for training
task-driven networks (e.g. MouseNet) on object recognition.

One :class:`xarray.Dataset` per task:

==================  ======================  =====================================
variable            dims                    meaning
==================  ======================  =====================================
images              (image, y, x)           grey levels 0..255 (e.g. 8-bit)
label               (image,)                class index, 0 .. n classes - 1
==================  ======================  =====================================

Coordinates: ``tier(image)`` in train/validation/test, ``class_name(class)``
(the name of each class index). Every label names a class, and every class
has training images (:func:`validate_task`). Optional ground truth of simulated
tasks lives in ``gt_*`` variables.

A model sees the image as its stimulus (z-scored over all pixels, one
channel); its target is the label.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .schema import Input, Schema, SchemaError

TIERS = frozenset({"train", "validation", "test"})


def validate_task(ds: xr.Dataset, source: str = "dataset") -> None:
    """Labels are integer class indices in [0, n classes), class names are
    distinct, and every class has training images; raise :class:`SchemaError`
    naming ``source`` and the variable otherwise."""

    def fail(msg):
        raise SchemaError(f"{source}: {msg}")

    labels = ds["label"].values
    names = [str(n) for n in ds["class_name"].values]
    n = len(names)
    if n < 1:
        fail("coordinate 'class_name' is empty: a task needs at least one class")
    if len(set(names)) != n:
        twice = sorted({c for c in names if names.count(c) > 1})
        fail(f"coordinate 'class_name' has duplicate values {twice}")
    if not np.issubdtype(labels.dtype, np.integer):
        fail(f"variable 'label' must hold integer class indices, got dtype {labels.dtype}")
    bad = np.unique(labels[(labels < 0) | (labels >= n)])
    if bad.size:
        fail(f"variable 'label' has value(s) {bad[:5].tolist()} outside 0..{n - 1} "
             f"(the {n} classes of 'class_name')")
    present = np.unique(labels[ds["tier"].values == "train"])
    missing = [names[k] for k in range(n) if k not in present]
    if missing:
        fail(f"variable 'label': class(es) {missing[:5]} have no 'train' image; every class "
             "needs training images")


TASK = Schema(
    name="task",
    description="labelled images for object recognition (task-driven networks)",
    sample_dim="image",
    variables={"images": ("image", "y", "x"), "label": ("image",)},
    coords={"tier": ("image",), "class_name": ("class",)},
    labels={},
    tiers=TIERS,
    repeat_key=None,
    inputs=(Input("images", "stimulus", center=True, per_column=False, channel=True),),
    responses="label",
    finite_coords=(),
    unique_coords=(),
    checks=(validate_task,),
)
