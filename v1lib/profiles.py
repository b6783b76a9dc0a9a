"""Execution profiles (``profiles/<name>.yaml``): smoke, cpu, gpu, and auto."""

from __future__ import annotations

import copy
import functools
import os
import re
from pathlib import Path

import yaml

from . import paths
from .config import load_yaml

AUTO = "auto"
ENV = "V1LIB_PROFILE"  # what "auto" means on this machine, when set


def available(root: Path | None = None) -> list[str]:
    root = root or paths.repo_root()
    return sorted(p.stem for p in (root / "profiles").glob("*.yaml"))


def resolve(name: str) -> str:
    """``auto`` -> $V1LIB_PROFILE when set, else ``gpu`` when CUDA is available,
    else ``cpu``; other names unchanged."""
    if name == AUTO:
        if os.environ.get(ENV):
            return os.environ[ENV]
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return name


def load(name: str, root: Path | None = None) -> dict:
    """The profile as a dict with ``name``, ``description`` and ``parameters``."""
    root = root or paths.repo_root()
    resolved = resolve(name)
    path = root / "profiles" / f"{resolved}.yaml"
    if not path.is_file():
        via = f" (${ENV}={resolved})" if resolved != name else ""
        raise ValueError(f"unknown profile '{name}'{via}: choose from "
                         f"{[AUTO] + available(root)} (files in {root.name}/profiles/)")
    doc = _read(path)
    params = doc.get("parameters") or {}
    bad = {k: v for k, v in params.items() if isinstance(v, (dict, list))}
    if bad:
        raise ValueError(f"{path.name}: notebook parameters must be flat values; "
                         f"{sorted(bad)} are not")
    return {"name": resolved, "description": doc.get("description", ""), "parameters": params,
            "path": path, "budgets": _budgets(doc.get("budgets"), path.name)}


def _read(path: Path) -> dict:
    """The profile file's contents (a copy: callers may change it); parsed once
    per version of the file, as a chapter reads its profile many times."""
    stat = path.stat()
    return copy.deepcopy(_parsed(path, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=16)
def _parsed(path: Path, mtime_ns: int, size: int) -> dict:
    try:
        doc = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path.name}: not valid YAML ({err})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path.name}: expected a mapping (description, parameters, ...)")
    return doc


def _budgets(doc, source: str) -> dict:
    """``budgets`` of a profile: minutes per chapter (from scratch), for the whole
    book from scratch (``book``) and with every model cached (``book_cached``);
    returned in seconds."""
    doc = doc or {}
    unknown = set(doc) - {"chapters", "book", "book_cached"}
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {sorted(unknown)} in 'budgets'; "
                         "known: book, book_cached, chapters")

    def seconds(name: str, minutes) -> float:
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0:
            raise ValueError(f"{source}: budget '{name}' must be a positive number of minutes, "
                             f"got {minutes!r}")
        return 60.0 * minutes

    out = {k: seconds(k, doc[k]) for k in ("book", "book_cached") if k in doc}
    out["chapters"] = {c: seconds(f"chapters.{c}", m) for c, m in (doc.get("chapters") or {}).items()}
    return out


DEVICES = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def device(requested: str = "auto", source: str = "device") -> str:
    """The torch device to use: ``auto`` picks CUDA when present, else CPU; a
    device asked for by name must exist (errors name ``source``)."""
    import torch

    if requested in (None, "", AUTO):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not DEVICES.fullmatch(str(requested)):
        raise ValueError(f"{source} '{requested}': unknown device; use auto, cpu, cuda, cuda:N "
                         "or mps")
    if requested.startswith("cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(requested.partition(":")[2] or 0)
        if index >= n:
            have = f"only {n} CUDA device(s)" if n else "no CUDA device (torch sees none)"
            raise ValueError(f"{source} '{requested}': this machine has {have}; use cpu, or "
                             "auto to use CUDA where there is one")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{source} 'mps': not available on this machine; use cpu or auto")
    return requested


def settings(name: str, section: str, root: Path | None = None) -> dict:
    """A nested section of a profile file (e.g. ``static_models``: the model
    and training settings the static chapters use under that profile)."""
    prof = load(name, root)
    doc = _read(prof["path"])
    if section not in doc:
        raise ValueError(f"profile '{prof['name']}' ({prof['path'].name}) has no section "
                         f"'{section}'; sections: {sorted(k for k in doc if k != 'parameters')}")
    return doc[section]
