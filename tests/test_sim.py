"""The in-silico V1: determinism, schema, and the statistics it is built to have."""

import numpy as np
import pytest
import xarray as xr

from v1lib import probes
from v1lib.data import STATIC
from v1lib.sim import calibration, stimuli
from v1lib.sim.static import StaticConfig, populations_of, responder, simulate_static


@pytest.mark.slow
def test_same_seed_same_data(tiny_config, tiny_scans):
    again = simulate_static(tiny_config, seed=3, show_progress=False)
    assert list(again) == list(tiny_scans)
    for name in tiny_scans:
        xr.testing.assert_identical(again[name], tiny_scans[name])


@pytest.mark.slow
def test_other_seed_other_data(tiny_config, tiny_scans):
    other = simulate_static(tiny_config, seed=4, show_progress=False)
    a, b = next(iter(tiny_scans.values())), next(iter(other.values()))
    assert not np.array_equal(a.responses.values, b.responses.values)
    assert not np.array_equal(a.gt_rf_x.values, b.gt_rf_x.values)


def test_scans_follow_schema(tiny_scans, tiny_config):
    assert len(tiny_scans) == tiny_config.n_animals
    for name, ds in tiny_scans.items():
        STATIC.validate(ds, source=name)
        assert ds.sizes["neuron"] == tiny_config.population.n_neurons
        assert (ds.animal == name).all()


def test_tiers_and_repeats(scan, tiny_config):
    c = tiny_config
    counts = {t: int((scan.tier == t).sum()) for t in ("train", "validation", "test")}
    assert counts == {"train": c.n_train, "validation": c.n_validation,
                      "test": c.n_test_images * c.test_repeats}
    test_ids = scan.image_id.values[scan.tier.values == "test"]
    _, reps = np.unique(test_ids, return_counts=True)
    assert (reps == c.test_repeats).all()
    # repeats of an image show the same pixels
    first = np.flatnonzero(scan.image_id.values == test_ids[0])
    assert all(np.array_equal(scan.images.values[first[0]], scan.images.values[i]) for i in first)
    # test trials are interleaved with the others, not in one block
    pos = np.flatnonzero(scan.tier.values == "test")
    assert pos.max() - pos.min() > 2 * len(pos)


def test_unknown_config_option_is_named():
    with pytest.raises(ValueError, match="unknown option 'n_neuron'"):
        StaticConfig.from_dict({"n_neuron": 5})
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['neurons'\] in 'population'"):
        StaticConfig.from_dict({"population": {"neurons": 5}})
    with pytest.raises(ValueError, match="test_repeats"):
        StaticConfig.from_dict({"test_repeats": 1})
    with pytest.raises(ValueError, match="unknown stimulus kind"):
        stimuli.mixed_images(4, (8, 8), {"cats": 1.0}, np.random.default_rng(0))


@pytest.mark.slow
def test_responses_look_like_deconvolved_calcium(stats_scans):
    _, scans = stats_scans
    ds = next(iter(scans.values()))
    r = ds.responses.values
    assert (r >= 0).all()
    assert 0.5 < (r == 0).mean() < 0.97  # mostly exact zeros
    pos = r[r > 0]
    assert np.quantile(pos, 0.999) > 8 * np.median(pos)  # heavy tail
    # the noise is unbiased: responses average to the noise-free rate
    assert abs(r.mean() / ds.gt_rate.values.mean() - 1) < 0.05


@pytest.mark.slow
def test_retinotopy_is_smooth_and_on_screen(stats_scans):
    cfg, scans = stats_scans
    ds = next(iter(scans.values()))
    assert (ds.gt_rf_x >= 0).all() and (ds.gt_rf_x <= cfg.width - 1).all()
    assert (ds.gt_rf_y >= 0).all() and (ds.gt_rf_y <= cfg.height - 1).all()
    X = np.c_[ds.cortical_x, ds.cortical_y, np.ones(ds.sizes["neuron"])]
    for key in ("gt_rf_x", "gt_rf_y"):
        y = ds[key].values
        res = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        assert 1 - res.var() / y.var() > 0.6, key
    # and not trivially perfect: there is scatter
    assert 1 - res.var() / y.var() < 0.99


