"""The studies of the video chapters: the tuning probe of Sinz et al. (2018),
stimulus domains, and the tables the chapters show."""

import numpy as np
import pytest
import xarray as xr

from v1lib.studies import domain_transfer as dt
from v1lib.studies import video_prediction as vp
from v1lib.studies import video_tuning as vt


def monet_like(n_clips=4, frames=160, n_dirs=8, seed=0):
    """Directions per frame: epochs of ``n_dirs`` directions, half of each
    period coherent, in a random order per clip."""
    rng = np.random.default_rng(seed)
    period = frames // n_dirs
    d = np.full((n_clips, frames), np.nan)
    for c in range(n_clips):
        for k, theta in enumerate(rng.permutation(n_dirs) * 360.0 / n_dirs):
            start = k * period + period // 4
            d[c, start:start + period // 2] = theta
    return d


def responses_to(direction, pref_deg, m, lag=0, noise=0.0, seed=1):
    """A neuron tuned to ``pref_deg`` (period 360 / m), responding ``lag`` frames late."""
    rng = np.random.default_rng(seed)
    theta = np.deg2rad(np.nan_to_num(direction, nan=0.0))
    on = np.isfinite(direction)
    r = 1.0 + on * (1 + np.cos(m * (theta - np.deg2rad(pref_deg))))
    r = np.roll(r, lag, axis=1)
    return (r + noise * rng.standard_normal(r.shape))[..., None]


@pytest.mark.parametrize("m, pref", [(2, 30.0), (2, 150.0), (1, 250.0)])
def test_the_probe_recovers_a_known_preferred_angle(m, pref):
    d = monet_like()
    t = vt.tuning(responses_to(d, pref, m, lag=2), d, m, fps=30.0, latency_s=2 / 30)
    err = np.rad2deg(vt.circular_difference(t["angle"], np.deg2rad(pref), m))[0]
    assert abs(err) < 3
    assert t["selectivity"][0] > 0.2 and t["r2"][0] > 0.1


def test_the_latency_matters_and_an_untuned_neuron_explains_nothing():
    d = monet_like()
    r = responses_to(d, 60.0, 2, lag=3)
    right = vt.tuning(r, d, 2, fps=30.0, latency_s=0.1)["r2"][0]
    wrong = vt.tuning(r, d, 2, fps=30.0, latency_s=0.0)["r2"][0]
    assert right > wrong
    flat = np.ones_like(r) + 0.1 * np.random.default_rng(0).standard_normal(r.shape)
    assert vt.tuning(flat, d, 2, fps=30.0)["r2"][0] < 0.01


def test_burn_in_frames_are_left_out():
    d = monet_like()
    r = responses_to(d, 45.0, 2)
    spoiled = r.copy()
    spoiled[:, :20] = 50.0 * np.random.default_rng(2).random(spoiled[:, :20].shape)
    a = vt.tuning(spoiled, d, 2, fps=30.0, burn_in=20, latency_s=0)
    b = vt.tuning(r, d, 2, fps=30.0, burn_in=20, latency_s=0)
    np.testing.assert_allclose(a["angle"], b["angle"])
    assert not np.allclose(vt.tuning(spoiled, d, 2, 30.0, latency_s=0)["angle"], b["angle"])


def test_circular_difference_wraps_within_the_period():
    assert vt.circular_difference(np.array(0.1), np.array(np.pi - 0.1), 2) == pytest.approx(0.2)
    assert vt.circular_difference(np.array(0.1), np.array(2 * np.pi - 0.1), 1) == pytest.approx(0.2)
    assert vt.circular_difference(np.array(1.0), np.array(0.5), 2) == pytest.approx(0.5)


def video_scan(types=("natural", "monet", "trippy", "natural")):
    n = len(types)
    return xr.Dataset({"responses": (("clip", "time", "neuron"), np.ones((n, 3, 2)))},
                      coords={"stimulus_type": ("clip", list(types)),
                              "tier": ("clip", ["train"] * n)})


def test_stimulus_domains_select_their_clips():
    ds = video_scan()
    assert list(vp.domain_scan(ds, "movies").stimulus_type.values) == ["natural", "natural"]
    assert list(vp.domain_scan(ds, "noise").stimulus_type.values) == ["monet", "trippy"]
    assert dt.readout_scan(ds, "both").sizes["clip"] == 4
    with pytest.raises(ValueError, match="unknown stimulus domain 'film'"):
        vp.domain_scan(ds, "film")
    with pytest.raises(ValueError, match="no noise clips"):
        vp.domain_scan(video_scan(("natural",)), "noise")


def test_the_transfer_table_has_the_papers_layout():
    rng = np.random.default_rng(0)
    scores = xr.Dataset(
        {k: (("core", "readout", "animal", "domain"), rng.random((2, 3, 3, 2)))
         for k in dt.METRICS},
        coords={"core": ["noise", "movies"], "readout": ["noise", "movies", "both"],
                "animal": ["a", "b", "c"], "domain": ["noise", "movies"]})
    table = dt.transfer_table(scores)
    assert list(table.index) == [f"readout trained on {r}" for r in ("noise", "movies", "both")]
    assert ("tested on movies", "core: noise") in table.columns
    m = float(scores.single_trial_corr.sel(core="noise", readout="both", domain="movies").mean())
    assert table.loc["readout trained on both", ("tested on movies", "core: noise")].startswith(
        f"{m:.3f} [")


def test_the_comparison_table_marks_variants_trained_on_one_animal():
    comp = xr.Dataset(
        {"single_trial_corr": (("variant", "animal", "domain"),
                               np.array([[[0.1, 0.2], [0.3, 0.4]], [[0.5, 0.6], [np.nan] * 2]])),
         "epochs": (("variant", "animal"), np.array([[3.0, 4.0], [5.0, np.nan]]))},
        coords={"variant": ["full", "ln"], "animal": ["a", "b"], "domain": ["movies", "noise"]})
    table = vp.comparison_table(comp, "single_trial_corr")
    assert table.loc[vp.LABELS["ln"], "tested on movies"] == "0.500 (1 animal)"
    assert table.loc[vp.LABELS["full"], "tested on movies"].startswith("0.200 [")
    assert table.loc[vp.LABELS["full"], "trained on"] == "movies"


def test_a_profile_naming_an_unknown_variant_is_refused(monkeypatch):
    monkeypatch.setattr(vp.profiles, "settings", lambda name, section: {"variants": ["fulll"]})
    monkeypatch.setattr(vp.profiles, "resolve", lambda name: name)
    with pytest.raises(ValueError, match="unknown video model variant.*fulll"):
        vp.settings("smoke")


def test_a_window_no_longer_than_the_burn_in_is_refused(monkeypatch):
    from v1lib.studies import video

    section = {"train": {"window": 10}, "burn_in": 10}
    monkeypatch.setattr(video.profiles, "settings", lambda name, s: section)
    monkeypatch.setattr(video.profiles, "resolve", lambda name: name)
    with pytest.raises(ValueError, match="window of 10 frames leaves nothing after the burn-in"):
        video.model_configs("smoke")
    section["train"]["window"] = 11
    assert video.model_configs("smoke")[1].window == 11
