"""The simulated freely moving mouse (v1lib.sim.freely_moving, arena, mouse,
gain_fields, session_truth): schema, determinism, the 3 Hz unit filter, the
paper's split, eye movements, the retinal image, the neurons' dependencies,
the head camera, config errors, the command line and the manifest.

One tiny experiment is simulated once per session; the neurons built for it
are recorded (a pass-through wrapper, the output is unchanged)."""

import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import xarray as xr
import yaml

from v1lib.data import load_scans
from v1lib.data.schemas import validate
from v1lib.data.session import BEHAVIOR_VARS
from v1lib.sim import freely_moving as fm
from v1lib.sim.gain_fields import DEPENDENCY_GROUPS, GROUP_VARS
from v1lib.sim.mouse import MouseConfig, simulate_motion
from v1lib.sim.session_truth import kept_units, tiers

from .conftest import ROOT

SEED = 4
TINY = {"n_animals": 2, "duration_s": 24.0, "segments": 5, "population": {"n_neurons": 30},
        "features": {"sf_cpd": [0.06]}}  # one scale: a third of the filtering


@dataclass
class Run:
    config: fm.FreelyMovingConfig
    sessions: dict  # name -> Dataset
    neurons: list  # the MovingNeurons of each animal, as fm.neurons built them


@pytest.fixture(scope="module")
def run() -> Run:
    cfg = fm.FreelyMovingConfig.from_dict(TINY)
    built, make = [], fm.neurons

    def recording(*args):
        built.append(make(*args))
        return built[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fm, "neurons", recording)
        sessions = fm.simulate_freely_moving(cfg, SEED, show_progress=False)
    return Run(cfg, sessions, built)


def first(run: Run) -> xr.Dataset:
    return next(iter(run.sessions.values()))


def test_sessions_follow_the_session_schema(run):
    c = run.config
    assert list(run.sessions) == fm.scan_names(c, SEED)
    for name, ds in run.sessions.items():
        validate(ds, source=name)
        validate(ds, source=name, schema="session")
        assert ds.attrs["schema"] == "session" and ds.attrs["bin_s"] == c.bin_s == 0.048
        assert ds.frames.dims == ("time", "y", "x") and ds.frames.shape == (c.n_bins, 60, 80)
        assert ds.frames.dtype == np.uint8 and 0 < ds.frames.values.std()
        assert list(ds.behavior_var.values) == list(BEHAVIOR_VARS)
        np.testing.assert_allclose(ds.time.values, np.arange(c.n_bins) * c.bin_s)
        assert ds.time.attrs["units"] == "s" and ds.gt_retinal_shift.attrs["units"] == "camera px"
        assert (ds.animal.values == name).all()
        assert np.all(np.diff(ds.unit_id.values) > 0) and ds.unit_id.max() < c.population.n_neurons
        assert (ds.responses.values == np.round(ds.responses.values)).all()  # spike counts
        assert ds.attrs["sim_seed"] == SEED and ds.attrs["sim_version"] == fm.SIMULATOR_VERSION
        assert fm.FreelyMovingConfig.from_dict(json.loads(ds.attrs["sim_config"])) == c
        for var in ds.data_vars:
            if var.startswith("gt_") and ds[var].dtype.kind == "f" and var not in (
                    "gt_orientation", "gt_sf", "gt_phase"):  # NaN for units outside the bank
                assert np.isfinite(ds[var].values).all(), var


@pytest.mark.slow  # a session again
def test_same_seed_same_arrays_and_each_session_on_its_own(run):
    again = fm.simulate_scan(run.config, SEED, 1, show_progress=False)
    xr.testing.assert_identical(again, list(run.sessions.values())[1])
    a, b = run.sessions.values()
    assert not np.array_equal(a.behavior.values, b.behavior.values)


def test_units_under_3_hz_are_dropped(run):
    assert run.config.min_rate_hz == 3.0
    dropped = 0
    for ds in run.sessions.values():
        rate = ds.responses.values.mean(0) / ds.attrs["bin_s"]
        np.testing.assert_allclose(ds.mean_rate_hz.values, rate, rtol=1e-5)
        assert (rate >= 3.0).all()
        dropped += ds.attrs["n_units_simulated"] - ds.sizes["neuron"]
    assert dropped > 0
    counts = np.array([[0, 1, 0], [0, 0, 1], [0, 1, 0]])  # 0, 2/3 and 1/3 spike per bin
    assert kept_units(counts, 0.1, 3.0).tolist() == [False, True, True]


