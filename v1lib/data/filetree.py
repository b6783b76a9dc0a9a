"""The file-tree layout of the Sensorium data (neuralpredictors' ``FileTree``),
read from a folder or a ``.zip`` of it without extracting anything.

One scan is a folder with one ``.npy`` file per trial and variable, and arrays
that describe neurons and trials::

    data/<variable>/<t>.npy       one file per trial t = 0 .. T-1
    meta/neurons/<name>.npy       (N, ...) one entry per neuron
    meta/trials/<name>.npy        (T, ...) one entry per trial
    meta/statistics/...           (not read)

Sensorium 2022 (static stimuli) and Sensorium 2023 (video) share this layout and
differ in their variables and shapes: each format maps the tree into its schema
(:mod:`v1lib.data.sensorium`). Errors name the scan's folder or zip and the file
within it, with the format's own error class.
"""

from __future__ import annotations

import fnmatch
import io
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


class FileTreeError(ValueError):
    """A folder or zip does not follow the file-tree layout."""


class FileTree:
    """Read-only view of one scan's files: ``rel`` paths like ``data/<variable>/0.npy``."""

    def __init__(self, path: Path, error: type[FileTreeError] = FileTreeError):
        self.path, self.error = path, error
        self.label = path.name  # for messages: no absolute machine path
        self._zip = None
        if path.is_dir():
            self.folder_name = path.name
            return
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            raise error(f"{self.label}: not a readable zip file ({err})") from None
        roots = set()
        for name in self._zip.namelist():
            parts = name.split("/")
            if name.endswith("/") or parts[0] == "__MACOSX" or len(parts) < 3:
                continue
            if parts[-3] == "data" or (parts[-3] == "meta" and parts[-2] in ("neurons", "trials")):
                roots.add("/".join(parts[:-3]))
        if len(roots) > 1:
            self._zip.close()
            raise error(f"{self.label}: the zip holds more than one scan folder "
                        f"({sorted(roots)}); expected one")
        self.prefix = f"{roots.pop()}/" if roots and "" not in roots else ""
        self.folder_name = self.prefix.rstrip("/").split("/")[-1] or path.name.removesuffix(".zip")
        self._members = {name[len(self.prefix):]: name for name in self._zip.namelist()
                         if name.startswith(self.prefix) and not name.endswith("/")}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
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

    def files(self, pattern: str = "*", depth: int = 0) -> list[str]:
        """The ``rel`` paths of the files whose name matches ``pattern`` (fnmatch), at
        most ``depth`` folders down; macOS metadata (``__MACOSX/``, ``._*``) left out."""
        if self._zip is None:
            found = (p for d in range(depth + 1)
                     for p in self.path.glob("/".join(["*"] * d + [pattern])))
            rels = [p.relative_to(self.path).as_posix() for p in found if p.is_file()]
        else:
            rels = [m for m in self._members if m.count("/") <= depth
                    and fnmatch.fnmatchcase(m.rsplit("/", 1)[-1], pattern)]
        return sorted(r for r in rels if not r.startswith("__MACOSX/")
                      and not r.rsplit("/", 1)[-1].startswith("._"))

    def exists(self, rel: str) -> bool:
        return (self.path / rel).is_file() if self._zip is None else rel in self._members

    def load(self, rel: str) -> np.ndarray:
        try:
            if self._zip is None:
                return np.load(self.path / rel, allow_pickle=False)
            return np.load(io.BytesIO(self._zip.read(self._members[rel])), allow_pickle=False)
        except ValueError as err:
            if "allow_pickle" in str(err):
                raise self.error(f"{self.where(rel)}: holds Python objects (pickled), which are "
                                 "not read for safety; expected a plain numeric or string "
                                 "array") from None
            raise self.error(f"{self.where(rel)}: not a readable .npy file ({err})") from None
        except (OSError, zipfile.BadZipFile, EOFError) as err:
            raise self.error(f"{self.where(rel)}: not a readable .npy file ({err})") from None


def open_tree(path, error: type[FileTreeError], what: str) -> FileTree:
    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise error(f"{path}: no such {what} folder or zip file")
    return FileTree(path, error)


