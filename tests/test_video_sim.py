"""The in-silico video experiment (v1lib.sim.video, temporal, tuning_truth and
the frame-rate behaviour): schema, determinism, ground truth as the
expectation of the responses, the temporal mechanisms, the tuning truth, the
behaviour and its gain's time course, the photographs of each tier, config
errors and the motion labels.

One tiny experiment is simulated once per session; while it runs, the clips
made, the scenes their photographs come from and the neurons built are
recorded (pass-through wrappers, the output is unchanged)."""

import hashlib
import json
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import xarray as xr

from v1lib.data.schemas import validate
from v1lib.data.video import STIMULUS_TYPES
from v1lib.sim import movies, photographs, video
from v1lib.sim.behavior import lowpass, simulate_behavior_frames
from v1lib.sim.photographs import SHARED_SCENES, training_parts
from v1lib.sim.temporal import VideoNeurons
from v1lib.sim.tuning_truth import drifting_grating, grating_tuning, tuning_curves
from v1lib.sim.video import SIMULATOR_VERSION, VideoConfig, simulate_scan, simulate_video

SEED = 5
TINY_VIDEO = {
    "n_animals": 2, "frames": 90, "test_repeats": 3,
    "clips": {"natural": [3, 1, 1], "monet": [2, 1, 1], "trippy": [1, 0, 1], "grating": [0, 0, 1]},
    "population": {"n_neurons": 120},
    "features": {"sf_cpd": [0.06]},  # one scale: half the cost (several: test_tuning_truth_*)
}


@dataclass
class Run:
    config: VideoConfig
    scans: dict  # name -> Dataset, in animal order
    clips: dict  # sha1 of a clip's frames -> (kind, pool, scenes drawn)
    neurons: list  # the VideoNeurons of each animal, as video.neurons built them


def _digest(frames: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(frames).tobytes()).hexdigest()


@pytest.fixture(scope="session")
def run() -> Run:
    cfg = VideoConfig.from_dict(TINY_VIDEO)
    made, built, drawn = {}, [], []
    make_clip, scene_photos, make_neurons = movies.clip, photographs.scene_photographs, video.neurons

    def recording_clip(kind, *args, **kw):
        drawn.clear()
        c = make_clip(kind, *args, **kw)
        made[_digest(c.frames)] = (kind, kw.get("pool"), tuple(drawn))
        return c

    def recording_scenes(scenes):
        drawn.extend(scenes)
        return scene_photos(scenes)

    def recording_neurons(*args):
        vn = make_neurons(*args)
        built.append(vn)
        return vn

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(movies, "clip", recording_clip)
        mp.setattr(photographs, "scene_photographs", recording_scenes)
        mp.setattr(video, "neurons", recording_neurons)
        scans = simulate_video(cfg, SEED, show_progress=False)
    return Run(cfg, scans, made, built)


def first(run: Run) -> xr.Dataset:
    return next(iter(run.scans.values()))


def flat(ds: xr.Dataset, var: str) -> np.ndarray:
    """(clip * time, ...) in presentation order: the session's continuous time."""
    v = ds[var].values
    return v.reshape(-1, *v.shape[2:])


def angle_diff(a, b, period=360.0):
    d = np.mod(np.asarray(a) - np.asarray(b), period)
    return np.minimum(d, period - d)


# -- 1. schema, dims, coordinates, provenance -------------------------------------------------------