def test_eye_shift_follows_gaze_map(scan):
    G = np.array(scan.attrs["gt_gaze_map"]).reshape(2, 2)
    pc = scan.pupil_center.values.astype(np.float64)
    expected = (pc - pc.mean(0)) @ G.T
    np.testing.assert_allclose(scan.gt_eye_shift.values, expected, atol=1e-4)
    assert scan.gt_eye_shift.std() > 0.2  # the eye moves by a fraction of a pixel or more


@pytest.mark.slow
def test_behaviour_is_plausible(stats_scans):
    _, scans = stats_scans
    ds = next(iter(scans.values()))
    run = ds.behavior.sel(behavior_var="running").values
    pupil = ds.behavior.sel(behavior_var="pupil").values
    assert (run >= 0).all() and (run < 0.5).mean() > 0.2 and (run > 5).mean() > 0.1
    assert np.corrcoef(run, pupil)[0, 1] > 0.2
    # gain: running raises responses on average (positive mean weight)
    assert ds.gt_behavior_weights.sel(behavior_var="running").mean() > 0.1


@pytest.mark.slow
def test_reliability_in_sensorium_range(stats_scans):
    _, scans = stats_scans
    ds = next(iter(scans.values()))
    rel = calibration.neuron_reliability(ds)
    s = calibration.summary(rel)
    assert 0.15 < s["mean_oracle_corr"] < 0.6
    assert 0.3 < s["fraction_fev_above_threshold"] < 0.95
    implied = calibration.implied_ceiling()
    assert abs(s["image_ceiling_single_trial_corr"] - implied["single_trial_corr"]) < 0.12
    assert abs(s["image_ceiling_corr_to_avg"] - implied["corr_to_avg"]) < 0.12
    # the barely responsive neurons have almost no explainable variance
    resp = ds.gt_responsive.values
    assert np.median(rel.fev.values[~resp]) < 0.05 < np.median(rel.fev.values[resp])
    # the ground truth, knowing behaviour, beats the image-only ceiling
    assert s["ceiling_single_trial_corr"] > s["image_ceiling_single_trial_corr"]
    # the jackknife oracle underestimates the true ceiling
    good = rel.fev.values > 0.15
    assert np.mean(rel.oracle_corr.values[good]
                   < rel.ceiling_single_trial_corr.values[good]) > 0.8
    # correlations of the ceiling on the reliable neurons, beside its FEVE
    assert s["image_ceiling_single_trial_corr_reliable"] == pytest.approx(
        float(rel.image_ceiling_single_trial_corr.values[good].mean()), rel=1e-6)


