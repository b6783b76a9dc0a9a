"""In-silico experiments on the ground-truth populations: gratings, tuning
curves, plaids, and image statistics."""

from __future__ import annotations

import json

import numpy as np
import torch
import xarray as xr

from .population import Population
from .static import StaticConfig, animals
from .stimuli import gratings


def simulator_config(ds: xr.Dataset) -> StaticConfig:
    """The simulator configuration a simulated scan was made with (its provenance)."""
    if "sim_config" not in ds.attrs or "sim_seed" not in ds.attrs:
        raise ValueError("these scans carry no simulator provenance (attrs 'sim_config', "
                         "'sim_seed'): ground-truth experiments need the in-silico V1")
    return StaticConfig.from_dict(json.loads(ds.attrs["sim_config"]), source="dataset attrs")


def populations_of(scans: dict[str, xr.Dataset]) -> dict[str, Population]:
    """Rebuild the ground-truth populations of simulated scans from their provenance."""
    first = next(iter(scans.values()))
    cfg = simulator_config(first)
    seed = int(first.attrs["sim_seed"])
    pops = animals(cfg, seed)
    from .static import scan_names

    return {n: p for n, p in zip(scan_names(cfg, seed), pops) if n in scans}


def orientation_tuning(pop: Population, neurons, orientations=None, n_phases: int = 8,
                       contrast: float = 1.0) -> xr.DataArray:
    """Noise-free responses to full-field gratings at each neuron's preferred SF.

    Returns ``rate(neuron, orientation, phase)`` at unit gain, mean eye position.
    """
    neurons = np.atleast_1d(neurons)
    ori = np.arange(0, 180, 11.25) if orientations is None else np.asarray(orientations)
    phases = np.arange(n_phases) * 360.0 / n_phases
    sfs = np.unique(pop.sf[neurons])
    out = np.empty((len(neurons), len(ori), len(phases)), dtype=np.float32)
    with torch.no_grad():
        for s in sfs:
            imgs = gratings(ori, [s], phases, pop.bank.shape, pop.bank.deg_per_px, contrast)
            r = pop.stimulus_rate(torch.from_numpy(imgs)).numpy()  # (ori*phase, all neurons)
            r = r.reshape(len(ori), len(phases), -1)
            for i, n in enumerate(neurons):
                if pop.sf[n] == s:
                    out[i] = r[:, :, n]
    return xr.DataArray(out, dims=("neuron", "orientation", "phase"),
                        coords={"neuron": neurons, "orientation": ori, "phase": phases},
                        name="rate", attrs={"units": "a.u.", "contrast": contrast})


def sf_tuning(pop: Population, neurons, sfs=None, n_phases: int = 8) -> xr.DataArray:
    """Responses to gratings at each neuron's preferred orientation, over SF.

    Returns ``rate(neuron, sf)``, averaged over phase.
    """
    neurons = np.atleast_1d(neurons)
    sfs = np.geomspace(0.015, 0.25, 13) if sfs is None else np.asarray(sfs)
    phases = np.arange(n_phases) * 360.0 / n_phases
    out = np.empty((len(neurons), len(sfs)), dtype=np.float32)
    with torch.no_grad():
        for o in np.unique(pop.orientation[neurons]):
            imgs = gratings([o], sfs, phases, pop.bank.shape, pop.bank.deg_per_px)
            r = pop.stimulus_rate(torch.from_numpy(imgs)).numpy().reshape(len(sfs), len(phases), -1)
            for i, n in enumerate(neurons):
                if pop.orientation[n] == o:
                    out[i] = r[:, :, n].mean(1)
    return xr.DataArray(out, dims=("neuron", "sf"), coords={"neuron": neurons, "sf": sfs},
                        name="rate", attrs={"units": "a.u.", "sf_units": "cycles/deg"})


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


def plaid_test(pop: Population, neurons, contrast: float = 0.5, n_phases: int = 8) -> xr.Dataset:
    """Responses to a grating at the preferred orientation, the orthogonal one,
    and their sum (a plaid), each at half contrast, averaged over phase."""
    neurons = np.atleast_1d(neurons)
    h, w = pop.bank.shape
    phases = np.arange(n_phases) * 360.0 / n_phases
    res = {k: np.empty(len(neurons), dtype=np.float32) for k in ("preferred", "orthogonal", "plaid")}
    with torch.no_grad():
        for i, n in enumerate(neurons):
            o, s = pop.orientation[n], pop.sf[n]
            a = gratings([o], [s], phases, (h, w), pop.bank.deg_per_px, contrast) - 127.5
            b = gratings([(o + 90) % 180], [s], phases, (h, w), pop.bank.deg_per_px,
                         contrast) - 127.5
            stim = {"preferred": a + 127.5, "orthogonal": b + 127.5, "plaid": a + b + 127.5}
            for k, imgs in stim.items():
                res[k][i] = pop.stimulus_rate(torch.from_numpy(imgs)).numpy()[:, n].mean()
    return xr.Dataset({k: ("neuron", v) for k, v in res.items()}, coords={"neuron": neurons})


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


def tuning_survey(pop: Population, neurons) -> xr.Dataset:
    """Grating tuning and plaid responses of ``neurons``, beside their ground truth."""
    neurons = np.atleast_1d(neurons)
    summ = tuning_summary(orientation_tuning(pop, neurons))
    plaid = plaid_test(pop, neurons)
    err = np.abs((summ.preferred_orientation.values - pop.orientation[neurons] + 90) % 180 - 90)
    return summ.assign(
        plaid_ratio=("neuron", (plaid.plaid / (plaid.preferred + 1e-9)).values),
        orientation_error=("neuron", err),
        true_orientation=("neuron", pop.orientation[neurons]),
        feature_type=("neuron", pop.feature_type[neurons].astype(str)),
    )
