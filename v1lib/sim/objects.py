"""Object recognition for task-driven networks: silhouettes of a dozen shapes
(disc, ring, square, triangle, cross, star, bar, crescent, arrow, ell,
hourglass, tee) pasted on natural-image backgrounds.

Each image shows one object, drawn as an anti-aliased filled silhouette
(supersampled) at a random position, size and rotation, and a random
contrast: its luminance differs from the mean of the background it covers by
a random amount, brighter or darker. The backgrounds are crops of the
simulator's photographs (:mod:`v1lib.sim.photographs`): those of the training
images come from the training scenes, those of the validation and test images
from the shared validation and test scenes (:func:`background_scenes`), so no
background of a held-out image is cropped from a photograph seen in training.
Classes are balanced in every tier.

``simulate_objects(config, seed)`` returns ``{"objects": Dataset}`` in the task
schema (:mod:`v1lib.data.task`), with each object's position, size, rotation
and contrast in ``gt_*`` variables; the result depends only on ``(config, seed)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr

from ..cache import canonical_json
from ..config import check_types
from ..progress import progress
from .photographs import SCENE_POOLS
from .stimuli import natural_crops

# Bump when a change of the code changes the output for a given config and seed:
# cached datasets are keyed by it.
SIMULATOR_VERSION = 1

TIERS = ("train", "validation", "test")
TEMPLATE = 128  # side of each shape's coverage template (over [-1, 1]^2)
SUPERSAMPLING = 4  # samples per pixel side when an object is drawn
CHUNK = 250  # images made at a time


def _polygon(*vertices):
    """The inside (even-odd rule) of a polygon, as a function of (u, v)."""
    pts = np.asarray(vertices, dtype=np.float64)

    def inside(u, v):
        out = np.zeros(u.shape, dtype=bool)
        for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0)):
            crosses = (y0 > v) != (y1 > v)
            with np.errstate(divide="ignore", invalid="ignore"):
                xc = x0 + (v - y0) * (x1 - x0) / (y1 - y0)
            out ^= crosses & (u < xc)
        return out

    return inside


def _regular(n: int, radius: float, inner: float | None = None):
    """A regular polygon of ``n`` corners (a star of ``n`` points where ``inner``)."""
    k = 2 * n if inner else n
    angles = np.pi / 2 + 2 * np.pi * np.arange(k) / k
    r = np.where(np.arange(k) % 2, inner, radius) if inner else np.full(k, radius)
    return _polygon(*np.stack([r * np.cos(angles), r * np.sin(angles)], 1))


# class -> its inside as a function of the object's own coordinates (u, v), within the unit disc
SHAPES = {
    "disc": lambda u, v: u**2 + v**2 <= 0.75**2,
    "ring": lambda u, v: (u**2 + v**2 <= 0.88**2) & (u**2 + v**2 >= 0.5**2),
    "square": lambda u, v: (abs(u) <= 0.62) & (abs(v) <= 0.62),
    "triangle": _regular(3, 0.92),
    "cross": lambda u, v: (((abs(u) <= 0.22) & (abs(v) <= 0.88))
                           | ((abs(v) <= 0.22) & (abs(u) <= 0.88))),
    "star": _regular(5, 0.95, inner=0.4),
    "bar": lambda u, v: (abs(u) <= 0.92) & (abs(v) <= 0.2),
    "crescent": lambda u, v: (u**2 + v**2 <= 0.82**2) & ((u - 0.4) ** 2 + v**2 > 0.62**2),
    "arrow": _polygon((-0.9, -0.17), (0.15, -0.17), (0.15, -0.52), (0.92, 0), (0.15, 0.52),
                      (0.15, 0.17), (-0.9, 0.17)),
    "ell": _polygon((-0.55, -0.8), (-0.15, -0.8), (-0.15, 0.4), (0.65, 0.4), (0.65, 0.8),
                    (-0.55, 0.8)),
    "hourglass": _polygon((-0.62, -0.85), (0.62, -0.85), (0.1, 0), (0.62, 0.85), (-0.62, 0.85),
                          (-0.1, 0)),
    "tee": _polygon((-0.8, -0.8), (0.8, -0.8), (0.8, -0.4), (0.2, -0.4), (0.2, 0.85),
                    (-0.2, 0.85), (-0.2, -0.4), (-0.8, -0.4)),
}


@dataclass(frozen=True)
class ObjectsConfig:
    size: int = 64  # image side, px
    n_train: int = 6000
    n_validation: int = 1000
    n_test: int = 1000
    classes: tuple[str, ...] = tuple(SHAPES)
    scale: tuple[float, float] = (0.3, 0.7)  # the object's diameter, as a fraction of the side
    # the object's luminance minus the mean of the background it covers, in grey levels;
    # its sign (brighter or darker) is drawn at random
    contrast: tuple[float, float] = (25.0, 80.0)
    background_contrast: tuple[float, float] = (10.0, 40.0)  # the background's RMS grey levels

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "config") -> ObjectsConfig:
        """Build from plain values; unknown keys and values of the wrong type
        raise a clear error naming the option."""
        d = dict(d or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{source}: unknown option '{unknown[0]}' for the objects simulator; "
                             f"known options: {sorted(names)}")
        check_types(cls, d, source)
        cfg = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        cfg.check(source)
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self, source: str = "config") -> None:
        if self.size < 16:
            raise ValueError(f"{source}: 'size' must be at least 16 (px), got {self.size}")
        unknown = [c for c in self.classes if c not in SHAPES]
        if unknown or len(set(self.classes)) != len(self.classes) or len(self.classes) < 2:
            raise ValueError(f"{source}: 'classes' must be two or more distinct shapes of "
                             f"{list(SHAPES)}, got {list(self.classes)}")
        for name in ("n_train", "n_validation", "n_test"):
            if getattr(self, name) < len(self.classes):
                raise ValueError(f"{source}: '{name}' must be at least the number of classes "
                                 f"({len(self.classes)}), so that every class is in every tier; "
                                 f"got {getattr(self, name)}")
        lo, hi = self.scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"{source}: 'scale' must be [low, high] with 0 < low <= high <= 1 "
                             f"(diameter / image side), got {list(self.scale)}")
        for name in ("contrast", "background_contrast"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi <= 255:
                raise ValueError(f"{source}: '{name}' must be [low, high] grey levels with "
                                 f"0 <= low <= high <= 255, got {list(getattr(self, name))}")

    @property
    def sizes(self) -> dict[str, int]:
        """The number of images of each tier."""
        return {"train": self.n_train, "validation": self.n_validation, "test": self.n_test}


def background_scenes() -> dict[str, tuple[str, ...]]:
    """Tier -> the scenes its backgrounds are cropped from: the training scenes
    for the train tier, the shared validation and test scenes for the others."""
    return {tier: SCENE_POOLS[tier] for tier in TIERS}


def templates(classes) -> torch.Tensor:
    """Each shape's coverage on a :data:`TEMPLATE`-px grid over [-1, 1]^2,
    (C, 1, TEMPLATE, TEMPLATE), by supersampling its inside."""
    k = SUPERSAMPLING
    t = (np.arange(TEMPLATE * k) + 0.5) / (TEMPLATE * k) * 2 - 1
    v, u = np.meshgrid(t, t, indexing="ij")
    out = [SHAPES[c](u, v).reshape(TEMPLATE, k, TEMPLATE, k).mean((1, 3)) for c in classes]
    return torch.from_numpy(np.stack(out)[:, None].astype(np.float32))


def draw(shapes: torch.Tensor, labels: np.ndarray, params: dict, size: int) -> np.ndarray:
    """The coverage (n, size, size) of each object: shape ``labels`` of
    ``shapes`` (:func:`templates`) centred at ``params`` x, y (px), of diameter
    ``params['diameter']`` (px), rotated by ``params['rotation']`` (rad).
    Drawn in the object's bounding box at :data:`SUPERSAMPLING` samples per
    pixel side, then averaged (anti-aliased)."""
    n, k = len(labels), SUPERSAMPLING
    box = min(size, int(np.ceil(params["diameter"].max())) + 2)
    f = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))
    cx, cy, r = f(params["x"]), f(params["y"]), f(params["diameter"] / 2)
    ox = torch.clamp(torch.round(cx - box / 2), 0, size - box)
    oy = torch.clamp(torch.round(cy - box / 2), 0, size - box)
    steps = (torch.arange(box * k, dtype=torch.float32) + 0.5) / k
    dx = (ox[:, None] + steps - cx[:, None])[:, None, :] / r[:, None, None]  # (n, 1, X)
    dy = (oy[:, None] + steps - cy[:, None])[:, :, None] / r[:, None, None]  # (n, Y, 1)
    c = f(np.cos(params["rotation"]))[:, None, None]
    s = f(np.sin(params["rotation"]))[:, None, None]
    grid = torch.stack([c * dx + s * dy, c * dy - s * dx], -1)  # (n, Y, X, 2): (u, v)
    cover = F.grid_sample(shapes[torch.as_tensor(labels)], grid, mode="bilinear",
                          padding_mode="zeros", align_corners=False)
    cover = F.avg_pool2d(cover, k)[:, 0].numpy()
    out = np.zeros((n, size, size), dtype=np.float32)
    for i, (x0, y0) in enumerate(zip(ox.int().tolist(), oy.int().tolist())):
        out[i, y0:y0 + box, x0:x0 + box] = cover[i]
    return out


def _parameters(c: ObjectsConfig, n: int, rng: np.random.Generator) -> dict:
    """Each object's diameter (px), centre (px; the whole object on the image),
    rotation (rad) and signed contrast (grey levels)."""
    diameter = rng.uniform(*c.scale, size=n) * c.size
    x = rng.uniform(diameter / 2, c.size - diameter / 2)
    y = rng.uniform(diameter / 2, c.size - diameter / 2)
    rotation = rng.uniform(0, 2 * np.pi, size=n)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    contrast = sign * rng.uniform(*c.contrast, size=n)
    return {"diameter": diameter, "x": x, "y": y, "rotation": rotation, "contrast": contrast}


def _backgrounds(c: ObjectsConfig, n: int, rng: np.random.Generator, scenes) -> np.ndarray:
    """Crops of ``scenes`` at a random RMS contrast of ``c.background_contrast``."""
    bg = natural_crops(n, (c.size, c.size), rng, pool=scenes).astype(np.float64)
    mean = bg.mean((1, 2), keepdims=True)
    sd = bg.std((1, 2), keepdims=True) + 1e-6
    rms = rng.uniform(*c.background_contrast, size=(n, 1, 1))
    return mean + (bg - mean) * rms / sd


def compose(background: np.ndarray, cover: np.ndarray, contrast: np.ndarray) -> np.ndarray:
    """Objects of coverage ``cover`` pasted on ``background``: each at the mean
    luminance of the background it covers plus ``contrast``; clipped to 0..255."""
    local = (cover * background).sum((1, 2)) / np.maximum(cover.sum((1, 2)), 1e-6)
    lum = (local + contrast)[:, None, None]
    return np.clip(background + cover * (lum - background), 0, 255)


def _tier(c: ObjectsConfig, shapes: torch.Tensor, tier: str, rng: np.random.Generator,
          bar) -> tuple[np.ndarray, np.ndarray, dict]:
    """The images, labels and object parameters of one tier; classes balanced
    (counts differ by at most one), in random order."""
    n = c.sizes[tier]
    labels = rng.permutation(np.arange(n) % len(c.classes))
    params = _parameters(c, n, rng)
    images = np.empty((n, c.size, c.size), dtype=np.uint8)  # an 8-bit screen, as the static images
    scenes = background_scenes()[tier]
    for a in range(0, n, CHUNK):
        sl = slice(a, min(a + CHUNK, n))
        bg = _backgrounds(c, sl.stop - a, rng, scenes)
        cover = draw(shapes, labels[sl], {k: v[sl] for k, v in params.items()}, c.size)
        images[sl] = np.round(compose(bg, cover, params["contrast"][sl]))
        bar.update(sl.stop - a)
    return images, labels, params


def scan_names(config: ObjectsConfig, seed: int) -> list[str]:
    return ["objects"]


def simulate_objects(config: ObjectsConfig, seed: int,
                     show_progress: bool = True) -> dict[str, xr.Dataset]:
    """The object-recognition task: ``{"objects": Dataset}`` in the task schema."""
    return {"objects": simulate_scan(config, seed, 0, show_progress)}


def simulate_scan(config: ObjectsConfig, seed: int, index: int = 0,
                  show_progress: bool = True) -> xr.Dataset:
    """The one dataset of :func:`simulate_objects` (``index`` 0)."""
    if index != 0:
        raise ValueError(f"scan index {index} out of range: the objects task is one dataset")
    c = config
    shapes = templates(c.classes)
    bar = progress(total=sum(c.sizes.values()), desc="drawing objects", unit="image",
                   disable=not show_progress)
    parts = [_tier(c, shapes, tier, np.random.default_rng(np.random.SeedSequence([seed, k])), bar)
             for k, tier in enumerate(TIERS)]
    bar.close()
    cat = lambda key: np.concatenate([p[2][key] for p in parts])
    ds = xr.Dataset(
        {"images": (("image", "y", "x"), np.concatenate([p[0] for p in parts])),
         "label": (("image",), np.concatenate([p[1] for p in parts]).astype(np.int64)),
         "gt_x": (("image",), cat("x").astype(np.float32)),
         "gt_y": (("image",), cat("y").astype(np.float32)),
         "gt_diameter": (("image",), cat("diameter").astype(np.float32)),
         "gt_rotation": (("image",), np.degrees(cat("rotation")).astype(np.float32)),
         "gt_contrast": (("image",), cat("contrast").astype(np.float32))},
        coords={"image": np.arange(sum(c.sizes.values())), "y": np.arange(c.size),
                "x": np.arange(c.size),
                "tier": ("image", np.repeat(list(c.sizes), list(c.sizes.values()))),
                "class_name": ("class", list(c.classes))},
        attrs={"scan": "objects", "schema": "task",
               "source": "simulated object recognition (v1lib.sim.objects)",
               "sim_config": canonical_json(c.to_dict()), "sim_seed": int(seed),
               "sim_version": SIMULATOR_VERSION})
    _annotate(ds)
    return ds


UNITS = {  # variable -> (long name, units)
    "images": ("luminance", "8-bit grey level"),
    "label": ("object class (index into class_name)", "1"),
    "gt_x": ("object centre, from the left edge", "px"),
    "gt_y": ("object centre, from the top edge", "px"),
    "gt_diameter": ("diameter of the object's bounding circle", "px"),
    "gt_rotation": ("rotation of the object", "deg"),
    "gt_contrast": ("object luminance minus the mean of the background it covers", "grey level"),
}


def _annotate(ds: xr.Dataset) -> None:
    for name, (long_name, unit) in UNITS.items():
        ds[name].attrs.update(long_name=long_name, units=unit)
