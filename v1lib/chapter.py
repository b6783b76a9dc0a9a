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


# myst-nb's glue format (its myst_nb.ext.glue.GLUE_PREFIX): the book's {glue} roles
# read the outputs stored under it
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, variable, display: bool = True) -> None:
    """``myst_nb.glue``: store how ``variable`` displays under ``name``, for the
    prose's ``{glue:text}`` roles (and show it too, with ``display``). The same
    output as myst-nb's, without importing its glue module, which imports
    nbformat and jsonschema: about 5 s of every chapter's start."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display as show

    bundle, metadata = format_display_data(variable)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    show({prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


def glue_published(*keys: str) -> None:
    """Glue the published numbers ``keys`` (:data:`v1lib.published.PUBLISHED`)
    under their own names, for the chapter's prose to quote
    (``{glue:text}`key:.0f```) without typing them."""
    from .published import value

    for k in keys:
        glue(k, value(k), display=False)
