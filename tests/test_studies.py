"""The chapters' study summaries: t-based intervals over replicate animals,
relative changes, verdicts read off intervals and set against the reported
numbers, and the data-efficiency interpolation."""

import numpy as np
import pytest
import xarray as xr

from v1lib import stats
from v1lib.studies import readouts, static, transfer

T2, T1 = 4.302653, 12.706205  # Student t, 97.5 % quantile, 2 and 1 degrees of freedom


def comparison(gaussian, factorized):
    fo = np.array([gaussian, factorized], dtype=float)
    animals = [f"a{k}" for k in range(1, fo.shape[1] + 1)]
    return xr.Dataset({"fraction_oracle": (("variant", "animal"), fo)},
                      coords={"variant": ["gaussian", "factorized"], "animal": animals})


def curve(direct, transfer, fractions=(0.1, 0.3, 1.0), images=2500):
    fo = np.array([direct, transfer], dtype=float)  # (condition, fraction, animal)
    n = np.broadcast_to((np.array(fractions) * images)[None, :, None], fo.shape)
    return xr.Dataset({"fraction_oracle": (("condition", "fraction", "animal"), fo),
                       "n_train_images": (("condition", "fraction", "animal"), n)},
                      coords={"condition": ["direct", "transfer"], "fraction": list(fractions),
                              "animal": [f"a{k}" for k in range(1, fo.shape[2] + 1)]})


def test_t_interval_matches_a_hand_computation():
    iv = stats.t_interval([1.0, 2.0, 6.0])  # mean 3, sd sqrt(7), n 3
    half = T2 * np.sqrt(7) / np.sqrt(3)
    assert (iv.mean, iv.n) == (3.0, 3)
    assert iv.lo == pytest.approx(3 - half, rel=1e-6) and iv.hi == pytest.approx(3 + half, rel=1e-6)
    iv = stats.t_interval([0.2, np.nan, 0.4])  # NaN (not trained) is left out
    assert iv.n == 2 and iv.hi - iv.mean == pytest.approx(T1 * 0.1, rel=1e-6)
    one = stats.t_interval([0.4])
    assert one.mean == 0.4 and not one.known and not one.excludes(0)
    assert "no interval" in one.text()


def test_mean_ci_gives_the_t_half_width_per_row():
    v = xr.DataArray([[1.0, 2.0, 6.0], [1.0, np.nan, np.nan]], dims=("variant", "animal"))
    m, half = stats.mean_ci(v, "animal")
    assert float(m[0]) == 3.0 and float(half[0]) == pytest.approx(T2 * np.sqrt(7 / 3), rel=1e-6)
    assert np.isnan(float(half[1]))


@pytest.mark.parametrize("lo, hi, reported, words", [
    (10.0, 20.0, 7.0, "resolved gain, larger than"),
    (5.0, 9.0, 7.0, "consistent with"),
    (1.0, 3.0, 7.0, "resolved gain, smaller than"),
    (-2.0, 27.0, 7.0, "contains both 0 and"),
    (-8.0, -1.0, 7.0, "the opposite direction"),
    (-2.0, 5.0, 7.0, "not resolved from 0, and the 95 % interval excludes"),
])
def test_verdicts_are_read_off_the_interval(lo, hi, reported, words):
    iv = stats.Interval((lo + hi) / 2, lo, hi, 3)
    assert words in stats.verdict(iv, reported)


def test_a_reported_zero_change_and_no_replicate_are_worded_as_such():
    gain = stats.Interval(5.0, 1.0, 9.0, 3)
    assert stats.verdict(gain, 0.0) == "is a resolved gain (the 95 % interval excludes 0)"
    none = stats.t_interval([np.nan, np.nan])
    assert none.n == 0 and none.text() == "no replicate to compare"
    assert stats.verdict(none) == "cannot be tested: no replicate gives a value"


def test_relative_change_is_undefined_against_a_score_at_or_below_zero():
    out = stats.relative_change([1.1, 0.5, 0.5, np.nan], [1.0, 0.0, -0.2, 1.0])
    assert out[0] == pytest.approx(10.0)
    assert np.isnan(out[1:]).all()


