"""The body, head and eyes of a mouse exploring the arena, one value per time bin.

* **Locomotion**: running bouts (a two-state Markov chain with mean bout and
  pause durations), speed in cm/s smooth within a bout; the body turns by a
  smooth random turning rate and away from walls ahead; position integrates
  speed along the heading.
* **Head**: yaw relative to the body, pitch and roll (deg) are smooth random
  processes, larger while running (``running_head_factor``); yaw is the
  head's compass heading (clockwise positive), pitch nose up, roll right ear
  down (:mod:`v1lib.sim.arena`).
* **Eyes**: the horizontal eye position θ (right positive) counter-rotates
  against the head's yaw velocity with gain ``vor_gain`` < 1, drifting back to
  centre, and jumps by saccades (fast, within one bin) in the direction of the
  head turn, more often when the head turns fast (saccade-and-fixate);
  vertical φ (up positive) compensates pitch with ``pitch_gain`` and moves
  with saccades; the eye's torsion counter-rolls ``torsion_gain`` of the
  head's roll (not recorded, as in the real data).
* **Pupil**: the radius grows with running and a slow arousal state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .behavior import _ar1_fast, lowpass


@dataclass(frozen=True)
class MouseConfig:
    run_bout_s: float = 5.0  # mean duration of a running bout
    pause_s: float = 8.0  # mean duration of a pause between bouts
    run_speed_cm_s: tuple[float, float] = (18.0, 6.0)  # mean, SD while running
    turn_sd_deg_s: float = 40.0  # SD of the body's turning rate
    head_yaw_sd_deg: float = 12.0  # SD of the head's yaw relative to the body
    pitch_mean_deg: float = -5.0
    pitch_sd_deg: float = 8.0
    roll_sd_deg: float = 6.0
    running_head_factor: float = 1.6  # head movements this much larger while running
    vor_gain: float = 0.7  # eye counter-rotation per head yaw rotation
    pitch_gain: float = 0.5  # vertical eye compensation of pitch
    torsion_gain: float = 0.5  # ocular counter-roll per head roll
    saccade_rate_hz: float = 0.4  # spontaneous saccades, head still
    saccade_per_deg: float = 0.005  # extra saccade probability per deg of head yaw in a bin
    eye_range_deg: float = 20.0  # |θ| beyond which the eye resets by a saccade
    eye_centring_s: float = 2.0  # time constant of the eye's drift back to centre
    pupil_radius_px: tuple[float, float] = (18.0, 4.0)  # baseline, gain per unit arousal
    arousal_tau_s: float = 30.0


def config_error(c: MouseConfig) -> str | None:
    """Why ``c`` cannot make a mouse; None where it can."""
    for name in ("run_bout_s", "pause_s", "turn_sd_deg_s", "eye_range_deg", "eye_centring_s",
                 "arousal_tau_s"):
        if not getattr(c, name) > 0:
            return f"'{name}' must be positive, got {getattr(c, name)}"
    for name in ("vor_gain", "pitch_gain", "torsion_gain"):
        if not 0 <= getattr(c, name) < 1:
            return f"'{name}' must be from 0 to below 1 (partial compensation), got {getattr(c, name)}"
    for name in ("head_yaw_sd_deg", "pitch_sd_deg", "roll_sd_deg", "saccade_rate_hz",
                 "saccade_per_deg"):
        if not getattr(c, name) >= 0:
            return f"'{name}' must be non-negative, got {getattr(c, name)}"
    if not c.running_head_factor >= 1:
        return f"'running_head_factor' must be at least 1, got {c.running_head_factor}"
    return None


@dataclass(frozen=True)
class Motion:
    """One session of movement, per bin (deg, cm, cm/s)."""

    position: np.ndarray  # (T, 2) x, y
    speed: np.ndarray
    running: np.ndarray  # bool, in a running bout
    head_yaw: np.ndarray  # compass heading of the head
    pitch: np.ndarray
    roll: np.ndarray
    eye_theta: np.ndarray
    eye_phi: np.ndarray
    torsion: np.ndarray  # eye torsion relative to the head, deg
    saccade: np.ndarray  # bool, a saccade in the bin
    pupil: np.ndarray  # radius, eye-camera px
    arousal: np.ndarray


def _smooth(n: int, tau: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random process of unit SD: an AR(1) of ``tau`` samples, low-passed."""
    x = lowpass(_ar1_fast(n, tau, rng), max(tau / 2, 1.0))
    return x / (x.std() + 1e-12)


