"""Provenance of results: code version, environment, device, seed and config."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path

from .cache import canonical_json, config_hash

PACKAGES = ("v1lib", "numpy", "torch", "xarray", "scipy", "scikit-image", "h5netcdf")


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


def collect(config=None, seed: int | None = None, device: str | None = None) -> dict:
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
