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


@pytest.mark.slow
def test_grating_tuning_recovers_ground_truth(stats_scans):
    _, scans = stats_scans
    pop = next(iter(populations_of(scans).values()))
    ids = np.flatnonzero(pop.responsive & (pop.feature_type != "corner"))[:120]
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
