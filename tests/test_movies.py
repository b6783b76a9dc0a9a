"""The video stimuli of v1lib.sim.movies: determinism, format, the direction
labels, and that each kind has the structure it claims (Monet's and the
gratings' orientation and motion, Trippy's slow temporal change, the cuts of
natural movies, the photographs of a pool)."""

import numpy as np
import pytest
from scipy import ndimage

from v1lib.sim import movies, photographs

SHAPE = (36, 64)
KINDS = list(movies.GENERATORS)


def angle_diff(a, b, period=360.0):
    """Absolute circular difference of angles (degrees)."""
    d = np.mod(np.asarray(a) - np.asarray(b), period)
    return np.minimum(d, period - d)


def runs(direction):
    """(start, stop, value) of each maximal run of one finite direction."""
    out, start = [], None
    for t in range(len(direction) + 1):
        same = (start is not None and t < len(direction) and direction[t] == direction[start])
        if start is not None and not same:
            out.append((start, t, float(direction[start])))
            start = None
        if start is None and t < len(direction) and np.isfinite(direction[t]):
            start = t
    return out


def orientation(frames):
    """Stripe orientation (degrees, [0, 180)) of the mean power spectrum of
    ``frames`` and its concentration (0: isotropic, 1: one orientation)."""
    x = frames.astype(float) - frames.mean(axis=(1, 2), keepdims=True)
    x *= np.outer(np.hanning(x.shape[1]), np.hanning(x.shape[2]))
    power = (np.abs(np.fft.fft2(x)) ** 2).mean(0)
    fy = np.fft.fftfreq(x.shape[1])[:, None]
    fx = np.fft.fftfreq(x.shape[2])[None, :]
    z = (power * np.exp(2j * np.arctan2(fy, fx))).sum()  # doubled angle of the wave vector
    wave = np.rad2deg(np.angle(z)) / 2
    return np.mod(wave + 90, 180), abs(z) / power.sum()


def motion(frames, lag, step_px, n_dirs=16):
    """The direction (of ``n_dirs``) in which shifting frame t by ``lag * step_px``
    pixels best predicts frame t + lag (x right, y down), and the correlations."""
    x = frames.astype(float)
    m = int(np.ceil(lag * step_px)) + 2
    corr = np.zeros(n_dirs)
    for k, a in enumerate(np.deg2rad(np.arange(n_dirs) * 360 / n_dirs)):
        for t in range(len(x) - lag):
            moved = ndimage.shift(x[t], (lag * step_px * np.sin(a), lag * step_px * np.cos(a)), order=1)
            corr[k] += np.corrcoef(moved[m:-m, m:-m].ravel(), x[t + lag][m:-m, m:-m].ravel())[0, 1]
    return np.argmax(corr) * 360 / n_dirs, corr / (len(x) - lag)


def velocity(frames, lag, fmax=0.2):
    """The translation (vx, vy) in pixels/frame, x right and y down, that best
    explains the phase of the cross-spectrum of frames ``lag`` apart (weighted
    least squares over the spatial frequencies below ``fmax`` cycles/pixel)."""
    x = frames.astype(float) - frames.mean(axis=(1, 2), keepdims=True)
    x *= np.outer(np.hanning(x.shape[1]), np.hanning(x.shape[2]))
    spec = np.fft.fft2(x)
    cross = (spec[lag:] * np.conj(spec[:-lag])).sum(0)
    fy, fx = np.meshgrid(np.fft.fftfreq(x.shape[1]), np.fft.fftfreq(x.shape[2]), indexing="ij")
    use = (np.hypot(fx, fy) < fmax) & (np.hypot(fx, fy) > 0)
    k, w, phase = np.stack([fx[use], fy[use]], 1), np.abs(cross[use]), np.angle(cross[use])
    a = np.einsum("n,ni,nj->ij", w, k, k)
    b = np.einsum("n,ni,n->i", w, k, phase)
    return -np.linalg.solve(a, b) / (2 * np.pi * lag)  # a shift s multiplies F(k) by exp(-2 pi i k.s)


@pytest.fixture(scope="module")
def monet_clip():
    return movies.monet(960, SHAPE, np.random.default_rng(5))  # 60-frame periods


