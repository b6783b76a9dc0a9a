"""The photographs that the simulator's natural images are cropped from: which
photographs, grouped into scenes, and how the scenes are split between tiers
and animals.

Two packages ship the photographs as files inside the package, so nothing is
downloaded: scikit-image (``skimage/data``) and mvtb-data, the data package of
the Machine Vision Toolbox for Python (``mvtbdata/images``). Their sources and
licences are recorded in ``data_manifest.yaml`` (``photographs``). A
photograph is named ``"<source>:<path>"``, e.g. ``"mvtb:campus/P1070491.png"``.

A *scene* is one place or object: the photographs of a stereo pair, a
sequence or a walk around one campus are one scene, and a scene is never split
between pools. The validation and the test scenes are shared by all animals
(no model trains on them). The remaining training scenes are dealt into
``n_parts`` disjoint *parts* (:func:`training_parts`); each animal of a
simulated experiment trains on one part, so that no two animals train on
crops of the same photographs.
"""

from __future__ import annotations

import importlib.resources
import os

import numpy as np

# the package each source's files ship in, and the folder inside it
SOURCES = {"skimage": ("skimage", "data"), "mvtb": ("mvtbdata", "images")}

# the longest shorter side a photograph keeps: larger ones are downsampled once at load
MAX_SHORT_SIDE = 512

_CAMPUS_HOLDOUT = (492, 502, 508, 511, 513)  # mvtb-data keeps these in campus/holdout/

# scene -> its photographs, in a fixed order (the order the parts are dealt from)
SCENES: dict[str, tuple[str, ...]] = {
    # scikit-image (skimage.data)
    "astronaut": ("skimage:astronaut.png",),
    "brick": ("skimage:brick.png",),
    "camera": ("skimage:camera.png",),
    "chelsea": ("skimage:chelsea.png",),
    "coffee": ("skimage:coffee.png",),
    "coins": ("skimage:coins.png",),
    "grass": ("skimage:grass.png",),
    "gravel": ("skimage:gravel.png",),
    "hubble": ("skimage:hubble_deep_field.jpg",),
    "moon": ("skimage:moon.png",),
    "motorcycle": ("skimage:motorcycle_left.png", "skimage:motorcycle_right.png"),
    "rocket": ("skimage:rocket.jpg",),
    # mvtb-data (Machine Vision Toolbox for Python)
    "aerial": tuple(f"mvtb:mosaic/aerial-{k:02d}.png" for k in (8, 9, 10))
    + tuple(f"mvtb:mosaic/aerial2-{k:03d}.png" for k in range(1, 11))
    + ("mvtb:mosaic/aerialphoto.png",),
    "building": tuple(f"mvtb:building2-{k}.png" for k in (1, 2, 3)),
    "butterfly": ("mvtb:butterfly.jpg",),
    "campus": tuple(f"mvtb:campus/{'holdout/' if k in _CAMPUS_HOLDOUT else ''}P1070{k}.png"
                    for k in range(491, 516)),
    "castle-sign": ("mvtb:castle.png", "mvtb:castle2.png"),
    "church": ("mvtb:church.png",),  # church.jpg is the same photograph, compressed
    "eiffel-tower": ("mvtb:eiffel-1.png", "mvtb:eiffel-2.png"),
    "flowers": tuple(f"mvtb:flowers{k}.png" for k in range(1, 10)),
    "market-street": ("mvtb:image3.jpg",),
    "lab": ("mvtb:lab-scene.png",),
    "notre-dame": ("mvtb:notre-dame.png",),
    "park": ("mvtb:parks.png",),
    "penguin-sign": ("mvtb:penguins.png",),
    "road": ("mvtb:road.png",),
    "rocks": ("mvtb:rocks2-l.png", "mvtb:rocks2-r.png"),
    "roof": ("mvtb:roof.png",),
    "model-house": tuple(f"mvtb:seq/im.{k:03d}.png" for k in range(1, 10)),
    "street": ("mvtb:street.png",),
    "tomatoes": tuple(f"mvtb:tomato_{k}.png" for k in (124, 14, 35, 54)),
    "walls": ("mvtb:walls-l.png", "mvtb:walls-r.png"),
}

PHOTOGRAPHS = tuple(p for photos in SCENES.values() for p in photos)
SCENE_OF = {p: scene for scene, photos in SCENES.items() for p in photos}

# the scenes of the shared tiers; every other scene is a training scene. The test scenes
# show little plain sky: crops of plain sky correlate with the sky of any other scene,
# which the near-duplicate check of test images (stimuli.nearest_correlation) would
# take for a copy
SHARED_SCENES = {
    "validation": ("coffee", "rocket", "notre-dame", "road"),
    "test": ("astronaut", "chelsea", "grass", "butterfly", "walls", "tomatoes"),
}
TRAINING_SCENES = tuple(s for s in SCENES if not any(s in v for v in SHARED_SCENES.values()))
SCENE_POOLS = {"train": TRAINING_SCENES, **SHARED_SCENES}
# the photographs of each pool (all training scenes under "train")
PHOTO_POOLS = {pool: tuple(p for s in scenes for p in SCENES[s]) for pool, scenes in SCENE_POOLS.items()}