@pytest.mark.slow
def test_stimulus_only_rate_is_the_expectation_over_the_sessions_eye_behaviour_and_state(stats_scans):
    """gt_stimulus_only_rate (centroid quadratures of the eye and the behaviour)
    against the exact average over every pair of one trial's eye and another
    trial's behaviour (independent in the simulator), times the mean state gain.
    The quadrature's error is mostly a per-neuron scale, common to all images,
    which a correlation (a ceiling) does not see; what remains is a fraction of
    a per mille of the variance across images, concentrated in the few neurons
    whose drive changes steeply with the eye's position."""
    import torch

    from v1lib.sim import rates

    _, scans = stats_scans
    ds = next(iter(scans.values()))
    test = ds.tier.values == "test"
    assert np.isfinite(ds.gt_stimulus_only_rate.values[test]).all()
    assert np.isnan(ds.gt_stimulus_only_rate.values[~test]).all()
    pop = next(iter(populations_of(scans).values()))
    G = np.array(ds.attrs["gt_gaze_map"]).reshape(2, 2)
    eye = rates.eye_effects(ds.pupil_center.values, G, pop.torsion_per_sd)
    b = ds.behavior.values.astype(np.float64)
    bz = ((b - b.mean(0)) / b.std(0)).astype(np.float32)
    pre, add = torch.from_numpy(pop.pre_drive(bz)), torch.from_numpy(pop.additive(bz))
    state = pop.state_gain(ds.gt_state.values).mean(0)
    got, exact = [], []
    firsts = np.unique(ds.image_id.values[test], return_index=True)[1]
    for trial in np.flatnonzero(test)[firsts[:6]]:
        img = torch.from_numpy(ds.images.values[trial][None])
        rows = torch.zeros(len(bz), dtype=torch.long)
        with torch.no_grad():
            z = pop.drive(img, eye.shift[:, 0], eye.shift[:, 1], rows, eye.torsion)
            total = 0.0
            for t in range(len(z)):  # eye of trial t, behaviour of every trial
                gain = torch.from_numpy(pop.observable_gain(bz, np.repeat(eye.z[t:t + 1], len(bz), 0)))
                total = total + ((pop.output(z[t][None] + pre) + add) * gain).mean(0)
        exact.append((total / len(z)).numpy() * state)
        same = ds.image_id.values == ds.image_id.values[trial]
        assert np.ptp(ds.gt_stimulus_only_rate.values[same], axis=0).max() == 0  # one per image
        got.append(ds.gt_stimulus_only_rate.values[trial])
    got, exact = np.array(got), np.array(exact)
    err = np.abs(got - exact)
    assert err.mean() < 0.03 * exact.mean()  # the quadrature's error, population-wide
    across = np.array([np.corrcoef(got[:, n], exact[:, n])[0, 1] for n in range(got.shape[1])])
    assert np.median(across) > 0.9999 and np.mean(across > 0.98) > 0.97
    scaled = got * ((got * exact).sum(0) / (got * got).sum(0))  # per-neuron scale removed
    unexplained = ((scaled - exact) ** 2).sum() / ((exact - exact.mean(0)) ** 2).sum()
    assert unexplained < 1e-3
    # an average of gt_rate over the image's own repeats keeps their gains: far off
    own = np.array([ds.gt_rate.values[ds.image_id.values == ds.image_id.values[t]].mean(0)
                    for t in np.flatnonzero(test)[firsts[:6]]])
    own_across = [np.corrcoef(own[:, n], exact[:, n])[0, 1] for n in range(got.shape[1])]
    assert np.median(own_across) < np.median(across) - 0.001


@pytest.mark.slow
def test_photo_pools_are_disjoint_and_test_images_are_not_crops_of_training_photos(stats_scans):
    pools = [set(p) for p in stimuli.PHOTO_POOLS.values()]
    assert set.union(*pools) == set(stimuli.PHOTOGRAPHS)
    assert sum(len(p) for p in pools) == len(stimuli.PHOTOGRAPHS)
    stereo = {"skimage:motorcycle_left.png", "skimage:motorcycle_right.png"}
    assert stereo <= set(stimuli.PHOTO_POOLS["train"])
    from v1lib.sim.static import unique_images

    _, scans = stats_scans
    ds = next(iter(scans.values()))
    test, train = (unique_images(ds, t, "natural") for t in ("test", "train"))
    assert len(test) and len(train)
    nearest = stimuli.nearest_correlation(test, train)
    assert nearest.max() < 0.8
    # the measure does find a duplicate: a test image against itself among the training ones
    assert stimuli.nearest_correlation(test[:1], np.concatenate([train, test[:1]]))[0] > 0.999


def test_scenes_pools_and_parts_split_the_photographs():
    from v1lib.sim import photographs as ph

    # every photograph belongs to one scene; photographs of one place are one scene
    assert len(ph.SCENE_OF) == len(ph.PHOTOGRAPHS) == len(set(ph.PHOTOGRAPHS))
    for pair in (("skimage:motorcycle_left.png", "skimage:motorcycle_right.png"),
                 ("mvtb:rocks2-l.png", "mvtb:rocks2-r.png"), ("mvtb:walls-l.png", "mvtb:walls-r.png"),
                 ("mvtb:campus/P1070491.png", "mvtb:campus/holdout/P1070492.png"),
                 ("mvtb:flowers1.png", "mvtb:flowers9.png"), ("mvtb:seq/im.001.png", "mvtb:seq/im.009.png"),
                 ("mvtb:mosaic/aerial-08.png", "mvtb:mosaic/aerialphoto.png")):
        assert ph.SCENE_OF[pair[0]] == ph.SCENE_OF[pair[1]], pair
    # the pools are disjoint by scene and hold every scene once
    pooled = [s for scenes in ph.SCENE_POOLS.values() for s in scenes]
    assert sorted(pooled) == sorted(ph.SCENES)
    assert sorted(p for photos in ph.PHOTO_POOLS.values() for p in photos) == sorted(ph.PHOTOGRAPHS)
    for n in range(1, len(ph.TRAINING_SCENES) + 1):
        parts = ph.training_parts(n)
        assert len(parts) == n and all(parts)  # every part has scenes
        assert sorted(s for p in parts for s in p) == sorted(ph.TRAINING_SCENES)  # each once
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert ph.training_parts(4) == ph.training_parts(4)  # a fixed deal
    with pytest.raises(ValueError, match="1 to 22 parts"):
        ph.training_parts(0)


