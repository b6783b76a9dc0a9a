"""Sensorium 2022 static data (the neuralpredictors "FileTree" layout) <-> the static schema.

One scan is a folder ``static<KEY>-GrayImageNet-<hash>/`` (shipped as a ``.zip`` of it)::

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
import io
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import xarray as xr

from .schema import BEHAVIOR_VARS, EYE_AXES, TIERS, validate_static

FORMAT = "sensorium2022"
DATA_KEYS = ("images", "responses", "behavior", "pupil_center")
REQUIRED_META = {"neurons": ("unit_ids", "cell_motor_coordinates"),
                 "trials": ("tiers", "frame_image_id")}
WITHHELD_CANDIDATES = ("test", "final_test")
# names the optional meta arrays must not take (they are the schema's own)
_RESERVED = {"trial", "neuron", "y", "x", "behavior_var", "eye_axis", "tier", "image_id",
             "cortical_x", "cortical_y", "cortical_z", "animal", "unit_id", *DATA_KEYS}
_CHUNK = 512  # images rescaled per call (bounds the float32 working memory)


class SensoriumFormatError(ValueError):
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


# -- reading from a folder or a zip -------------------------------------------------


class _Tree:
    """Read-only view of one scan's files: ``rel`` paths like ``data/images/0.npy``."""

    def __init__(self, path: Path):
        self.path = path
        self.label = path.name  # for messages: no absolute machine path
        self._zip = None
        if path.is_dir():
            self.folder_name = path.name
            return
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            raise SensoriumFormatError(f"{self.label}: not a readable zip file ({err})") from None
        roots = set()
        self._members = {}
        for name in self._zip.namelist():
            parts = name.split("/")
            if name.endswith("/") or parts[0] == "__MACOSX" or len(parts) < 3:
                continue
            if parts[-3] == "data" or (parts[-3] == "meta" and parts[-2] in REQUIRED_META):
                roots.add("/".join(parts[:-3]))
        if len(roots) > 1:
            self._zip.close()
            raise SensoriumFormatError(f"{self.label}: the zip holds more than one scan folder "
                                       f"({sorted(roots)}); expected one")
        self.prefix = f"{roots.pop()}/" if roots and "" not in roots else ""
        self.folder_name = self.prefix.rstrip("/").split("/")[-1] or path.name.removesuffix(".zip")
        for name in self._zip.namelist():
            if name.startswith(self.prefix) and not name.endswith("/"):
                self._members[name[len(self.prefix):]] = name

    def close(self):
        if self._zip is not None:
            self._zip.close()

    def where(self, rel: str) -> str:
        return f"{self.label}: {rel}"

    def is_dir(self, rel: str) -> bool:
        if self._zip is None:
            return (self.path / rel).is_dir()
        return any(m.startswith(rel.rstrip("/") + "/") for m in self._members)

    def listdir(self, rel: str) -> list[str]:
        """File names directly inside folder ``rel``."""
        if self._zip is None:
            return [p.name for p in (self.path / rel).iterdir() if p.is_file()]
        head = rel.rstrip("/") + "/"
        return [m[len(head):] for m in self._members
                if m.startswith(head) and "/" not in m[len(head):]]

    def exists(self, rel: str) -> bool:
        return (self.path / rel).is_file() if self._zip is None else rel in self._members

    def load(self, rel: str) -> np.ndarray:
        try:
            if self._zip is None:
                return np.load(self.path / rel, allow_pickle=False)
            return np.load(io.BytesIO(self._zip.read(self._members[rel])), allow_pickle=False)
        except ValueError as err:
            if "allow_pickle" in str(err):
                raise SensoriumFormatError(f"{self.where(rel)}: holds Python objects (pickled), "
                                           "which are not read for safety; expected a plain "
                                           "numeric or string array") from None
            raise SensoriumFormatError(f"{self.where(rel)}: not a readable .npy file ({err})") from None
        except (OSError, zipfile.BadZipFile, EOFError) as err:
            raise SensoriumFormatError(f"{self.where(rel)}: not a readable .npy file ({err})") from None