@pytest.mark.parametrize("gaussian, factorized, verdict", [
    ([1.20, 1.21, 1.19], [1.0, 1.0, 1.0], "larger than the reported +7 %"),
    ([1.07, 1.071, 1.069], [1.0, 1.0, 1.0], "consistent with the reported +7 %"),
    ([1.02, 1.021, 1.019], [1.0, 1.0, 1.0], "smaller than the reported +7 %"),
    ([1.10, 0.90, 1.00], [1.0, 1.0, 1.0], "neither confirm nor refute"),
    ([0.80, 0.81, 0.79], [1.0, 1.0, 1.0], "opposite direction"),
    ([1.10], [1.0], "cannot be tested"),
    # the review's case: +15.8 % with an interval [4.6, 27] % that contains +7 %
    ([1.20, 1.15, 1.125], [1.0, 1.0, 1.0], "consistent with the reported +7 %"),
])
def test_readout_claim_verdicts(gaussian, factorized, verdict):
    text = readouts.readout_claim_text(comparison(gaussian, factorized))
    assert verdict in text
    wins = sum(g > f for g, f in zip(gaussian, factorized))
    assert f"ahead on {wins} of {len(gaussian)}" in text


def test_readout_claim_refuses_a_relative_change_against_a_negative_factorized_score():
    text = readouts.readout_claim_text(comparison([0.05, 0.04], [-0.01, 0.02]))
    assert text == ("**Gaussian + grid vs factorized:** the factorized readout's fraction oracle "
                    "is at or below zero for 1 of 2 animals (mean 0.005, against 0.045 for "
                    "Gaussian + grid), so no relative change can be set against the reported +7 %.")


def test_readout_claim_and_ranking_refuse_non_finite_or_tied_scores():
    assert "not finite" in readouts.readout_claim_text(comparison([1.0, np.nan], [0.9, 0.9]))
    c = xr.Dataset({"fraction_oracle": (("variant", "animal"), [[0.8, 0.9], [0.8, 0.9]])},
                   coords={"variant": ["gaussian", "gaussian_free"], "animal": ["a1", "a2"]})
    text = readouts.ranking_text(c)
    assert "+0.0 % [95 % CI +0.0, +0.0] against free positions" in text
    assert "is not resolved" in text


def test_headline_text_uses_animal_means_and_handles_a_factorized_score_at_chance():
    c = comparison([1.1, 1.1], [1.0, 1.0])
    c["params_per_neuron"] = (("variant", "animal"), [[40, 40], [600, 600]])
    c = c.assign_coords(label=("variant", ["Gaussian + grid", "factorized"]))
    assert readouts.headline_text(c) == (
        "On these data the Gaussian readout with the grid predictor changes the fraction oracle "
        "by +10.0 % relative to the factorized readout (means over animals 1.100 and 1.000), "
        "with 15 times fewer parameters per neuron; the best image-only variant is *Gaussian + grid*.")
    c["fraction_oracle"][1] = [-0.1, 0.0]
    assert "+1.150 in absolute terms" in readouts.headline_text(c)


def test_data_needed_interpolates_in_log_fraction():
    mean = xr.DataArray([0.5, 0.7, 0.9], coords={"fraction": [0.1, 0.3, 1.0]}, dims="fraction")
    assert transfer.data_needed(mean, 0.4) == 0.1  # reached at the first fraction already
    expected = np.exp(np.log(0.1) + 0.5 * (np.log(0.3) - np.log(0.1)))
    assert transfer.data_needed(mean, 0.6) == pytest.approx(expected)
    assert np.isnan(transfer.data_needed(mean, 0.95))


def test_transfer_claims_compute_the_gain_its_interval_and_the_data_to_match():
    c = curve(direct=[[0.4, 0.4], [0.7, 0.7], [0.8, 0.8]],
              transfer=[[0.6, 0.6], [0.8, 0.8], [0.9, 0.9]])
    claims = transfer.transfer_claims(c)
    assert claims["gain_at_full_data_pct"] == pytest.approx(12.5)
    assert claims["gain_at_full_data_ci"] == pytest.approx((12.5, 12.5))
    assert claims["gain_at_smallest_pct"] == pytest.approx(50.0)
    assert claims["data_fraction_to_match"] == pytest.approx(0.3)
    assert claims["data_fraction_per_animal"] == pytest.approx([0.3, 0.3])
    assert "+12.5 % [95 % CI +12.5, +12.5]" in claims["text"]
    assert "30 % of the data" in claims["text"] and "animal by animal: 30 %, 30 %" in claims["text"]


def test_fraction_config_counts_the_same_optimiser_steps_at_every_fraction():
    base = static.variant_config("smoke", "gaussian")[1]
    full = static.fraction_config(base, 1.0, 2500, 3)
    assert full == base  # direct models with all data are chapter 2's
    small = static.fraction_config(base, 0.1, 2500, 3, freeze_core=True)
    assert small.steps_per_epoch == int(np.ceil(2500 / base.batch_size))
    assert (small.train_fraction, small.subset_seed, small.freeze_core) == (0.1, 3, True)
    assert (small.max_epochs, small.patience) == (base.max_epochs, base.patience)