def test_animals_of_a_dataset_train_on_disjoint_photographs():
    from v1lib.sim import photographs as ph
    from v1lib.sim.static import photo_part, training_scenes

    for options in ({}, {"n_animals": 7, "photo_parts": 8},
                    {"n_animals": 4, "photo_parts": 4, "first_photo_part": 2}):
        cfg = StaticConfig.from_dict(options)
        parts = [photo_part(cfg, a) for a in range(cfg.n_animals)]
        assert len(set(parts)) == cfg.n_animals
        photos = [set(ph.scene_photographs(training_scenes(cfg, a))) for a in range(cfg.n_animals)]
        assert sum(map(len, photos)) == len(set.union(*photos))  # no photograph in two animals
        shared = set(ph.PHOTO_POOLS["validation"]) | set(ph.PHOTO_POOLS["test"])
        assert not shared & set.union(*photos)
    cfg = StaticConfig.from_dict({"n_animals": 2, "first_photo_part": 3})
    assert [photo_part(cfg, a) for a in range(2)] == [3, 0]  # wraps around


def test_each_tier_crops_only_its_own_photographs(monkeypatch):
    """The simulator's draw of each tier asks for the photographs of that tier's
    pool and no others: the shared validation and test scenes, and each
    animal's own part of the training scenes."""
    from v1lib.sim import photographs as ph
    from v1lib.sim import static

    asked = []
    real = stimuli.load
    monkeypatch.setattr(stimuli, "load", lambda names: asked.append(set(names)) or real(names))
    cfg = StaticConfig.from_dict({"n_animals": 3, "n_train": 20, "n_validation": 5,
                                  "n_test_images": 5, "image_mix": {"natural": 1.0}})
    trained = []
    for a in range(cfg.n_animals):
        asked.clear()
        static._trials(cfg, np.random.default_rng(a), static.training_scenes(cfg, a))
        train, validation, test = asked
        assert train == set(ph.scene_photographs(static.training_scenes(cfg, a)))
        assert validation == set(ph.PHOTO_POOLS["validation"])
        assert test == set(ph.PHOTO_POOLS["test"])
        trained.append(train)
    assert not (trained[0] & trained[1] or trained[0] & trained[2] or trained[1] & trained[2])


def test_crops_of_a_pool_are_crops_of_its_photographs_and_repeat_with_the_seed():
    one = stimuli.natural_crops(6, (36, 64), np.random.default_rng(3), pool=["gravel"])
    again = stimuli.natural_crops(6, (36, 64), np.random.default_rng(3), pool=["gravel"])
    np.testing.assert_array_equal(one, again)
    other = stimuli.natural_crops(6, (36, 64), np.random.default_rng(4), pool=["gravel"])
    assert not np.array_equal(one, other)
    # gravel is texture at every scale: its crops resemble each other more than the moon's
    moon = stimuli.natural_crops(6, (36, 64), np.random.default_rng(3), pool=["moon"])
    assert stimuli.nearest_correlation(one, moon).max() < 0.5
    with pytest.raises(ValueError, match="unknown photo pool 'training'"):
        stimuli.natural_crops(1, (8, 8), np.random.default_rng(0), pool="training")
    with pytest.raises(ValueError, match="known scenes"):
        stimuli.natural_crops(1, (8, 8), np.random.default_rng(0), pool=["lena"])


