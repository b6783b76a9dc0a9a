"""The chapters' study summaries: relative changes, verdicts against the
reported numbers, and the data-efficiency interpolation."""

import numpy as np
import pytest
import xarray as xr

from v1lib import stats
from v1lib.studies import readouts, static, transfer


def comparison(gaussian, factorized):
    fo = np.array([gaussian, factorized], dtype=float)
    seeds = list(range(1, fo.shape[1] + 1))
    return xr.Dataset({"fraction_oracle": (("variant", "seed"), fo)},
                      coords={"variant": ["gaussian", "factorized"], "seed": seeds})


def curve(direct, transfer, fractions=(0.1, 0.3, 1.0), images=2500):
    fo = np.array([direct, transfer], dtype=float)  # (condition, fraction, seed)
    n = np.broadcast_to((np.array(fractions) * images)[None, :, None], fo.shape)
    return xr.Dataset({"fraction_oracle": (("condition", "fraction", "seed"), fo),
                       "n_train_images": (("condition", "fraction", "seed"), n)},
                      coords={"condition": ["direct", "transfer"], "fraction": list(fractions),
                              "seed": list(range(1, fo.shape[2] + 1))})


def test_relative_change_is_undefined_against_a_score_at_or_below_zero():
    out = stats.relative_change([1.1, 0.5, 0.5, np.nan], [1.0, 0.0, -0.2, 1.0])
    assert out[0] == pytest.approx(10.0)
    assert np.isnan(out[1:]).all()


@pytest.mark.parametrize("gaussian, factorized, verdict", [
    ([1.20, 1.21, 1.19], [1.0, 1.0, 1.0], "reproduces the direction of, and is larger than,"),
    ([1.07, 1.071, 1.069], [1.0, 1.0, 1.0], "reproduces, within its uncertainty,"),
    ([1.02, 1.021, 1.019], [1.0, 1.0, 1.0], "reproduces the direction of, and is smaller than,"),
    ([1.10, 0.90, 1.00], [1.0, 1.0, 1.0], "neither confirms nor refutes"),
    ([0.80, 0.81, 0.79], [1.0, 1.0, 1.0], "reverses"),
    ([1.10], [1.0], "cannot be tested with one seed"),
])
def test_readout_claim_verdicts(gaussian, factorized, verdict):
    text = readouts.readout_claim_text(comparison(gaussian, factorized))
    assert verdict in text
    wins = sum(g > f for g, f in zip(gaussian, factorized))
    assert f"ahead in {wins} of {len(gaussian)}" in text


def test_readout_claim_refuses_a_relative_change_against_a_negative_factorized_score():
    text = readouts.readout_claim_text(comparison([0.05, 0.04], [-0.01, 0.02]))
    assert text == ("**Gaussian + grid vs factorized:** the factorized readout's fraction oracle "
                    "is at or below zero for 1 of 2 seeds (mean 0.005, against 0.045 for "
                    "Gaussian + grid), so no relative change can be set against the reported +7 %.")


def test_readout_claim_and_ranking_refuse_non_finite_or_tied_scores():
    assert "not finite" in readouts.readout_claim_text(comparison([1.0, np.nan], [0.9, 0.9]))
    c = xr.Dataset({"fraction_oracle": (("variant", "seed"), [[0.8, 0.9], [0.8, 0.9]])},
                   coords={"variant": ["gaussian", "gaussian_free"], "seed": [1, 2]})
    assert "+0.0 % ± 0.0 % against free positions (within the seed-to-seed noise" in \
        readouts.ranking_text(c)


def test_headline_text_uses_seed_means_and_handles_a_factorized_score_at_chance():
    c = comparison([1.1, 1.1], [1.0, 1.0])
    c["params_per_neuron"] = (("variant", "seed"), [[40, 40], [600, 600]])
    c = c.assign_coords(label=("variant", ["Gaussian + grid", "factorized"]))
    assert readouts.headline_text(c) == (
        "On these data the Gaussian readout with the grid predictor changes the fraction oracle "
        "by +10.0 % relative to the factorized readout (seed means 1.100 and 1.000), with 15 "
        "times fewer parameters per neuron; the best variant is *Gaussian + grid*.")
    c["fraction_oracle"][1] = [-0.1, 0.0]
    assert "+1.150 in absolute terms" in readouts.headline_text(c)


def test_data_needed_interpolates_in_log_fraction():
    mean = xr.DataArray([0.5, 0.7, 0.9], coords={"fraction": [0.1, 0.3, 1.0]}, dims="fraction")
    assert transfer.data_needed(mean, 0.4) == 0.1  # reached at the first fraction already
    expected = np.exp(np.log(0.1) + 0.5 * (np.log(0.3) - np.log(0.1)))
    assert transfer.data_needed(mean, 0.6) == pytest.approx(expected)
    assert np.isnan(transfer.data_needed(mean, 0.95))


def test_transfer_claims_compute_the_gain_and_the_data_to_match():
    c = curve(direct=[[0.4, 0.4], [0.7, 0.7], [0.8, 0.8]],
              transfer=[[0.6, 0.6], [0.8, 0.8], [0.9, 0.9]])
    claims = transfer.transfer_claims(c)
    assert claims["gain_at_full_data_pct"] == pytest.approx(12.5)
    assert claims["gain_at_smallest_pct"] == pytest.approx(50.0)
    assert claims["data_fraction_to_match"] == pytest.approx(0.3)
    assert "+12.5 %" in claims["text"] and "30 % of the data" in claims["text"]