def test_segments_and_tiers_follow_the_paper(run):
    segment, tier = tiers(1000, 10, 0.3, 0.2)
    for k in range(10):
        t = tier[segment == k]
        assert (t == ["train"] * 56 + ["validation"] * 14 + ["test"] * 30).all()
    for ds in run.sessions.values():
        seg, tr = ds.segment.values, ds.tier.values
        assert (np.diff(seg) >= 0).all() and set(seg) == set(range(run.config.segments))
        for k in range(run.config.segments):
            t = tr[seg == k]  # within a segment: train, then validation, then test
            n = len(t)
            n_train = round(0.7 * n)
            assert (t[n_train:] == "test").all() and (t[:n_train] != "test").all()
            n_val = (t == "validation").sum()
            assert n_val == round(0.2 * n_train) and (t[n_train - n_val:n_train] == "validation").all()


def test_eyes_compensate_head_rotation(run):
    for ds in run.sessions.values():
        yaw = ds.gt_head_yaw.values.astype(float)
        step = (np.diff(yaw) + 180) % 360 - 180
        theta = ds.behavior.sel(behavior_var="eye_theta").values
        still = ~ds.gt_saccade.values[1:]
        assert ds.gt_saccade.values.mean() > 0.005  # saccades happen
        assert np.corrcoef(np.diff(theta)[still], step[still])[0, 1] < -0.5
        pitch, phi = (ds.behavior.sel(behavior_var=v).values for v in ("pitch", "eye_phi"))
        assert np.corrcoef(pitch, phi)[0, 1] < -0.3
        roll = ds.behavior.sel(behavior_var="roll").values
        assert np.corrcoef(roll, ds.gt_eye_torsion.values)[0, 1] < -0.99


