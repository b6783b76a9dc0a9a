"""Execution profiles (``profiles/<name>.yaml``): smoke, cpu, gpu, and auto."""

from __future__ import annotations

from pathlib import Path

import yaml

from . import paths

AUTO = "auto"


def available(root: Path | None = None) -> list[str]:
    root = root or paths.repo_root()
    return sorted(p.stem for p in (root / "profiles").glob("*.yaml"))


def resolve(name: str) -> str:
    """``auto`` -> ``gpu`` when CUDA is available, else ``cpu``; others unchanged."""
    if name == AUTO:
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return name


def load(name: str, root: Path | None = None) -> dict:
    """The profile as a dict with ``name``, ``description`` and ``parameters``."""
    root = root or paths.repo_root()
    resolved = resolve(name)
    path = root / "profiles" / f"{resolved}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown profile '{name}': choose from "
                         f"{[AUTO] + available(root)} (files in {root.name}/profiles/)")
    doc = yaml.safe_load(path.read_text()) or {}
    params = doc.get("parameters") or {}
    bad = {k: v for k, v in params.items() if isinstance(v, (dict, list))}
    if bad:
        raise ValueError(f"{path.name}: notebook parameters must be flat values; "
                         f"{sorted(bad)} are not")
    return {"name": resolved, "description": doc.get("description", ""), "parameters": params,
            "path": path}


def device(requested: str = "auto") -> str:
    """The torch device to use: ``auto`` picks CUDA when present, else CPU."""
    import torch

    if requested in (None, "", AUTO):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        return "cpu"
    return requested


def settings(name: str, section: str, root: Path | None = None) -> dict:
    """A nested section of a profile file (e.g. ``static_models``: the model
    and training settings the static chapters use under that profile)."""
    prof = load(name, root)
    doc = yaml.safe_load(prof["path"].read_text()) or {}
    if section not in doc:
        raise ValueError(f"profile '{prof['name']}' ({prof['path'].name}) has no section "
                         f"'{section}'; sections: {sorted(k for k in doc if k != 'parameters')}")
    return doc[section]