def test_photographs_are_read_once_grey_and_at_most_512_px_on_the_shorter_side():
    from v1lib.sim import photographs as ph

    photos = ph.photographs()
    assert len(photos) == len(ph.PHOTOGRAPHS)
    assert all(p is q for p, q in zip(photos, ph.photographs()))  # cached, not read again
    for name, img in zip(ph.PHOTOGRAPHS, photos):
        assert img.ndim == 2 and img.dtype == np.float32, name
        assert 200 <= min(img.shape) <= ph.MAX_SHORT_SIDE, (name, img.shape)
        assert 0 <= img.min() and img.max() <= 255 and img.std() > 10, name
    # area averaging: a 2 x 2 checkerboard at half size is flat at its mean
    board = np.indices((1024, 2048)).sum(0) % 2 * 200.0
    small = ph.downsample(board)
    assert small.shape == (512, 1024) and np.allclose(small, 100.0)


@pytest.mark.parametrize("options, message", [
    ({"photo_parts": 0}, "'photo_parts' must be from 1 to 22"),
    ({"photo_parts": 40}, "'photo_parts' must be from 1 to 22"),
    ({"photo_parts": 4, "first_photo_part": 4}, "'first_photo_part' must be from 0 to"),
    ({"first_photo_part": -1}, "'first_photo_part' must be from 0 to"),
    ({"n_animals": 5}, r"5 animals \('n_animals'\) need as many parts .* \('photo_parts' is 4\)"),
    ({"photo_parts": "4"}, "photo_parts: expected an integer"),
])
def test_bad_photo_part_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        StaticConfig.from_dict(options, source="m.yaml")


@pytest.mark.slow
def test_grating_tuning_recovers_ground_truth(stats_scans):
    _, scans = stats_scans
    pop = next(iter(populations_of(scans).values()))
    ids = np.flatnonzero(pop.responsive & np.isin(pop.feature_type, ["simple", "complex"]))[:120]
    summ = probes.tuning_summary(probes.orientation_tuning(responder(pop), ids, pop.sf[ids]))
    assert all(summ[k].dims == ("neuron",) for k in summ.variables)  # labelled, one dim
    np.testing.assert_array_equal(summ.neuron, ids)
    err = np.abs((summ.preferred_orientation.values - pop.orientation[ids] + 90) % 180 - 90)
    assert np.median(err) < 12
    pm = summ.phase_modulation.values
    simple = pop.feature_type[ids] == "simple"
    assert np.median(pm[simple]) > 0.6 > 0.3 > np.median(pm[~simple])


@pytest.mark.slow
def test_corner_units_are_and_like(stats_scans):
    _, scans = stats_scans
    pop = next(iter(populations_of(scans).values()))
    corner = np.flatnonzero(pop.responsive & (pop.feature_type == "corner"))[:20]
    cx = np.flatnonzero(pop.responsive & (pop.feature_type == "complex"))[:20]
    truth = responder(pop)
    p_corner = probes.plaid_test(truth, corner, pop.orientation[corner], pop.sf[corner])
    p_complex = probes.plaid_test(truth, cx, pop.orientation[cx], pop.sf[cx])
    assert np.median(p_corner.plaid / p_corner.preferred) > 1.5
    assert np.median(p_complex.plaid / p_complex.preferred) < 1.0


@pytest.mark.slow
def test_populations_rebuild_from_provenance(tmp_path, tiny_config, tiny_scans):
    from v1lib.cache import netcdf_attrs, provenance
    from v1lib.data import load_scans, save_scans

    path = save_scans(tiny_scans, tmp_path / "s.nc", attrs=netcdf_attrs(provenance(tiny_config, 3)))
    scans = load_scans(path)
    pops = populations_of(scans)
    ds = scans[list(scans)[0]]
    pop = pops[list(scans)[0]]
    np.testing.assert_allclose(pop.rf_x, ds.gt_rf_x.values, atol=1e-5)
    plain = {k: v.drop_attrs() for k, v in scans.items()}
    with pytest.raises(ValueError, match="no simulator provenance"):
        populations_of(plain)


def test_natural_image_spectra(rng=np.random.default_rng(0)):
    imgs = stimuli.natural_crops(30, (36, 64), rng)
    slopes = stimuli.amplitude_spectrum_slope(imgs)
    assert -2.0 < slopes.mean() < -0.6
    white = rng.normal(size=(10, 36, 64))
    assert abs(stimuli.amplitude_spectrum_slope(white).mean()) < 0.3