def _trial_files(tree: _Tree) -> int:
    """Check the four data folders and return the number of trials T."""
    numbers = {}
    for key in DATA_KEYS:
        rel = f"data/{key}"
        if not tree.is_dir(rel):
            raise SensoriumFormatError(f"{tree.label}: missing folder '{rel}/' (expected one .npy "
                                       f"file per trial in each of data/{{{','.join(DATA_KEYS)}}})")
        found = set()
        for name in tree.listdir(rel):
            if not name.endswith(".npy"):
                continue
            if not re.fullmatch(r"\d+\.npy", name):
                raise SensoriumFormatError(f"{tree.where(rel)}/{name}: unexpected file name; "
                                           "expected <trial number>.npy")
            found.add(int(name[:-4]))
        numbers[key] = found
    counts = {k: len(v) for k, v in numbers.items()}
    if len(set(counts.values())) != 1:
        raise SensoriumFormatError(f"{tree.label}: the data folders hold different numbers of "
                                   f"trial files: {counts}")
    n = counts["images"]
    if n == 0:
        raise SensoriumFormatError(f"{tree.label}: no trial files in data/images/")
    for key, found in numbers.items():
        missing = sorted(set(range(n)) - found)
        if missing:
            shown = ", ".join(f"{i}.npy" for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise SensoriumFormatError(f"{tree.where('data/' + key)}/: trial files must be numbered "
                                       f"0..{n - 1}; missing {shown}")
    return n


def _stack(tree: _Tree, key: str, n: int, shape_ok, expected: str) -> np.ndarray:
    """Read ``data/<key>/0..n-1.npy`` into one array; every file must have the first one's shape."""
    first = tree.load(f"data/{key}/0.npy")
    if not shape_ok(first.shape):
        raise SensoriumFormatError(f"{tree.where(f'data/{key}/0.npy')}: shape {first.shape}; "
                                   f"expected {expected}")
    if not np.issubdtype(first.dtype, np.number):
        raise SensoriumFormatError(f"{tree.where(f'data/{key}/0.npy')}: dtype {first.dtype} "
                                   "is not numeric")
    out = np.empty((n, *first.shape), dtype=first.dtype)
    out[0] = first
    for t in range(1, n):
        a = tree.load(f"data/{key}/{t}.npy")
        if a.shape != first.shape:
            what = "a different length" if key == "responses" else "a different shape"
            raise SensoriumFormatError(f"{tree.where(f'data/{key}/{t}.npy')}: shape {a.shape} "
                                       f"but data/{key}/0.npy has {first.shape} ({what}; "
                                       f"expected {expected} for every trial)")
        out[t] = a
    return out


def _check_finite(tree: _Tree, key: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        trials = np.flatnonzero(bad)
        shown = ", ".join(f"{t}.npy" for t in trials[:5]) + (" ..." if len(trials) > 5 else "")
        raise SensoriumFormatError(f"{tree.where('data/' + key)}/: variable '{key}' holds NaN or "
                                   f"infinite values in {len(trials)} trial(s) ({shown})")


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
    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise SensoriumFormatError(f"{path}: no such Sensorium folder or zip file")
    tree = _Tree(path)
    try:
        return _read(tree, shape)
    finally:
        tree.close()


def _read(tree: _Tree, shape) -> dict[str, xr.Dataset]:
    key = scan_key(tree.folder_name)
    for group, names in REQUIRED_META.items():
        for name in names:
            if not tree.exists(f"meta/{group}/{name}.npy"):
                raise SensoriumFormatError(f"{tree.label}: missing file 'meta/{group}/{name}.npy'")
    n = _trial_files(tree)

    images = _stack(tree, "images", n, lambda s: len(s) == 2 or (len(s) == 3 and s[0] == 1),
                    "(1, H, W) or (H, W)")
    images = images.reshape(n, *images.shape[-2:])
    responses = _stack(tree, "responses", n, lambda s: len(s) == 1, "(N,), one value per neuron")
    behavior = _stack(tree, "behavior", n, lambda s: s in ((3,), (1, 3)),
                      "(3,) = pupil, dpupil, running").reshape(n, 3)
    pupil = _stack(tree, "pupil_center", n, lambda s: s in ((2,), (1, 2)),
                   "(2,) = horizontal, vertical").reshape(n, 2)
    for name, values in (("images", images), ("responses", responses), ("behavior", behavior),
                         ("pupil_center", pupil)):
        _check_finite(tree, name, values)
    n_neurons = responses.shape[1]

    def meta(group, name, length, what):
        rel = f"meta/{group}/{name}.npy"
        a = tree.load(rel)
        if a.ndim < 1 or a.shape[0] != length:
            raise SensoriumFormatError(f"{tree.where(rel)}: length {a.shape[0] if a.ndim else 0} "
                                       f"but the scan has {length} {what}")
        return a

    unit_ids = meta("neurons", "unit_ids", n_neurons, "neurons (length of data/responses/0.npy)")
    coords = meta("neurons", "cell_motor_coordinates", n_neurons,
                  "neurons (length of data/responses/0.npy)")
    if coords.shape != (n_neurons, 3):
        raise SensoriumFormatError(f"{tree.where('meta/neurons/cell_motor_coordinates.npy')}: "
                                   f"shape {coords.shape}; expected ({n_neurons}, 3) = x, y, z in µm")
    if not np.isfinite(coords.astype(float)).all():
        raise SensoriumFormatError(f"{tree.where('meta/neurons/cell_motor_coordinates.npy')}: "
                                   "holds NaN values")
    tiers = meta("trials", "tiers", n, "trials (files in data/images/)").astype(str)
    unknown = sorted(set(np.unique(tiers).tolist()) - TIERS)
    if unknown:
        raise SensoriumFormatError(f"{tree.where('meta/trials/tiers.npy')}: unknown tier value(s) "
                                   f"{unknown}; v1lib reads only {sorted(TIERS)}")
    image_id, image_id_raw = _image_id(meta("trials", "frame_image_id", n,
                                            "trials (files in data/images/)"))

    ds = xr.Dataset(
        {
            "images": (("trial", "y", "x"), rescale_images(images, shape)),
            "responses": (("trial", "neuron"), responses.astype(np.float32, copy=False)),
            "behavior": (("trial", "behavior_var"), behavior.astype(np.float32, copy=False)),
            "pupil_center": (("trial", "eye_axis"), pupil.astype(np.float32, copy=False)),
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
            "behavior_var": BEHAVIOR_VARS,
            "eye_axis": EYE_AXES,
        },
    )
    if image_id_raw is not None:
        ds = ds.assign_coords(frame_image_id=("trial", image_id_raw))
    skipped = _optional_meta(tree, ds, n, n_neurons)

    withheld = [t for t in WITHHELD_CANDIDATES
                if (tiers == t).any() and not responses[tiers == t].any()]
    ds.attrs.update({
        "scan": key,
        "source": tree.label,
        "format": FORMAT,
        "original_image_shape": list(images.shape[1:]),
        "image_rescaling": ("none" if images.shape[1:] == tuple(shape) else
                            "bilinear (skimage order=1, mode='reflect', no anti-aliasing), "
                            "0-255 range kept"),
        "withheld_tiers": ",".join(withheld),
    })
    if skipped:
        ds.attrs["meta_skipped"] = ",".join(skipped)
    validate_static(ds, source=tree.label)
    return {key: ds}


def _optional_meta(tree: _Tree, ds: xr.Dataset, n: int, n_neurons: int) -> list[str]:
    """Add the other 1-D arrays of meta/neurons and meta/trials as coordinates (e.g.
    ``trial_idx``, ``area``, ``layer``); return the files skipped (not 1-D, or objects)."""
    skipped = []
    for group, dim, length in (("neurons", "neuron", n_neurons), ("trials", "trial", n)):
        if not tree.is_dir(f"meta/{group}"):
            continue
        for fname in sorted(tree.listdir(f"meta/{group}")):
            stem = fname.removesuffix(".npy")
            if not fname.endswith(".npy") or stem in REQUIRED_META[group]:
                continue
            rel = f"meta/{group}/{fname}"
            try:
                a = tree.load(rel)
            except SensoriumFormatError:
                skipped.append(rel)
                continue
            if a.ndim != 1 or not (np.issubdtype(a.dtype, np.number) or a.dtype.kind in "USb"):
                skipped.append(rel)
                continue
            if len(a) != length:
                raise SensoriumFormatError(f"{tree.where(rel)}: length {len(a)} but the scan has "
                                           f"{length} {'neurons' if dim == 'neuron' else 'trials'}")
            name = stem
            if name in _RESERVED or name in ds.variables:
                name = f"{dim}_{stem}"
            if a.dtype.kind == "S":
                a = a.astype(str)
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
    validate_static(scan, source="write_sensorium_folder")
    folder = Path(os.fspath(folder)).expanduser()
    if folder.exists() and not overwrite:
        raise FileExistsError(f"{folder}: already exists (pass overwrite=True to replace it)")
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
    responses = scan["responses"].transpose("trial", "neuron").values.astype(np.float32)
    behavior = scan["behavior"].sel(behavior_var=BEHAVIOR_VARS).transpose("trial", ...).values
    pupil = scan["pupil_center"].sel(eye_axis=EYE_AXES).transpose("trial", ...).values
    behavior, pupil = behavior.astype(np.float32), pupil.astype(np.float32)

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        for key in DATA_KEYS:
            (tmp / "data" / key).mkdir(parents=True)
        for t in range(scan.sizes["trial"]):
            img = np.repeat(np.repeat(images[t], fy, axis=0), fx, axis=1)
            np.save(tmp / "data" / "images" / f"{t}.npy", img[None])
            np.save(tmp / "data" / "responses" / f"{t}.npy", responses[t])
            np.save(tmp / "data" / "behavior" / f"{t}.npy", behavior[t])
            np.save(tmp / "data" / "pupil_center" / f"{t}.npy", pupil[t])
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
        written = {"unit_id", "cortical_x", "cortical_y", "cortical_z", "animal", "tier",
                   "image_id"}
        for name, c in scan.coords.items():
            if name in written or name in scan.dims or c.ndim != 1:
                continue
            if c.dims[0] not in ("trial", "neuron") or c.dtype.kind not in "biufUS":
                continue
            target = neurons if c.dims[0] == "neuron" else trials
            np.save(target / f"{name}.npy", c.values)
        stats = {"images": images.astype(np.float64), "responses": responses,
                 "behavior": behavior, "pupil_center": pupil}
        for key, values in stats.items():
            out = tmp / "meta" / "statistics" / key / "all"
            out.mkdir(parents=True)
            axis = None if key == "images" else 0
            for stat, fn in (("mean", np.mean), ("std", np.std), ("min", np.min),
                             ("max", np.max), ("median", np.median)):
                np.save(out / f"{stat}.npy", np.asarray(fn(values, axis=axis), dtype=np.float32))
        if folder.exists():  # overwrite: swap the complete new folder in
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old",
                                        dir=folder.parent))
            os.replace(folder, old / "x")
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