@pytest.fixture(scope="module")
def grating_clip():
    return movies.grating(300, SHAPE, np.random.default_rng(6))


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_deterministic_and_well_formed(kind):
    make = lambda seed, n=60, shape=SHAPE: movies.clip(kind, n, shape, np.random.default_rng(seed))
    a, b, c = make(1), make(1), make(2)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.direction, b.direction)  # NaN where NaN
    assert not np.array_equal(a.frames, c.frames)
    assert a.kind == kind and a.frames.dtype == np.uint8 and a.frames.shape == (60, *SHAPE)
    assert a.direction.dtype == np.float32 and a.direction.shape == (60,)
    finite = a.direction[np.isfinite(a.direction)]
    assert ((finite >= 0) & (finite < 360)).all()
    assert 95 < a.frames.mean() < 160 and a.frames.std() > 25  # about mid grey, high contrast
    odd = make(3, n=17, shape=(20, 30))
    assert odd.frames.shape == (17, 20, 30) and odd.direction.shape == (17,)


@pytest.mark.parametrize("kind", KINDS)
def test_output_depends_only_on_the_arguments(kind):
    rng = np.random.default_rng(4)
    first = movies.clip(kind, 30, SHAPE, rng)
    second = movies.clip(kind, 30, SHAPE, rng)  # the generator moved on
    assert not np.array_equal(first.frames, second.frames)
    np.random.seed(0)  # the global state plays no part
    again = movies.clip(kind, 30, SHAPE, np.random.default_rng(4))
    np.testing.assert_array_equal(first.frames, again.frames)


def test_monet_directions_are_a_permutation_shown_in_the_centred_half_of_each_period(monet_clip):
    d = monet_clip.direction
    r = runs(d)
    assert len(r) == 16 and len({v for *_, v in r}) == 16
    assert sorted(v for *_, v in r) == [k * 22.5 for k in range(16)]
    assert abs(np.isfinite(d).mean() - 0.5) < 0.02
    for k, (start, stop, _) in enumerate(r):  # 60-frame periods: frames 15..44 of each
        assert (start, stop) == (60 * k + 15, 60 * k + 45)
    orders = {tuple(v for *_, v in runs(movies.monet(160, SHAPE, np.random.default_rng(s)).direction))
              for s in range(3)}
    assert len(orders) == 3  # the order is random
    eight = movies.monet(160, SHAPE, np.random.default_rng(0), n_dirs=8, ori_fraction=0.25).direction
    assert sorted(v for *_, v in runs(eight)) == [k * 45.0 for k in range(8)]
    assert abs(np.isfinite(eight).mean() - 0.25) < 0.02


def test_monet_is_oriented_orthogonal_to_its_motion_during_coherent_epochs(monet_clip):
    f, d = monet_clip.frames, monet_clip.direction
    for start, stop, theta in runs(d):
        ori, concentration = orientation(f[start:stop])
        assert angle_diff(ori, (theta + 90) % 180, 180) < 12, (theta, ori)
        assert concentration > 0.3
    _, isotropic = orientation(f[np.isnan(d)])
    assert isotropic < 0.1


def test_monet_drifts_in_its_direction_at_its_speed(monet_clip):
    f, d = monet_clip.frames, monet_clip.direction
    speed = 20.0 / (1.5 * 30.0)  # 20 deg/s at 1.5 deg/px and 30 Hz, in px/frame
    along, across = [], []
    for start, stop, theta in runs(d):
        v = velocity(f[start:stop], lag=2)
        t = np.deg2rad(theta)
        along.append(v[0] * np.cos(t) + v[1] * np.sin(t))
        across.append(-v[0] * np.sin(t) + v[1] * np.cos(t))
    along, across = np.array(along), np.array(across)
    # every epoch moves forwards; the component along the stripes is noisy (aperture problem)
    assert (along > 0.5 * speed).all() and (along < 1.5 * speed).all()
    assert abs(along.mean() / speed - 1) < 0.1 and abs(across.mean()) < 0.15 * speed
    error = np.abs(np.rad2deg(np.arctan2(across, along)))
    assert error.max() < 45 and np.median(error) < 15
    still = velocity(f[:15], lag=2)  # incoherent noise does not drift
    assert np.hypot(*still) < 0.3 * speed