def test_reliability_matches_a_hand_calculation(scan):
    """Each neuron's FEV, oracle and ground-truth ceiling from the test trials,
    image by image with plain numpy."""
    rel = calibration.neuron_reliability(scan)
    test = scan.tier.values == "test"
    r = scan.responses.values[test].astype(np.float64)
    rate = scan.gt_rate.values[test].astype(np.float64)
    ids = scan.image_id.values[test]
    images = [i for i in np.unique(ids) if (ids == i).sum() >= 2]
    assert len(images) == 12
    checked = 0
    for n in range(r.shape[1]):
        trials = [r[ids == i, n] for i in images]
        x = np.concatenate(trials)
        if x.std() == 0:
            continue
        total = x.var(ddof=1)
        noise = np.mean([t.var(ddof=1) for t in trials])
        assert rel.fev.values[n] == pytest.approx((total - noise) / total, rel=1e-4, abs=1e-6)
        loo = np.concatenate([(t.sum() - t) / (len(t) - 1) for t in trials])
        assert rel.oracle_corr.values[n] == pytest.approx(np.corrcoef(x, loo)[0, 1], abs=1e-5)
        ceiling = np.corrcoef(r[:, n], rate[:, n])[0, 1]
        assert rel.ceiling_single_trial_corr.values[n] == pytest.approx(ceiling, abs=1e-5)
        checked += 1
    assert checked > 40


@pytest.fixture(scope="module")
def worlds():
    """The same animal in the misspecified (default) and the well-specified world."""
    from v1lib.sim.features import FeatureBank
    from v1lib.sim.population import Population, PopulationConfig

    bank = FeatureBank((36, 64), 1.5)
    return {ws: Population(PopulationConfig(n_neurons=300, well_specified=ws), bank,
                           np.random.default_rng(5)) for ws in (False, True)}


def test_the_well_specified_switch_removes_every_mechanism_outside_the_model_class(worlds):
    well, mis = worlds[True], worlds[False]
    assert well.pool_index.shape[1] == 3 and mis.pool_index.shape[1] == 8  # + extent + surround
    for name in ("pre_weights", "additive_weights", "eye_gain_weights", "surround", "outside_sign"):
        assert not getattr(well, name).any(), name
        assert getattr(mis, name).any(), name
    assert well.torsion_per_sd == 0 and mis.torsion_per_sd != 0
    assert set(well.feature_type) <= {"simple", "complex", "corner"}
    lum = mis.feature_type == "luminance"
    assert 0.03 < lum.mean() < 0.2 and (mis.outside_sign[lum] != 0).all()
    assert np.isnan(mis.orientation[lum]).all() and (mis.pool_weight[lum] == 0).all()
    # extras: well specified, near the RF (1 px); otherwise further (3 px)
    extra = well.pool_weight[:, 1:3] > 0
    far = mis.pool_weight[:, 1:3] > 0
    assert np.abs(well.pool_dx[:, 1:3][extra]).std() < 1.5 < 1.5 * np.abs(mis.pool_dx[:, 1:3][far]).std()


def test_behaviour_is_a_log_linear_gain_only_in_the_well_specified_world(worlds):
    """log(observable / stimulus rate) is linear in behaviour and eye position
    exactly when behaviour acts only as a gain after the nonlinearity."""
    from v1lib.sim import rates

    rng = np.random.default_rng(0)
    imgs = torch_images(rng, 40)
    bz = rng.standard_normal((40, 3)).astype(np.float32)
    eye = rates.Eye(np.zeros((40, 2), np.float32), np.zeros(40, np.float32),
                    rng.standard_normal((40, 2)).astype(np.float32))
    r2 = {}
    for ws, pop in worlds.items():
        import torch

        with torch.no_grad():
            drive = pop.drive(imgs).numpy()
        r = rates.trial_rates(pop, drive, bz, eye, np.zeros(40, np.float32))
        y = np.log(r["observable"] / r["stimulus"])
        X = np.c_[bz, eye.z, np.ones(40)]
        res = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        r2[ws] = 1 - res.var(0) / (y.var(0) + 1e-12)
    assert np.median(r2[True]) > 0.999
    assert np.median(r2[False]) < 0.95