def test_scans_follow_the_video_schema(run):
    c = run.config
    assert list(run.scans) == video.scan_names(c, SEED)
    n_shown = sum(tr + va + te * c.test_repeats for tr, va, te in c.clips.values())
    for name, ds in run.scans.items():
        validate(ds, source=name)
        validate(ds, source=name, schema="video")
        assert ds.attrs["schema"] == "video"
        assert dict(ds.sizes) == {"clip": n_shown, "time": c.frames, "y": c.height, "x": c.width,
                                  "neuron": c.population.n_neurons, "behavior_var": 3, "eye_axis": 2}
        assert ds.responses.dims == ("clip", "time", "neuron")
        assert ds.videos.dtype == np.uint8
        np.testing.assert_allclose(ds.time.values, np.arange(c.frames) / c.fps)
        assert ds.time.attrs["units"] == "s"
        assert (ds.animal.values == name).all()
        assert (ds.unit_id.values == np.arange(c.population.n_neurons)).all()
        assert ds.attrs["frame_rate_hz"] == c.fps
        assert ds.attrs["sim_seed"] == SEED and ds.attrs["sim_version"] == SIMULATOR_VERSION
        assert VideoConfig.from_dict(json.loads(ds.attrs["sim_config"])) == c
        assert ds.attrs["stimulus_types"] == "natural,monet,trippy,grating"
        for var in ("responses", "behavior", "pupil_center", "gt_rate", "gt_observable_rate",
                    "gt_stimulus_rate", "gt_eye_shift", "gt_state"):
            assert np.isfinite(ds[var].values).all(), var


def test_tiers_stimulus_types_and_repeats(run):
    c = run.config
    for ds in run.scans.values():
        tier, cid, kind = ds.tier.values, ds.clip_id.values, ds.stimulus_type.values
        assert set(kind) <= set(STIMULUS_TYPES)
        for i, t in enumerate(("train", "validation", "test")):
            reps = c.test_repeats if t == "test" else 1
            assert (tier == t).sum() == sum(n[i] for n in c.clips.values()) * reps, t
        for k, (tr, va, te) in c.clips.items():
            assert (kind == k).sum() == tr + va + te * c.test_repeats, k
        ids, counts = np.unique(cid, return_counts=True)
        assert len(ids) == sum(sum(n) for n in c.clips.values())
        for u, n in zip(ids, counts):
            shown = np.flatnonzero(cid == u)
            assert len(set(tier[shown])) == 1 and len(set(kind[shown])) == 1
            assert n == (c.test_repeats if tier[shown[0]] == "test" else 1), (u, tier[shown[0]])
            # repeats show the same frames; the responses (noise, eye, behaviour) differ
            for p in shown[1:]:
                assert np.array_equal(ds.videos.values[p], ds.videos.values[shown[0]])
                assert not np.array_equal(ds.responses.values[p], ds.responses.values[shown[0]])
        # the test repeats are interleaved with the other clips, not shown in one block
        pos = np.flatnonzero(tier == "test")
        assert pos.max() - pos.min() + 1 > len(pos)


# -- 2. determinism --------------------------------------------------------------------------------

@pytest.mark.slow  # a scan again (as in test_sim)
def test_simulate_scan_reproduces_simulate_video(run):
    """Same config and seed, same scan; simulate_scan(cfg, seed, i) is the
    i-th scan of simulate_video."""
    names = list(run.scans)
    again = simulate_scan(run.config, SEED, 1, show_progress=False)
    xr.testing.assert_identical(again, run.scans[names[1]])


@pytest.mark.slow
def test_other_seed_other_data(run):
    a = first(run)
    b = simulate_scan(run.config, SEED + 1, 0, show_progress=False)
    for var in ("responses", "behavior", "pupil_center", "gt_rf_x", "gt_latency_frames"):
        assert not np.array_equal(a[var].values, b[var].values), var
    assert not np.array_equal(a.clip_id.values, b.clip_id.values)
    nat = lambda ds: ds.videos.values[ds.stimulus_type.values == "natural"]
    assert not np.array_equal(nat(a), nat(b))


def test_scan_index_is_checked(run):
    with pytest.raises(ValueError, match="out of range"):
        simulate_scan(run.config, SEED, run.config.n_animals, show_progress=False)


# -- 3. the ground truth is the expectation --------------------------------------------------------