def test_transfer_texts_report_absolute_changes_where_direct_training_is_at_chance():
    c = curve(direct=[[-0.01, 0.0], [0.3, 0.3], [0.5, 0.5]],
              transfer=[[0.2, 0.2], [0.4, 0.4], [0.6, 0.6]])
    claims = transfer.transfer_claims(c)
    assert np.isnan(claims["gain_at_smallest_pct"])
    assert "+0.205 in absolute terms" in claims["text"]
    summary = transfer.transfer_summary_text(c)
    assert "250 images: +0.205 [95 % CI +0.141, +0.269] in absolute terms" in summary
    assert "2500 images: +20.0 % [95 % CI +20.0, +20.0], which is a resolved gain" in summary


def test_transfer_summary_says_when_animals_do_not_resolve_a_difference():
    c = curve(direct=[[0.5, 0.5], [0.7, 0.7], [0.8, 0.8]],
              transfer=[[0.7, 0.7], [0.6, 0.9], [0.8, 0.8]])
    text = transfer.transfer_summary_text(c)
    assert "250 images: +40.0 % [95 % CI +40.0, +40.0], which is a resolved gain" in text
    half = T1 * np.std([-100 / 7, 100 * 2 / 7], ddof=1) / np.sqrt(2)
    lo, hi = 50 / 7 - half, 50 / 7 + half
    assert f"750 images: +7.1 % [95 % CI {lo:+.1f}, {hi:+.1f}], which is not resolved" in text
    assert "2500 images: +0.0 % [95 % CI +0.0, +0.0], which is not resolved" in text


def test_transfer_summary_names_non_finite_scores():
    c = curve(direct=[[0.5, 0.5], [0.7, 0.7], [0.8, 0.8]],
              transfer=[[np.nan, 0.6], [0.8, 0.8], [0.9, 0.9]])
    assert "250 images: not finite for some animal" in transfer.transfer_summary_text(c)


def history(val, lr, stopped):
    return xr.Dataset({"val_score": ("epoch", val), "lr": ("epoch", lr)},
                      coords={"epoch": np.arange(len(val))},
                      attrs={"epochs": len(val), "stopped": stopped,
                             "best_epoch": int(np.argmax(val))})


def test_training_curve_text_names_decays_and_the_reason_training_ended():
    h = history([0.1, 0.3, 0.35, 0.34, 0.36, 0.36], [1e-2] * 4 + [3e-3] * 2, "early stopping")
    assert list(readouts.lr_decays(h)) == [4]
    assert readouts.training_curve_text(h) == (
        "The learning rate decayed at epoch(s) 4 (dashed), each time after the best weights were "
        "restored. Training ended by early stopping after 6 epochs; the best validation "
        "correlation came in epoch 4.")
    h = history([0.1, 0.2], [1e-2, 1e-2], "max_epochs")
    assert readouts.training_curve_text(h) == (
        "The learning rate never decayed. Training ran into the limit of 2 epochs; the best "
        "validation correlation came in epoch 1.")


def test_unknown_variant_and_bad_replicates_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown model variant 'gaussian_fancy'"):
        static.variant_config("smoke", "gaussian_fancy")
    with pytest.raises(ValueError, match="asks for 2 replicates .* 1 scans"):
        static.replicates({"only": None}, static.study_settings("smoke"))
    assert static.replicates({"a": None, "b": None, "c": None}, {"replicates": 2}) == [("a", 1), ("b", 2)]


def test_ranking_text_orders_image_only_readouts_and_pairs_grid_with_free_positions():
    fo = np.array([[0.85, 0.84, 0.86], [0.89, 0.90, 0.89], [0.73, 0.74, 0.73], [0.91, 0.91, 0.92],
                   [1.10, 1.10, 1.10]])
    variants = ["gaussian", "gaussian_free", "factorized", "point", "gaussian_full"]
    c = xr.Dataset({"fraction_oracle": (("variant", "animal"), fo)},
                   coords={"variant": variants, "animal": ["a1", "a2", "a3"]})
    text = readouts.ranking_text(c)
    assert ("point-pooled (0.913) > Gaussian, free positions (0.893) > Gaussian + grid (0.850) > "
            "factorized (0.733)") in text
    assert "shifter" not in text  # the full model sees more than the image
    assert "-4.8 % [95 % CI" in text and "a resolved loss" in text and "ahead on 0 of 3" in text
    fo[0] = fo[1] * np.array([1.05, 0.90, 1.01])  # grid vs free: +5 %, -10 %, +1 %
    noisy = xr.Dataset({"fraction_oracle": (("variant", "animal"), fo)}, coords=c.coords)
    assert "is not resolved (the 95 % interval contains 0)" in readouts.ranking_text(noisy)


