"""Sensorium 2023 video data (the neuralpredictors "FileTree" layout) <-> the video schema.

One scan is a folder ``dynamic<KEY>-Video-<hash>/`` (shipped as a ``.zip`` of it) in the
layout of :mod:`v1lib.data.filetree`. Frames are on the LAST axis of every data array, and
their count F may differ from trial to trial::

    data/videos/<t>.npy        (H, W, F)   the clip shown on trial t (36 x 64 in the competition)
    data/responses/<t>.npy     (N, F)      deconvolved calcium activity, one row per neuron
    data/behavior/<t>.npy      (2, F)      pupil dilation, running speed
    data/pupil_center/<t>.npy  (2, F)      horizontal, vertical eye position
    meta/neurons/unit_ids.npy, cell_motor_coordinates.npy (N, 3) µm, [animal_ids, area, ...]
    meta/trials/tiers.npy      train, oracle, live_test_main/bonus, final_test_main/bonus
    meta/trials/[condition_hash.npy, stimulus_type.npy or <type>_trial_ts.npy, ...]
    meta/statistics/...        (not read)

:func:`load_sensorium2023` reads a folder or the ``.zip`` (nothing is extracted or written):
trailing all-NaN video frames are padding and dropped, every clip is cropped to the shortest
trial, and the competition tiers are mapped into the schema's. The competition scores
predictions after the first 50 frames. :func:`write_sensorium2023_folder` writes the layout.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import xarray as xr

from . import filetree
from .sensorium import _image_id, rescale_images
from .sensorium import scan_key as static_scan_key
from .static import BEHAVIOR_VARS, EYE_AXES
from .video import VIDEO

FORMAT = "sensorium2023"
DATA_KEYS = ("videos", "responses", "behavior", "pupil_center")
REQUIRED_META = {"neurons": ("unit_ids", "cell_motor_coordinates"), "trials": ("tiers",)}
# competition tier -> schema tier (the schema's own names map to themselves)
TIER_MAP = {"train": "train", "validation": "validation", "oracle": "test", "test": "test",
            **{t: "final_test" for t in ("final_test", "live_test_main", "live_test_bonus",
                                         "final_test_main", "final_test_bonus")}}
WRITE_TIERS = {"train": "train", "validation": "validation", "test": "oracle",
               "final_test": "final_test_main"}
ID_KEYS = ("condition_hash", "frame_image_id", "video_id", "video_ids", "clip_id")
TYPE_KEYS = ("stimulus_type", "stimulus_types", "trial_type", "type")
# lower-cased stimulus type -> the schema's STIMULUS_TYPES; anything else is "other"
TYPE_MAP = {"clip": "natural", "natural": "natural", "cinematic": "natural", "movie": "natural",
            "monet": "monet", "monet2": "monet", "trippy": "trippy", "grating": "grating",
            "other": "other"}
WITHHELD_CANDIDATES = ("test", "final_test")
VALIDATION_SHARE = 0.1
COMPETITION_SKIP_FRAMES = 50
_RESERVED = {"clip", "neuron", "time", "y", "x", "behavior_var", "eye_axis", "source_tier",
             "source_stimulus_type", *VIDEO.coords, *VIDEO.variables}


class Sensorium2023FormatError(filetree.FileTreeError):
    """A Sensorium 2023 folder or zip does not follow the video FileTree layout."""


def scan_key(name: str) -> str:
    """The data key of a scan from its folder or zip name:
    ``dynamic29156-11-10-Video-8744...`` -> ``29156-11-10``."""
    m = re.match(r"^dynamic(?P<key>\d+-\d+-\d+)(?:-Video|$|\.zip$)", name)
    return m["key"] if m else static_scan_key(name)


def is_sensorium2023(path) -> bool:
    """Whether ``path`` is a folder or zip of the file-tree layout with ``data/videos``."""
    try:
        with filetree.FileTree(Path(path), Sensorium2023FormatError) as tree:
            return tree.is_dir("data/videos")
    except (filetree.FileTreeError, OSError):
        return False


def load_sensorium2023(path, shape=(36, 64), frame_rate_hz: float = 30.0) -> dict[str, xr.Dataset]:
    """Read one Sensorium 2023 scan (folder or ``.zip``) into the video schema: ``{key: Dataset}``.

    Frames are rescaled to ``shape`` (:func:`~v1lib.data.sensorium.rescale_images`; uint8 if
    already at ``shape`` and whole numbers in 0–255); responses, behaviour and eye position
    are raw; ``time`` is in s at ``frame_rate_hz``. ``oracle`` -> test, live/final tests ->
    final_test; without validation clips, about a tenth of the train clips are held out.
    Raises :class:`Sensorium2023FormatError` naming the file and the problem.
    """
    rate = float(frame_rate_hz)
    if not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"frame_rate_hz must be a positive number, got {frame_rate_hz!r}")
    with filetree.open_tree(path, Sensorium2023FormatError, "Sensorium 2023") as tree:
        return _read(tree, tuple(int(s) for s in shape), rate)


def _read(tree: filetree.FileTree, shape: tuple, rate: float) -> dict[str, xr.Dataset]:
    key = scan_key(tree.folder_name)
    for rel in (f"meta/{group}/{name}.npy" for group, names in REQUIRED_META.items()
                for name in names):
        if not tree.exists(rel):
            raise Sensorium2023FormatError(f"{tree.label}: missing file '{rel}'")
    n = filetree.trial_count(tree, DATA_KEYS)
    unit_ids, coords = _neurons(tree)
    meta = _trial_meta(tree, n)
    trials = [_trial(tree, 0, len(unit_ids))]
    pixels = trials[0]["videos"].shape[:2]
    trials += [_trial(tree, t, len(unit_ids), pixels) for t in range(1, n)]
    lengths = np.array([tr["frames"] for tr in trials])
    shortest = int(lengths.min())
    if shortest < 2:
        raise Sensorium2023FormatError(
            f"{tree.where(f'data/videos/{int(lengths.argmin())}.npy')}: {shortest} frame(s), the "
            "shortest trial; every clip is cropped to the shortest and needs at least 2 frames")
    original, padded = list(pixels), sum(tr["padded"] > 0 for tr in trials)
    ds = _dataset(key, _stack(trials, shape, shortest), meta, unit_ids, coords, rate)
    skipped = _optional_meta(tree, ds, n, len(unit_ids), meta["used"])
    ds.attrs.update({
        "scan": key, "schema": VIDEO.name, "source": tree.label, "format": FORMAT,
        "frame_rate_hz": rate, "frames_per_clip": shortest, "cropped_from": int(lengths.max()),
        "nan_padded_trials": int(padded), "competition_skip_frames": COMPETITION_SKIP_FRAMES,
        "original_frame_shape": original,
        "frame_rescaling": "none" if tuple(original) == shape else
        "bilinear (skimage order=1, mode='reflect', no anti-aliasing), range kept",
        **_withheld(ds), "validation_from_train": meta["validation_note"],
        "clip_id_source": meta["id_note"], "stimulus_type_source": meta["type_note"],
    })
    if skipped:
        ds.attrs["meta_skipped"] = ",".join(skipped)
    VIDEO.validate(ds, source=tree.label)
    return {key: ds}


def _neurons(tree: filetree.FileTree) -> tuple[np.ndarray, np.ndarray]:
    rel = "meta/neurons/unit_ids.npy"
    unit_ids = tree.load(rel)
    if unit_ids.ndim != 1 or len(unit_ids) == 0:
        raise Sensorium2023FormatError(f"{tree.where(rel)}: shape {unit_ids.shape}; expected "
                                       "(N,), one id per neuron")
    n = len(unit_ids)
    coords = filetree.meta(tree, "neurons", "cell_motor_coordinates", n,
                           "neurons (entries of meta/neurons/unit_ids.npy)")
    rel = "meta/neurons/cell_motor_coordinates.npy"
    if coords.shape != (n, 3) or not np.issubdtype(coords.dtype, np.number):
        raise Sensorium2023FormatError(f"{tree.where(rel)}: shape {coords.shape}; expected "
                                       f"({n}, 3) = x, y, z in µm")
    if not np.isfinite(coords.astype(float)).all():
        raise Sensorium2023FormatError(f"{tree.where(rel)}: holds NaN or infinite values")
    return unit_ids, coords


def _trial(tree: filetree.FileTree, t: int, n_neurons: int, pixels=None) -> dict:
    """The four arrays of trial ``t``, checked; ``frames``: its length without the trailing
    all-NaN video frames (padding), ``padded``: how many those are."""
    same = "" if pixels is None else f" with H, W = {pixels} as in data/videos/0.npy"
    expected = {"videos": f"(H, W, frames), frames last{same}",
                "responses": f"({n_neurons}, frames): a row per neuron of meta/neurons/unit_ids.npy",
                "behavior": "(2, frames) = pupil dilation, running speed",
                "pupil_center": "(2, frames) = horizontal, vertical eye position"}
    rows = {"responses": n_neurons, "behavior": 2, "pupil_center": 2}
    out = {}
    for key in DATA_KEYS:
        rel = f"data/{key}/{t}.npy"
        a = tree.load(rel)
        ok = ((a.ndim == 3 and min(a.shape[:2]) > 0 and a.shape[:2] == (pixels or a.shape[:2]))
              if key == "videos" else (a.ndim == 2 and a.shape[0] == rows[key]))
        if not ok:
            raise Sensorium2023FormatError(f"{tree.where(rel)}: shape {a.shape}; expected "
                                           f"{expected[key]}")
        if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise Sensorium2023FormatError(f"{tree.where(rel)}: dtype {a.dtype} is not real "
                                           "numbers")
        if key != "videos" and a.shape[-1] != out["videos"].shape[-1]:
            raise Sensorium2023FormatError(
                f"{tree.where(rel)}: {a.shape[-1]} frames but data/videos/{t}.npy has "
                f"{out['videos'].shape[-1]} (the arrays of one trial must have the same number "
                "of frames, on the last axis)")
        out[key] = a
    frames = total = out["videos"].shape[-1]
    if np.issubdtype(out["videos"].dtype, np.floating):
        kept = np.flatnonzero(~np.isnan(out["videos"]).all(axis=(0, 1)))
        frames = int(kept[-1]) + 1 if kept.size else 0
    for key in DATA_KEYS if frames else ():
        bad = ~np.isfinite(out[key][..., :frames]).reshape(-1, frames).all(axis=0)
        if bad.any():
            where = tree.where(f"data/{key}/{t}.npy")
            raise Sensorium2023FormatError(
                f"{where}: variable '{key}' holds NaN or infinite values in {int(bad.sum())} "
                f"frame(s) (first: frame {int(np.argmax(bad))})")
    return {**out, "frames": frames, "padded": total - frames}


def _stack(trials: list, shape: tuple, frames: int) -> dict:
    """The trials cropped to ``frames`` in the schema's arrays (emptying the list on the way)."""
    n, n_neurons = len(trials), trials[0]["responses"].shape[0]
    rescale = trials[0]["videos"].shape[:2] != shape
    byte = not rescale and all(_is_byte(tr["videos"][..., :frames]) for tr in trials)
    out = {"videos": np.empty((n, frames, *shape), np.uint8 if byte else np.float32),
           "responses": np.empty((n, frames, n_neurons), np.float32),
           "behavior": np.empty((n, frames, 3), np.float32),
           "pupil_center": np.empty((n, frames, 2), np.float32)}
    for i, tr in enumerate(trials):
        clip = np.moveaxis(tr["videos"][..., :frames], -1, 0)
        out["videos"][i] = rescale_images(clip, shape) if rescale else clip
        out["responses"][i] = tr["responses"][:, :frames].T
        pupil = tr["behavior"][0, :frames].astype(np.float32)
        out["behavior"][i] = np.stack([pupil, np.gradient(pupil), tr["behavior"][1, :frames]], 1)
        out["pupil_center"][i] = tr["pupil_center"][:, :frames].T
        trials[i] = None
    return out