def test_responses_average_to_gt_rate(run):
    for ds in run.scans.values():
        r, g = flat(ds, "responses"), flat(ds, "gt_rate")
        assert (r >= 0).all() and (g > 0).all()
        assert abs(r.mean() / g.mean() - 1) < 0.05
        mr, mg = r.mean(0), g.mean(0)
        assert np.corrcoef(mr, mg)[0, 1] > 0.97
        assert np.corrcoef(np.log(mr + 1e-3), np.log(mg + 1e-3))[0, 1] > 0.95
        # sparse: the calcium smear ends after five time constants, so a neuron
        # without events for that long is exactly silent, as deconvolved traces are
        assert (r == 0).mean() > 0.2
        assert (r < 0.05 * mr).mean() > 0.3
        # heavy tailed, like deconvolved calcium
        pos = r[r > 0]
        assert np.quantile(pos, 0.999) > 8 * np.median(pos)


def test_state_gain_separates_rate_from_observable(run):
    """gt_rate = gt_observable_rate x the latent state's gain: the log ratio is
    the state times each neuron's loading (up to the calcium smear, 2 frames,
    against the state's 20 s)."""
    for ds in run.scans.values():
        ratio = np.log(flat(ds, "gt_rate") / flat(ds, "gt_observable_rate"))
        state, loading = flat(ds, "gt_state"), ds.gt_state_loading.values
        expected = np.clip(state[:, None] * loading[None], -2.5, 2.5)
        assert np.quantile(np.abs(ratio - expected), 0.99) < 0.06
        big = np.abs(loading) > 0.15
        assert big.sum() > 10
        corr = np.array([np.corrcoef(ratio[:, n], state)[0, 1] for n in np.flatnonzero(big)])
        assert (corr * np.sign(loading[big]) > 0.95).all()


# -- 4. temporal mechanisms -------------------------------------------------------------------------

def test_neurons_carry_the_scans_truth(run):
    """video.neurons(cfg, seed, i) is what the scan's truth describes."""
    assert len(run.neurons) == run.config.n_animals
    for vn, ds in zip(run.neurons, run.scans.values()):
        assert isinstance(vn, VideoNeurons)
        assert (vn.temporal_type == ds.gt_temporal_type.values).all()
        assert (vn.latency == ds.gt_latency_frames.values).all()
        assert set(vn.temporal_type) == {"sustained", "transient", "direction"}
        # only simple and complex units are direction selective
        assert set(ds.gt_feature_type.values[vn.temporal_type == "direction"]) <= {"simple", "complex"}
        lo, hi = run.config.temporal.latency_frames
        assert set(vn.latency) == set(range(lo, hi + 1))


def test_direction_units_are_direction_selective(run):
    for ds in run.scans.values():
        tt, dsi = ds.gt_temporal_type.values, ds.gt_dsi.values
        assert ((dsi >= 0) & (dsi <= 1)).all()
        ds_units, others = dsi[tt == "direction"], dsi[tt != "direction"]
        assert np.median(ds_units) > 0.4
        assert np.median(ds_units) > 10 * np.median(others)
        assert np.quantile(others, 0.9) < np.quantile(ds_units, 0.2)


@pytest.fixture(scope="module")
def flash(run):
    """A grey screen (20 frames) then one natural frame held for 40 frames:
    the drive and rates (T, N) of the first animal's neurons."""
    c, vn = run.config, run.neurons[0]
    still = movies.clip("natural", 1, (c.height, c.width), np.random.default_rng(0)).frames
    frames = np.concatenate([np.full((20, c.height, c.width), 128, np.uint8), np.repeat(still, 40, 0)])
    d = vn.drive(frames)
    with torch.no_grad():
        r = vn.pop.output(torch.from_numpy(d)).numpy()
    return vn, d, r


def test_transient_units_ignore_a_static_pattern(flash):
    vn, d, r = flash
    tt = vn.temporal_type
    before = r[19]
    onset = np.abs(r[20:35] - before).max(0)  # the response to the flash
    held = np.abs(r[45:] - before).mean(0)  # 25 frames later, the pattern still on screen
    react = onset > 1e-3 * vn.pop.amplitude
    share = held / np.maximum(onset, 1e-12)
    transient, sustained = (tt == "transient") & react, (tt == "sustained") & react
    assert transient.sum() > 10 and sustained.sum() > 10
    assert np.median(share[sustained]) > 0.5
    assert share[transient].max() < 0.01  # the biphasic kernel has no gain at 0 Hz
    # a transient unit's drive returns to exactly what grey gives it
    assert np.abs(d[45:, tt == "transient"] - d[19, tt == "transient"]).max() < 1e-4
    assert np.median(np.abs(d[45:, sustained] - d[19, sustained]).max(0)) > 0.3