def test_retinal_image_moves_with_the_eye(run):
    dpp = run.config.deg_per_px
    for ds in run.sessions.values():
        theta, phi = (ds.behavior.sel(behavior_var=v).values for v in ("eye_theta", "eye_phi"))
        shift = ds.gt_retinal_shift.transpose("time", "axis").values
        np.testing.assert_allclose(shift[:, 0], theta / dpp, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(shift[:, 1], -phi / dpp, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ds.gt_retinal_rotation.values,
                                   np.deg2rad(ds.gt_eye_torsion.values), rtol=1e-5)
    frame = np.full((1, 60, 80), 127.5, dtype=np.float32)
    frame[0, 30, 40] = 255.0
    seen = fm.retinal_frames(frame, np.array([[3.0, -2.0]]), np.zeros(1))[0]
    assert np.unravel_index(seen.argmax(), seen.shape) == (32, 37)  # gaze right and up
    assert seen.max() == 255.0


def test_neurons_see_the_retinal_image(run):
    """The drive of the camera frames read at the eye's shift and rotation is
    the drive of the retinal images read at rest (up to the frame's edges)."""
    ds, mn = first(run), run.neurons[0]
    bins = slice(0, 200)
    frames, shift = ds.frames.values[bins], ds.gt_retinal_shift.values[bins]
    rot = ds.gt_retinal_rotation.values[bins]
    moved = fm.drives(mn, frames, shift, rot, "", False)
    retina = fm.retinal_frames(frames, shift, rot)
    still = fm.drives(mn, retina, np.zeros_like(shift), np.zeros_like(rot), "", False)
    r = [np.corrcoef(moved[:, i], still[:, i])[0, 1] for i in range(moved.shape[1])]
    assert np.nanmedian(r) > 0.9


def _recomputed(run: Run, a: int, bins: slice, behavior=None, frames=None):
    """Animal ``a``'s rates (Hz, all simulated units) in ``bins``, from its frames
    and behaviour (or the given ones)."""
    ds, mn = list(run.sessions.values())[a], run.neurons[a]
    frames = ds.frames.values[bins] if frames is None else frames
    shift = ds.gt_retinal_shift.values[bins]
    drive = fm.drives(mn, frames, shift, ds.gt_retinal_rotation.values[bins], "", False)
    return mn.rates(drive, ds.behavior.values[bins] if behavior is None else behavior)


def test_rates_depend_only_on_the_neurons_own_groups(run):
    bins = slice(0, 120)
    for a, ds in enumerate(run.sessions.values()):
        mn, kept = run.neurons[a], ds.unit_id.values
        base = _recomputed(run, a, bins)
        lag = run.config.latency_bins  # bin t responds to what bin t - lag saw and did
        later = slice(bins.start + lag, bins.stop + lag)
        np.testing.assert_allclose(base[:, kept] * run.config.bin_s,
                                   ds.gt_observable_rate.values[later], rtol=1e-4, atol=1e-6)
        beh = ds.behavior.values[bins].copy()
        beh[:, BEHAVIOR_VARS.index("speed")] += 25.0
        faster = _recomputed(run, a, bins, behavior=beh)
        speed = mn.dependency[:, DEPENDENCY_GROUPS.index("speed")]
        np.testing.assert_array_equal(faster[:, ~speed], base[:, ~speed])
        assert (np.abs(faster - base).max(0)[speed] > 0).all()
        grey = np.full_like(ds.frames.values[bins], 128)
        blind = _recomputed(run, a, bins, frames=grey)
        visual = mn.dependency[:, DEPENDENCY_GROUPS.index("visual")]
        np.testing.assert_allclose(blind[:, ~visual], base[:, ~visual], rtol=1e-6)
        assert (np.abs(blind - base).max(0)[visual] > 0).all()


def test_dependency_truth_matches_the_weights(run):
    for ds in run.sessions.values():
        dep = ds.gt_dependency.transpose("neuron", "dependency_group")
        assert list(ds.dependency_group.values) == list(DEPENDENCY_GROUPS)
        for group, variables in GROUP_VARS.items():
            w = np.abs(ds.gt_gain_weights.sel(behavior_var=list(variables)).values).sum(1) \
                + np.abs(ds.gt_additive_weights.sel(behavior_var=list(variables)).values).sum(1)
            assert ((w > 0) == dep.sel(dependency_group=group).values).all(), group
        cls = ds.gt_neuron_class.values
        groups = dep.values.sum(1)
        assert (groups[cls == "visual"] == 1).all() and (groups[cls == "mixed"] >= 2).all()
        assert not dep.sel(dependency_group="visual").values[cls == "behavior"].any()
        assert ((ds.gt_visual_weight.values > 0) == dep.sel(dependency_group="visual").values).all()
    classes = {c for ds in run.sessions.values() for c in ds.gt_neuron_class.values}
    assert classes == {"visual", "mixed", "behavior"}


def test_rate_truth_is_the_expectation(run):
    for ds in run.sessions.values():
        loading = ds.gt_state_loading.values[None]
        gain = np.exp(loading * ds.gt_state.values[:, None] - loading**2 / 2)
        np.testing.assert_allclose(ds.gt_rate.values, ds.gt_observable_rate.values * gain,
                                   rtol=1e-4)
        behavior_only = ds.gt_neuron_class.values == "behavior"
        assert np.ptp(ds.gt_stimulus_rate.values[:, behavior_only], axis=0).max() < 1e-5
        assert abs(ds.responses.values.mean() / ds.gt_rate.values.mean() - 1) < 0.15


def test_head_camera_renders_the_pose():
    cfg = fm.FreelyMovingConfig()
    arena = fm.make_arena(cfg, SEED)
    again = fm.make_arena(cfg, SEED)
    assert np.array_equal(arena.walls, again.walls) and np.array_equal(arena.floor, again.floor)
    pos = np.array([[20.0, 30.0]] * 5)
    views = fm.render(cfg, arena, pos, [0, 90, 180, 0, 0], [0, 0, 0, 0, 20], [0, 0, 0, 0, 0])
    assert views.shape == (5, 60, 80) and views.min() >= 0 and views.max() <= 255
    np.testing.assert_array_equal(views[0], views[3])  # the same pose, the same view
    for i, j in ((0, 1), (0, 2), (1, 2), (0, 4)):
        assert np.abs(views[i] - views[j]).mean() > 5, (i, j)
    # looking down at the floor from the centre: the lower rows see the floor
    down = fm.render(cfg, arena, np.array([[30.0, 30.0]]), [0], [-40], [0])[0]
    assert np.abs(down[-10:].mean() - arena.floor.mean()) < 25


def test_motion_is_deterministic_and_runs_in_bouts():
    c = MouseConfig()
    a, b = (simulate_motion(c, 3000, 0.048, 60.0, np.random.default_rng(1)) for _ in range(2))
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in a.__dataclass_fields__)
    assert 0.1 < a.running.mean() < 0.7
    assert a.speed[a.running].mean() > 5 * a.speed[~a.running].mean()
    assert (a.position >= 0).all() and (a.position <= 60).all()
    moving = np.std(a.pitch[a.running]) > np.std(a.pitch[~a.running])
    assert moving  # more head movement while running


