"""Behaviour of a head-fixed mouse over a session, one value per trial.

Running alternates between still and running bouts (a two-state Markov chain);
the pupil dilates with running and drifts slowly; the eye position (pupil centre
in eye-camera pixels) wanders with occasional saccade-like jumps; a latent brain
state (arousal not captured by pupil or running) is a slow AR(1) process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Behavior:
    running: np.ndarray  # cm/s
    pupil: np.ndarray  # pupil diameter, eye-camera pixels
    dpupil: np.ndarray  # change of pupil diameter per trial
    pupil_center: np.ndarray  # (T, 2) eye-camera pixels, [x, y]
    state: np.ndarray  # latent brain state, unit variance


def _ar1(n: int, tau: float, rng: np.random.Generator) -> np.ndarray:
    a = np.exp(-1.0 / tau)
    x = np.empty(n)
    x[0] = rng.standard_normal()
    eps = rng.standard_normal(n) * np.sqrt(1 - a**2)
    for t in range(1, n):
        x[t] = a * x[t - 1] + eps[t]
    return x


def simulate_behavior(n_trials: int, rng: np.random.Generator) -> Behavior:
    """One session of behaviour, in trial (presentation) order."""
    p_start, p_stop = 0.03, 0.06
    moving = np.zeros(n_trials, dtype=bool)
    moving[0] = rng.random() < p_start / (p_start + p_stop)
    for t in range(1, n_trials):
        p = p_stop if moving[t - 1] else p_start
        moving[t] = moving[t - 1] ^ (rng.random() < p)
    speed = np.where(moving, 12.0 + 6.0 * _ar1(n_trials, 20.0, rng), 0.0)
    running = np.clip(speed + np.abs(rng.normal(0, 0.3, n_trials)), 0, None)
    arousal = 0.6 * moving + 0.5 * _ar1(n_trials, 40.0, rng)
    pupil = 20.0 + 5.0 * arousal + rng.normal(0, 0.4, n_trials)
    dpupil = np.diff(pupil, prepend=pupil[0])
    centre = np.stack([_ar1(n_trials, 30.0, rng), _ar1(n_trials, 30.0, rng)], axis=1) * 2.5
    jumps = np.cumsum((rng.random((n_trials, 1)) < 0.01) * rng.normal(0, 2.0, (n_trials, 2)), axis=0)
    jumps -= np.linspace(0, 1, n_trials)[:, None] * jumps[-1]  # keep the eye near its mean
    pupil_center = np.array([160.0, 120.0]) + centre + jumps
    state = _ar1(n_trials, 50.0, rng)
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    return Behavior(f32(running), f32(pupil), f32(dpupil), f32(pupil_center), f32(state))