def test_flash_onset_follows_latency(flash):
    """The kernels have no weight on the current frame (tap 0), so every unit's
    drive leaves its grey value exactly 1 + latency frames after the flash."""
    vn, d, _ = flash
    assert np.abs(d[15:20] - d[19]).max() < 1e-5  # settled on grey before the flash
    dev = np.abs(d[15:] - d[19])
    seen = dev.max(0) > 1e-3
    assert seen.mean() > 0.9
    onset = 15 + np.argmax(dev > 1e-4 * dev.max(0), axis=0)
    assert (onset[seen] == 21 + vn.latency[seen]).all()
    assert len(set(vn.latency[seen])) == 3


def test_delay_shifts_each_neuron_by_its_latency(run):
    vn = run.neurons[0]
    T, n = 30, len(vn.latency)
    drive = np.random.default_rng(1).standard_normal((T, n)).astype(np.float32)
    grey = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    out = vn._delay(drive, grey)
    assert out.shape == drive.shape and out.dtype == drive.dtype
    for i, lag in enumerate(vn.latency):
        assert (out[:lag, i] == grey[i]).all()
        assert np.array_equal(out[lag:, i], drive[: T - lag, i])


# -- 5. tuning truth ---------------------------------------------------------------------------------

def test_grating_direction_is_orthogonal_to_orientation(run):
    """Where the preferred direction is defined (DSI > 0.1) the motion runs
    across the stripes: (direction + 90) mod 180 is the orientation."""
    for ds in run.scans.values():
        ft, tt = ds.gt_feature_type.values, ds.gt_temporal_type.values
        osi, dsi = ds.gt_osi.values, ds.gt_dsi.values
        diff = angle_diff(ds.gt_direction.values + 90, ds.gt_orientation.values, 180)
        oriented = np.isin(ft, ("simple", "complex")) & (osi > 0.5)
        assert oriented.mean() > 0.5
        sel = oriented & (dsi > 0.1)
        assert sel.sum() >= 10
        assert (diff[sel] < 25).mean() > 0.9
        assert np.median(diff[oriented & (tt == "direction")]) < 10
        # the ON/OFF luminance units have no orientation
        lum = ft == "luminance"
        assert np.isnan(ds.gt_orientation.values[lum]).all()
        assert (osi[lum] < 0.2).all()


