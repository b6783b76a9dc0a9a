"""Sensorium 2022 static data (the neuralpredictors "FileTree" layout) <-> the static schema.

One scan is a folder ``static<KEY>-GrayImageNet-<hash>/`` (shipped as a ``.zip`` of it),
in the file-tree layout of :mod:`v1lib.data.filetree`::

    data/images/<t>.npy        (1, 144, 256) uint8   image shown on trial t
    data/responses/<t>.npy     (N,)                  deconvolved calcium activity
    data/behavior/<t>.npy      (3,)                  pupil, dpupil, running
    data/pupil_center/<t>.npy  (2,)                  horizontal, vertical eye position
    meta/neurons/unit_ids.npy, cell_motor_coordinates.npy (N, 3) µm, [animal_ids, area, layer, ...]
    meta/trials/tiers.npy, frame_image_id.npy, [trial_idx.npy, ...]
    meta/statistics/...        (not read: v1lib computes its own normalisation)

File number ``t`` is the trial index into every ``meta/trials`` array. :func:`load_sensorium`
reads a folder or the ``.zip`` directly (nothing is extracted or written), stacks every trial
once, rescales the images to the model resolution (36 x 64 by default) and returns one scan
in the static schema. :func:`write_sensorium_folder` writes a schema dataset back out in the
same layout.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import numpy as np
import xarray as xr

from . import filetree
from .static import BEHAVIOR_VARS, EYE_AXES, STATIC, TIERS

FORMAT = "sensorium2022"
DATA_KEYS = ("images", "responses", "behavior", "pupil_center")
REQUIRED_META = {"neurons": ("unit_ids", "cell_motor_coordinates"),
                 "trials": ("tiers", "frame_image_id")}
WITHHELD_CANDIDATES = ("test", "final_test")
# names the optional meta arrays must not take (they are the schema's own)
_RESERVED = {"trial", "neuron", "y", "x", "behavior_var", "eye_axis", *STATIC.coords,
             *STATIC.variables}
_CHUNK = 512  # images rescaled per call (bounds the float32 working memory)


class SensoriumFormatError(filetree.FileTreeError):
    """A Sensorium folder or zip does not follow the static FileTree layout."""


def scan_key(name: str) -> str:
    """The data key of a scan from its folder or zip name:
    ``static21067-10-18-GrayImageNet-94c6...`` -> ``21067-10-18``."""
    name = name.removesuffix(".zip")
    m = re.match(r"^static(?P<key>.+?)-(?:Gray|Color)ImageNet(?:-|$)", name)
    if m:
        return m["key"]
    m = re.match(r"^static(?P<key>\d+-\d+-\d+)", name)
    return m["key"] if m else name


def rescale_images(images: np.ndarray, shape=(36, 64)) -> np.ndarray:
    """Resize a stack ``(T, H, W)`` to ``(T, *shape)`` as the Sensorium loader does
    (``skimage.transform.rescale(scale=0.25, order=1, mode="reflect", anti_aliasing=False,
    preserve_range=True)`` for 144 x 256 -> 36 x 64); float32, range kept."""
    from skimage.transform import resize

    images = np.asarray(images)
    shape = tuple(int(s) for s in shape)
    if images.shape[1:] == shape:
        return images.astype(np.float32, copy=False)
    out = np.empty((len(images), *shape), dtype=np.float32)
    for i in range(0, len(images), _CHUNK):  # one call per chunk: axis 0 is not interpolated
        block = images[i:i + _CHUNK].astype(np.float32)
        out[i:i + _CHUNK] = resize(block, (len(block), *shape), order=1, mode="reflect",
                                   anti_aliasing=False, preserve_range=True)
    return out


def _image_id(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """int64 image ids; non-integer ids (e.g. hashes) are numbered, the originals returned."""
    if np.issubdtype(raw.dtype, np.integer):
        return raw.astype(np.int64), None
    with contextlib.suppress(ValueError, TypeError, OverflowError):
        as_int = raw.astype(np.int64)
        if np.issubdtype(raw.dtype, np.floating) and not np.array_equal(as_int, raw):
            raise ValueError
        return as_int, None
    _, codes = np.unique(raw, return_inverse=True)
    return codes.astype(np.int64).reshape(-1), raw


def load_sensorium(path, shape=(36, 64)) -> dict[str, xr.Dataset]:
    """Read one Sensorium 2022 scan (folder or ``.zip``) into the static schema: ``{key: Dataset}``.

    Images are rescaled to ``shape`` (bilinear, no anti-aliasing, 0–255 range kept; images
    already at ``shape`` are kept); responses, behaviour and pupil position are the raw
    values (no normalisation). Tiers whose responses are all zero (withheld in the
    competition scans) are listed, comma-separated, in ``attrs["withheld_tiers"]``.
    Raises :class:`SensoriumFormatError` naming the file and the problem.
    """
    with filetree.open_tree(path, SensoriumFormatError, "Sensorium") as tree:
        return _read(tree, shape)


def _read(tree: filetree.FileTree, shape) -> dict[str, xr.Dataset]:
    key = scan_key(tree.folder_name)
    for group, names in REQUIRED_META.items():
        for name in names:
            if not tree.exists(f"meta/{group}/{name}.npy"):
                raise SensoriumFormatError(f"{tree.label}: missing file 'meta/{group}/{name}.npy'")
    n = filetree.trial_count(tree, DATA_KEYS)
    images = filetree.stack(tree, "images", n, lambda s: len(s) == 2 or (len(s) == 3 and s[0] == 1),
                            "(1, H, W) or (H, W)")
    images = images.reshape(n, *images.shape[-2:])
    responses = filetree.stack(tree, "responses", n, lambda s: len(s) == 1,
                               "(N,), one value per neuron")
    behavior = filetree.stack(tree, "behavior", n, lambda s: s in ((3,), (1, 3)),
                              "(3,) = pupil, dpupil, running").reshape(n, 3)
    pupil = filetree.stack(tree, "pupil_center", n, lambda s: s in ((2,), (1, 2)),
                           "(2,) = horizontal, vertical").reshape(n, 2)
    n_neurons = responses.shape[1]
    neurons = "neurons (length of data/responses/0.npy)"
    unit_ids = filetree.meta(tree, "neurons", "unit_ids", n_neurons, neurons)
    coords = filetree.meta(tree, "neurons", "cell_motor_coordinates", n_neurons, neurons)
    if coords.shape != (n_neurons, 3):
        raise SensoriumFormatError(f"{tree.where('meta/neurons/cell_motor_coordinates.npy')}: "
                                   f"shape {coords.shape}; expected ({n_neurons}, 3) = x, y, z in µm")
    if not np.isfinite(coords.astype(float)).all():
        raise SensoriumFormatError(f"{tree.where('meta/neurons/cell_motor_coordinates.npy')}: "
                                   "holds NaN values")
    trials = "trials (files in data/images/)"
    tiers = filetree.meta(tree, "trials", "tiers", n, trials).astype(str)
    unknown = sorted(set(np.unique(tiers).tolist()) - TIERS)
    if unknown:
        raise SensoriumFormatError(f"{tree.where('meta/trials/tiers.npy')}: unknown tier value(s) "
                                   f"{unknown}; v1lib reads only {sorted(TIERS)}")
    image_id, image_id_raw = _image_id(filetree.meta(tree, "trials", "frame_image_id", n, trials))
    ds = _dataset(key, rescale_images(images, shape), responses, behavior, pupil, tiers, image_id,
                  unit_ids, coords, shape)
    if image_id_raw is not None:
        ds = ds.assign_coords(frame_image_id=("trial", image_id_raw))
    skipped = _optional_meta(tree, ds, n, n_neurons)
    withheld = [t for t in WITHHELD_CANDIDATES
                if (tiers == t).any() and not responses[tiers == t].any()]
    ds.attrs.update({
        "scan": key, "schema": STATIC.name, "source": tree.label, "format": FORMAT,
        "original_image_shape": list(images.shape[1:]),
        "image_rescaling": ("none" if images.shape[1:] == tuple(shape) else
                            "bilinear (skimage order=1, mode='reflect', no anti-aliasing), "
                            "0-255 range kept"),
        "withheld_tiers": ",".join(withheld),
    })
    if skipped:
        ds.attrs["meta_skipped"] = ",".join(skipped)
    STATIC.validate(ds, source=tree.label)
    return {key: ds}


def _dataset(key, images, responses, behavior, pupil, tiers, image_id, unit_ids, coords,
             shape) -> xr.Dataset:
    n, n_neurons = responses.shape
    f32 = lambda a: a.astype(np.float32, copy=False)
    return xr.Dataset(
        {
            "images": (("trial", "y", "x"), images),
            "responses": (("trial", "neuron"), f32(responses)),
            "behavior": (("trial", "behavior_var"), f32(behavior)),
            "pupil_center": (("trial", "eye_axis"), f32(pupil)),
        },
        coords={
            "trial": np.arange(n),
            "tier": ("trial", tiers),
            "image_id": ("trial", image_id),
            "y": np.arange(shape[0]),
            "x": np.arange(shape[1]),
            "cortical_x": ("neuron", coords[:, 0].astype(np.float32)),
            "cortical_y": ("neuron", coords[:, 1].astype(np.float32)),
            "cortical_z": ("neuron", coords[:, 2].astype(np.float32)),
            "animal": ("neuron", np.full(n_neurons, key)),
            "unit_id": ("neuron", unit_ids.astype(np.int64)
                        if np.issubdtype(unit_ids.dtype, np.integer) else unit_ids),
            "behavior_var": list(BEHAVIOR_VARS),
            "eye_axis": list(EYE_AXES),
        },
    )


def _optional_meta(tree: filetree.FileTree, ds: xr.Dataset, n: int, n_neurons: int) -> list[str]:
    """Add the other 1-D arrays of meta/neurons and meta/trials as coordinates (e.g.
    ``trial_idx``, ``area``, ``layer``); return the files skipped (not 1-D, or objects)."""
    skipped = []
    for group, dim, length in (("neurons", "neuron", n_neurons), ("trials", "trial", n)):
        found, skip = filetree.optional_meta(tree, group, length, f"{dim}s", REQUIRED_META[group])
        skipped += skip
        for stem, a in found.items():
            name = f"{dim}_{stem}" if stem in _RESERVED or stem in ds.variables else stem
            ds.coords[name] = (dim, a)
    return skipped


# -- writing ------------------------------------------------------------------------


def write_sensorium_folder(scan: xr.Dataset, folder, image_shape=(144, 256),
                           overwrite: bool = False) -> Path:
    """Write a static-schema scan in the Sensorium 2022 FileTree layout at ``folder``.

    Images are upscaled by pixel repetition to ``image_shape`` (an integer multiple of the
    scan's image size; ``None`` keeps the size) and written as uint8 when they are whole
    numbers in 0–255 (as in the competition data), else as float32. ``meta/statistics`` is
    written over all trials so that neuralpredictors' loaders can normalise. Ground-truth
    (``gt_*``) variables are not part of the format and are left out. Name the folder
    ``static<KEY>-GrayImageNet-<anything>`` for :func:`load_sensorium` to read ``KEY`` back.
    The folder appears only when complete.
    """
    STATIC.validate(scan, source="write_sensorium_folder")
    h, w = scan.sizes["y"], scan.sizes["x"]
    if image_shape is None:
        fy = fx = 1
    else:
        ih, iw = (int(s) for s in image_shape)
        if ih % h or iw % w:
            raise ValueError(f"image_shape {tuple(image_shape)} is not an integer multiple of the "
                             f"scan's images ({h}, {w})")
        fy, fx = ih // h, iw // w
    images = scan["images"].transpose("trial", "y", "x").values
    if np.all((images >= 0) & (images <= 255) & (images == np.round(images))):
        images = images.astype(np.uint8)
    else:
        images = images.astype(np.float32)
    data = {
        "images": np.repeat(np.repeat(images, fy, axis=1), fx, axis=2)[:, None],
        "responses": scan["responses"].transpose("trial", "neuron").values.astype(np.float32),
        "behavior": scan["behavior"].sel(behavior_var=list(BEHAVIOR_VARS))
        .transpose("trial", ...).values.astype(np.float32),
        "pupil_center": scan["pupil_center"].sel(eye_axis=list(EYE_AXES))
        .transpose("trial", ...).values.astype(np.float32),
    }
    stats = {**data, "images": images.astype(np.float64)}
    return filetree.write_tree(folder, lambda tmp: _write(tmp, scan, data, stats), overwrite)


def _write(tmp: Path, scan: xr.Dataset, data: dict, stats: dict) -> None:
    for key, values in data.items():
        (tmp / "data" / key).mkdir(parents=True)
        for t in range(len(values)):
            np.save(tmp / "data" / key / f"{t}.npy", values[t])
    neurons, trials = tmp / "meta" / "neurons", tmp / "meta" / "trials"
    neurons.mkdir(parents=True)
    trials.mkdir(parents=True)
    np.save(neurons / "unit_ids.npy", scan["unit_id"].values)
    np.save(neurons / "cell_motor_coordinates.npy",
            np.stack([scan[c].values.astype(np.float32)
                      for c in ("cortical_x", "cortical_y", "cortical_z")], axis=1))
    np.save(neurons / "animal_ids.npy", scan["animal"].values.astype(str))
    np.save(trials / "tiers.npy", scan["tier"].values.astype(str))
    np.save(trials / "frame_image_id.npy", scan["image_id"].values.astype(np.int64))
    written = {"unit_id", "cortical_x", "cortical_y", "cortical_z", "animal", "tier", "image_id"}
    for name, c in scan.coords.items():
        if name in written or name in scan.dims or c.ndim != 1:
            continue
        if c.dims[0] not in ("trial", "neuron") or c.dtype.kind not in "biufUS":
            continue
        np.save((neurons if c.dims[0] == "neuron" else trials) / f"{name}.npy", c.values)
    for key, values in stats.items():
        out = tmp / "meta" / "statistics" / key / "all"
        out.mkdir(parents=True)
        axis = None if key == "images" else 0
        for stat, fn in (("mean", np.mean), ("std", np.std), ("min", np.min),
                         ("max", np.max), ("median", np.median)):
            np.save(out / f"{stat}.npy", np.asarray(fn(values, axis=axis), dtype=np.float32))
