"""The preprocessed release of Xu et al. 2023 (freely moving mice; the data of Parker et
al. 2022) -> the session schema (:mod:`v1lib.data.session`).

The release (OSF ``doi:10.17605/OSF.IO/MSP3A``, ``mouse-data-10-segment-split-70-30-48ms.zip``)
is read in the layout the authors' loader (``mouse_model/data_utils_new.py``) opens: one
folder per session, named by its file_id, holding one ``.npy`` file per split, variable and
segment, binned at 48 ms::

    <file_id>/{split}_{key}_seg_{i}.npy   split: train, test; segment i = 0 .. S-1 (S = 10)
        key nsp                             (T, N)      spike count of each unit per bin
        key vid_mean                        (T, 60, 80) head-camera video, one frame per bin
            (or vid_middle, vid_shift_mean, vid_shift_middle)
        keys speed pitch roll phi th eyerad (T,)        behaviour per bin (gz is not read)

The path is the release folder or its zip (session folders at most two folders down, e.g.
``mouse-data-10-segment-split-70-30-48ms/070921_J553RT/``), or one session folder. Nothing
is extracted or written. :func:`load_xu2023` maps phi -> eye_phi, th -> eye_theta and
eyerad -> pupil; NaN behaviour becomes 0, as the authors' loader does (``np.nan_to_num``),
and the count is kept in ``attrs``. Frames keep their values (the authors rescale each
file to [0, 1] in their loader). Time runs in the order segment 0 train, segment 0 test,
segment 1 train, ...: the test part is taken to be the last 30 % of each segment, which the
release does not state. The last 20 % of each segment's train part is the validation
tier, split where the authors split their samples of one frame (:func:`_tiers`). Units
firing below 3 Hz are dropped as the paper did: the authors' hard-coded lists for the
three sessions, else by their rate.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import xarray as xr

from . import filetree
from .session import BEHAVIOR_VARS, SESSION

FORMAT = "xu2023"
BIN_S = 0.048
FRAME_SHAPE = (60, 80)
SPLITS = ("train", "test")
SPIKES = "nsp"
VIDEOS = ("vid_mean", "vid_middle", "vid_shift_mean", "vid_shift_middle")
# release key -> the schema's behaviour variable, in BEHAVIOR_VARS' order (gz is not read)
BEHAVIOR_KEYS = {"speed": "speed", "pitch": "pitch", "roll": "roll", "phi": "eye_phi",
                 "th": "eye_theta", "eyerad": "pupil"}
VALIDATION_SHARE = 0.2
# the authors' units "firing rate below 3 Hz" (bad_neuron_index_dict in
# mouse_model/data_utils_new.py): file_id -> (units in the release, indices dropped)
AUTHORS_DROPPED = {
    "070921_J553RT": (108, (1, 20, 21, 25, 27, 30, 31, 35, 39, 45, 46, 49, 50, 51, 52, 53, 54,
                            55, 57, 58, 59, 64, 65, 68, 75, 77, 79, 81, 83, 84, 87, 88, 90, 91,
                            94, 95, 97, 104, 105, 107)),
    "110421_J569LT": (52, (0, 1, 2, 5, 6, 8, 11, 12, 13, 16, 18, 22, 24, 26, 28, 30, 41, 44,
                           47, 49)),
    "101521_J559NC": (63, (1, 4, 9, 22, 25, 27, 28, 29, 43, 45, 46, 47, 51, 53)),
}
PAPER_NAMES = {"070921_J553RT": "Mouse 1", "110421_J569LT": "Mouse 2",
               "101521_J559NC": "Mouse 3"}
_FILE = re.compile(r"(?P<split>train|test)_(?P<key>.+)_seg_(?P<seg>\d+)\.npy")
_SPIKE_FILE = f"*_{SPIKES}_seg_*.npy"


class Xu2023FormatError(filetree.FileTreeError):
    """A folder or zip does not follow the layout of the Xu et al. 2023 release."""


def is_xu2023(path) -> bool:
    """Whether ``path`` is a folder or zip holding ``{train,test}_nsp_seg_<i>.npy`` files."""
    try:
        with filetree.FileTree(Path(path), Xu2023FormatError) as tree:
            return bool(_spike_files(tree))
    except (filetree.FileTreeError, OSError):
        return False


def load_xu2023(path, video: str = "vid_mean", session: str | None = None,
                min_rate_hz: float | None = 3.0) -> dict[str, xr.Dataset]:
    """Read the release (folder or ``.zip``) into the session schema: ``{file_id: Dataset}``.

    ``video``: the variant of the head-camera video (the paper used ``vid_mean``);
    ``session``: one file_id only; ``min_rate_hz``: drop units firing below it (None: keep
    all). Raises :class:`Xu2023FormatError` naming the file and the problem.
    """
    if video not in VIDEOS:
        raise Xu2023FormatError(f"unknown video variant '{video}'; the release has "
                                f"{list(VIDEOS)}")
    if min_rate_hz is not None and not (np.isfinite(min_rate_hz) and min_rate_hz >= 0):
        raise ValueError(f"min_rate_hz must be a number >= 0 or None, got {min_rate_hz!r}")
    with filetree.open_tree(path, Xu2023FormatError, "Xu et al. 2023") as tree:
        found = _sessions(tree)
        if session is not None and session not in found:
            raise Xu2023FormatError(f"{tree.label}: unknown session '{session}'; found "
                                    f"{sorted(found)}")
        names = sorted(found) if session is None else [session]
        return {name: _session(tree, name, found[name], video, min_rate_hz) for name in names}


def _spike_files(tree: filetree.FileTree) -> list[str]:
    matches = ((rel, _FILE.fullmatch(rel.rsplit("/", 1)[-1]))
               for rel in tree.files(_SPIKE_FILE, depth=2))
    return [rel for rel, m in matches if m and m["key"] == SPIKES]


def _sessions(tree: filetree.FileTree) -> dict[str, str]:
    """Each session's name and the folder (``rel`` prefix) that holds its files."""
    found = {}
    for rel in _spike_files(tree):
        prefix = rel[:rel.rfind("/") + 1]
        name = prefix.rstrip("/").rsplit("/", 1)[-1] or tree.folder_name.removesuffix(".zip")
        if found.setdefault(name, prefix) != prefix:
            raise Xu2023FormatError(f"{tree.label}: two folders hold session '{name}' "
                                    f"('{found[name]}' and '{prefix}'); expected one")
    if not found:
        raise Xu2023FormatError(
            f"{tree.label}: no spike files; expected one folder per session (named by its "
            "file_id, e.g. 070921_J553RT/) holding {train,test}_{key}_seg_{i}.npy files for "
            f"key in {[SPIKES, *VIDEOS[:1], *BEHAVIOR_KEYS]}")
    return found


