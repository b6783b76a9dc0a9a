"""Torch files (``model.pt``, ``checkpoint.pt``): written atomically and byte for
byte reproducibly, read with errors that name the file.

``torch.save`` to a path names the archive's top-level folder after the file, so
saving to a temporary name would put that random name inside the archive;
saving to an open file gives every archive the same folder name.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .cache import atomic_path


class UnreadableFileError(ValueError):
    """A torch file is truncated, corrupt or not what it should be."""


def save(obj, path) -> None:
    """``torch.save(obj)`` to ``path``, which appears only when complete."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def load(path, what: str, map_location=None, weights_only: bool = True, keys=()):
    """``torch.load(path)``; a file that cannot be read (or, a dict, lacks one of
    ``keys``) raises :class:`UnreadableFileError` naming it and ``what`` it is."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=weights_only)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure to read means a bad file
        raise UnreadableFileError(f"{path}: unreadable {what} (truncated or corrupt: "
                                  f"{type(err).__name__}: {_first_line(err)})") from None
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise UnreadableFileError(f"{path}: not a {what} (missing {missing})")
    return obj


def _first_line(err: Exception) -> str:
    """The first sentence of an error's message (torch adds paragraphs of advice)."""
    lines = str(err).strip().splitlines()
    return lines[0].split(". ")[0].rstrip(".") if lines else ""