def _is_byte(a: np.ndarray) -> bool:
    """Whole numbers in 0–255."""
    return bool(a.size and a.min() >= 0 and a.max() <= 255
                and (np.issubdtype(a.dtype, np.integer) or np.all(a == np.round(a))))


def _first(tree: filetree.FileTree, names, n: int) -> tuple[str | None, np.ndarray | None]:
    """The first ``meta/trials/<name>.npy`` of ``names`` that exists: (name, 1-D array)."""
    for name in names:
        if tree.exists(f"meta/trials/{name}.npy"):
            a = filetree.meta(tree, "trials", name, n, "trials (files in data/videos/)")
            if a.ndim != 1:
                raise Sensorium2023FormatError(f"{tree.where(f'meta/trials/{name}.npy')}: shape "
                                               f"{a.shape}; expected ({n},), one per trial")
            return name, a
    return None, None


def _trial_meta(tree: filetree.FileTree, n: int) -> dict:
    """Tiers (schema and source), clip ids and stimulus types of the ``n`` trials."""
    raw = _first(tree, ("tiers",), n)[1].astype(str)
    unknown = sorted(set(raw.tolist()) - set(TIER_MAP))
    if unknown:
        raise Sensorium2023FormatError(f"{tree.where('meta/trials/tiers.npy')}: unknown tier "
                                       f"value(s) {unknown}; the Sensorium 2023 reader knows "
                                       f"{sorted(TIER_MAP)}")
    meta = {"source_tier": raw, "clip_id": np.arange(n, dtype=np.int64), "id_raw": None,
            "id_note": "none in meta/trials: every clip its own id"}
    id_name, ids = _first(tree, ID_KEYS, n)
    if id_name:
        meta["clip_id"], raw_ids = _image_id(ids)
        meta.update(id_note=f"meta/trials/{id_name}.npy",
                    id_raw=None if raw_ids is None else (id_name, raw_ids.astype(str)))
    type_name, types = _first(tree, TYPE_KEYS, n)
    meta["used"] = {id_name, type_name} - {None}
    note = f"meta/trials/{type_name}.npy"
    if type_name is None:
        types, note = _types_from_stamps(tree, n), "meta/trials/<type>_trial_ts.npy"
    if types is None:
        types, note = np.full(n, "other"), "unknown: no stimulus-type array in meta/trials"
    meta.update(type_raw=None if note.startswith("unknown") else types.astype(str), type_note=note,
                stimulus_type=np.array([TYPE_MAP.get(str(s).strip().lower(), "other")
                                        for s in types]))
    tier = np.array([TIER_MAP[t] for t in raw], dtype="<U16")
    meta["tier"], meta["validation_note"] = _hold_out(tier, meta["clip_id"])
    return meta


