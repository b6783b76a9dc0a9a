"""Config hashes, atomic writes and the results cache."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path


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


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """Hash of the ``v1lib`` package source (the code that computes results)."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cached_result(results_dir, kind: str, config, seed: int | None, compute, device=None):
    """Return the xarray result of ``compute()`` for ``(kind, config, seed)``.

    The result lives in ``<results_dir>/<kind>/<hash>/result.nc`` beside
    ``config.json`` and ``provenance.json``; the hash covers the config, the seed
    and the ``v1lib`` source (so a change of the analysis code never reuses a
    stale result). It is computed only when missing and
    written atomically, so re-running a chapter (e.g. after editing a plot) reuses
    it and an interrupted run leaves nothing half-written.
    """
    import xarray as xr

    from . import paths
    from .provenance import collect, netcdf_attrs

    key = config_hash({"kind": kind, "config": config, "seed": seed, "code": code_digest()})
    folder = paths.results_dir(results_dir) / kind / key
    path = folder / "result.nc"
    if path.is_file():
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    result = compute()
    if isinstance(result, xr.DataArray):
        result = result.to_dataset(name=result.name or "result")
    prov = collect(config=config, seed=seed, device=device)
    result.attrs.update(netcdf_attrs({"kind": kind, **prov}))
    write_json_atomic(folder / "config.json", {"kind": kind, "config": config, "seed": seed})
    write_json_atomic(folder / "provenance.json", prov)
    with atomic_path(path) as tmp:
        result.to_netcdf(tmp, engine="h5netcdf")
    return result
