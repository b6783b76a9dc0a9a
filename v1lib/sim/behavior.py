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


def _ar1_fast(n: int, tau: float, rng: np.random.Generator) -> np.ndarray:
    """:func:`_ar1` of unit variance, by a recursive filter (long series)."""
    from scipy.signal import lfilter

    a = np.exp(-1.0 / tau)
    eps = rng.standard_normal(n) * np.sqrt(1 - a**2)
    eps[0] = rng.standard_normal()
    return lfilter([1.0], [1.0, -a], eps)


def lowpass(x: np.ndarray, tau: float, axis: int = 0) -> np.ndarray:
    """Causal exponential smoothing with time constant ``tau`` samples (unit DC gain)."""
    from scipy.signal import lfilter

    a = np.exp(-1.0 / tau)
    return lfilter([1 - a], [1.0, -a], x, axis=axis)


def simulate_behavior_frames(n_frames: int, fps: float, rng: np.random.Generator) -> Behavior:
    """One session of behaviour sampled at the frame rate ``fps``, as the
    Sensorium 2023 data are: running bouts (a two-state Markov chain, bouts of
    seconds to tens of seconds, smooth onsets), the pupil dilating with running
    and arousal with a lag of about a second, fixations with a slow drift
    broken by saccades (more often while running), and a slow latent state.
    ``dpupil`` is the change of the pupil per frame."""
    s = float(fps)  # samples per second
    p_start, p_stop = 0.04 / s, 0.1 / s  # per frame
    u = rng.random(n_frames)
    moving = np.zeros(n_frames, dtype=bool)
    moving[0] = u[0] < 0.3
    for t in range(1, n_frames):  # a Markov chain: one comparison per frame
        moving[t] = moving[t - 1] ^ (u[t] < (p_stop if moving[t - 1] else p_start))
    speed = np.clip(15.0 + 6.0 * _ar1_fast(n_frames, 2.0 * s, rng), 2.0, None)
    running = lowpass(moving * speed, 0.4 * s) + np.abs(rng.normal(0, 0.2, n_frames))
    arousal = 0.6 * lowpass(moving.astype(float), 2.0 * s) + 0.5 * _ar1_fast(n_frames, 15.0 * s, rng)
    pupil = 20.0 + 5.0 * lowpass(arousal, 1.0 * s) + 0.05 * _ar1_fast(n_frames, 0.2 * s, rng)
    dpupil = np.gradient(pupil)
    rate = np.where(moving, 1.0, 0.4) / s  # saccades per frame
    jumps = (rng.random(n_frames) < rate)[:, None] * rng.normal(0, 2.5, (n_frames, 2))
    fixation = np.cumsum(jumps, axis=0)
    fixation -= lowpass(fixation, 20.0 * s)  # the eye returns towards its mean over ~20 s
    drift = 0.3 * np.stack([_ar1_fast(n_frames, 0.5 * s, rng) for _ in range(2)], axis=1)
    pupil_center = np.array([160.0, 120.0]) + fixation + drift
    state = _ar1_fast(n_frames, 20.0 * s, rng)
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    return Behavior(f32(running), f32(pupil), f32(dpupil), f32(pupil_center), f32(state))