def _types_from_stamps(tree: filetree.FileTree, n: int) -> np.ndarray | None:
    """Each trial's type from ``<type>_trial_ts`` arrays (``NaT`` where of another type)."""
    stamps = {}
    for fname in sorted(tree.listdir("meta/trials")):
        if fname.endswith("_trial_ts.npy"):
            try:
                a = tree.load(f"meta/trials/{fname}")
            except filetree.FileTreeError:
                continue
            if a.shape == (n,):
                unset = ("NaT", "nat", "nan", "None", "")
                stamps[fname.removesuffix("_trial_ts.npy")] = ~np.isin(a.astype(str), unset)
    if not stamps:
        return None
    names, hits = np.array(list(stamps)), np.stack(list(stamps.values()), axis=1)
    return np.where(hits.sum(axis=1) == 1, names[hits.argmax(axis=1)], "unknown")


def _hold_out(tier: np.ndarray, clip_id: np.ndarray) -> tuple[np.ndarray, str]:
    """Without validation clips, about a tenth (>= 1) of the train clips become validation:
    whole ``clip_id`` groups, in the order of a hash of the id."""
    train = tier == "train"
    if (tier == "validation").any():
        return tier, ""
    groups = sorted(set(clip_id[train].tolist()),
                    key=lambda c: hashlib.sha256(str(c).encode()).hexdigest())
    if len(groups) < 2:
        return tier, ("none: the source has no validation tier and too few train clips "
                      "to hold some out")
    want, chosen = max(1, round(VALIDATION_SHARE * train.sum())), []
    for g in groups[:-1]:  # at least one group stays in train
        if np.isin(clip_id[train], chosen).sum() >= want:
            break
        chosen.append(g)
    held = train & np.isin(clip_id, chosen)
    tier = tier.copy()
    tier[held] = "validation"
    return tier, (f"{int(held.sum())} of {int(train.sum())} train clips (whole clip_id groups "
                  "chosen by a hash of the id): the source has no validation tier")