def torch_images(rng, n):
    import torch

    return torch.from_numpy(np.round(stimuli.mixed_images(n, (36, 64), {"natural": 1.0}, rng)[0])
                            .astype(np.uint8))


def test_torsion_moves_peripheral_receptive_fields_more_than_central_ones(worlds):
    """An eye effect that is not a translation: a rotation of the visual field
    changes the drive of neurons far from the screen centre most."""
    import torch

    pop = worlds[False]
    imgs = torch_images(np.random.default_rng(1), 16)
    with torch.no_grad():
        z0 = pop.drive(imgs).numpy()
        z1 = pop.drive(imgs, torsion=np.full(16, np.deg2rad(8.0))).numpy()
    change = np.abs(z1 - z0).mean(0)
    ecc = np.hypot(pop.rf_x - 31.5, pop.rf_y - 17.5)
    near, far = ecc < np.quantile(ecc, 0.25), ecc > np.quantile(ecc, 0.75)
    assert change[far].mean() > 2 * change[near].mean()


def test_outside_bank_neurons_follow_luminance_on_or_off(worlds):
    """A bright spot on the RF drives an ON unit up, a dark spot an OFF unit;
    the opposite spot leaves each where grey leaves it."""
    import torch

    pop = worlds[False]
    yy, xx = np.mgrid[0:36, 0:64]
    grey = np.full((36, 64), 127.5)
    for sign in (1.0, -1.0):
        n = int(np.flatnonzero(pop.outside_sign == sign)[0])
        disc = (yy - pop.rf_y[n]) ** 2 + (xx - pop.rf_x[n]) ** 2 <= 4
        stack = np.stack([grey, grey + sign * 80 * disc, grey - sign * 80 * disc]).astype(np.float32)
        with torch.no_grad():
            z = pop.drive(torch.from_numpy(stack)).numpy()[:, n]
        assert z[1] > z[0] + 0.5 and z[2] == pytest.approx(z[0], abs=1e-5)


def test_calibration_texts_are_computed_from_their_numbers():
    ours = {"image_ceiling_single_trial_corr": 0.354, "image_ceiling_corr_to_avg": 0.716}
    text = calibration.ceiling_text(ours, {"single_trial_corr": 0.425, "corr_to_avg": 0.806})
    assert "below the implied one for single trials (0.354 against 0.425, -17 %)" in text
    assert "below it for averages over repeats (0.716 against 0.806, -11 %)" in text
    assert "less reliable" in text
    rel = xr.Dataset({"image_ceiling_single_trial_corr": ("neuron", [0.5, 0.4, 0.2, 0.1]),
                      "oracle_corr": ("neuron", [0.4, 0.3, 0.3, 0.05])})
    text = calibration.oracle_text(rel, repeats=10)
    assert "lies below the image-only ceiling for 75 % of the neurons" in text
    assert "mean of the 9 other repeats of its image, which are noisy, so it underestimates" in text
    fo = (0.5 * 0.4 + 0.4 * 0.3 + 0.2 * 0.3 + 0.1 * 0.05) / (0.4**2 + 0.3**2 + 0.3**2 + 0.05**2)
    assert f"fraction oracle of {fo:.2f}" in text


def test_rf_extent_runs_along_the_preferred_stripes(worlds):
    """The two extent points of a simple cell lie on its preferred grating's
    stripes: at the preferred orientation they see the RF centre's phase, at the
    orthogonal offset they do not."""
    import torch

    from v1lib.probes import gratings

    pop = worlds[False]
    bank = pop.bank
    idx = [n for n in range(len(pop.rf_x)) if pop.feature_type[n] == "simple"
           and 12 < pop.rf_x[n] < 52 and 10 < pop.rf_y[n] < 26][:20]
    assert len(idx) >= 8
    same, orth = [], []
    for n in idx:
        img = gratings(pop.orientation[n], pop.sf[n], 0.0, bank.shape, bank.deg_per_px)
        comps = bank.components(torch.from_numpy(img.reshape(1, *bank.shape).astype(np.float32)))
        zr, zi = comps[0][0], comps[1][0]
        chan = bank._codes(torch.tensor([pop.primary[n]]))[0]

        def phase(dx, dy, n=n, zr=zr, zi=zi, chan=chan):
            x, y = pop.rf_x[n] + dx, pop.rf_y[n] + dy
            return float(torch.angle(_at(zr, chan, x, y) + 1j * _at(zi, chan, x, y)))

        dx, dy = pop.pool_dx[n, 3], pop.pool_dy[n, 3]
        assert np.hypot(dx, dy) > 1.0
        wrap = lambda a: abs((a + np.pi) % (2 * np.pi) - np.pi)
        same.append(wrap(phase(dx, dy) - phase(0, 0)))
        orth.append(wrap(phase(-dy, dx) - phase(0, 0)))
    assert np.median(same) < 0.1 < 0.5 < np.median(orth)


