"""Checks of a command's inputs, made before any work starts: seeds, output
locations and the data a fit needs. A failed check raises :class:`InputError`
(a ValueError) naming the option, file or variable; :func:`seed` and
:func:`device` are ``argparse`` types, so a bad seed or device name is a usage
error.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

SEED_MAX = 2**32 - 1  # numpy's and torch's seeds are unsigned 32-bit integers


class InputError(ValueError):
    """An input a command cannot use; the message names it."""


def seed(text: str) -> int:
    """A seed: a whole number from 0 to 2**32 - 1 (the rule of every command)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {SEED_MAX}, "
                                         f"got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def device(text: str) -> str:
    """A device name (auto, cpu, cuda, cuda:N, mps); whether the machine has it
    is checked by :func:`v1lib.profiles.device`."""
    from .profiles import DEVICES

    if not DEVICES.fullmatch(text):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use auto, cpu, cuda, cuda:N "
                                         "or mps")
    return text


def output_file(path, option: str = "--out") -> Path:
    """``path`` can be written: not a folder, in a folder that exists (or can be
    made) and is writable."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; expected a file name")
    _writable(path.parent, f"{option} {path}")
    return path


def output_folder(path, option: str = "--out") -> Path:
    """``path`` is a writable folder, or one that can be made."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: exists and is not a folder")
    _writable(path, f"{option} {path}")
    return path


def _writable(folder: Path, what: str) -> None:
    """The nearest existing folder at or above ``folder`` takes new files."""
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{what}: cannot be made, {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise InputError(f"{what}: cannot write in {existing} ({err.strerror or err})") from None


def fit_data(scans: dict, tier: str = "test", source: str = "data") -> None:
    """Refuse data a fit cannot use: every scan needs training, validation and
    ``tier`` samples, and responses that vary on each of them (all zero: e.g.
    the withheld test responses of a competition scan)."""
    from .data import schemas

    for name, ds in scans.items():
        where = f"{source}, scan '{name}'"
        schema = schemas.of(ds, where)
        tiers = np.asarray(ds["tier"].values).astype(str)
        responses = np.asarray(ds[schema.responses].values)
        for t in dict.fromkeys(("train", "validation", tier)):
            on = responses[tiers == t]
            if len(on) == 0:
                raise InputError(f"{where}: no '{t}' samples; a fit trains on 'train', stops on "
                                 f"'validation' and scores '{tier}' (--tier)")
            flat = on.reshape(len(on), -1)
            if not (flat != flat[:1]).any():
                what = ("all zero (withheld, or no signal)" if not flat.any()
                        else "constant (no neuron varies)")
                hint = "; score another tier with --tier" if t == tier else ""
                raise InputError(f"{where}: the '{schema.responses}' of the '{t}' tier are "
                                 f"{what}{hint}")