@pytest.mark.parametrize("options, message", [
    ({"n_animals": 0}, "'n_animals' must be a positive integer"),
    ({"duration_s": -1.0}, "'duration_s' must be positive"),
    ({"bin_s": 0}, "'bin_s' must be positive"),
    ({"test_fraction": 1.2}, "'test_fraction' must be between 0 and 1"),
    ({"validation_fraction": 0.0}, "'validation_fraction' must be between 0 and 1"),
    ({"min_rate_hz": -3.0}, "'min_rate_hz' must be non-negative"),
    ({"duration_s": 2.0}, "too few bins per segment"),
    ({"mouse": {"vor_gain": 1.5}}, "mouse: 'vor_gain' must be from 0 to below 1"),
    ({"neurons": {"class_fractions": [0, 0, 0]}}, "neurons: 'class_fractions'"),
    ({"segment": 3}, r"unknown option\(s\) \['segment'\]"),
    ({"duration_s": "long"}, "duration_s: expected a number"),
])
def test_bad_config_names_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        fm.FreelyMovingConfig.from_dict(options, source="sim.yaml")


def test_manifest_entries_make_valid_configs():
    from v1lib.datasets import _generators, read_manifest

    entries = read_manifest()
    for name in ("insilico-freely-moving", "insilico-freely-moving-smoke",
                 "insilico-freely-moving-large"):
        assert entries[name]["generator"] == "freely_moving"
        cfg, names, _, version = _generators()["freely_moving"](entries[name]["config"],
                                                                 entries[name]["seed"])
        assert isinstance(cfg, fm.FreelyMovingConfig) and version == fm.SIMULATOR_VERSION
        assert len(names) == cfg.n_animals
    sizes = [fm.FreelyMovingConfig.from_dict(entries[n]["config"]).n_bins for n in
             ("insilico-freely-moving-smoke", "insilico-freely-moving", "insilico-freely-moving-large")]
    assert sizes == sorted(sizes)


@pytest.mark.slow  # starts python -m v1lib
def test_cli_simulates_freely_moving(tmp_path):
    cfg = tmp_path / "fm.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "n_animals": 1}))
    out = tmp_path / "fm.nc"
    proc = subprocess.run([sys.executable, "-m", "v1lib", "simulate", "freely-moving", "--seed",
                           "3", "--config", str(cfg), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    sessions = load_scans(out)
    assert list(sessions) == ["insilico-freely-moving-3-1"]
    ds = sessions["insilico-freely-moving-3-1"]
    assert ds.attrs["schema"] == "session" and ds.attrs["seed"] == 3
    assert ds.gt_running.dtype == bool and ds.sizes["time"] == 500


def test_drive_does_not_depend_on_the_chunks(run):
    ds, mn = first(run), run.neurons[0]
    frames = ds.frames.values[:8]
    shift, rot = ds.gt_retinal_shift.values[:8], ds.gt_retinal_rotation.values[:8]
    one = fm.drives(mn, frames, shift, rot, "", False)
    two = np.concatenate([fm.drives(mn, frames[i:i + 1], shift[i:i + 1], rot[i:i + 1], "", False)
                          for i in range(8)])
    np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-5)
