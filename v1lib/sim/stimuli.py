"""Stimuli of the simulated experiments: natural-image crops, dead leaves, 1/f noise,
and the amplitude-spectrum statistic that compares them.

Every generator takes a ``numpy.random.Generator`` and returns float32 images in
luminance units 0..255 (like the 8-bit screens of the real recordings), shape
``(n, height, width)``. Natural images are crops of photographs that ship inside
two packages, scikit-image and mvtb-data; :mod:`v1lib.sim.photographs` lists
them, groups them into scenes and splits the scenes into pools. Nothing is
downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .photographs import PHOTO_POOLS, PHOTOGRAPHS, SCENE_POOLS, SCENES, load, photographs

__all__ = ["PHOTOGRAPHS", "PHOTO_POOLS", "SCENES", "SCENE_POOLS", "photographs", "pool_scenes",
           "natural_crops", "dead_leaves", "pink_noise", "mixed_images", "mix_error",
           "amplitude_spectrum_slope", "nearest_correlation"]

# A pool of photographs: the name of a pool of SCENE_POOLS ("train", "validation",
# "test"), a sequence of scene names, or None for every scene.
Pool = str | Sequence[str] | None


def _resize(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area-averaging resize with bilinear fallback (anti-aliased downsampling)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(img))[None, None]
    t = F.interpolate(t, size=shape, mode="bilinear", align_corners=False, antialias=True)
    return t[0, 0].numpy()


def _standardise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Set each image to a random mean luminance and RMS contrast, clip to 0..255."""
    n = len(images)
    mean = rng.uniform(90, 140, size=n).astype(np.float32)
    contrast = rng.uniform(35, 70, size=n).astype(np.float32)
    flat = images.reshape(n, -1)
    z = (flat - flat.mean(1, keepdims=True)) / (flat.std(1, keepdims=True) + 1e-6)
    out = z * contrast[:, None] + mean[:, None]
    return np.clip(out, 0, 255).reshape(images.shape).astype(np.float32)


def pool_scenes(pool: Pool) -> tuple[str, ...]:
    """The scene names of ``pool`` (see :data:`Pool`)."""
    if pool is None:
        return tuple(SCENES)
    if isinstance(pool, str):
        if pool not in SCENE_POOLS:
            raise ValueError(f"unknown photo pool '{pool}'; choose from {list(SCENE_POOLS)}, "
                             f"or give a sequence of scene names")
        return SCENE_POOLS[pool]
    scenes = tuple(pool)
    unknown = [s for s in scenes if s not in SCENES]
    if unknown or not scenes:
        raise ValueError(f"a photo pool needs one or more known scenes, got {list(scenes)}; "
                         f"known scenes: {list(SCENES)}")
    return scenes