def test_transfer_texts_report_absolute_changes_where_direct_training_is_at_chance():
    c = curve(direct=[[-0.01, 0.0], [0.3, 0.3], [0.5, 0.5]],
              transfer=[[0.2, 0.2], [0.4, 0.4], [0.6, 0.6]])
    claims = transfer.transfer_claims(c)
    assert np.isnan(claims["gain_at_smallest_pct"])
    assert "+0.205 in absolute terms" in claims["text"]
    summary = transfer.transfer_summary_text(c)
    assert "250 images: +0.205 in absolute terms" in summary
    assert "2500 images: +20.0 % ± 0.0 %" in summary


def test_transfer_summary_says_when_seeds_do_not_resolve_a_difference():
    c = curve(direct=[[0.5, 0.5], [0.7, 0.7], [0.8, 0.8]],
              transfer=[[0.7, 0.7], [0.6, 0.9], [0.8, 0.8]])
    text = transfer.transfer_summary_text(c)
    assert "250 images: +40.0 % ± 0.0 % (transfer ahead)" in text
    assert "750 images: +7.1 % ± 21.4 % (no resolved difference)" in text
    assert "2500 images: +0.0 % ± 0.0 % (no resolved difference)" in text


def test_transfer_summary_names_non_finite_scores():
    c = curve(direct=[[0.5, 0.5], [0.7, 0.7], [0.8, 0.8]],
              transfer=[[np.nan, 0.6], [0.8, 0.8], [0.9, 0.9]])
    assert "250 images: not finite for some seed" in transfer.transfer_summary_text(c)


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


def test_unknown_variant_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown model variant 'gaussian_fancy'"):
        static.variant_config("smoke", "gaussian_fancy")


def test_ranking_text_orders_image_only_readouts_and_pairs_grid_with_free_positions():
    fo = np.array([[0.85, 0.84, 0.86], [0.89, 0.90, 0.89], [0.73, 0.74, 0.73], [0.91, 0.91, 0.92],
                   [1.10, 1.10, 1.10]])
    variants = ["gaussian", "gaussian_free", "factorized", "point", "gaussian_full"]
    c = xr.Dataset({"fraction_oracle": (("variant", "seed"), fo)},
                   coords={"variant": variants, "seed": [1, 2, 3]})
    text = readouts.ranking_text(c)
    assert ("point-pooled (0.913) > Gaussian, free positions (0.893) > Gaussian + grid (0.850) > "
            "factorized (0.733)") in text
    assert "shifter" not in text  # the full model sees more than the image
    assert "-4.8 % ± 1.0 %" in text and "a resolved loss" in text and "ahead in 0 of 3" in text
    fo[0] = fo[1] * np.array([1.05, 0.90, 1.01])  # grid vs free: +5 %, -10 %, +1 %
    noisy = xr.Dataset({"fraction_oracle": (("variant", "seed"), fo)}, coords=c.coords)
    assert "within the seed-to-seed noise" in readouts.ranking_text(noisy)


def test_one_replicate_has_no_interval_and_resolves_nothing():
    m, e = stats.mean_sem(xr.DataArray([0.4], dims="seed"))
    assert float(m) == 0.4 and np.isnan(float(e))
    assert not stats.resolved(5.0, float("nan")) and not stats.resolved(float("nan"), 1.0)
    assert stats.resolved(5.0, 2.0) and not stats.resolved(5.0, 3.0) and not stats.resolved(0.0, 0.0)
    c = curve(direct=[[0.5], [0.7], [0.8]], transfer=[[0.7], [0.8], [0.9]])
    assert "2500 images: +12.5 % (one seed: no interval, not tested)" in transfer.transfer_summary_text(c)


def test_one_seed_variants_are_marked_and_compared_on_common_seeds():
    fo = np.array([[0.85, 0.84, 0.86], [0.73, 0.74, 0.73], [1.15, np.nan, np.nan]])
    c = xr.Dataset({"fraction_oracle": (("variant", "seed"), fo),
                    "epochs": (("variant", "seed"), np.where(np.isnan(fo), np.nan, 20.0)),
                    "params_per_neuron": (("variant", "seed"), np.ones_like(fo))},
                   coords={"variant": ["gaussian", "factorized", "gaussian_full"],
                           "seed": [1, 2, 3],
                           "label": ("variant", ["Gaussian + grid", "factorized", "full"])})
    assert list(readouts.trained(c, "gaussian_full")) == [True, False, False]
    assert "the best variant is *full* (trained with 1 of the 3 seeds)" in readouts.headline_text(c)
    table = readouts.comparison_table(c)
    assert table.loc["full", "fraction oracle"] == "1.150 (1 seed)"
    assert table.loc["factorized", "fraction oracle"] == "0.733 ± 0.003"
    assert "3 seeds" in readouts.readout_claim_text(c)


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
    curve, core = transfer.transfer_curve(garbage, "smoke", target, fractions=[1.0], seeds=[1],
                                          results_dir=tmp_path / "a")
    alone = static.fit_variant({k: v for k, v in tiny_scans.items() if k != target}, "smoke",
                               "gaussian", 1, tmp_path / "b", show_progress=False)
    assert target not in core.tensors and target not in core.model.readouts
    for k, v in alone.model.core.state_dict().items():
        assert torch.equal(core.model.core.state_dict()[k], v), k
    assert set(curve.condition.values) == {"direct", "transfer"}