def _dataset(key, arrays, meta, unit_ids, coords, rate) -> xr.Dataset:
    n, frames, n_neurons = arrays["responses"].shape
    h, w = arrays["videos"].shape[2:]
    ds = xr.Dataset(
        {name: (dims, arrays[name]) for name, dims in VIDEO.variables.items()},
        coords={
            "clip": np.arange(n),
            "time": ("time", np.arange(frames) / rate, {"units": "s"}),
            "tier": ("clip", meta["tier"]),
            "source_tier": ("clip", meta["source_tier"]),
            "clip_id": ("clip", meta["clip_id"]),
            "stimulus_type": ("clip", meta["stimulus_type"]),
            "y": np.arange(h), "x": np.arange(w),
            **{f"cortical_{a}": ("neuron", coords[:, i].astype(np.float32))
               for i, a in enumerate("xyz")},
            "animal": ("neuron", np.full(n_neurons, key)),
            "unit_id": ("neuron", unit_ids.astype(np.int64)
                        if np.issubdtype(unit_ids.dtype, np.integer) else unit_ids),
            "behavior_var": list(BEHAVIOR_VARS),
            "eye_axis": list(EYE_AXES),
        },
    )
    if meta["id_raw"] is not None:
        ds.coords[meta["id_raw"][0]] = ("clip", meta["id_raw"][1])
    if meta["type_raw"] is not None:
        ds.coords["source_stimulus_type"] = ("clip", meta["type_raw"])
    return ds