def trial_count(tree: FileTree, keys) -> int:
    """Check the data folders ``keys`` hold files 0..T-1 each; return T."""
    numbers = {}
    for key in keys:
        rel = f"data/{key}"
        if not tree.is_dir(rel):
            raise tree.error(f"{tree.label}: missing folder '{rel}/' (expected one .npy file per "
                             f"trial in each of data/{{{','.join(keys)}}})")
        found = set()
        for name in tree.listdir(rel):
            if not name.endswith(".npy"):
                continue
            if not re.fullmatch(r"\d+\.npy", name):
                raise tree.error(f"{tree.where(rel)}/{name}: unexpected file name; expected "
                                 "<trial number>.npy")
            found.add(int(name[:-4]))
        numbers[key] = found
    counts = {k: len(v) for k, v in numbers.items()}
    if len(set(counts.values())) != 1:
        raise tree.error(f"{tree.label}: the data folders hold different numbers of trial files: "
                         f"{counts}")
    n = counts[keys[0]]
    if n == 0:
        raise tree.error(f"{tree.label}: no trial files in data/{keys[0]}/")
    for key, found in numbers.items():
        missing = sorted(set(range(n)) - found)
        if missing:
            shown = ", ".join(f"{i}.npy" for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise tree.error(f"{tree.where('data/' + key)}/: trial files must be numbered "
                             f"0..{n - 1}; missing {shown}")
    return n


def stack(tree: FileTree, key: str, n: int, shape_ok: Callable, expected: str) -> np.ndarray:
    """Read ``data/<key>/0..n-1.npy`` into one array; every file must have the
    first one's shape, and be numeric and finite."""
    first = tree.load(f"data/{key}/0.npy")
    if not shape_ok(first.shape):
        raise tree.error(f"{tree.where(f'data/{key}/0.npy')}: shape {first.shape}; "
                         f"expected {expected}")
    if not np.issubdtype(first.dtype, np.number):
        raise tree.error(f"{tree.where(f'data/{key}/0.npy')}: dtype {first.dtype} is not numeric")
    out = np.empty((n, *first.shape), dtype=first.dtype)
    out[0] = first
    for t in range(1, n):
        a = tree.load(f"data/{key}/{t}.npy")
        if a.shape != first.shape:
            what = "a different length" if a.ndim == 1 else "a different shape"
            raise tree.error(f"{tree.where(f'data/{key}/{t}.npy')}: shape {a.shape} but "
                             f"data/{key}/0.npy has {first.shape} ({what}; expected {expected} "
                             f"for every trial)")
        out[t] = a
    bad = ~np.isfinite(out.reshape(n, -1)).all(axis=1)
    if bad.any():
        trials = np.flatnonzero(bad)
        shown = ", ".join(f"{t}.npy" for t in trials[:5]) + (" ..." if len(trials) > 5 else "")
        raise tree.error(f"{tree.where('data/' + key)}/: variable '{key}' holds NaN or infinite "
                         f"values in {len(trials)} trial(s) ({shown})")
    return out


def meta(tree: FileTree, group: str, name: str, length: int, what: str) -> np.ndarray:
    """``meta/<group>/<name>.npy``, which must have ``length`` entries."""
    rel = f"meta/{group}/{name}.npy"
    if not tree.exists(rel):
        raise tree.error(f"{tree.label}: missing file '{rel}'")
    a = tree.load(rel)
    if a.ndim < 1 or a.shape[0] != length:
        raise tree.error(f"{tree.where(rel)}: length {a.shape[0] if a.ndim else 0} but the scan "
                         f"has {length} {what}")
    return a


def optional_meta(tree: FileTree, group: str, length: int, what: str, skip) -> tuple[dict, list]:
    """The other 1-D arrays of ``meta/<group>`` (e.g. ``trial_idx``, ``area``) by name,
    and the files skipped (not 1-D, or objects)."""
    found, skipped = {}, []
    if not tree.is_dir(f"meta/{group}"):
        return found, skipped
    for fname in sorted(tree.listdir(f"meta/{group}")):
        stem = fname.removesuffix(".npy")
        if not fname.endswith(".npy") or stem in skip:
            continue
        rel = f"meta/{group}/{fname}"
        try:
            a = tree.load(rel)
        except FileTreeError:
            skipped.append(rel)
            continue
        if a.ndim != 1 or not (np.issubdtype(a.dtype, np.number) or a.dtype.kind in "USb"):
            skipped.append(rel)
            continue
        if len(a) != length:
            raise tree.error(f"{tree.where(rel)}: length {len(a)} but the scan has {length} {what}")
        found[stem] = a.astype(str) if a.dtype.kind == "S" else a
    return found, skipped


def write_tree(folder, fill: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Make ``folder`` by ``fill(tmp)`` in a temporary folder beside it, then
    move it into place: it appears only when complete."""
    folder = Path(os.fspath(folder)).expanduser()
    if folder.exists() and not overwrite:
        raise FileExistsError(f"{folder}: already exists (pass overwrite=True to replace it)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        fill(tmp)
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
