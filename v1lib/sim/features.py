"""The ground-truth feature bank shared by every simulated animal.

Images are filtered by quadrature pairs of Gabor filters over orientations and
spatial frequencies (in the Fourier domain, on a zero-padded canvas). From the
filter outputs come three kinds of features:

* ``simple``: half-wave rectified linear response at one of four phases;
* ``complex``: quadrature energy (phase invariant);
* ``corner``: geometric mean of the energies at two orthogonal orientations, an
  AND-like conjunction that no linear-nonlinear model explains.

All features are divisively normalised by the local energy pooled over
orientations (contrast normalisation) and by the broad same-orientation energy
around the receptive field (surround suppression).

Orientation is the angle of the preferred grating's stripes from horizontal,
degrees in [0, 180). Spatial frequency is in cycles per degree of visual angle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

FEATURE_TYPES = ("simple", "complex", "corner")
SIMPLE_PHASES = (0.0, 90.0, 180.0, 270.0)


@dataclass(frozen=True)
class FeatureBankConfig:
    n_orientations: int = 8
    sf_cpd: tuple[float, ...] = (0.03, 0.06, 0.12)
    envelope_periods: float = 0.45  # Gaussian envelope sigma in carrier periods
    pool_sigma: float = 1.0  # normalisation pool, in envelope sigmas
    surround_sigma: float = 3.0  # surround pool, in envelope sigmas
    surround_weight: float = 0.6
    pad: int = 16  # zero (mean-grey) padding around the screen, pixels


@dataclass(frozen=True)
class Feature:
    """One feature of the bank: its type and tuning."""

    type: str
    orientation: float  # degrees
    sf: float  # cycles/degree
    phase: float  # degrees (simple cells only, else nan)


class FeatureBank:
    """Computes all features of the bank for a batch of images and samples them.

    ``features`` lists the bank; ``sample_from(components(images), index, x, y)``
    returns the value of feature ``index[n]`` at screen position ``(x, y)``
    (pixels) for every image and neuron, with bilinear interpolation.
    """

    def __init__(self, shape: tuple[int, int], deg_per_px: float,
                 config: FeatureBankConfig = FeatureBankConfig()):
        self.shape, self.deg_per_px, self.config = tuple(shape), float(deg_per_px), config
        c = config
        h, w = self.shape
        self.canvas = (_fft_size(h + 2 * c.pad), _fft_size(w + 2 * c.pad))
        self.orientations = np.arange(c.n_orientations) * 180.0 / c.n_orientations
        feats = []
        for s in c.sf_cpd:
            for o in self.orientations:
                for ph in SIMPLE_PHASES:
                    feats.append(Feature("simple", float(o), float(s), ph))
        for s in c.sf_cpd:
            for o in self.orientations:
                feats.append(Feature("complex", float(o), float(s), float("nan")))
        for s in c.sf_cpd:
            for o in self.orientations[: c.n_orientations // 2]:
                feats.append(Feature("corner", float(o), float(s), float("nan")))
        self.features = tuple(feats)
        self.half_canvas = (_fft_size((h + 1) // 2 + c.pad), _fft_size((w + 1) // 2 + c.pad))
        self._gabor, self._pool, _ = self._kernels(self.canvas, self.deg_per_px)
        # the broad surround pool is computed at half resolution
        _, _, self._surround = self._kernels(self.half_canvas, 2 * self.deg_per_px)
        self._dog = self._dog_kernel()
        self._scale = torch.ones(len(c.sf_cpd))  # set by calibrate()
        self.calibrate()

    # -- construction -------------------------------------------------------
    def _kernels(self, canvas, deg_per_px):
        c = self.config
        H, W = canvas
        yy = np.fft.fftfreq(H, 1.0 / H)[:, None]  # signed pixel offsets, wrapped
        xx = np.fft.fftfreq(W, 1.0 / W)[None, :]
        yd, xd = yy * deg_per_px, xx * deg_per_px
        gabor, pool, surround = [], [], []
        for s in c.sf_cpd:
            sigma = c.envelope_periods / s  # degrees
            env = np.exp(-(xd**2 + yd**2) / (2 * sigma**2))
            for o in np.deg2rad(self.orientations):
                u = -xd * np.sin(o) + yd * np.cos(o)
                g = env * np.exp(1j * 2 * np.pi * s * u)  # even + i odd
                g = g - env * (g.sum() / env.sum())  # remove DC response
                g = g / np.sqrt((np.abs(g) ** 2).sum())
                gabor.append(g)
            for k, factor in ((pool, c.pool_sigma), (surround, c.surround_sigma)):
                sg = factor * sigma
                gk = np.exp(-(xd**2 + yd**2) / (2 * sg**2))
                k.append(gk / gk.sum())
        gabor = torch.from_numpy(np.fft.fft2(np.stack(gabor))).to(torch.complex64)
        rspec = lambda a: torch.from_numpy(np.fft.rfft2(np.stack(a))).to(torch.complex64)
        return gabor, rspec(pool), rspec(surround)

    def _dog_kernel(self, centre_px: float = 1.5, surround_px: float = 4.5) -> torch.Tensor:
        """Spectrum of a difference of Gaussians (centre minus surround, DC-free):
        the luminance centre-surround feature that is not in the bank."""
        H, W = self.canvas
        yy = np.fft.fftfreq(H, 1.0 / H)[:, None]
        xx = np.fft.fftfreq(W, 1.0 / W)[None, :]
        g = lambda s: (lambda k: k / k.sum())(np.exp(-(xx**2 + yy**2) / (2 * s**2)))
        return torch.from_numpy(np.fft.rfft2(g(centre_px) - g(surround_px))[None]).to(torch.complex64)

    def luminance(self, images: torch.Tensor) -> torch.Tensor:
        """Centre-surround luminance contrast (B, 1, H, W), in Weber units: positive
        where the centre is brighter than its surround (ON), negative where darker."""
        x = (images.float() - 127.5) / 127.5
        return self._blur(x[:, None], self._on("_dog", x.device), self.canvas, self.config.pad)

    def calibrate(self, n_images: int = 128, seed: int = 12345) -> None:
        """Fix the semi-saturation constant of each scale from reference images."""
        from .stimuli import mixed_images

        rng = np.random.default_rng(seed)
        # natural crops of every scene: the same pool whatever a dataset's split of the photographs
        imgs, _ = mixed_images(n_images, self.shape, {"natural": 0.6, "dead_leaves": 0.2,
                                                      "pink_noise": 0.2}, rng, pool=None)
        energy = self._energy(torch.from_numpy(imgs))
        S, O = len(self.config.sf_cpd), self.config.n_orientations
        e = energy.view(len(imgs), S, O, *energy.shape[-2:])
        self._scale = e.mean(dim=2).flatten(2).median(dim=2).values.median(dim=0).values
        self.__dict__.pop("_copies", None)  # copies on other devices of the old scale

    # -- computation ---------------------------------------------------------
    def _on(self, name: str, device) -> torch.Tensor:
        """The bank's tensor ``name`` on ``device``: copied there once, not per batch."""
        t = getattr(self, name)
        if t.device == torch.device(device):
            return t
        copies = self.__dict__.setdefault("_copies", {})
        if (name, str(device)) not in copies:
            copies[name, str(device)] = t.to(device)
        return copies[name, str(device)]

    def filter(self, images: torch.Tensor) -> torch.Tensor:
        """Complex Gabor responses (B, S*O, H, W): real = even, imag = odd."""
        c, (h, w), (H, W) = self.config, self.shape, self.canvas
        x = (images.float() - 127.5) / 127.5  # Weber contrast against mid grey
        canvas = x.new_zeros(len(x), H, W)
        canvas[:, c.pad : c.pad + h, c.pad : c.pad + w] = x
        spec = torch.fft.fft2(canvas)[:, None] * self._on("_gabor", x.device)[None]
        out = torch.fft.ifft2(spec)
        return out[..., c.pad : c.pad + h, c.pad : c.pad + w]

    def _blur(self, maps: torch.Tensor, kernels: torch.Tensor, canvas_shape, pad) -> torch.Tensor:
        h, w = maps.shape[-2:]
        H, W = canvas_shape
        canvas = maps.new_zeros(*maps.shape[:-2], H, W)
        canvas[..., pad : pad + h, pad : pad + w] = maps
        out = torch.fft.irfft2(torch.fft.rfft2(canvas) * kernels.to(maps.device), s=(H, W))
        return out[..., pad : pad + h, pad : pad + w]

    def _energy(self, images: torch.Tensor) -> torch.Tensor:
        z = self.filter(images)
        return z.real**2 + z.imag**2

    def components(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Even and odd filter outputs and the normalisation denominator.

        Each has shape (B, S*O, H, W), channel ``s * O + o``.
        """
        z = self.filter(images)
        # contiguous: each is read by flat index many times (a view would be copied each time)
        return z.real.contiguous(), z.imag.contiguous(), self.denominator(z)

    def denominator(self, z: torch.Tensor) -> torch.Tensor:
        """The normalisation denominator (B, S*O, H, W) of complex filter outputs
        ``z`` (:meth:`_filter`): the semi-saturation constant of each scale, the
        local energy over orientations and the same-orientation surround."""
        c = self.config
        S, O = len(c.sf_cpd), c.n_orientations
        B, _, h, w = z.shape
        energy = (z.real**2 + z.imag**2).view(B, S, O, h, w)
        scale = self._on("_scale", energy.device).view(1, S, 1, 1, 1)
        pooled = self._blur(energy.mean(dim=2), self._on("_pool", energy.device), self.canvas, c.pad)
        small = F.avg_pool2d(energy.view(B, S * O, h, w), 2, ceil_mode=True)
        surround = self._blur(small.view(B, S, O, *small.shape[-2:]),
                              self._on("_surround", energy.device)[:, None], self.half_canvas,
                              c.pad // 2)
        surround = F.interpolate(surround.view(B, S * O, *small.shape[-2:]), size=(h, w),
                                 mode="bilinear", align_corners=False).view(B, S, O, h, w)
        denom = scale + pooled[:, :, None] + c.surround_weight * surround
        return denom.view(B, S * O, h, w)

    def dense(self, images: torch.Tensor) -> torch.Tensor:
        """Every feature of the bank at every pixel: (B, len(features), H, W).

        The same values as :meth:`_nonlinear` at every pixel, each type computed
        only for its own features (the amplitudes once per filter channel)."""
        zr, zi, d = self.components(images)
        chan, orth, kind, phase = self._codes(torch.arange(len(self.features)))  # on the CPU
        on = lambda t: t.to(zr.device)
        amp = _amplitude(zr, zi, d)
        out = zr.new_empty(zr.shape[0], len(self.features), *zr.shape[-2:])
        simple, complex_, corner = (on(torch.nonzero(kind == k)[:, 0]) for k in range(3))
        c = on(chan)[simple]
        out[:, simple] = _simple(on(phase)[simple].view(1, -1, 1, 1), zr[:, c], zi[:, c], d[:, c])
        out[:, complex_] = amp[:, on(chan)[complex_]]
        out[:, corner] = _corner(amp[:, on(chan)[corner]], amp[:, on(orth)[corner]])
        return out

    def _codes(self, index: torch.Tensor):
        """Channel, orthogonal channel, type code and phase of features ``index``."""
        O = self.config.n_orientations
        f = [self.features[i] for i in index.tolist()]
        s_idx = [self.config.sf_cpd.index(x.sf) for x in f]
        o_idx = [int(round(x.orientation / (180.0 / O))) % O for x in f]
        chan = torch.tensor([s * O + o for s, o in zip(s_idx, o_idx)])
        orth = torch.tensor([s * O + (o + O // 2) % O for s, o in zip(s_idx, o_idx)])
        kind = torch.tensor([FEATURE_TYPES.index(x.type) for x in f])
        phase = torch.tensor([np.deg2rad(x.phase) if x.type == "simple" else 0.0 for x in f],
                             dtype=torch.float32)
        return chan, orth, kind, phase

    @staticmethod
    def _nonlinear(kind, phase, zr, zi, d, zr2, zi2, d2) -> torch.Tensor:
        amp = _amplitude(zr, zi, d)
        corner = _corner(amp, _amplitude(zr2, zi2, d2))
        return torch.where(kind == 0, _simple(phase, zr, zi, d),
                           torch.where(kind == 1, amp, corner))

    def sample_from(self, components, index, x, y, rows=None) -> torch.Tensor:
        """Feature ``index[n]`` at ``(x[q, n], y[q, n])`` (pixels) for each query q,
        from the :meth:`components` of a batch of images.

        Query q reads image ``rows[q]`` (default: query q reads image q), so that
        repeated presentations of one image at different eye positions share the
        filtering. ``x``, ``y`` are (Q, N) or (N,); positions off the screen
        read grey: zero (:func:`on_screen`). Filter outputs and normalisation pools are
        interpolated bilinearly, the nonlinearity is applied at the point.
        Returns (Q, N).
        """
        zr, zi, d = components
        B, C, h, w = zr.shape
        rows = torch.arange(B) if rows is None else rows
        Q = len(rows)
        rows = rows.to(zr.device)
        chan, orth, kind, phase = self._codes(index)
        chan, orth, kind, phase = (t.to(zr.device) for t in (chan, orth, kind, phase))
        x = x.expand(Q, -1) if x.dim() == 1 else x
        y = y.expand(Q, -1) if y.dim() == 1 else y
        # the corners and their weights are found once and read in all six maps
        corners = _corners(x, y, h, w)
        at_chan = bilinear_many((zr, zi, d), chan, rows, corners)
        at_orth = bilinear_many((zr, zi, d), orth, rows, corners)
        value = self._nonlinear(kind, phase, *at_chan, *at_orth)
        return value * on_screen(x, y, (h, w))


def _simple(phase, zr, zi, d) -> torch.Tensor:
    """A simple cell: the half-rectified filter output at ``phase``, normalised."""
    return torch.relu(torch.cos(phase) * zr + torch.sin(phase) * zi) * torch.rsqrt(d)


def _amplitude(zr, zi, d) -> torch.Tensor:
    """A complex cell: the normalised amplitude of the quadrature pair."""
    return torch.sqrt((zr**2 + zi**2) / d)


def _corner(amp, amp_orthogonal) -> torch.Tensor:
    """A corner unit: the geometric mean of two orthogonal amplitudes (an AND)."""
    return torch.sqrt(amp * amp_orthogonal)


def _corners(x: torch.Tensor, y: torch.Tensor, h: int, w: int):
    """Bilinear weights and flat offsets of the four pixels around each
    ``(x, y)`` on an ``h`` x ``w`` map; positions off the map read its edge."""
    x, y = x.clamp(0, w - 1), y.clamp(0, h - 1)
    x0, y0 = x.floor().long().clamp(max=w - 2), y.floor().long().clamp(max=h - 2)
    fx, fy = x - x0, y - y0
    weights = ((1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx)
    offsets = (y0 * w + x0, y0 * w + x0 + 1, (y0 + 1) * w + x0, (y0 + 1) * w + x0 + 1)
    return weights, offsets


def bilinear_many(maps: tuple[torch.Tensor, ...], channels: torch.Tensor, rows: torch.Tensor,
                  corners) -> list[torch.Tensor]:
    """:func:`bilinear` in several maps of one shape at the same :func:`_corners`."""
    B, C, h, w = maps[0].shape
    weights, offsets = corners
    base = rows.view(-1, 1) * (C * h * w) + channels.view(1, -1) * (h * w)
    index = [(base + off).view(-1) for off in offsets]
    shape = weights[0].shape
    flats = [m.reshape(-1) for m in maps]  # index them directly: no copy of a map per query
    # index_select: the same values as flat[i], read some 3 times faster on a CPU
    return [sum(wt * flat.index_select(0, i).view(shape) for wt, i in zip(weights, index))
            for flat in flats]


def bilinear(maps: torch.Tensor, channels: torch.Tensor, rows: torch.Tensor, x: torch.Tensor,
             y: torch.Tensor) -> torch.Tensor:
    """Channel ``channels[n]`` of map ``rows[q]`` (of ``maps``, (B, C, h, w)) at
    ``(x[q, n], y[q, n])`` pixels, bilinearly interpolated; (Q, N). Positions off
    the map read its edge (see :func:`on_screen`)."""
    h, w = maps.shape[-2:]
    return bilinear_many((maps,), channels, rows, _corners(x, y, h, w))[0]


def on_screen(x: torch.Tensor, y: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """1 on the screen, fading linearly to 0 over the pixel beyond each edge.

    A feature read off the screen sees the monitor's grey surround, which drives
    no feature of the bank: multiply a feature's value by this weight."""
    h, w = shape
    beyond = lambda v, n: torch.relu(-v) + torch.relu(v - (n - 1))
    return (1 - beyond(x, w)).clamp(min=0) * (1 - beyond(y, h)).clamp(min=0)


def _fft_size(n: int) -> int:
    """Smallest size >= n whose prime factors are 2, 3 and 5."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1
