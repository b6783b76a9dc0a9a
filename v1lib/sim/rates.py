"""The noise-free rates of one simulated scan, and the ground truth made from them.

On trial ``t`` a neuron's rate is

    rate = (output(drive(image, eye) + pre(behaviour)) + additive(behaviour))
           x observable_gain(behaviour, eye) x state_gain(state)

(:class:`~v1lib.sim.population.Population`), where the eye enters as a shift
of every RF (the gaze map of the pupil centre) and a torsion of the visual
field, and as a gain field. From it come the ``gt_*`` rates of a scan: the
full rate; the observable rate (everything but the latent state); the rate at
unit gain with behaviour at its mean; and, on the test tier, the expected rate
given the image alone, E[rate | image] over the session's eye positions,
behaviour and states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..progress import progress
from .population import Population

# cells per axis of the quadratures of E[rate | image]. Against the exact average
# over every pair of trials the error is a few % of the mean rate, but a
# per-neuron scale common to all images: across images the two correlate above
# 0.999 for every neuron (tested), so ceilings, which are correlations, do not see it.
EYE_BINS, BEHAVIOR_BINS = 8, 6


@dataclass(frozen=True)
class Eye:
    """The eye's effect on every trial: RF shift (T, 2) px, torsion (T,) rad,
    and the z-scored pupil position (T, 2) of the gain field."""

    shift: np.ndarray
    torsion: np.ndarray
    z: np.ndarray


def eye_effects(pupil_center: np.ndarray, gaze_map: np.ndarray, torsion_per_sd: float,
                centre: np.ndarray | None = None, scale: np.ndarray | None = None) -> Eye:
    """The shift, torsion and z-scored position of pupil centres (T, 2), about
    the session's ``centre`` and ``scale`` (by default, those of these centres)."""
    p = np.asarray(pupil_center, dtype=np.float64)
    centre = p.mean(0) if centre is None else centre
    scale = p.std(0) if scale is None else scale
    d = p - centre
    z = d / scale
    return Eye((d @ gaze_map.T).astype(np.float32), (torsion_per_sd * z[:, 1]).astype(np.float32),
               z.astype(np.float32))


def drives(pop: Population, images: np.ndarray, trial_image: np.ndarray, eye: Eye, name: str,
           show_progress: bool, chunk: int = 64, device="cpu") -> np.ndarray:
    """The standardised drive (T, N) of every trial: each image filtered once
    and read at the eye of each of its trials (computed on ``device``)."""
    out = np.empty((len(trial_image), pop.config.n_neurons), dtype=np.float32)
    with torch.no_grad():
        for start in progress(range(0, len(images), chunk), desc=f"simulating {name}",
                              disable=not show_progress):
            ids = np.arange(start, min(start + chunk, len(images)))
            trials = np.flatnonzero((trial_image >= ids[0]) & (trial_image <= ids[-1]))
            rows = torch.from_numpy(trial_image[trials] - ids[0])
            out[trials] = pop.drive(torch.from_numpy(images[ids]).to(device), eye.shift[trials, 0],
                                    eye.shift[trials, 1], rows, eye.torsion[trials]).cpu().numpy()
    return out


def trial_rates(pop: Population, drive: np.ndarray, behavior_z: np.ndarray, eye: Eye,
                state: np.ndarray) -> dict[str, np.ndarray]:
    """The ground-truth rates (T, N) of every trial: ``rate``, ``observable``
    (without the latent state) and ``stimulus`` (unit gain, behaviour at its mean)."""
    with torch.no_grad():
        stimulus = pop.output(torch.from_numpy(drive)).numpy()
        inner = pop.output(torch.from_numpy(drive + pop.pre_drive(behavior_z))).numpy()
    observable = (inner + pop.additive(behavior_z)) * pop.observable_gain(behavior_z, eye.z)
    return {"rate": (observable * pop.state_gain(state)).astype(np.float32),
            "observable": observable.astype(np.float32), "stimulus": stimulus.astype(np.float32)}


def quadrature(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Points and weights (summing to 1) of a centroid quadrature of the
    empirical distribution of ``values`` (T, d): the samples fall into cells
    between ``bins`` quantiles of every column, and each cell is read at the
    mean of its samples, weighted by their share."""
    cell = np.zeros(len(values), dtype=np.int64)
    for a in range(values.shape[1]):
        edges = np.quantile(values[:, a], np.linspace(0, 1, bins + 1)[1:-1])
        cell = cell * bins + np.searchsorted(edges, values[:, a])
    used = np.unique(cell)
    points = np.stack([values[cell == c].mean(0) for c in used])
    weights = np.array([(cell == c).mean() for c in used])
    return points, weights


def stimulus_only_rates(pop: Population, images: np.ndarray, trial_image: np.ndarray,
                        tier_of_image: np.ndarray, pupil_center: np.ndarray, gaze_map: np.ndarray,
                        behavior_z: np.ndarray, state: np.ndarray, chunk: int = 8,
                        device="cpu") -> np.ndarray:
    """E[rate | image] on the test tier (NaN on the other tiers): the rate
    averaged over the session's eye positions and behaviour (centroid
    quadratures of each, :func:`quadrature`; they are independent in the
    simulator) and times the session's mean state gain (computed on ``device``)."""
    p = pupil_center.astype(np.float64)
    eye_pts, eye_w = quadrature(p, EYE_BINS)
    eye = eye_effects(eye_pts, gaze_map, pop.torsion_per_sd, p.mean(0), p.std(0))
    beh_pts, beh_w = quadrature(behavior_z, BEHAVIOR_BINS)
    pre = torch.from_numpy(pop.pre_drive(beh_pts)).to(device)  # (M, N)
    add = pop.additive(beh_pts)  # (M, N)
    gain = np.stack([pop.observable_gain(beh_pts, np.repeat(ez[None], len(beh_pts), 0))
                     for ez in eye.z])  # (K, M, N)
    weight = torch.from_numpy((eye_w[:, None] * beh_w[None])[..., None].astype(np.float32))
    gw = (torch.from_numpy(gain) * weight).to(device)  # (K, M, N): gain times probability
    additive = (torch.from_numpy(add).to(device)[None] * gw).sum((0, 1))  # the same for every image
    state_mean = pop.state_gain(state).mean(0)
    out = np.full((len(trial_image), pop.config.n_neurons), np.nan, dtype=np.float32)
    test = np.flatnonzero(tier_of_image == "test")
    K = len(eye_pts)
    with torch.no_grad():
        for start in range(0, len(test), chunk):
            ids = test[start:start + chunk]
            rows = torch.arange(len(ids)).repeat_interleave(K)
            z = pop.drive(torch.from_numpy(images[ids]).to(device), np.tile(eye.shift[:, 0], len(ids)),
                          np.tile(eye.shift[:, 1], len(ids)), rows, np.tile(eye.torsion, len(ids)))
            for j, i in enumerate(ids):
                r = pop.weighted_output(z[j * K:(j + 1) * K], pre, gw) + additive
                out[trial_image == i] = r.cpu().numpy() * state_mean
    return out