def test_one_replicate_has_no_interval_and_resolves_nothing():
    c = curve(direct=[[0.5], [0.7], [0.8]], transfer=[[0.7], [0.8], [0.9]])
    assert ("2500 images: +12.5 % (one replicate: no interval), which cannot be tested"
            in transfer.transfer_summary_text(c))


def test_one_replicate_variants_are_marked_and_compared_on_common_animals():
    fo = np.array([[0.85, 0.84, 0.86], [0.73, 0.74, 0.73], [1.15, np.nan, np.nan]])
    c = xr.Dataset({"fraction_oracle": (("variant", "animal"), fo),
                    "epochs": (("variant", "animal"), np.where(np.isnan(fo), np.nan, 20.0)),
                    "params_per_neuron": (("variant", "animal"), np.ones_like(fo))},
                   coords={"variant": ["gaussian", "factorized", "point"],
                           "animal": ["a1", "a2", "a3"],
                           "label": ("variant", ["Gaussian + grid", "factorized", "point"])})
    assert list(readouts.trained(c, "point")) == [True, False, False]
    best = "the best image-only variant is *point* (trained on 1 of the 3 animals)"
    assert best in readouts.headline_text(c)
    table = readouts.comparison_table(c)
    assert table.loc["point", "fraction oracle"] == "1.150 (1 animal)"
    half = T2 * np.std([0.73, 0.74, 0.73], ddof=1) / np.sqrt(3)
    lo, hi = 0.7333333 - half, 0.7333333 + half
    assert table.loc["factorized", "fraction oracle"] == f"0.733 [{lo:.3f}, {hi:.3f}]"
    assert "3 animals" in readouts.readout_claim_text(c)


@pytest.mark.slow
def test_the_transfer_source_core_never_sees_the_target_scan(tiny_scans, tmp_path):
    """Garbage in place of the target's data leaves the source core as it is
    when trained on the other scans alone, to the bit; the held-out models see
    the target only."""
    import torch

    target = list(tiny_scans)[-1]
    ds = tiny_scans[target]
    r = np.random.default_rng(0)
    garbage = {**tiny_scans, target: ds.assign(
        responses=(ds.responses.dims, r.exponential(1e3, ds.responses.shape).astype(np.float32)),
        images=(ds.images.dims, r.uniform(0, 255, ds.images.shape).astype(ds.images.dtype)))}
    curve, cores = transfer.transfer_curve(garbage, "smoke", fractions=[1.0],
                                           results_dir=tmp_path / "a")
    core = cores[target]
    seed = dict(static.replicates(garbage, static.study_settings("smoke")))[target]
    alone = static.fit_variant({k: v for k, v in tiny_scans.items() if k != target}, "smoke",
                               "gaussian", seed, tmp_path / "b", show_progress=False)
    assert target not in core.tensors and target not in core.model.readouts
    for k, v in alone.model.core.state_dict().items():
        assert torch.equal(core.model.core.state_dict()[k], v), k
    assert set(curve.condition.values) == {"direct", "transfer"}


def test_worlds_and_ln_texts_pair_animals_and_read_off_intervals():
    mis = comparison([1.20, 1.15, 1.125], [1.0, 1.0, 1.0])
    well = comparison([1.10, 0.90, 1.00], [1.0, 1.0, 1.0])
    text = readouts.worlds_text(mis, well)
    assert "with the mechanisms outside the model class, +15.8 % [95 % CI" in text
    assert "is a resolved gain" in text and "in the well-specified world, +0.0 % [95 % CI" in text
    assert "is not resolved" in text
    fo = np.array([[0.8, 0.82, 0.81], [0.4, 0.42, 0.39]])
    c = xr.Dataset({"fraction_oracle": (("variant", "animal"), fo)},
                   coords={"variant": ["gaussian", "linear"], "animal": ["a1", "a2", "a3"]})
    assert "against the LN baseline" in readouts.ln_text(c) and "resolved gain" in readouts.ln_text(c)
    assert readouts.ln_text(mis) == "This profile trains no LN baseline."
    bad = comparison([1.0, 1.0], [-0.1, 0.2])
    assert "not comparable as a relative change" in readouts.worlds_text(bad, bad)


