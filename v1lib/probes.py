"""Experiments on any responder: gratings, orientation tuning, plaids, and
receptive-field maps.

A :class:`Responder` is a function from images (n, height, width; grey levels
0..255, mean grey 127.5) to responses (n, neurons), with the screen those
images fill. The ground-truth neurons of the simulator
(:func:`v1lib.sim.static.responder`) and a trained model
(:func:`model_responder`) are both responders, so one probe measures the truth
and a model alike, with the same stimuli and the same analysis. Receptive-field
maps (:func:`sensitivity_maps`) need a *differentiable* function of the stimulus
instead: :func:`v1lib.sim.static.truth_function` and
:func:`v1lib.ground_truth.model_function` give one for either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from . import parallel


@dataclass(frozen=True)
class Responder:
    respond: Callable[[np.ndarray], np.ndarray]  # images (n, h, w) -> responses (n, neurons)
    shape: tuple[int, int]  # screen height, width (px)
    deg_per_px: float

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.respond(np.asarray(images, dtype=np.float32)))


def model_responder(model, scan: str, shape: tuple[int, int], deg_per_px: float) -> Responder:
    """A trained model's predictions for ``scan`` in the scan's units, with the
    eye and the behaviour at their training means."""
    return Responder(lambda images: model.predict(scan, images), tuple(shape), float(deg_per_px))


def gratings(orientations_deg, sf_cpd, phases_deg, shape: tuple[int, int],
             deg_per_px: float, contrast: float = 1.0, mean: float = 127.5) -> np.ndarray:
    """Full-field sine gratings, one per (orientation, sf, phase) in that nesting order.

    Orientation is the angle of the grating's *stripes* from horizontal, degrees
    (0 = horizontal stripes, 90 = vertical stripes).
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    yy, xx = (yy - (h - 1) / 2) * deg_per_px, (xx - (w - 1) / 2) * deg_per_px
    ori = np.deg2rad(np.atleast_1d(orientations_deg))[:, None, None, None, None]
    sf = np.atleast_1d(sf_cpd)[None, :, None, None, None]
    ph = np.deg2rad(np.atleast_1d(phases_deg))[None, None, :, None, None]
    # the carrier varies along the normal of the stripes
    u = -xx * np.sin(ori) + yy * np.cos(ori)
    g = mean + contrast * mean * np.sin(2 * np.pi * sf * u + ph)
    return g.reshape(-1, h, w).astype(np.float32)


def orientation_tuning(responder: Responder, neurons, sf, orientations=None, n_phases: int = 8,
                       contrast: float = 1.0) -> xr.DataArray:
    """Responses of ``neurons`` to full-field gratings at each one's spatial
    frequency ``sf`` (cycles/deg, one per neuron): ``rate(neuron, orientation, phase)``."""
    neurons, sf = np.atleast_1d(neurons), np.atleast_1d(sf)
    ori = np.arange(0, 180, 11.25) if orientations is None else np.asarray(orientations)
    phases = np.arange(n_phases) * 360.0 / n_phases
    out = np.empty((len(neurons), len(ori), len(phases)), dtype=np.float32)
    for s in np.unique(sf):
        imgs = gratings(ori, [s], phases, responder.shape, responder.deg_per_px, contrast)
        r = responder(imgs).reshape(len(ori), len(phases), -1)
        for i, n in enumerate(neurons):
            if sf[i] == s:
                out[i] = r[:, :, n]
    return xr.DataArray(out, dims=("neuron", "orientation", "phase"),
                        coords={"neuron": neurons, "orientation": ori, "phase": phases},
                        name="rate", attrs={"units": "a.u.", "contrast": contrast})


def tuning_summary(tuning: xr.DataArray) -> xr.Dataset:
    """Preferred orientation, orientation selectivity and phase modulation.

    OSI = |sum_k R(θ_k) exp(2iθ_k)| / sum_k R(θ_k) on the phase-averaged,
    baseline-subtracted curve; phase modulation = (max - min) / (max + min) over
    phase at the preferred orientation (near 1 for simple cells, near 0 for
    complex cells).
    """
    mean = tuning.mean("phase")
    r = np.clip(mean - mean.min("orientation"), 0, None)
    theta = np.deg2rad(tuning.orientation.values)
    vec = (r * np.exp(2j * theta)).sum("orientation")
    osi = np.abs(vec) / (r.sum("orientation") + 1e-12)
    pref = xr.DataArray((np.rad2deg(np.angle(vec.values)) / 2) % 180, dims="neuron",
                        coords={"neuron": tuning.neuron.values})
    best = mean.argmax("orientation")
    at_best = tuning.isel(orientation=best)
    mod = (at_best.max("phase") - at_best.min("phase")) / (at_best.max("phase")
                                                           + at_best.min("phase") + 1e-12)
    mod = mod.drop_vars("orientation", errors="ignore")
    return xr.Dataset({"preferred_orientation": pref, "osi": osi, "phase_modulation": mod})