def training_parts(n_parts: int) -> tuple[tuple[str, ...], ...]:
    """The training scenes dealt into ``n_parts`` disjoint, non-empty parts.

    Scenes are taken from the largest (most photographs) to the smallest, ties
    in the order of :data:`SCENES`, and dealt to the parts back and forth
    (0, 1, ..., n-1, n-1, ..., 0, 0, 1, ...): the parts' numbers of scenes
    differ by at most one, and the large scenes go to different parts.
    """
    n = int(n_parts)
    if not 1 <= n <= len(TRAINING_SCENES):
        raise ValueError(f"the {len(TRAINING_SCENES)} training scenes can be split into 1 to "
                         f"{len(TRAINING_SCENES)} parts, not {n_parts}")
    order = sorted(TRAINING_SCENES, key=lambda s: -len(SCENES[s]))  # stable: ties in catalogue order
    parts: list[list[str]] = [[] for _ in range(n)]
    for i, scene in enumerate(order):
        lap, k = divmod(i, n)
        parts[k if lap % 2 == 0 else n - 1 - k].append(scene)
    return tuple(tuple(p) for p in parts)


def parts_error(n_animals: int, n_parts: int, first_part: int) -> str | None:
    """Why ``n_animals`` animals cannot train on parts ``first_part``,
    ``first_part + 1``, ... (modulo ``n_parts``) of the training scenes, each on
    its own part; None where they can."""
    n = len(TRAINING_SCENES)
    if not 1 <= n_parts <= n:
        return f"'photo_parts' must be from 1 to {n} (the number of training scenes), got {n_parts}"
    if not 0 <= first_part < n_parts:
        return (f"'first_photo_part' must be from 0 to photo_parts - 1 = {n_parts - 1}, "
                f"got {first_part}")
    if n_animals > n_parts:
        return (f"{n_animals} animals ('n_animals') need as many parts of the training "
                f"photographs or more ('photo_parts' is {n_parts}), or two animals would "
                f"train on the same photographs")
    return None


def scene_photographs(scenes) -> tuple[str, ...]:
    """The photographs of ``scenes`` (names of :data:`SCENES`)."""
    unknown = [s for s in scenes if s not in SCENES]
    if unknown:
        raise ValueError(f"unknown scene(s) {unknown}; known scenes: {list(SCENES)}")
    return tuple(p for s in scenes for p in SCENES[s])


def _path(name: str):
    source, _, rel = name.partition(":")
    package, folder = SOURCES[source]
    return importlib.resources.files(package).joinpath(folder, *rel.split("/"))


def downsample(img: np.ndarray, max_short_side: int = MAX_SHORT_SIDE) -> np.ndarray:
    """``img`` with its shorter side at most ``max_short_side`` px, by area
    averaging (unchanged where it is small enough)."""
    import torch
    import torch.nn.functional as F

    h, w = img.shape
    f = max_short_side / min(h, w)
    if f >= 1:
        return img
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
    t = F.interpolate(t, size=(round(h * f), round(w * f)), mode="area")
    return t[0, 0].numpy()


_cache: dict[str, np.ndarray] = {}  # photographs read so far in this process


def photograph(name: str) -> np.ndarray:
    """One photograph (a name of :data:`PHOTOGRAPHS`) as grayscale float32 in
    0..255, downsampled to :data:`MAX_SHORT_SIDE`; read once per process."""
    if name not in _cache:
        _cache[name] = _read(name)
    return _cache[name]


def _read(name: str) -> np.ndarray:
    import skimage.io

    if name not in SCENE_OF:
        raise ValueError(f"unknown photograph '{name}'")
    with importlib.resources.as_file(_path(name)) as path:
        img = np.asarray(skimage.io.imread(path), dtype=np.float32)
    if img.ndim == 3:  # RGB(A) -> luminance (Rec. 601)
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if img.max() <= 1.0:
        img = img * 255.0
    return downsample(img)


def load(names) -> tuple[np.ndarray, ...]:
    """The photographs ``names`` (see :func:`photograph`), those not read yet
    read in parallel threads (decoding the large PNGs takes seconds)."""
    from concurrent.futures import ThreadPoolExecutor

    names = tuple(names)
    todo = [n for n in dict.fromkeys(names) if n not in _cache]
    if len(todo) > 1:
        with ThreadPoolExecutor(min(8, len(todo), os.cpu_count() or 1)) as pool:
            _cache.update(zip(todo, pool.map(_read, todo)))
    return tuple(photograph(n) for n in names)


def photographs() -> tuple[np.ndarray, ...]:
    """All photographs, in the order of :data:`PHOTOGRAPHS`."""
    return load(PHOTOGRAPHS)