def test_the_well_specified_twin_exists_for_the_profiles_own_data_only():
    assert readouts.well_specified_twin("smoke", "some/recording.nc") is None


def search(gaussian, factorized, factors=(0.1, 1.0, 10.0), base=0.01):
    v = np.array([gaussian, factorized], dtype=float)
    return xr.Dataset({"val_score": (("readout", "factor"), v)},
                      coords={"readout": ["gaussian", "factorized"], "factor": list(factors),
                              "gamma_readout": ("factor", [base * f for f in factors])},
                      attrs={"animal": "a1", "seed": 1, "base_gamma_readout": base})


def test_the_search_gives_each_readout_kind_its_own_best_value():
    from v1lib.studies import tuning

    s = search([0.20, 0.25, 0.21], [0.22, 0.18, 0.10])
    assert tuning.best_factors(s) == {"gaussian": 1.0, "factorized": 0.1}
    opts = tuning.tuned_options(s)
    # every Gaussian-readout variant takes the Gaussian readout's value
    for v in ("gaussian", "gaussian_free", "linear", "gaussian_full"):
        assert opts[v] == {"gamma_readout": pytest.approx(0.01)}
    assert opts["factorized"] == {"gamma_readout": pytest.approx(0.001)}
    assert "point" not in opts and tuning.tuned_options(None) == {}
    text = tuning.search_text(s)
    assert "edge of the range" in text and text.count("edge of the range") == 1  # factorized only
    # a tie goes to the value nearest the profile's own
    assert tuning.best_factors(search([0.2, 0.2, 0.2], [0.3, 0.3, 0.1]))["factorized"] == 1.0


def test_the_search_trains_each_readout_at_each_value_on_validation_data(tiny_scans, tmp_path):
    from v1lib.studies import tuning

    s = tuning.readout_search(tiny_scans, "smoke", tmp_path)
    factors = tuning.search_factors("smoke")
    assert list(s.factor.values) == factors and len(factors) > 1
    assert set(s.readout.values) == {"gaussian", "factorized"}
    assert np.isfinite(s.val_score.values).all()
    assert s.attrs["animal"] == list(tiny_scans)[0]
    # the tuned models are the ones the comparison then trains (same folder: cached)
    comp = readouts.readout_comparison({k: tiny_scans[k] for k in list(tiny_scans)},
                                       "smoke", ["gaussian", "factorized"], tmp_path,
                                       tuned=tuning.tuned_options(s))
    assert comp.gamma_readout.sel(variant="factorized") == pytest.approx(
        s.attrs["base_gamma_readout"] * tuning.best_factors(s)["factorized"])



def test_an_interval_spans_its_mean_and_bounds_or_says_it_has_none():
    assert stats.Interval(0.7612, 0.7409, 0.7811, 3).span() == "0.761 [0.741, 0.781]"
    assert stats.Interval(-0.0914, -0.123, -0.058, 3).span(signed=True) == "-0.091 [-0.123, -0.058]"
    assert stats.Interval(0.1, 0.05, 0.2, 3).span(signed=True) == "+0.100 [+0.050, +0.200]"
    assert stats.t_interval([0.4]).span() == "0.400 (no interval)"


def test_scores_are_kept_beside_the_model_and_reused_only_for_the_same_model_data_and_tier(
        tiny_scans, tmp_path, monkeypatch):
    import torch

    from v1lib.studies import sweep

    first = next(iter(tiny_scans))
    scans = {first: tiny_scans[first]}
    fit = static.fit_variant(scans, "smoke", "gaussian", 1, tmp_path, show_progress=False)
    scores = sweep.tier_scores(fit, scans)
    assert len(list(fit.folder.glob("scores_test_*.json"))) == 1
    calls = []
    real = sweep.evaluate
    monkeypatch.setattr(sweep, "evaluate", lambda *a: calls.append(a[-1]) or real(*a))
    assert sweep.tier_scores(fit, scans) == scores  # read back, to the bit
    assert calls == []
    sweep.tier_scores(fit, scans, "validation")  # another tier
    ds = scans[first]
    other = {first: ds.assign(responses=ds.responses * 2)}  # other data of the same scan
    assert sweep.tier_scores(fit, other)["n_neurons"] == scores["n_neurons"]
    torch.save(fit.model.state_dict(), fit.folder / "model.pt")  # the model written anew
    sweep.tier_scores(fit, scans)
    assert calls == ["validation", "test", "test"]
    assert len(list(fit.folder.glob("scores_*.json"))) == 4