def _segments(tree: filetree.FileTree, prefix: str, video: str) -> int:
    """The number of segments S; every file of segments 0..S-1 must be there."""
    names = {rel.rsplit("/", 1)[-1] for rel in tree.files("*_seg_*.npy", depth=prefix.count("/"))
             if rel.startswith(prefix) and "/" not in rel[len(prefix):]}
    matches = [m for m in map(_FILE.fullmatch, names) if m]
    n = 1 + max(int(m["seg"]) for m in matches if m["key"] == SPIKES)
    keys = [SPIKES, video, *BEHAVIOR_KEYS]
    for i in range(n):
        for split in SPLITS:
            for key in keys:
                if f"{split}_{key}_seg_{i}.npy" in names:
                    continue
                variants = sorted({m["key"] for m in matches if m["key"].startswith("vid_")})
                hint = (f"; the videos of this session: {variants}"
                        if key == video and video not in variants else "")
                raise Xu2023FormatError(
                    f"{tree.label}: missing file '{prefix}{split}_{key}_seg_{i}.npy' (expected "
                    f"{{split}}_{{key}}_seg_{{i}}.npy for split in {list(SPLITS)}, key in "
                    f"{keys} and i = 0..{n - 1}){hint}")
    return n


def _load(tree: filetree.FileTree, rel: str, ndim: int, expected: str) -> np.ndarray:
    a = tree.load(rel)
    if a.ndim != ndim:
        raise Xu2023FormatError(f"{tree.where(rel)}: shape {a.shape}; expected {expected}")
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise Xu2023FormatError(f"{tree.where(rel)}: dtype {a.dtype} is not real numbers")
    return a