def test_grating_epochs_blanks_orientation_and_motion(grating_clip):
    f, d = grating_clip.frames, grating_clip.direction
    r = runs(d)
    assert all(stop - start == 30 for start, stop, _ in r[:-1])  # 1-s epochs
    blanks = np.isnan(d)
    assert abs(blanks.mean() - 0.2) < 0.01  # 0.25-s blanks after every epoch
    assert set(np.unique(f[blanks])) <= {127, 128}
    assert {v for *_, v in r} <= {k * 22.5 for k in range(16)}
    assert f[~blanks].min() <= 2 and f[~blanks].max() >= 253  # full contrast
    step = 2.0 / 0.04 / (1.5 * 30)  # 2 Hz / 0.04 cycles/deg, in px/frame
    for start, stop, theta in r[:5]:
        ori, concentration = orientation(f[start:stop])
        assert angle_diff(ori, (theta + 90) % 180, 180) < 8 and concentration > 0.8
        best, _ = motion(f[start:stop:3], lag=1, step_px=3 * step)
        assert best == theta
    only = movies.grating(80, SHAPE, np.random.default_rng(0), directions=[90.0, 450.0 - 90])
    assert set(only.direction[np.isfinite(only.direction)]) <= {0.0, 90.0}


def test_trippy_changes_slowly():
    f = movies.trippy(300, SHAPE, np.random.default_rng(7)).frames.astype(float)
    power = (np.abs(np.fft.rfft(f - f.mean(0), axis=0)) ** 2).mean(axis=(1, 2))
    hz = np.fft.rfftfreq(300, 1 / 30)
    assert power[hz < 6].sum() > 0.85 * power.sum()  # Nyquist is 15 Hz
    fast = movies.trippy(300, SHAPE, np.random.default_rng(7), temporal_freq=6.0).frames.astype(float)
    fast_power = (np.abs(np.fft.rfft(fast - fast.mean(0), axis=0)) ** 2).mean(axis=(1, 2))
    centroid = lambda p: (hz * p).sum() / p.sum()
    assert centroid(fast_power) > centroid(power) + 2


def test_natural_movies_cut_every_one_to_three_seconds():
    n, fps = 600, 30
    c = movies.natural_movie(n, SHAPE, np.random.default_rng(8), pool="validation")
    assert np.isnan(c.direction).all()
    jumps = np.abs(np.diff(c.frames.astype(float), axis=0)).mean(axis=(1, 2))
    within = np.median(jumps)
    cuts = np.flatnonzero(jumps > 5 * within)
    assert n // (3 * fps) <= len(cuts) <= n // fps  # 20 s: 6..20 cuts
    assert np.diff(cuts).min() >= fps - 1  # shots last a second or more
    assert np.diff(np.r_[-1, cuts, n - 1]).max() <= 3 * fps + 1


def test_natural_pool_restricts_the_photographs(monkeypatch):
    asked = []
    load = photographs.load
    monkeypatch.setattr(photographs, "load", lambda names: (asked.extend(names), load(names))[1])
    movies.natural_movie(300, SHAPE, np.random.default_rng(9), pool="validation")
    assert asked and set(asked) <= set(photographs.PHOTO_POOLS["validation"])
    asked.clear()
    movies.clip("natural", 300, SHAPE, np.random.default_rng(9), pool=("camera", "moon"))
    assert set(asked) == {"skimage:camera.png", "skimage:moon.png"}
    make = lambda pool: movies.natural_movie(60, SHAPE, np.random.default_rng(1), pool=pool).frames
    np.testing.assert_array_equal(make(("camera",)), make(("camera",)))
    assert not np.array_equal(make(("camera",)), make(("moon",)))
    assert not np.array_equal(make("validation"), make("test"))
    with pytest.raises(ValueError, match="unknown photo pool"):
        make("holiday")


def test_clip_dispatches_and_names_an_unknown_kind():
    for kind, make in movies.GENERATORS.items():
        via = movies.clip(kind, 20, SHAPE, np.random.default_rng(3), fps=20.0, deg_per_px=2.0)
        direct = make(20, SHAPE, np.random.default_rng(3), fps=20.0, deg_per_px=2.0)
        np.testing.assert_array_equal(via.frames, direct.frames)
    with pytest.raises(ValueError, match="'sparse_noise'.*natural.*monet.*trippy.*grating"):
        movies.clip("sparse_noise", 20, SHAPE, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_frames"):
        movies.clip("monet", 0, SHAPE, np.random.default_rng(0))
