"""Config hashes, atomic writes, provenance and the results cache.

Every result ``v1lib`` writes says where it came from (:func:`provenance`: git
commit, package versions, device, seed, configuration and its hash) and
appears on disk only when complete (:func:`atomic_path`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

from .locking import locked

PACKAGES = ("v1lib", "numpy", "torch", "xarray", "scipy", "scikit-image", "h5netcdf")


def canonical_json(obj) -> str:
    """JSON with sorted keys; dataclasses, tuples, numpy scalars and paths handled."""

    def default(o):
        if dataclasses.is_dataclass(o):
            return dataclasses.asdict(o)
        if hasattr(o, "tolist"):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"cannot hash object of type {type(o).__name__}")

    return json.dumps(obj, sort_keys=True, default=default, separators=(",", ":"))


def config_hash(obj, length: int = 16) -> str:
    """Stable hash of a configuration; key order does not matter."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


# -- atomic writes ------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; move it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if Path(tmp).is_file():  # mkstemp makes 0600 files: use the usual permissions
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


# -- provenance ---------------------------------------------------------------------


def git_state(root: Path | None = None) -> dict:
    """Commit and dirty flag of the checkout holding v1lib (or 'unknown')."""
    root = root or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=root, capture_output=True, text=True, timeout=10,
                                check=True).stdout
        return {"git_commit": commit, "git_dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": True}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def provenance(config=None, seed: int | None = None, device: str | None = None) -> dict:
    """Everything needed to say where a result came from."""
    prov = {
        **git_state(),
        "versions": versions(),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "device": device or "cpu",
    }
    if config is not None:
        prov["config_hash"] = config_hash(config)
        prov["config"] = json.loads(canonical_json(config))
    return prov


def netcdf_attrs(prov: dict) -> dict:
    """Flatten provenance to NetCDF-safe attributes (nested values as JSON strings)."""
    out = {}
    for k, v in prov.items():
        if isinstance(v, bool):
            out[k] = int(v)
        elif v is None:
            out[k] = "none"
        elif isinstance(v, (str, int, float)):
            out[k] = v
        else:
            out[k] = json.dumps(v, sort_keys=True)
    return out


# -- the results cache --------------------------------------------------------------


def code_digest(code=None) -> str:
    """Digest of the ``v1lib`` source a result depends on: the modules ``code``
    (module objects or names) and all they import; ``None``: the whole package."""
    from . import source

    names = source.all_modules() if code is None else [getattr(m, "__name__", m) for m in code]
    return source.digest(names)


def cached_result(results_dir, kind: str, config, seed: int | None, compute, device=None,
                  code=None):
    """Return the xarray result of ``compute()`` for ``(kind, config, seed)``.

    The result lives in ``<results_dir>/<kind>/<hash>/result.nc`` beside
    ``config.json`` and ``provenance.json``; the hash covers the config, the seed
    and the source of the ``v1lib`` modules in ``code`` with all they import (by
    default the whole package), so a change of the analysis code never reuses a
    stale result. It is computed only when missing, under the folder's lock
    (:mod:`v1lib.locking`: a second process waits, then reads it), and written
    atomically, so re-running a chapter (e.g. after editing a plot) reuses it
    and an interrupted run leaves nothing half-written.
    """
    from . import paths

    key = config_hash({"kind": kind, "config": config, "seed": seed,
                       "code": code_digest(code)})
    folder = paths.results_dir(results_dir) / kind / key
    path = folder / "result.nc"
    if path.is_file():
        return _read_result(path)
    with locked(folder, folder=True):
        if path.is_file():
            return _read_result(path)
        return _compute_result(folder, kind, config, seed, compute, device)


def _read_result(path: Path):
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def _compute_result(folder: Path, kind: str, config, seed, compute, device):
    import xarray as xr

    path = folder / "result.nc"
    result = compute()
    if isinstance(result, xr.DataArray):
        result = result.to_dataset(name=result.name or "result")
    prov = provenance(config=config, seed=seed, device=device)
    result.attrs.update(netcdf_attrs({"kind": kind, **prov}))
    write_json_atomic(folder / "config.json", {"kind": kind, "config": config, "seed": seed})
    write_json_atomic(folder / "provenance.json", prov)
    with atomic_path(path) as tmp:
        result.to_netcdf(tmp, engine="h5netcdf")
    return result