def natural_crops(n: int, shape: tuple[int, int], rng: np.random.Generator,
                  pool: Pool = None) -> np.ndarray:
    """Crops of the photographs of ``pool`` (all where None), varied in scale,
    position and flip. Each crop draws a scene of the pool, then one of the
    scene's photographs: a scene of many photographs (a sequence, a walk
    around one place) weighs as much as a scene of one."""
    scenes = [SCENES[s] for s in pool_scenes(pool)]
    names = [p for photos in scenes for p in photos]
    images = dict(zip(names, load(names)))
    h, w = shape
    out = np.empty((n, h, w), dtype=np.float32)
    for i in range(n):
        photos = scenes[rng.integers(len(scenes))]
        src = images[photos[rng.integers(len(photos))]]
        sh, sw = src.shape
        # crop with the screen's aspect ratio, covering 25 %..100 % of the shorter side
        frac = rng.uniform(0.25, 1.0)
        ch = int(min(sh, sw * h / w) * frac)
        cw = int(round(ch * w / h))
        ch, cw = max(ch, 8), min(max(cw, 8), sw)
        y0 = rng.integers(0, sh - ch + 1)
        x0 = rng.integers(0, sw - cw + 1)
        crop = src[y0 : y0 + ch, x0 : x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if rng.random() < 0.5:
            crop = crop[::-1, :]
        out[i] = _resize(crop, (h, w))
    return _standardise(out, rng)


def dead_leaves(n: int, shape: tuple[int, int], rng: np.random.Generator,
                n_disks: int = 300, rmin: float = 1.0, rmax: float = 40.0) -> np.ndarray:
    """Dead-leaves images: occluding discs with radii ~ r^-3 (scale invariant)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((n, h, w), dtype=np.float32)
    for i in range(n):
        img = np.full((h, w), np.nan, dtype=np.float32)
        # inverse-CDF sampling of p(r) ∝ r^-3 on [rmin, rmax]
        u = rng.random(n_disks)
        r = 1.0 / np.sqrt(1.0 / rmin**2 - u * (1.0 / rmin**2 - 1.0 / rmax**2))
        cy = rng.uniform(-rmax / 2, h + rmax / 2, n_disks)
        cx = rng.uniform(-rmax / 2, w + rmax / 2, n_disks)
        lum = rng.uniform(0, 255, n_disks).astype(np.float32)
        for k in range(n_disks):  # front to back: a pixel keeps the first disc that covers it
            mask = np.isnan(img) & ((yy - cy[k]) ** 2 + (xx - cx[k]) ** 2 <= r[k] ** 2)
            img[mask] = lum[k]
            if not np.isnan(img).any():
                break
        img[np.isnan(img)] = lum.mean()
        out[i] = img
    return _standardise(out, rng)


def pink_noise(n: int, shape: tuple[int, int], rng: np.random.Generator,
               exponent: tuple[float, float] = (0.8, 1.3)) -> np.ndarray:
    """Gaussian noise with amplitude spectrum 1/f^alpha, alpha drawn per image."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = np.inf
    alpha = rng.uniform(*exponent, size=n)
    white = rng.standard_normal((n, h, w))
    spec = np.fft.rfft2(white) * f[None] ** -alpha[:, None, None]
    out = np.fft.irfft2(spec, s=(h, w)).astype(np.float32)
    return _standardise(out, rng)


GENERATORS = {"natural": natural_crops, "dead_leaves": dead_leaves, "pink_noise": pink_noise}


def mix_error(mix: dict) -> str | None:
    """Why ``mix`` (stimulus kind -> fraction) is not a valid ``image_mix``, or None."""
    unknown = set(mix) - set(GENERATORS)
    if unknown:
        return (f"unknown stimulus kind(s) {sorted(unknown)} in 'image_mix'; "
                f"choose from {list(GENERATORS)}")
    bad = {k: v for k, v in mix.items()
           if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0}
    if bad:
        return f"'image_mix' fractions must be non-negative numbers, got {bad}"
    if sum(mix.values()) <= 0:
        return "'image_mix' fractions must sum to a positive number"
    return None


def mixed_images(n: int, shape: tuple[int, int], mix: dict[str, float],
                 rng: np.random.Generator, pool: Pool = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images drawn from the kinds in ``mix`` (fractions), shuffled;
    natural images from the photographs of ``pool`` (all scenes where None).

    Returns ``(images, kind)`` with ``kind`` the stimulus class of each image.
    """
    if error := mix_error(mix):
        raise ValueError(error)
    total = sum(mix.values())
    kinds = list(mix)
    counts = np.floor(np.array([mix[k] / total for k in kinds]) * n).astype(int)
    counts[0] += n - counts.sum()
    images, labels = [], []
    for k, c in zip(kinds, counts):
        if c > 0:
            extra = {"pool": pool} if k == "natural" else {}
            images.append(GENERATORS[k](int(c), shape, rng, **extra))
            labels += [k] * int(c)
    images = np.concatenate(images)
    labels = np.array(labels)
    order = rng.permutation(n)
    return images[order], labels[order]


def amplitude_spectrum_slope(images: np.ndarray) -> np.ndarray:
    """Slope of log amplitude vs log spatial frequency, per image (about -1 for
    natural images)."""
    n, h, w = images.shape
    x = images - images.mean(axis=(1, 2), keepdims=True)
    win = np.outer(np.hanning(h), np.hanning(w))
    amp = np.abs(np.fft.fft2(x * win))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    band = (f > 2.0 / min(h, w)) & (f < 0.4)
    lf = np.log(f[band])
    slopes = []
    for a in amp:
        slopes.append(np.polyfit(lf, np.log(a[band] + 1e-9), 1)[0])
    return np.array(slopes)


def nearest_correlation(images: np.ndarray, others: np.ndarray, chunk: int = 256) -> np.ndarray:
    """For each of ``images``, the highest pixel correlation with any of
    ``others`` (a measure of near-duplicates across tiers)."""
    z = lambda a: (lambda f: (f - f.mean(1, keepdims=True))
                   / (f.std(1, keepdims=True) * np.sqrt(f.shape[1]) + 1e-9))(
        a.reshape(len(a), -1).astype(np.float64))
    a, b = z(images), z(others)
    return np.concatenate([(a[i:i + chunk] @ b.T).max(1) for i in range(0, len(a), chunk)])