def _not_finite(tree, rel: str, key: str, a: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
    if bad.any():
        raise Xu2023FormatError(
            f"{tree.where(rel)}: variable '{key}' ({what}) holds NaN or infinite values in "
            f"{int(bad.sum())} bin(s) (first: bin {int(np.argmax(bad))})")


def _part(tree: filetree.FileTree, prefix: str, split: str, seg: int, units) -> dict:
    """Spikes and behaviour of one segment's train or test file set, checked."""
    rel = f"{prefix}{split}_{SPIKES}_seg_{seg}.npy"
    nsp = _load(tree, rel, 2, "(bins, units): a spike count per 48-ms bin and unit")
    if units is not None and nsp.shape[1] != units:
        raise Xu2023FormatError(f"{tree.where(rel)}: {nsp.shape[1]} units but "
                                f"train_{SPIKES}_seg_0.npy has {units} (one column per unit)")
    _not_finite(tree, rel, SPIKES, nsp, "spike counts")
    if (nsp < 0).any():
        raise Xu2023FormatError(f"{tree.where(rel)}: variable '{SPIKES}' (spike counts) holds "
                                "negative values")
    behavior, nans = np.empty((len(nsp), len(BEHAVIOR_KEYS)), np.float32), {}
    for j, key in enumerate(BEHAVIOR_KEYS):
        brel = f"{prefix}{split}_{key}_seg_{seg}.npy"
        a = _load(tree, brel, 1, "(bins,): one value per 48-ms bin")
        _same_length(tree, brel, len(a), rel, len(nsp))
        if np.isinf(a).any():
            raise Xu2023FormatError(f"{tree.where(brel)}: variable '{key}' holds infinite "
                                    f"values in {int(np.isinf(a).sum())} bin(s)")
        nans[key] = int(np.isnan(a).sum())
        behavior[:, j] = np.nan_to_num(a)
    return {"split": split, "segment": seg, "spikes": nsp.astype(np.float32),
            "behavior": behavior, "nans": nans}


def _same_length(tree, rel: str, n: int, ref: str, n_ref: int) -> None:
    if n != n_ref:
        raise Xu2023FormatError(
            f"{tree.where(rel)}: {n} bins but {ref.rsplit('/', 1)[-1]} has {n_ref} (unequal "
            "lengths: the arrays of one segment's train or test part need one entry per bin)")


def _frames(tree: filetree.FileTree, prefix: str, parts: list, video: str) -> np.ndarray:
    """The ``video`` frames of every part, in order, into one float32 array."""
    out = np.empty((sum(len(p["spikes"]) for p in parts), *FRAME_SHAPE), np.float32)
    start = 0
    for p in parts:
        rel = f"{prefix}{p['split']}_{video}_seg_{p['segment']}.npy"
        a = _load(tree, rel, 3, f"(bins, {FRAME_SHAPE[0]}, {FRAME_SHAPE[1]}): one "
                                f"{FRAME_SHAPE[0]} x {FRAME_SHAPE[1]} frame per bin")
        if a.shape[1:] != FRAME_SHAPE:
            raise Xu2023FormatError(f"{tree.where(rel)}: frames of {a.shape[1]} x {a.shape[2]} "
                                    f"pixels; expected {FRAME_SHAPE[0]} x {FRAME_SHAPE[1]} "
                                    "(bins, 60, 80)")
        _same_length(tree, rel, len(a), f"{p['split']}_{SPIKES}_seg_{p['segment']}.npy",
                     len(p["spikes"]))
        _not_finite(tree, rel, video, a, "frames")
        out[start:start + len(a)] = a
        start += len(a)
    return out


def _tiers(parts: list) -> tuple[np.ndarray, np.ndarray]:
    """Tier and segment of every bin. In each train part the first int(0.8 (T - 1)) bins
    are train, the rest validation: the authors' split of the T - 1 samples of one frame
    and a one-bin-ahead target, at the first validation sample's frame."""
    tier, segment = [], []
    for p in parts:
        n = len(p["spikes"])
        t = np.full(n, "test", dtype="<U10")
        if p["split"] == "train":
            t[:] = "validation"
            t[:int((1 - VALIDATION_SHARE) * max(n - 1, 0))] = "train"
        tier.append(t)
        segment.append(np.full(n, p["segment"], dtype=np.int64))
    return np.concatenate(tier), np.concatenate(segment)


def _unit_filter(name: str, spikes: np.ndarray, min_rate_hz) -> tuple[np.ndarray, str]:
    """The units kept, and how they were chosen."""
    n = spikes.shape[1]
    keep = np.ones(n, bool)
    if min_rate_hz is None:
        return keep, "none: every unit kept"
    units, dropped = AUTHORS_DROPPED.get(name, (None, ()))
    if min_rate_hz == 3.0 and units == n:
        keep[list(dropped)] = False
        return keep, ("the authors' list of units firing below 3 Hz (bad_neuron_index_dict "
                      "in mouse_model/data_utils_new.py)")
    rate = spikes.mean(axis=0) / BIN_S if len(spikes) else np.zeros(n)
    keep = rate >= min_rate_hz
    return keep, f"mean rate over all bins below {min_rate_hz:g} Hz"


def _session(tree: filetree.FileTree, name: str, prefix: str, video: str,
             min_rate_hz) -> xr.Dataset:
    n = _segments(tree, prefix, video)
    parts = []
    for seg in range(n):
        for split in SPLITS:
            units = parts[0]["spikes"].shape[1] if parts else None
            parts.append(_part(tree, prefix, split, seg, units))
    spikes = np.concatenate([p["spikes"] for p in parts])
    if len(spikes) == 0:
        raise Xu2023FormatError(f"{tree.label}: session '{name}' has no bins")
    keep, rule = _unit_filter(name, spikes, min_rate_hz)
    if not keep.any():
        raise Xu2023FormatError(f"{tree.label}: session '{name}': every one of its "
                                f"{len(keep)} units is dropped ({rule})")
    tier, segment = _tiers(parts)
    nans = {key: sum(p["nans"][key] for p in parts) for key in BEHAVIOR_KEYS}
    ds = xr.Dataset(
        {"frames": (SESSION.variables["frames"], _frames(tree, prefix, parts, video)),
         "responses": (SESSION.variables["responses"], spikes[:, keep]),
         "behavior": (SESSION.variables["behavior"],
                      np.concatenate([p["behavior"] for p in parts]))},
        coords={"time": ("time", np.arange(len(spikes)) * BIN_S, {"units": "s"}),
                "segment": ("time", segment), "tier": ("time", tier),
                "y": np.arange(FRAME_SHAPE[0]), "x": np.arange(FRAME_SHAPE[1]),
                "behavior_var": list(BEHAVIOR_VARS),
                "animal": ("neuron", np.full(int(keep.sum()), name)),
                "unit_id": ("neuron", np.flatnonzero(keep).astype(np.int64))},
        attrs=_attrs(tree, name, video, n, keep, rule, nans))
    return SESSION.validate(ds, source=f"{tree.label} (session '{name}')")


def _attrs(tree, name: str, video: str, segments: int, keep, rule: str, nans: dict) -> dict:
    return {
        "scan": name, "session": name,
        **({"paper_name": PAPER_NAMES[name]} if name in PAPER_NAMES else {}),
        "schema": SESSION.name, "format": FORMAT, "source": tree.label, "bin_s": BIN_S,
        "video": video, "segments": segments, "units_in_source": len(keep),
        "dropped_units": ",".join(str(i) for i in np.flatnonzero(~keep)),
        "unit_filter": rule,
        "behavior_nan_set_to_zero": int(sum(nans.values())),
        "behavior_nan_by_variable": ",".join(f"{BEHAVIOR_KEYS[k]}:{v}" for k, v in nans.items()),
        "time_order": "segment 0 train, segment 0 test, segment 1 train, ... (the test part "
                      "taken as the last 30 % of each segment; not stated by the release)",
        "validation_from_train": "the last 20 % of each segment's train part (from bin "
                                 "int(0.8 (T - 1)) of its T bins, as the authors split it)",
        "frame_normalisation": "none (the authors rescale each file's frames to [0, 1])",
    }