def test_ds_units_prefer_their_direction_to_the_opposite(run):
    """A grating drifting in gt_direction, at the unit's frequency, drives a
    direction-selective unit more than the same grating drifting back."""
    c, vn, ds = run.config, run.neurons[0], first(run)
    units = np.flatnonzero(ds.gt_temporal_type.values == "direction")
    units = units[np.argsort(ds.gt_dsi.values[units])][:: max(1, len(units) // 6)]
    assert len(units) >= 6
    grey = np.full((16, c.height, c.width), 128, np.uint8)
    ratio = []
    for n in units:
        th, sf = float(ds.gt_direction[n]), float(ds.gt_sf[n])
        g = [drifting_grating(t, sf, (c.height, c.width), c.deg_per_px, 24, c.fps) for t in (th, th + 180)]
        with torch.no_grad():
            r = vn.pop.output(torch.from_numpy(vn.drive(np.concatenate([g[0], grey, g[1]])))).numpy()
        ratio.append(r[9:24, n].mean() / r[49:64, n].mean())
    ratio = np.array(ratio)
    assert (ratio > 1.2).all(), ratio.round(2)
    assert np.median(ratio) > 2


class GratingReader:
    """Stands in for :class:`VideoNeurons` in tuning_truth: recognises which of
    the 16 drifting gratings of each spatial frequency it is shown and returns
    designed responses, with a large onset transient in the first frames that
    the tuning must leave out."""

    SHAPE, DPP, FPS, SF, N = (36, 64), 1.5, 30.0, (0.03, 0.12), 4

    def __init__(self):
        self.pop = self
        self.bank = self
        self.config = SimpleNamespace(sf_cpd=self.SF)
        self.shape = self.SHAPE
        self.known = {_digest(drifting_grating(d, sf, self.SHAPE, self.DPP, 24, self.FPS)): (d, sf)
                      for d in np.arange(16) * 22.5 for sf in self.SF}

    @staticmethod
    def rates(direction, sf: float) -> np.ndarray:
        vm = lambda d, k=2.0: np.exp(k * (np.cos(np.deg2rad(d)) - 1))
        return np.array([
            vm(direction - 60) * (1.0 if sf > 0.06 else 0.2),  # direction selective, high sf
            vm(2 * (direction - 100)) * (1.0 if sf < 0.06 else 0.3),  # orientation, low sf
            np.full_like(direction, 0.5, dtype=float),  # untuned
            vm(direction - 200, 4.0) * (0.4 if sf > 0.06 else 0.1),  # direction, weaker
        ])

    def drive(self, frames: np.ndarray) -> np.ndarray:
        out = np.tile(self.rates(*self.known[_digest(frames)]), (len(frames), 1)).astype(np.float32)
        out[:8] = 100.0  # onset
        return out

    def output(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def grey_drive(self) -> np.ndarray:
        return np.zeros(self.N, dtype=np.float32)


def test_tuning_truth_reads_designed_tuning_curves():
    """Each neuron read at its best frequency; vector-sum direction, DSI, OSI and
    half-width of known curves (von Mises: DSI = I1/I0, OSI = I2/I0)."""
    from scipy.special import iv

    vn = GratingReader()
    dirs, curves = tuning_curves(vn, vn.FPS, vn.DPP)
    assert np.array_equal(dirs, np.arange(16) * 22.5)
    expected = np.stack([GratingReader.rates(dirs, 0.12)[0], GratingReader.rates(dirs, 0.03)[1],
                         GratingReader.rates(dirs, 0.12)[2], GratingReader.rates(dirs, 0.12)[3]], 1)
    np.testing.assert_allclose(curves, expected, rtol=1e-5)
    t = grating_tuning(vn, vn.FPS, vn.DPP)
    assert angle_diff(t["direction"][0], 60) < 0.1 and angle_diff(t["direction"][3], 200) < 0.1
    np.testing.assert_allclose(t["dsi"][[0, 3]], [iv(1, 2) / iv(0, 2), iv(1, 4) / iv(0, 4)], atol=1e-3)
    np.testing.assert_allclose(t["osi"][[0, 1]], [iv(2, 2) / iv(0, 2), iv(1, 2) / iv(0, 2)], atol=1e-3)
    assert t["dsi"][1] < 1e-3 and t["dsi"][2] < 1e-6 and t["osi"][2] < 1e-6
    assert t["tuning_width"][1] == 22.5 and t["tuning_width"][2] == 90.0


def test_drifting_grating_moves_across_its_stripes():
    """drifting_grating(theta): motion along theta (0 right, 90 down), stripes
    at theta + 90, the requested frequency, high contrast."""
    for theta in np.arange(16) * 22.5:
        g = drifting_grating(theta, 0.04, (36, 64), 1.5, 12, 30.0)
        assert g.shape == (12, 36, 64) and g.dtype == np.uint8
        assert angle_diff(flow(g), theta) < 2, theta
        v = g[0].astype(np.float64) - 127.5
        gy, gx = np.gradient(v)
        # the brightness changes across the stripes, along the motion
        across = np.rad2deg(np.arctan2((gx * gy).sum() * 2, (gx**2 - gy**2).sum())) / 2
        assert angle_diff(across, theta, 180) < 3, theta
        cycles_per_deg = np.sqrt((gx**2 + gy**2).mean() / (v**2).mean()) / (2 * np.pi) / 1.5
        assert abs(cycles_per_deg / 0.04 - 1) < 0.1
        assert 115 < np.abs(v).max() <= 128  # contrast 0.95 about mid grey


# -- 6. behaviour at the frame rate ----------------------------------------------------------------

@pytest.fixture(scope="module")
def long_session():
    fps = 30.0
    return fps, simulate_behavior_frames(20000, fps, np.random.default_rng(7))


def bouts(moving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths (frames) of the complete running and still bouts."""
    edges = np.flatnonzero(np.diff(moving.astype(int))) + 1
    lengths = np.diff(edges)
    state = moving[edges[:-1]]
    return lengths[state], lengths[~state]


def test_behavior_frames_format(long_session):
    fps, b = long_session
    n = 20000
    for v in (b.running, b.pupil, b.dpupil, b.state):
        assert v.shape == (n,) and v.dtype == np.float32 and np.isfinite(v).all()
    assert b.pupil_center.shape == (n, 2) and b.pupil_center.dtype == np.float32
    assert (b.running >= 0).all() and (b.pupil > 0).all()
    np.testing.assert_allclose(b.dpupil, np.gradient(b.pupil.astype(np.float64)), atol=1e-4)
    again = simulate_behavior_frames(n, fps, np.random.default_rng(7))
    assert np.array_equal(again.pupil_center, b.pupil_center)
    assert not np.array_equal(simulate_behavior_frames(n, fps, np.random.default_rng(8)).running,
                              b.running)


def test_behavior_frames_are_smooth_with_running_bouts(long_session):
    fps, b = long_session
    for v in (b.running, b.pupil, *b.pupil_center.T):
        assert np.median(np.abs(np.diff(v))) < 0.05 * v.std()
    moving = b.running > 5.0
    assert 0.1 < moving.mean() < 0.6
    run_bouts, still_bouts = bouts(moving)
    assert len(run_bouts) >= 8
    assert np.median(run_bouts) > 2 * fps and np.median(still_bouts) > 2 * fps
    # onsets are smooth: no frame adds more than a fifth of the running speed
    assert np.abs(np.diff(b.running)).max() < 0.2 * b.running[moving].mean()
    # the pupil dilates with running, after it
    assert np.corrcoef(b.pupil, b.running)[0, 1] > 0.3
    lag = int(fps)
    assert np.corrcoef(b.pupil[lag:], b.running[:-lag])[0, 1] > np.corrcoef(b.pupil, b.running)[0, 1]
    # the latent state is slow and of unit variance
    assert np.corrcoef(b.state[1:], b.state[:-1])[0, 1] > 0.99
    assert 0.3 < b.state.var() < 2.0


def test_saccades_are_occasional_jumps(long_session):
    fps, b = long_session
    step = np.hypot(*np.diff(b.pupil_center, axis=0).T)
    jump = step > 10 * np.median(step)
    rate = jump.mean() * fps  # per second
    assert 0.2 < rate < 1.5
    moving = b.running[1:] > 5.0
    assert jump[moving].mean() > 1.5 * jump[~moving].mean()  # more saccades while running
    assert np.median(step[jump]) > 1.0  # px: a jump, not drift
    # the eye stays near its mean position
    assert (np.abs(b.pupil_center - b.pupil_center.mean(0)) < 30).all()


def test_behavior_time_constants_are_in_seconds():
    """Doubling the frame rate leaves bouts and the pupil's pace, in seconds, alone."""
    out = {}
    for fps in (30.0, 60.0):
        b = simulate_behavior_frames(int(2000 * fps), fps, np.random.default_rng(3))
        run_bouts, still_bouts = bouts(b.running > 5.0)
        lag = int(0.5 * fps)
        out[fps] = (np.mean(run_bouts) / fps, np.mean(still_bouts) / fps,
                    np.corrcoef(b.pupil[lag:], b.pupil[:-lag])[0, 1])
    (r30, s30, a30), (r60, s60, a60) = out[30.0], out[60.0]
    assert 0.6 < r60 / r30 < 1.6 and 0.6 < s60 / s30 < 1.6
    assert abs(a60 - a30) < 0.02


def test_behavior_in_a_scan_is_one_continuous_session(run):
    for ds in run.scans.values():
        b, p = ds.behavior.values, ds.pupil_center.values
        for v in (b[..., 0], p[..., 0], p[..., 1]):  # pupil size, eye position
            within = np.median(np.abs(np.diff(v, axis=1)))
            across = np.median(np.abs(v[1:, 0] - v[:-1, -1]))  # from one clip to the next
            assert within < 0.1 * v.std()
            assert across < 0.1 * v.std()
        np.testing.assert_allclose(ds.behavior.sel(behavior_var="dpupil").values.ravel(),
                                   np.gradient(b[..., 0].ravel().astype(np.float64)), atol=1e-4)


# -- 7. behaviour's gain acts with a time course ---------------------------------------------------

def test_gain_follows_low_passed_running(run):
    c = run.config
    lp_corr, raw_corr = [], []
    for ds in run.scans.values():
        running = flat(ds, "behavior")[:, 2].astype(np.float64)
        if running.std() < 1.0:  # this animal never ran
            continue
        z = (running - running.mean()) / running.std()
        slow = lowpass(z, c.gain_tau_s * c.fps)
        gain = np.log(flat(ds, "gt_observable_rate") / flat(ds, "gt_stimulus_rate"))
        w = ds.gt_behavior_weights.sel(behavior_var="running").values
        for n in np.flatnonzero(w > 0.3):
            lp_corr.append(np.corrcoef(gain[:, n], slow)[0, 1])
            raw_corr.append(np.corrcoef(gain[:, n], z)[0, 1])
    lp_corr, raw_corr = np.array(lp_corr), np.array(raw_corr)
    assert len(lp_corr) >= 20, "no animal of the fixture runs enough: choose another SEED"
    assert np.median(lp_corr) > 0.4
    assert (lp_corr > raw_corr).mean() > 0.75
    assert np.median(lp_corr - raw_corr) > 0.02


# -- 8. the photographs of each tier ---------------------------------------------------------------

def test_natural_clips_come_from_their_tiers_photographs(run):
    """Training clips from the animal's own part of the training photographs
    (no two animals share one), validation and test clips from the shared scenes."""
    c = run.config
    parts = training_parts(c.photo_parts)
    own_parts = []
    for a, ds in enumerate(run.scans.values()):
        part = ds.attrs["photo_part"]
        assert part == (c.first_photo_part + a) % c.photo_parts
        own_parts.append(set(parts[part]))
        pools = {"train": set(parts[part]), **{t: set(SHARED_SCENES[t]) for t in ("validation", "test")}}
        seen = set()
        for p in np.flatnonzero(ds.stimulus_type.values == "natural"):
            kind, pool, scenes = run.clips[_digest(ds.videos.values[p])]
            tier = str(ds.tier.values[p])
            assert kind == "natural" and scenes
            assert set(scenes) <= pools[tier], (tier, scenes)
            assert pool == (parts[part] if tier == "train" else tier)
            seen.add(tier)
        assert seen == {"train", "validation", "test"}
    assert not set.intersection(*own_parts)


# -- 9. config errors --------------------------------------------------------------------------------

def test_defaults_and_the_fixture_config_are_valid():
    assert VideoConfig.from_dict({}) == VideoConfig()
    VideoConfig().check()
    assert VideoConfig.from_dict(TINY_VIDEO).to_dict()["clips"] == TINY_VIDEO["clips"]


@pytest.mark.parametrize("options, match", [
    ({"n_animal": 2}, "n_animal"),
    ({"population": {"neurons": 5}}, "neurons"),
    ({"frames": "many"}, "frames"),
    ({"fps": "fast"}, "fps"),
    ({"clips": [1, 2, 3]}, "clips"),
    ({"frames": 0}, "frames"),
    ({"clips": {"natural": [1, 1, 1], "cats": [1, 1, 1]}}, "cats"),
    ({"clips": {"natural": [1, 1]}}, "natural"),
    ({"clips": {"natural": [1, -1, 1]}}, "natural"),
    ({"clips": {"natural": [1, 1.5, 1]}}, "natural"),
    ({"clips": {"natural": [2, 1, 0], "monet": [1, 0, 0]}}, "no test clips"),
    ({"clips": {"natural": [0, 1, 1]}}, "no train clips"),
    ({"test_repeats": 1}, "test_repeats"),
    ({"n_animals": 5, "photo_parts": 4}, "photo_parts"),
    ({"first_photo_part": 4}, "first_photo_part"),
    # time constants, rates and scales: a division by zero or a numpy error at the end
    # of the simulation before, or (kernel_frames) a silently blank world
    ({"gain_tau_s": 0.0}, "gain_tau_s"),
    ({"calcium_tau_frames": -1.0}, "calcium_tau_frames"),
    ({"event_rate": 0.0}, "event_rate"),
    ({"fps": 0.0}, "fps"),
    ({"deg_per_px": -1.5}, "deg_per_px"),
    ({"temporal": {"tau_ms": 0.0}}, "tau_ms"),
    ({"temporal": {"kernel_frames": 2}}, "kernel_frames"),
    ({"temporal": {"latency_frames": [-1, 0]}}, "latency_frames"),
    ({"temporal": {"latency_frames": [2, 1]}}, "latency_frames"),
    ({"temporal": {"direction_fraction": 1.5}}, "direction_fraction"),
])
def test_config_errors_name_the_option(options, match):
    with pytest.raises(ValueError, match=match):
        VideoConfig.from_dict(options, source="video.yaml")
    with pytest.raises(ValueError, match="video.yaml"):
        VideoConfig.from_dict(options, source="video.yaml")


# -- 10. motion labels -------------------------------------------------------------------------------

def flow(frames: np.ndarray) -> float:
    """Direction (degrees, 0 right, 90 down) of the least-squares optical flow
    of ``frames`` (the normal flow where the pattern is one-dimensional)."""
    v = frames.astype(np.float64)
    gy, gx = np.gradient(v, axis=(1, 2))
    gx, gy, dt = (gx[1:] + gx[:-1]) / 2, (gy[1:] + gy[:-1]) / 2, v[1:] - v[:-1]
    a = np.array([[(gx * gx).sum(), (gx * gy).sum()], [(gx * gy).sum(), (gy * gy).sum()]])
    u = np.linalg.pinv(a, rcond=1e-3) @ -np.array([(gx * dt).sum(), (gy * dt).sum()])
    return float(np.rad2deg(np.arctan2(u[1], u[0])) % 360)


def test_motion_direction_labels(run):
    for ds in run.scans.values():
        kind, md = ds.stimulus_type.values, ds.motion_direction.values
        assert md.shape == (ds.sizes["clip"], ds.sizes["time"])
        for k in ("natural", "trippy"):
            assert np.isnan(md[kind == k]).all(), k
        for k in ("monet", "grating"):
            m = md[kind == k]
            finite = m[np.isfinite(m)]
            assert 0 < len(finite) < m.size, k  # coherent epochs and others
            assert np.allclose(finite / 22.5, np.round(finite / 22.5)) and (finite >= 0).all()
            assert (finite < 360).all()
        # Monet shows each of its 16 directions once per clip
        for p in np.flatnonzero(kind == "monet"):
            assert len(np.unique(md[p][np.isfinite(md[p])])) == 16


def test_motion_direction_is_the_motion_on_screen(run):
    """Each label matches the optical flow of the frames it labels (x right,
    y down): exactly for gratings, roughly for Monet's drifting noise."""
    ds = first(run)
    kind, md, vids = ds.stimulus_type.values, ds.motion_direction.values, ds.videos.values
    monet_err = []
    for p in np.flatnonzero(np.isin(kind, ("grating", "monet"))):
        for d in np.unique(md[p][np.isfinite(md[p])]):
            t = np.flatnonzero(md[p] == d)
            t = t[: np.argmax(np.diff(np.append(t, -1)) != 1) + 1]  # the first run of the label
            if len(t) < 2:
                continue
            err = angle_diff(flow(vids[p, t]), d)
            if kind[p] == "grating":
                assert err < 2, (p, d, err)
            else:
                monet_err.append(err)
    assert np.max(monet_err) < 90 and np.mean(monet_err) < 35
