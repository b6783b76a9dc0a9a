"""Where the project's files are: the repository root, profiles, results."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The checkout that holds ``data_manifest.yaml`` (from the package or the cwd)."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here, Path.cwd(), *Path.cwd().parents):
        if (cand / "data_manifest.yaml").is_file() and (cand / "profiles").is_dir():
            return cand
    raise FileNotFoundError("cannot find the project root (a folder with data_manifest.yaml "
                            "and profiles/); run from inside the checkout")


def results_dir(path: str | os.PathLike | None = None) -> Path:
    """The results folder: ``path``, else $V1LIB_RESULTS, else <root>/results."""
    if path:
        return Path(path).expanduser().resolve()
    if os.environ.get("V1LIB_RESULTS"):
        return Path(os.environ["V1LIB_RESULTS"]).expanduser().resolve()
    return repo_root() / "results"