def _withheld(ds: xr.Dataset) -> dict:
    """The tiers, and source tiers, whose responses are all zero."""
    zero = ~ds["responses"].values.reshape(ds.sizes["clip"], -1).any(axis=1)
    tier, source = ds["tier"].values, ds["source_tier"].values
    return {"withheld_tiers": ",".join(t for t in WITHHELD_CANDIDATES
                                       if (tier == t).any() and zero[tier == t].all()),
            "withheld_source_tiers": ",".join(t for t in sorted(set(source.tolist()))
                                              if zero[source == t].all())}


def _optional_meta(tree, ds: xr.Dataset, n: int, n_neurons: int, used: set) -> list[str]:
    """Add the other 1-D meta arrays as coordinates; return the files skipped."""
    skipped = []
    for group, dim, length in (("neurons", "neuron", n_neurons), ("trials", "clip", n)):
        skip = set(REQUIRED_META[group]) | (used if group == "trials" else set())
        found, skip_files = filetree.optional_meta(tree, group, length, f"{dim}s", skip)
        skipped += skip_files
        for stem, a in found.items():
            name = f"{dim}_{stem}" if stem in _RESERVED or stem in ds.variables else stem
            ds.coords[name] = (dim, a)
    return skipped


# -- writing ------------------------------------------------------------------------


def write_sensorium2023_folder(scan: xr.Dataset, folder, overwrite: bool = False) -> Path:
    """Write a video-schema scan in the Sensorium 2023 layout at ``folder`` (atomically).

    Frames go last; videos are uint8 when whole numbers in 0–255; behaviour as [pupil,
    running]; tiers as train/validation/oracle/final_test_main; ``clip_id`` as
    ``meta/trials/condition_hash.npy``, types as ``stimulus_type.npy``. Not written: ``gt_*``,
    the frame rate, ``meta/statistics``. Name it ``dynamic<KEY>-Video-<any>`` to keep ``KEY``.
    """
    VIDEO.validate(scan, source="write_sensorium2023_folder")
    videos = scan["videos"].transpose("clip", "y", "x", "time").values
    rows = lambda var, dim, labels: (scan[var].sel({dim: labels})
                                     .transpose("clip", dim, "time").values.astype(np.float32))
    data = {
        "videos": videos.astype(np.uint8 if _is_byte(videos) else np.float32),
        "responses": scan["responses"].transpose("clip", "neuron", "time").values
        .astype(np.float32),
        "behavior": rows("behavior", "behavior_var", ["pupil", "running"]),
        "pupil_center": rows("pupil_center", "eye_axis", list(EYE_AXES)),
    }
    return filetree.write_tree(folder, lambda tmp: _write(tmp, scan, data), overwrite)


def _write(tmp: Path, scan: xr.Dataset, data: dict) -> None:
    for key, values in data.items():
        (tmp / "data" / key).mkdir(parents=True)
        for t in range(len(values)):
            np.save(tmp / "data" / key / f"{t}.npy", values[t])
    neurons, trials = tmp / "meta" / "neurons", tmp / "meta" / "trials"
    for folder in (neurons, trials):
        folder.mkdir(parents=True)
    np.save(neurons / "unit_ids.npy", scan["unit_id"].values)
    np.save(neurons / "cell_motor_coordinates.npy",
            np.stack([scan[c].values.astype(np.float32)
                      for c in ("cortical_x", "cortical_y", "cortical_z")], axis=1))
    np.save(neurons / "animal_ids.npy", scan["animal"].values.astype(str))
    np.save(trials / "tiers.npy", np.array([WRITE_TIERS[str(t)] for t in scan["tier"].values]))
    np.save(trials / "condition_hash.npy", scan["clip_id"].values.astype(np.int64))
    np.save(trials / "stimulus_type.npy", scan["stimulus_type"].values.astype(str))
    written = {"unit_id", "cortical_x", "cortical_y", "cortical_z", "animal", "animal_ids",
               "tier", "clip_id", "stimulus_type", "condition_hash"}
    for name, c in scan.coords.items():
        if name in written or name in scan.dims or name.startswith("source_") or c.ndim != 1:
            continue
        if c.dims[0] not in ("clip", "neuron") or c.dtype.kind not in "biufUS":
            continue
        np.save((neurons if c.dims[0] == "neuron" else trials) / f"{name}.npy", c.values)
