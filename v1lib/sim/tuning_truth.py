"""The true direction and orientation tuning of simulated neurons: their rates
(unit gain, mean eye position) for full-contrast drifting gratings in
``n_dirs`` directions at every spatial frequency of the feature bank, each
neuron read at the frequency it responds to most.

Directions follow :mod:`v1lib.sim.movies`: 0 deg moves right, 90 deg down (screen
pixels, y down); a grating moving in direction theta has stripes at
(theta + 90) mod 180.
"""

from __future__ import annotations

import numpy as np
import torch

from .temporal import VideoNeurons


def drifting_grating(direction_deg: float, sf_cpd: float, shape: tuple[int, int],
                     deg_per_px: float, frames: int, fps: float, tf_hz: float = 2.0,
                     contrast: float = 0.95) -> np.ndarray:
    """A sinusoidal grating (frames, H, W) uint8 drifting in ``direction_deg``."""
    y, x = np.mgrid[0:shape[0], 0:shape[1]] * deg_per_px
    t = np.arange(frames)[:, None, None] / fps
    th = np.deg2rad(direction_deg)
    phase = 2 * np.pi * (sf_cpd * (x * np.cos(th) + y * np.sin(th)) - tf_hz * t)
    return np.clip(np.round(127.5 * (1 + contrast * np.cos(phase))), 0, 255).astype(np.uint8)


def tuning_curves(vn: VideoNeurons, fps: float, deg_per_px: float, n_dirs: int = 16,
                  frames: int = 24, settle: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Directions (D,) in degrees and each neuron's mean rate per direction
    (D, N), after ``settle`` frames, at its best spatial frequency."""
    pop = vn.pop
    dirs = np.arange(n_dirs) * 360.0 / n_dirs
    curves = []
    for sf in pop.bank.config.sf_cpd:
        clip = np.concatenate([drifting_grating(d, sf, pop.bank.shape, deg_per_px, frames, fps)
                               for d in dirs])
        with torch.no_grad():
            # each grating starts from grey: the kernels' history is cleared between them
            z = np.concatenate([vn.drive(clip[k * frames:(k + 1) * frames])
                                for k in range(n_dirs)])
            r = pop.output(torch.from_numpy(z)).numpy()
        curves.append(r.reshape(n_dirs, frames, -1)[:, settle:].mean(1))
    curves = np.stack(curves)  # (S, D, N)
    best = curves.max(1).argmax(0)
    return dirs, curves[best, :, np.arange(curves.shape[-1])].T


def grating_tuning(vn: VideoNeurons, fps: float, deg_per_px: float, n_dirs: int = 16) -> dict:
    """Per neuron: preferred ``direction`` (deg, vector sum), ``dsi``, ``osi`` and
    orientation ``tuning_width`` (half-width at half height, deg), from
    :func:`tuning_curves` above the response to grey."""
    dirs, r = tuning_curves(vn, fps, deg_per_px, n_dirs)
    base = vn.pop.output(torch.from_numpy(vn.pop.grey_drive()[None])).numpy()
    r = np.maximum(r - base, 0.0)
    theta = np.deg2rad(dirs)[:, None]
    total = np.maximum(r.sum(0), 1e-12)
    v1 = (r * np.exp(1j * theta)).sum(0)
    v2 = (r * np.exp(2j * theta)).sum(0)
    ori = r.reshape(2, n_dirs // 2, -1).mean(0)  # both directions of each orientation
    above = ori >= 0.5 * ori.max(0)
    width = 0.5 * above.sum(0) * (180.0 / (n_dirs // 2))
    return {"direction": np.rad2deg(np.angle(v1)) % 360, "dsi": np.abs(v1) / total,
            "osi": np.abs(v2) / total, "tuning_width": width}
