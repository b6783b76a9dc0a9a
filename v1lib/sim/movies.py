"""Video stimuli of Sinz et al. 2018 for the simulated mouse V1: natural movies,
Monet2 (directional pink noise), Trippy (phase-modulated noise) and drifting
gratings, rendered at the recordings' 36x64 pixels and 30 Hz.

* ``natural``: a camera panning and zooming over the photographs of
  :mod:`v1lib.sim.photographs`, with dark or bright occluders drifting across
  the view and a cut to a new photograph and view every 1-3 s.
* ``monet``: temporally low-passed Gaussian noise (half-Hamming kernel),
  spatially low-passed; the clip is split into ``n_dirs`` periods with the
  directions k*360/n_dirs in random order, and in the centred ``ori_fraction``
  of each period the noise is orientation-filtered and drifts coherently.
* ``trippy``: cos(2 pi phase) of a smooth random phase map (a random node grid,
  smoothed in time, interpolated in space) plus a global drift of the phase.
* ``grating``: full-contrast drifting sinusoidal gratings in epochs of random
  direction, separated by grey blanks.

Every generator takes a ``numpy.random.Generator``, its output depends only on
its arguments, and returns a :class:`Clip`: uint8 frames ``(T, H, W)`` about a
mean grey of 127.5 (natural movies: the grey levels of
:func:`v1lib.sim.stimuli.natural_crops`) and the direction of coherent motion
per frame (NaN where there is none).

Conventions (those of :mod:`v1lib.sim.features`): pixel coordinates x right, y
down. Orientation is the angle of a grating's stripes, degrees in [0, 180),
stripes running along (cos o, sin o). Direction theta in [0, 360): the pattern
moves along (cos theta, sin theta); a grating moving in direction theta has
stripes of orientation (theta + 90) mod 180.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft

from . import photographs
from .stimuli import Pool, _resize, _standardise, pool_scenes

__all__ = ["Clip", "natural_movie", "monet", "trippy", "grating", "GENERATORS", "clip"]


@dataclass(frozen=True)
class Clip:
    """A movie: frames (T, H, W) uint8, direction (T,) float32 degrees of
    coherent motion (NaN where none), and the stimulus kind."""

    frames: np.ndarray
    direction: np.ndarray
    kind: str


def _check(n_frames, shape, fps, deg_per_px) -> tuple[int, int, int]:
    """``(n_frames, height, width)`` as ints, or ValueError."""
    h, w = (int(s) for s in shape)
    if int(n_frames) != n_frames or n_frames < 1 or h < 1 or w < 1:
        raise ValueError(f"a movie needs n_frames >= 1 and a positive shape, "
                         f"got {n_frames} frames of {tuple(shape)}")
    if not (fps > 0 and deg_per_px > 0):
        raise ValueError(f"fps and deg_per_px must be positive, got {fps} and {deg_per_px}")
    return int(n_frames), h, w


def _uint8(lum: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(lum), 0, 255).astype(np.uint8)


def _no_direction(n: int) -> np.ndarray:
    return np.full(n, np.nan, dtype=np.float32)


def _causal_filter(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``x`` (T + K - 1, ...) filtered along time by ``kernel`` (K taps, the
    first applied to the current frame): T frames."""
    k = len(kernel)
    n = len(x) - k + 1
    out = np.zeros((n,) + x.shape[1:], dtype=x.dtype)
    for j, c in enumerate(kernel):  # K vectorised taps
        out += np.float32(c) * x[k - 1 - j : k - 1 - j + n]
    return out


# -- natural movies -----------------------------------------------------------------

def _smooth_velocity(n: int, rng: np.random.Generator, fps: float, sd: float, dims: int,
                     tau_s: float = 0.5) -> np.ndarray:
    """(n, dims) velocities: a random constant plus a smooth (low-passed, time
    constant ``tau_s``) random fluctuation, each of standard deviation ``sd``."""
    k = max(1, int(round(3 * tau_s * fps)))
    kernel = np.exp(-np.arange(k) / (tau_s * fps))
    wiggle = _causal_filter(rng.standard_normal((n + k - 1, dims)), kernel / np.sqrt((kernel**2).sum()))
    return sd * (rng.standard_normal(dims) + wiggle) / np.sqrt(2)