def _bouts(n: int, p_start: float, p_stop: float, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(n)
    moving = np.zeros(n, dtype=bool)
    moving[0] = u[0] < p_start / (p_start + p_stop)
    for t in range(1, n):
        moving[t] = moving[t - 1] ^ (u[t] < (p_stop if moving[t - 1] else p_start))
    return moving


def _walk(speed, turn, size_cm: float, dt: float, rng: np.random.Generator):
    """Position (T, 2) and body heading (T,) deg: the turning rate ``turn``
    (deg/s) plus a turn away from a wall less than 10 cm ahead."""
    n, margin, L = len(speed), 4.0, float(size_cm)
    pos, heading = np.empty((n, 2)), np.empty(n)
    x, y = (float(v) for v in rng.uniform(margin, L - margin, 2))
    h = float(rng.uniform(0, 360))
    speed, turn = speed.tolist(), turn.tolist()
    for t in range(n):
        sin, cos = math.sin(math.radians(h)), math.cos(math.radians(h))
        ax, ay = x + 10.0 * sin, y + 10.0 * cos  # 10 cm ahead
        steer = 0.0
        if min(ax, ay) < margin or max(ax, ay) > L - margin:
            cross = sin * (L / 2 - y) - cos * (L / 2 - x)  # > 0: the centre is to the left
            steer = -150.0 if cross > 0 else 150.0  # deg/s, clockwise positive
        h = (h + (turn[t] + steer) * dt) % 360.0
        step = speed[t] * dt
        x = min(max(x + step * math.sin(math.radians(h)), margin / 2), L - margin / 2)
        y = min(max(y + step * math.cos(math.radians(h)), margin / 2), L - margin / 2)
        pos[t], heading[t] = (x, y), h
    return pos, heading


def _eyes(c: MouseConfig, yaw_step: np.ndarray, dt: float, rng: np.random.Generator):
    """θ (deg) and the saccade bins: counter-rotation against the head's yaw
    steps (deg per bin), drift to centre, saccades toward the turn."""
    n = len(yaw_step)
    leak = 1 - np.exp(-dt / c.eye_centring_s)
    p_sacc = np.clip(c.saccade_rate_hz * dt + c.saccade_per_deg * np.abs(yaw_step), 0, 0.9)
    u, amp = rng.random(n), rng.uniform(5.0, 15.0, n)
    drift = rng.normal(0, 0.3, n)
    turn_sign = np.sign(yaw_step) + (yaw_step == 0) * rng.choice([-1.0, 1.0], n)
    theta, sacc = np.empty(n), np.zeros(n, dtype=bool)
    th, lim = 0.0, float(c.eye_range_deg)
    step, u, p_sacc, amp, turn_sign = (a.tolist() for a in (
        -c.vor_gain * yaw_step + drift, u, p_sacc, amp, turn_sign))
    for t in range(n):
        th = th * (1 - leak) + step[t]
        if u[t] < p_sacc[t] or abs(th) > lim:
            direction = turn_sign[t] if abs(th) <= lim else -math.copysign(1.0, th)
            th = min(max(th + direction * amp[t], -lim), lim)
            sacc[t] = True
        theta[t] = th
    return theta, sacc


def simulate_motion(c: MouseConfig, n_bins: int, bin_s: float, size_cm: float,
                    rng: np.random.Generator) -> Motion:
    """One session of locomotion, head and eye movements and pupil (module docstring)."""
    s = 1.0 / bin_s  # bins per second
    running = _bouts(n_bins, bin_s / c.pause_s, bin_s / c.run_bout_s, rng)
    target = np.clip(c.run_speed_cm_s[0] + c.run_speed_cm_s[1] * _smooth(n_bins, 2.0 * s, rng),
                     3.0, None)
    speed = np.clip(lowpass(running * target, 0.3 * s) + np.abs(rng.normal(0, 0.3, n_bins)),
                    0, None)
    vigour = 1 + (c.running_head_factor - 1) * lowpass(running.astype(float), 0.5 * s)
    turn = c.turn_sd_deg_s * vigour * _smooth(n_bins, 0.6 * s, rng)
    position, body = _walk(speed, turn, size_cm, bin_s, rng)
    head_yaw = (body + c.head_yaw_sd_deg * vigour * _smooth(n_bins, 0.4 * s, rng)) % 360.0
    pitch = c.pitch_mean_deg + c.pitch_sd_deg * vigour * _smooth(n_bins, 0.6 * s, rng)
    roll = c.roll_sd_deg * vigour * _smooth(n_bins, 0.6 * s, rng)
    yaw_step = (np.diff(head_yaw, prepend=head_yaw[0]) + 180.0) % 360.0 - 180.0
    theta, saccade = _eyes(c, yaw_step, bin_s, rng)
    vertical = np.cumsum(saccade * rng.normal(0, 3.0, n_bins))
    vertical -= lowpass(vertical, c.eye_centring_s * s)  # saccades' vertical part, recentring
    phi = -c.pitch_gain * pitch + vertical + 0.5 * _smooth(n_bins, 0.5 * s, rng)
    arousal = (0.6 * lowpass(running.astype(float), 2.0 * s)
               + 0.5 * _ar1_fast(n_bins, c.arousal_tau_s * s, rng))
    base, gain = c.pupil_radius_px
    pupil = base + gain * lowpass(arousal, 1.0 * s) + 0.1 * _smooth(n_bins, 0.3 * s, rng)
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    return Motion(f32(position), f32(speed), running, f32(head_yaw), f32(pitch), f32(roll),
                  f32(theta), f32(phi), f32(-c.torsion_gain * roll), saccade, f32(pupil),
                  f32(arousal))