def _at(maps, chan, x, y):
    """Bilinear value of channel ``chan`` of (C, h, w) ``maps`` at (x, y)."""
    import torch

    from v1lib.sim.features import bilinear

    xy = [torch.tensor([[float(v)]]) for v in (x, y)]
    return bilinear(maps[None], chan, torch.zeros(1, dtype=torch.long), *xy)[0, 0]


def test_the_screen_surround_reads_grey(worlds):
    """Off the screen every feature is zero: points beyond the edge do not read
    the edge pixels (the weight fades over one pixel)."""
    import torch

    from v1lib.sim.features import on_screen

    x = torch.tensor([[3.0, -0.5, -3.0, 63.0, 63.5, 70.0]])
    got = on_screen(x, torch.full_like(x, 2.0), (36, 64))
    assert got[0].tolist() == pytest.approx([1.0, 0.5, 0.0, 1.0, 0.5, 0.0])
    assert float(on_screen(torch.tensor(3.0), torch.tensor(-1.0), (36, 64))) == 0.0
    pop = worlds[False]
    imgs = torch_images(np.random.default_rng(2), 4)
    comps = pop.bank.components(imgs)
    index = torch.from_numpy(pop.primary[:5])
    far = torch.full((4, 5), -4.0)
    assert (pop.bank.sample_from(comps, index, far, far) == 0).all()
    edge = pop.bank.sample_from(comps, index, torch.zeros(4, 5), torch.zeros(4, 5))
    assert torch.isfinite(edge).all() and edge.abs().sum() > 0


def test_tuning_realism_reads_frequencies_and_envelope_widths_off_the_population():
    from v1lib.sim.population import Population
    from v1lib.sim.static import feature_bank

    cfg = StaticConfig.from_dict({"population": {"n_neurons": 300}})
    pop = Population(cfg.population, feature_bank(cfg), np.random.default_rng(1))
    real = calibration.tuning_realism(pop)
    assert sum(real["sf_share"].values()) == pytest.approx(1.0)
    assert real["median_sf"] in cfg.features.sf_cpd
    # FWHM of a Gaussian of SD envelope_periods / sf degrees
    for f, width in real["fwhm"].items():
        assert width == pytest.approx(2.3548 * cfg.features.envelope_periods / f, rel=1e-4)
    assert real["screen_deg"] == (cfg.height * cfg.deg_per_px, cfg.width * cfg.deg_per_px)


def test_dense_feature_maps_equal_the_features_read_at_each_pixel(rng=np.random.default_rng(3)):
    """The true-bank core's maps (every feature at every pixel) are the values the
    neurons read: the bank sampled at whole-pixel positions."""
    import torch

    from v1lib.sim.features import FeatureBank

    bank = FeatureBank((36, 64), 1.5)
    images = torch.as_tensor(rng.uniform(0, 255, (2, 36, 64)), dtype=torch.float32)
    maps = bank.dense(images)
    assert maps.shape == (2, len(bank.features), 36, 64)
    kinds = {f.type for f in bank.features}
    assert kinds == {"simple", "complex", "corner"}  # every type is checked below
    index = torch.arange(len(bank.features))
    y = torch.as_tensor(rng.integers(0, 36, len(index)), dtype=torch.float32)
    x = torch.as_tensor(rng.integers(0, 64, len(index)), dtype=torch.float32)
    points = bank.sample_from(bank.components(images), index, x, y)
    dense_points = maps[:, index, y.long(), x.long()]
    torch.testing.assert_close(dense_points, points, rtol=1e-5, atol=1e-6)