def _fold(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``x`` reflected back and forth into [lo, hi] (a camera turning at the edges)."""
    if hi <= lo:
        return np.full_like(x, (lo + hi) / 2)
    y = np.mod(x - lo, 2 * (hi - lo))
    return lo + np.where(y > hi - lo, 2 * (hi - lo) - y, y)


def _camera(photo: np.ndarray, n: int, shape: tuple[int, int], rng: np.random.Generator,
            fps: float, deg_per_px: float, pan_dps: float, zoom_per_s: float) -> np.ndarray:
    """``n`` frames (float32) of a camera that pans and zooms smoothly over ``photo``."""
    import torch
    import torch.nn.functional as F

    h, w = shape
    if rng.random() < 0.5:
        photo = photo[:, ::-1]
    sh, sw = photo.shape
    fit = min(sh, sw * h / w)  # the tallest view of the screen's aspect ratio
    log_zoom = np.cumsum(_smooth_velocity(n, rng, fps, zoom_per_s, 1)[:, 0]) / fps
    ch = np.clip(fit * rng.uniform(0.3, 0.7) * np.exp(log_zoom), 0.2 * fit, 0.95 * fit)
    px_per_deg = ch / (h * deg_per_px)  # photo pixels per degree of the view
    step = _smooth_velocity(n, rng, fps, pan_dps, 2) * px_per_deg[:, None] / fps
    half_h, half_w = ch.max() / 2, ch.max() * w / h / 2
    start = rng.uniform([half_w, half_h], [max(half_w, sw - half_w), max(half_h, sh - half_h)])
    path = start + np.cumsum(step, axis=0) - step[0]
    cx = _fold(path[:, 0], half_w - 0.5, sw - half_w - 0.5)
    cy = _fold(path[:, 1], half_h - 0.5, sh - half_h - 0.5)
    # resample the photograph once, near the screen's resolution, then sample the views
    s = h / np.sqrt(ch.min() * ch.max())
    hs, ws = max(2, round(sh * s)), max(2, round(sw * s))
    small = _resize(np.ascontiguousarray(photo, dtype=np.float32), (hs, ws))
    scale = (ch / h)[:, None, None]
    gx = (2 * (cx[:, None, None] + scale * (np.arange(w) - (w - 1) / 2)[None, None, :]) + 1) / sw - 1
    gy = (2 * (cy[:, None, None] + scale * (np.arange(h) - (h - 1) / 2)[None, :, None]) + 1) / sh - 1
    grid = np.stack(np.broadcast_arrays(gx, gy), axis=-1).astype(np.float32)
    src = torch.from_numpy(small)[None, None].expand(n, 1, hs, ws)
    out = F.grid_sample(src, torch.from_numpy(grid), mode="bilinear", padding_mode="reflection",
                        align_corners=False)
    return out[:, 0].numpy()


def _occlude(frames: np.ndarray, rng: np.random.Generator, fps: float, deg_per_px: float,
             n_occluders: tuple[int, int]) -> np.ndarray:
    """``frames`` with a few dark or bright shapes (ellipses or rounded
    rectangles, soft 1-px edges) drifting across at 10-40 degrees/s."""
    n, h, w = frames.shape
    t = (np.arange(n) - (n - 1) / 2)[:, None, None] / fps
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(rng.integers(n_occluders[0], n_occluders[1] + 1)):
        ra = rng.uniform(4, 15) / deg_per_px
        rb = ra * rng.uniform(0.4, 1.0)
        tilt, heading = rng.uniform(0, 2 * np.pi, 2)
        speed = rng.uniform(10, 40) / deg_per_px
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        p = 2.0 if rng.random() < 0.5 else 6.0  # ellipse or rounded rectangle
        lum = rng.uniform(0, 40) if rng.random() < 0.5 else rng.uniform(215, 255)
        dx = xx - (x0 + speed * np.cos(heading) * t)
        dy = yy - (y0 + speed * np.sin(heading) * t)
        u = (dx * np.cos(tilt) + dy * np.sin(tilt)) / ra
        v = (-dx * np.sin(tilt) + dy * np.cos(tilt)) / rb
        r = (np.abs(u) ** p + np.abs(v) ** p) ** (1 / p)
        alpha = np.clip((1 - r) * rb + 0.5, 0, 1).astype(np.float32)
        frames = frames * (1 - alpha) + np.float32(lum) * alpha
    return frames


def natural_movie(n_frames: int, shape: tuple[int, int], rng: np.random.Generator,
                  fps: float = 30.0, deg_per_px: float = 1.5, pool: Pool = None,
                  shot_s: tuple[float, float] = (1.0, 3.0), pan_dps: float = 15.0,
                  zoom_per_s: float = 0.15, n_occluders: tuple[int, int] = (0, 3)) -> Clip:
    """A camera moving over the photographs of ``pool`` (all scenes where None;
    see :func:`v1lib.sim.stimuli.pool_scenes`), cut to a new photograph and
    view every ``shot_s`` seconds. Each shot draws a scene, then one of its
    photographs, a flip, a smooth pan (``pan_dps`` deg/s) and zoom
    (``zoom_per_s`` log-units/s), its grey levels like natural crops, and
    ``n_occluders`` drifting occluders. No coherent direction (NaN)."""
    n, h, w = _check(n_frames, shape, fps, deg_per_px)
    scenes = pool_scenes(pool)
    frames = np.empty((n, h, w), dtype=np.float32)
    start = 0
    while start < n:
        length = min(n - start, max(1, int(round(rng.uniform(*shot_s) * fps))))
        photos = photographs.scene_photographs([scenes[rng.integers(len(scenes))]])
        photo = photographs.load([photos[rng.integers(len(photos))]])[0]
        shot = _camera(photo, length, (h, w), rng, fps, deg_per_px, pan_dps, zoom_per_s)
        shot = _standardise(shot.reshape(1, length * h, w), rng).reshape(length, h, w)
        frames[start : start + length] = _occlude(shot, rng, fps, deg_per_px, n_occluders)
        start += length
    return Clip(_uint8(frames), _no_direction(n), "natural")


# -- Monet2 -------------------------------------------------------------------------

def _orientation_mask(fx: np.ndarray, fy: np.ndarray, theta: float, coherence: float,
                      envelope: np.ndarray) -> np.ndarray:
    """Fourier gain passing wave vectors within 90/coherence degrees of the
    direction ``theta`` (stripes orthogonal to it), a Hann window of angle,
    scaled to keep the power of ``envelope``."""
    d = np.mod(np.arctan2(fy, fx) - np.deg2rad(theta) + np.pi / 2, np.pi) - np.pi / 2
    mask = np.where(np.abs(d * coherence) < np.pi / 2, np.cos(d * coherence) ** 2, 0.0)
    return mask * np.sqrt((envelope**2).sum() / ((envelope * mask) ** 2).sum())


def _schedule(n: int, n_dirs: int, ori_fraction: float, rng: np.random.Generator):
    """Per frame: the period (0..n_dirs-1), whether motion is coherent, and the
    periods' directions (a random permutation of k*360/n_dirs)."""
    edges = np.round(np.linspace(0, n, n_dirs + 1)).astype(int)
    period = np.searchsorted(edges, np.arange(n), side="right") - 1
    length = np.diff(edges)
    on = np.round(ori_fraction * length).astype(int)
    first = edges[:-1] + (length - on) // 2
    within = np.arange(n) - first[period]
    coherent = (within >= 0) & (within < on[period])
    return period, coherent, rng.permutation(n_dirs) * (360.0 / n_dirs)


def monet(n_frames: int, shape: tuple[int, int], rng: np.random.Generator, fps: float = 30.0,
          deg_per_px: float = 1.5, n_dirs: int = 16, ori_fraction: float = 0.5, speed: float = 20.0,
          spatial_freq: float = 0.05, temporal_bandwidth: float = 4.0, ori_coherence: float = 1.5,
          contrast: float = 0.5, pad: int = 8) -> Clip:
    """Monet2: Gaussian noise low-passed in time (half-Hamming kernel of
    ``temporal_bandwidth`` Hz) and in space (Gaussian spectrum of s.d.
    ``spatial_freq`` cycles/degree), RMS ``contrast`` x 127.5 about 127.5, on a
    periodic canvas ``pad`` px larger on each side. In each of ``n_dirs``
    periods, during its centred ``ori_fraction``, the noise is
    orientation-filtered (bandwidth 180/``ori_coherence`` degrees, stripes
    orthogonal to the motion) and drifts at ``speed`` deg/s in the period's
    direction, which ``direction`` holds there (NaN elsewhere)."""
    n, h, w = _check(n_frames, shape, fps, deg_per_px)
    if not (int(n_dirs) == n_dirs and n_dirs >= 1 and 0 <= ori_fraction <= 1):
        raise ValueError(f"monet needs n_dirs >= 1 and 0 <= ori_fraction <= 1, "
                         f"got n_dirs={n_dirs}, ori_fraction={ori_fraction}")
    H, W = h + 2 * pad, w + 2 * pad
    semi = max(1, int(round(2 * fps / temporal_bandwidth)))
    kernel = np.hamming(2 * semi + 1)[semi:]
    noise = rng.standard_normal((n + semi, H, W), dtype=np.float32)
    spec = scipy.fft.rfft2(_causal_filter(noise, kernel))
    fy = np.fft.fftfreq(H)[:, None].astype(np.float32)  # cycles/pixel
    fx = np.fft.rfftfreq(W)[None, :].astype(np.float32)
    envelope = np.exp(-0.5 * (np.hypot(fx, fy) / (deg_per_px * spatial_freq)) ** 2)
    envelope[0, 0] = 0.0  # no flicker of the mean grey
    period, coherent, dirs = _schedule(n, int(n_dirs), ori_fraction, rng)
    theta = np.deg2rad(dirs[period])
    step = speed / (deg_per_px * fps) * coherent[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1)
    sx, sy = np.cumsum(step, axis=0).T[:, :, None, None].astype(np.float32)
    gain = np.broadcast_to(envelope, spec.shape).astype(np.float32)
    for k, d in enumerate(dirs):
        on = coherent & (period == k)
        gain[on] = envelope * _orientation_mask(fx, fy, d, ori_coherence, envelope)
    shift = np.float32(2 * np.pi) * (fx * sx + fy * sy)  # a translation by (sx, sy) pixels
    spec *= gain * (np.cos(shift) - 1j * np.sin(shift))
    movie = scipy.fft.irfft2(spec, s=(H, W))[:, pad : pad + h, pad : pad + w]
    lum = 127.5 + contrast * 127.5 * movie / (movie.std() + 1e-12)
    direction = np.where(coherent, dirs[period], np.nan).astype(np.float32)
    return Clip(_uint8(lum), direction, "monet")


# -- Trippy -------------------------------------------------------------------------

def _interpolator(size: int, spacing: float) -> np.ndarray:
    """(size, nodes) Gaussian interpolation from nodes every ``spacing`` pixels
    (two beyond each edge) to pixels, rows of unit norm (unit-variance output
    from unit-variance independent nodes)."""
    nodes = np.arange(-2 * spacing, size - 1 + 2 * spacing + 1e-9, spacing)
    g = np.exp(-0.5 * ((np.arange(size)[:, None] - nodes[None, :]) / (0.75 * spacing)) ** 2)
    return g / np.sqrt((g**2).sum(1, keepdims=True))


def trippy(n_frames: int, shape: tuple[int, int], rng: np.random.Generator, fps: float = 30.0,
           deg_per_px: float = 1.5, temporal_freq: float = 2.5, spatial_freq: float = 0.06,
           node_deg: float = 16.0, kernel_s: float = 1.0, contrast: float = 1.0) -> Clip:
    """Trippy: luminance 127.5 (1 + ``contrast`` cos(2 pi phase)). The phase map
    is Gaussian noise on a grid of nodes every ``node_deg`` degrees, smoothed in
    time by a Hann window of ``kernel_s`` s, interpolated smoothly to the pixels
    and scaled so that its RMS local spatial frequency is about
    ``spatial_freq`` cycles/degree, plus a global drift of ``temporal_freq``
    cycles/s. No coherent direction (NaN)."""
    n, h, w = _check(n_frames, shape, fps, deg_per_px)
    spacing = node_deg / deg_per_px
    gy, gx = _interpolator(h, spacing), _interpolator(w, spacing)
    k = np.hanning(max(1, int(round(kernel_s * fps))) + 2)[1:-1]
    nodes = rng.standard_normal((n + len(k) - 1, gy.shape[1], gx.shape[1]))
    nodes = _causal_filter(nodes, k / np.sqrt((k**2).sum()))
    # the interpolated field has a gradient of RMS norm ~ 1 / (0.75 node_deg) per degree
    phase = spatial_freq * 0.75 * node_deg * (gy @ nodes @ gx.T)
    phase += temporal_freq * np.arange(n)[:, None, None] / fps + rng.random()
    lum = 127.5 * (1 + contrast * np.cos(2 * np.pi * phase))
    return Clip(_uint8(lum), _no_direction(n), "trippy")


# -- drifting gratings --------------------------------------------------------------

def grating(n_frames: int, shape: tuple[int, int], rng: np.random.Generator, fps: float = 30.0,
            deg_per_px: float = 1.5, directions: int | Sequence[float] = 16,
            spatial_freq: float = 0.04, temporal_freq: float = 2.0, epoch_s: float = 1.0,
            blank_s: float = 0.25, contrast: float = 1.0) -> Clip:
    """Sinusoidal gratings (``spatial_freq`` cycles/degree) drifting at
    ``temporal_freq`` Hz, in epochs of ``epoch_s`` s each followed by a grey
    blank of ``blank_s`` s. Each epoch draws a direction from ``directions``
    (a number of evenly spaced directions, or the directions in degrees) and a
    random phase; ``direction`` holds it (NaN in blanks)."""
    n, h, w = _check(n_frames, shape, fps, deg_per_px)
    if np.ndim(directions) == 0:
        dirs = np.arange(max(0, int(directions))) * 360.0 / max(1, int(directions))
    else:
        dirs = np.mod(np.asarray(directions, dtype=float), 360.0)
    if len(dirs) == 0:
        raise ValueError(f"grating needs one or more directions, got {directions!r}")
    on, off = max(1, int(round(epoch_s * fps))), max(0, int(round(blank_s * fps)))
    n_epochs = -(-n // (on + off))
    theta, phase0 = rng.choice(dirs, n_epochs), rng.random(n_epochs)
    epoch, within = np.divmod(np.arange(n), on + off)
    shown = within < on
    th = np.deg2rad(theta[epoch])[:, None, None]
    yy, xx = np.mgrid[0:h, 0:w]
    u = spatial_freq * deg_per_px * (xx * np.cos(th) + yy * np.sin(th))  # cycles along the motion
    phase = u - temporal_freq * (within / fps)[:, None, None] + phase0[epoch][:, None, None]
    lum = 127.5 * (1 + contrast * shown[:, None, None] * np.cos(2 * np.pi * phase))
    direction = np.where(shown, theta[epoch], np.nan).astype(np.float32)
    return Clip(_uint8(lum), direction, "grating")


GENERATORS = {"natural": natural_movie, "monet": monet, "trippy": trippy, "grating": grating}


def clip(kind: str, n_frames: int, shape: tuple[int, int], rng: np.random.Generator,
         fps: float = 30.0, deg_per_px: float = 1.5, pool: Pool = None) -> Clip:
    """A clip of ``kind`` (a key of :data:`GENERATORS`) with its default
    parameters; ``pool`` is passed to natural movies only (other kinds ignore it)."""
    if not isinstance(kind, str) or kind not in GENERATORS:
        raise ValueError(f"unknown movie kind {kind!r}; choose from {list(GENERATORS)}")
    extra = {"pool": pool} if kind == "natural" else {}
    return GENERATORS[kind](n_frames, shape, rng, fps=fps, deg_per_px=deg_per_px, **extra)
