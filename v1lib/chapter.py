"""What every chapter does first: house style, profile, device and data."""

from __future__ import annotations

from typing import NamedTuple

from . import plots, profiles


class Setup(NamedTuple):
    prof: dict  # the profile, as profiles.load returns it
    dataset: str  # dataset name in data_manifest.yaml, or a file
    scans: dict  # {scan: xarray.Dataset}
    device: str  # torch device to use


def setup(profile: str = "auto", data=None, results_dir=None, device: str = "auto") -> Setup:
    """Apply the figure style, read the profile, pick the device and load the
    data (the profile's dataset unless ``data`` names another)."""
    from .datasets import load

    plots.setup()
    prof = profiles.load(profile)
    dataset = data or prof["parameters"]["data"]
    return Setup(prof, dataset, load(dataset, results_dir=results_dir), profiles.device(device))


def glue_published(*keys: str) -> None:
    """Glue the published numbers ``keys`` (:data:`v1lib.published.PUBLISHED`)
    under their own names, for the chapter's prose to quote
    (``{glue:text}`key:.0f```) without typing them."""
    from myst_nb import glue

    from .published import value

    for k in keys:
        glue(k, value(k), display=False)