def plaid_test(responder: Responder, neurons, orientation, sf, contrast: float = 0.5,
               n_phases: int = 8) -> xr.Dataset:
    """Responses to a grating at each neuron's ``orientation`` and ``sf``, the
    orthogonal one, and their sum (a plaid), each at ``contrast``, averaged over
    phase."""
    neurons = np.atleast_1d(neurons)
    orientation, sf = np.atleast_1d(orientation), np.atleast_1d(sf)
    phases = np.arange(n_phases) * 360.0 / n_phases
    res = {k: np.empty(len(neurons), dtype=np.float32) for k in ("preferred", "orthogonal", "plaid")}
    grating = lambda o, s: gratings([o], [s], phases, responder.shape, responder.deg_per_px,
                                    contrast) - 127.5
    for i, n in enumerate(neurons):
        a = grating(orientation[i], sf[i])
        b = grating((orientation[i] + 90) % 180, sf[i])
        for k, imgs in {"preferred": a + 127.5, "orthogonal": b + 127.5,
                        "plaid": a + b + 127.5}.items():
            res[k][i] = responder(imgs)[:, n].mean()
    return xr.Dataset({k: ("neuron", v) for k, v in res.items()}, coords={"neuron": neurons})


def tuning_survey(responder: Responder, neurons, orientation, sf, device="cpu") -> xr.Dataset:
    """Grating tuning and plaid responses of ``neurons``, with the error of the
    measured preferred orientation against ``orientation`` (degrees, circular).
    On a CPU (``device``: where the responder computes), groups of neurons are
    surveyed side by side (:func:`v1lib.parallel.run_jobs`)."""
    neurons = np.atleast_1d(neurons)
    orientation = np.atleast_1d(orientation).astype(float)
    sf = np.broadcast_to(np.atleast_1d(sf).astype(float), neurons.shape)
    groups = np.array_split(np.arange(len(neurons)), parallel.workers(device, len(neurons)))
    parts = parallel.run_jobs(
        lambda g: _survey(responder, neurons[g], orientation[g], sf[g]),
        [(g,) for g in groups], device, desc="tuning survey", unit="group")
    return xr.concat(parts, dim="neuron")


def _survey(responder: Responder, neurons, orientation, sf) -> xr.Dataset:
    summ = tuning_summary(orientation_tuning(responder, neurons, sf))
    plaid = plaid_test(responder, neurons, orientation, sf)
    err = np.abs((summ.preferred_orientation.values - orientation + 90) % 180 - 90)
    return summ.assign(plaid_ratio=("neuron", (plaid.plaid / (plaid.preferred + 1e-9)).values),
                       orientation_error=("neuron", err),
                       true_orientation=("neuron", orientation))


def sensitivity_maps(respond: Callable[[torch.Tensor], torch.Tensor], n_neurons: int,
                     image_shape: tuple[int, int], n_samples: int = 8, chunk: int = 250,
                     seed: int = 0, device="cpu", units: str = "(response / input SD)^2"
                     ) -> xr.DataArray:
    """Sensitivity map of every neuron: the mean squared gradient of its response
    with respect to white-noise stimuli (B, 1, H, W) of unit SD, in the input
    units of ``respond`` (a differentiable function -> responses (B, N)).

    Each stimulus of a batch serves one neuron, so one backward pass gives the
    gradients of ``chunk`` neurons at once."""
    h, w = image_shape
    gen = torch.Generator(device="cpu").manual_seed(seed)
    maps = torch.zeros(n_neurons, h, w)
    for s in range(0, n_neurons, chunk):
        idx = torch.arange(s, min(s + chunk, n_neurons))
        for _ in range(n_samples):
            x = torch.randn(len(idx), 1, h, w, generator=gen).to(device).requires_grad_(True)
            out = respond(x)
            (g,) = torch.autograd.grad(out[torch.arange(len(idx)), idx.to(device)].sum(), x)
            maps[idx] += g[:, 0].detach().cpu() ** 2
    maps /= n_samples
    return xr.DataArray(maps.numpy(), dims=("neuron", "y", "x"),
                        coords={"neuron": np.arange(n_neurons), "y": np.arange(h),
                                "x": np.arange(w)},
                        name="sensitivity", attrs={"units": units})


def map_centres(maps: xr.DataArray, level: float = 0.5) -> xr.Dataset:
    """Centroid of each map above ``level`` x its maximum, in pixels."""
    m = maps.values
    top = m.reshape(len(m), -1).max(1)[:, None, None]
    wts = np.clip(m - level * top, 0, None)
    tot = wts.sum((1, 2)) + 1e-30
    ys, xs = np.arange(m.shape[1]), np.arange(m.shape[2])
    cx = (wts.sum(1) * xs).sum(1) / tot
    cy = (wts.sum(2) * ys).sum(1) / tot
    return xr.Dataset({"rf_x": ("neuron", cx), "rf_y": ("neuron", cy)},
                      coords={"neuron": maps.neuron.values})
