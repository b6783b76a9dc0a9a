"""The world of the freely moving mouse and its head-mounted camera.

The arena is a square box (``size_cm`` a side, walls ``wall_height_cm`` high)
with a natural photograph on each of its four walls and a 1/f-noise floor;
above the walls the room is plain, a little brighter upwards. World frame: x
east, y north, z up, in cm, the arena's south-west corner at the origin.

The head camera looks along the head: yaw is the compass heading of the head
(deg, clockwise seen from above, 0 = north), pitch the nose up (deg) and roll
the right ear down (deg). Its projection is equirectangular: a pixel's azimuth
(right positive) and elevation (up positive) are linear in its column and row,
``deg_per_px`` per pixel (80 px at 1.5 deg/px: a 120 deg horizontal field of
view), so a rotation of the eye by a few degrees is a translation of the
image by degrees / ``deg_per_px`` pixels. :func:`render` casts one ray per
pixel to the walls, floor or room and reads the textures bilinearly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .photographs import SCENES
from .stimuli import natural_crops, pink_noise

ROOM_LUMINANCE = 150.0  # grey level of the room above the walls, at the horizon


@dataclass(frozen=True)
class Arena:
    """A square arena: its size, wall height, and textures in grey levels 0..255.

    ``walls`` (rows, columns) runs along the perimeter, south wall (west to
    east), east, north (east to west), west (north to south), its top row at
    the top of the walls; ``floor`` (rows, columns) spans x (columns) and y
    (rows) from 0 to ``size_cm``."""

    size_cm: float
    wall_height_cm: float
    walls: np.ndarray
    floor: np.ndarray


def make_arena(size_cm: float, wall_height_cm: float, texel_cm: float,
               rng: np.random.Generator) -> Arena:
    """An arena whose four walls show crops of the project's photographs (four
    different scenes, :func:`~v1lib.sim.stimuli.natural_crops`) and whose floor
    is 1/f noise of lower contrast, drawn from ``rng``."""
    rows = max(8, int(round(wall_height_cm / texel_cm)))
    cols = max(8, int(round(size_cm / texel_cm)))
    scenes = rng.choice(list(SCENES), 4, replace=False)  # four different scenes
    walls = np.concatenate([natural_crops(1, (rows, cols), rng, pool=[str(s)])[0]
                            for s in scenes], axis=1)
    floor = pink_noise(1, (cols, cols), rng)[0]
    floor = 100.0 + 0.5 * (floor - floor.mean())  # a darker floor of half the contrast
    return Arena(float(size_cm), float(wall_height_cm), walls.astype(np.float32),
                 np.clip(floor, 0, 255).astype(np.float32))


def camera_rays(shape: tuple[int, int], deg_per_px: float) -> torch.Tensor:
    """Unit ray of each pixel (H * W, 3) in the head frame (forward, left, up),
    equirectangular: azimuth and elevation linear in column and row."""
    h, w = shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    az = torch.deg2rad((xx - (w - 1) / 2) * deg_per_px).reshape(-1)
    el = torch.deg2rad(((h - 1) / 2 - yy) * deg_per_px).reshape(-1)
    return torch.stack([torch.cos(el) * torch.cos(az), -torch.cos(el) * torch.sin(az),
                        torch.sin(el)], dim=1)


def head_axes(yaw, pitch, roll) -> torch.Tensor:
    """The head's forward, left and up axes in the world (T, 3, 3), columns in
    that order, for angles in degrees (T,)."""
    t = lambda a: torch.deg2rad(torch.as_tensor(np.asarray(a, dtype=np.float64)))
    yaw, pitch, roll = t(yaw), t(pitch), t(roll)
    zero = torch.zeros_like(yaw)
    fwd = torch.stack([torch.sin(yaw), torch.cos(yaw), zero], -1)
    left = torch.stack([-torch.cos(yaw), torch.sin(yaw), zero], -1)
    up = torch.stack([zero, zero, torch.ones_like(yaw)], -1)
    cp, sp = torch.cos(pitch)[:, None], torch.sin(pitch)[:, None]
    fwd, up = cp * fwd + sp * up, cp * up - sp * fwd  # nose up
    cr, sr = torch.cos(roll)[:, None], torch.sin(roll)[:, None]
    up, left = cr * up - sr * left, cr * left + sr * up  # right ear down
    return torch.stack([fwd, left, up], dim=-1)


def _sample(texture: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """``texture`` (rows, cols) read bilinearly at normalised coordinates in [-1, 1]."""
    grid = torch.stack([gx, gy], dim=-1).reshape(1, 1, -1, 2).float()
    out = F.grid_sample(texture[None, None], grid, mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out.reshape(gx.shape)


def _trace(arena: Arena, textures, pos: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Grey level seen along rays ``d`` (B, P, 3) from positions ``pos`` (B, 1, 3)."""
    L, Hw = arena.size_cm, arena.wall_height_cm
    px, py, pz = pos.unbind(-1)
    dx, dy, dz = d.unbind(-1)
    inf = torch.full_like(dx, float("inf"))
    tx = torch.where(dx > 0, (L - px) / dx, torch.where(dx < 0, -px / dx, inf))
    ty = torch.where(dy > 0, (L - py) / dy, torch.where(dy < 0, -py / dy, inf))
    on_x = tx < ty  # the ray meets the east or west wall first
    tw = torch.minimum(tx, ty).clamp(max=1e4)  # finite for rays straight up or down
    hx, hy = (px + tw * dx).clamp(0, L), (py + tw * dy).clamp(0, L)
    hz = pz + tw * dz
    u = torch.where(on_x, torch.where(dx > 0, L + hy, 3 * L + (L - hy)),
                    torch.where(dy > 0, 2 * L + (L - hx), hx))
    wall = _sample(textures[0], u / (2 * L) - 1, 1 - 2 * hz / Hw)
    tf = torch.where(dz < 0, -pz / dz.clamp(max=-1e-6), torch.zeros_like(dz))
    floor = _sample(textures[1], (px + tf * dx) / L * 2 - 1, (py + tf * dy) / L * 2 - 1)
    room = ROOM_LUMINANCE + 40.0 * dz
    return torch.where(hz < 0, floor, torch.where(hz > Hw, room, wall))


def render(arena: Arena, position: np.ndarray, eye_height_cm: float, yaw, pitch, roll,
           shape: tuple[int, int], deg_per_px: float, chunk: int = 256) -> np.ndarray:
    """Head-camera frames (T, H, W), float32 grey levels 0..255, seen from
    ``position`` (T, 2) cm at ``eye_height_cm`` above the floor with the head's
    ``yaw``, ``pitch`` and ``roll`` (T,) deg (module docstring)."""
    rays = camera_rays(shape, deg_per_px).float()
    textures = (torch.from_numpy(arena.walls), torch.from_numpy(arena.floor))
    T = len(position)
    out = np.empty((T, *shape), dtype=np.float32)
    with torch.no_grad():
        for s in range(0, T, chunk):
            sl = slice(s, min(s + chunk, T))
            axes = head_axes(yaw[sl], pitch[sl], roll[sl]).float()
            d = torch.einsum("pk,bjk->bpj", rays, axes)
            xy = torch.as_tensor(np.asarray(position[sl], dtype=np.float32))
            pos = torch.cat([xy, torch.full((len(xy), 1), float(eye_height_cm))], 1)[:, None]
            out[sl] = _trace(arena, textures, pos, d).clamp(0, 255).reshape(-1, *shape).numpy()
    return out
