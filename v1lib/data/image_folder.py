"""A user's folder of labelled images as a dataset of the task schema
(:mod:`v1lib.data.task`), read with Pillow.

Two layouts:

* ``root/train/<class>/*`` and ``root/val/<class>/*`` (ImageNet style): the
  ``val`` images are the test tier, and ``validation_fraction`` of each class's
  training images (drawn with ``seed``) the validation tier;
* ``root/<class>/*``: each class's images split at random (``seed``) into
  validation (``validation_fraction``), test (as many) and train (the rest;
  at least one image).

Every image is converted to grey, its shorter side resized to ``size`` px
(antialiased bilinear), and cropped to ``size`` x ``size`` about its centre.
Classes are the class folders' names, sorted; files whose suffix is not an
image format's (:data:`SUFFIXES`) and hidden files are left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .schema import SchemaError
from .task import TASK

SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                      ".pgm", ".pbm"})


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _classes(folder: Path) -> dict[str, list[Path]]:
    """Class name -> its image files (sorted), for the class folders of ``folder``."""
    dirs = sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p))
    if not dirs:
        raise SchemaError(f"{folder}: no class folders; expected one folder of images per "
                          "class (<class>/*.png, *.jpg, ...)")
    out = {}
    for d in dirs:
        files = sorted(p for p in d.iterdir()
                       if p.is_file() and _visible(p) and p.suffix.lower() in SUFFIXES)
        if not files:
            raise SchemaError(f"{d}: class folder '{d.name}' holds no images (files ending in "
                              f"{sorted(SUFFIXES)})")
        out[d.name] = files
    return out


def is_image_folder(path) -> bool:
    """Whether ``path`` is a folder in one of the two layouts (judged by its
    first class folders)."""
    p = Path(path)
    if not p.is_dir():
        return False
    top = p / "train" if (p / "train").is_dir() else p
    dirs = [d for d in top.iterdir() if d.is_dir() and _visible(d)]
    return bool(dirs) and any(f.is_file() and f.suffix.lower() in SUFFIXES
                              for f in dirs[0].iterdir())


def read_image(path: Path, size: int) -> np.ndarray:
    """One image as grey levels (uint8), its shorter side resized to ``size``
    and cropped to ``size`` x ``size`` about its centre."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            grey = img.convert("L")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise SchemaError(f"{path}: not a readable image ({type(err).__name__}: {err})") from None
    w, h = grey.size
    f = size / min(w, h)
    nw, nh = max(size, round(w * f)), max(size, round(h * f))
    grey = grey.resize((nw, nh), Image.Resampling.BILINEAR)  # antialiased when shrinking
    x0, y0 = (nw - size) // 2, (nh - size) // 2
    return np.asarray(grey.crop((x0, y0, x0 + size, y0 + size)), dtype=np.uint8)


def _split(n: int, fraction: float, rng: np.random.Generator, test: bool) -> np.ndarray:
    """A tier for each of ``n`` images of one class: ``fraction`` of them
    validation (and as many test where ``test``), at least one train."""
    k = int(round(fraction * n))
    n_val = min(k, n - 1)
    n_test = min(k, n - 1 - n_val) if test else 0
    tiers = np.array(["validation"] * n_val + ["test"] * n_test + ["train"] * (n - n_val - n_test))
    return tiers[rng.permutation(n)]


def _files(root: Path, validation_fraction: float, seed: int):
    """(file, class index, tier) of every image, and the class names."""
    rng = np.random.default_rng(seed)
    imagenet = (root / "train").is_dir()
    if imagenet and not (root / "val").is_dir():
        raise SchemaError(f"{root}: has a 'train' folder but no 'val' folder; the ImageNet "
                          "layout needs both (train/<class>/*, val/<class>/*)")
    train = _classes(root / "train" if imagenet else root)
    names = sorted(train)
    rows = []
    for k, name in enumerate(names):
        tiers = _split(len(train[name]), validation_fraction, rng, test=not imagenet)
        rows += [(f, k, t) for f, t in zip(train[name], tiers)]
    if imagenet:
        val = _classes(root / "val")
        if set(val) != set(train):
            raise SchemaError(f"{root}: the class folders of 'train' and 'val' differ: only in "
                              f"train {sorted(set(train) - set(val))}, only in val "
                              f"{sorted(set(val) - set(train))}")
        rows += [(f, k, "test") for k, name in enumerate(names) for f in val[name]]
    order = {"train": 0, "validation": 1, "test": 2}
    rows.sort(key=lambda r: (order[r[2]], r[1], str(r[0])))
    return rows, names


def read_image_folder(root, size: int = 64, validation_fraction: float = 0.1,
                      seed: int = 0) -> xr.Dataset:
    """The labelled images under ``root`` (either layout) as a dataset of the
    task schema, samples in the order train, validation, test; the files'
    paths (relative to ``root``) in the coordinate ``file``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SchemaError(f"{root}: no such folder of images")
    if not 0 <= validation_fraction < 0.5:
        raise ValueError(f"validation_fraction must be from 0 to 0.5 (exclusive), got "
                         f"{validation_fraction}")
    if int(size) < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    rows, names = _files(root, validation_fraction, seed)
    images = np.stack([read_image(f, int(size)) for f, _, _ in rows])
    ds = xr.Dataset(
        {"images": (("image", "y", "x"), images),
         "label": (("image",), np.array([r[1] for r in rows], dtype=np.int64))},
        coords={"image": np.arange(len(rows)), "y": np.arange(size), "x": np.arange(size),
                "tier": ("image", np.array([r[2] for r in rows])),
                "file": ("image", np.array([str(r[0].relative_to(root)) for r in rows])),
                "class_name": ("class", names)},
        attrs={"scan": root.name or "images", "schema": "task", "source": str(root),
               "validation_fraction": float(validation_fraction), "split_seed": int(seed)})
    ds["images"].attrs.update(long_name="luminance", units="8-bit grey level")
    return TASK.validate(ds, str(root))


def load_image_folder(path) -> dict[str, xr.Dataset]:
    """:func:`read_image_folder` at its defaults, as ``{scan: Dataset}`` (the
    folder's name), for :mod:`v1lib.datasets`."""
    ds = read_image_folder(path)
    return {ds.attrs["scan"]: ds}
