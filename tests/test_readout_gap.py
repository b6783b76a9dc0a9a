"""The readout gap against the amount of data (Lurz et al. 2021, Fig. 3)."""

import numpy as np
import pytest
import xarray as xr

from v1lib.studies import readout_gap, transfer
from v1lib.studies.readout_gap import ALL

T2 = 4.302653  # Student t, 97.5 % quantile, 2 degrees of freedom


@pytest.mark.parametrize("setting, message", [
    ({"neurons": [100], "images": [10]}, "takes only 'neurons'"),
    ([100], "takes only 'neurons'"),
    ({"neurons": [0]}, "positive integers"),
    ({"neurons": [True]}, "positive integers"),
    ({"neurons": 100}, "positive integers"),
])
def test_bad_settings_are_named(monkeypatch, setting, message):
    monkeypatch.setattr(readout_gap.profiles, "settings", lambda p, s: {"readout_gap": setting})
    monkeypatch.setattr(readout_gap.profiles, "resolve", lambda p: "mine")
    with pytest.raises(ValueError, match=f"profile 'mine': 'readout_gap.*{message}"):
        readout_gap.gap_settings("mine")


def test_settings_are_sorted_and_absent_settings_mean_no_study(monkeypatch):
    monkeypatch.setattr(readout_gap.profiles, "settings",
                        lambda p, s: {"readout_gap": {"neurons": [500, 50, 500]}})
    assert readout_gap.gap_settings("x") == {"neurons": [50, 500]}
    monkeypatch.setattr(readout_gap.profiles, "settings", lambda p, s: {})
    assert readout_gap.gap_settings("x") is None


def test_neuron_subsets_are_drawn_with_the_seed_and_keep_their_order(tiny_scans):
    ds = next(iter(tiny_scans.values()))
    a, b = (readout_gap.neuron_subset(ds, 20, seed) for seed in (1, 1))
    assert a.sizes["neuron"] == 20 and a.identical(b)
    position = {u: k for k, u in enumerate(ds.unit_id.values)}
    kept = np.array([position[u] for u in a.unit_id.values])
    assert (np.diff(kept) > 0).all()  # the scan's own order
    assert not np.array_equal(a.unit_id.values,
                              readout_gap.neuron_subset(ds, 20, 2).unit_id.values)
    np.testing.assert_array_equal(a.responses.values, ds.responses.isel(neuron=kept).values)
    for bad in (0, ds.sizes["neuron"]):
        with pytest.raises(ValueError, match="neuron subset needs between 1 and"):
            readout_gap.neuron_subset(ds, bad, 1)


@pytest.mark.slow
def test_the_gap_trains_both_readouts_on_the_grid_and_shares_chapter_3s_direct_models(
        tiny_scans, tmp_path):
    result = readout_gap.readout_gap(tiny_scans, "smoke", tmp_path)
    assert list(result.readout.values) == ["gaussian", "factorized"]
    assert list(result.neurons.values) == [ALL, "50"] and list(result.fraction.values) == [0.5, 1.0]
    fo = result.fraction_oracle
    assert np.isfinite(fo).all()  # smoke: both fractions are the smallest and the largest
    images = result.n_train_images.sel(readout="gaussian", neurons=ALL)
    assert (images.sel(fraction=0.5) < images.sel(fraction=1.0)).all()
    # the Gaussian models with all neurons are chapter 3's direct models: cached, not retrained
    folders = set((tmp_path / "models").iterdir())
    for animal, seed in (("insilico-3-1", 1), ("insilico-3-2", 2)):
        fit = transfer.condition_fit(tiny_scans, "smoke", animal, seed, 0.5, "direct",
                                     results_dir=tmp_path)
        assert fit.folder in folders
    assert set((tmp_path / "models").iterdir()) == folders


def result_of(gaussian, factorized, fractions=(0.1, 1.0), neurons=(ALL, "50")):
    """A gap result: scores with dims (readout, neurons, fraction, animal)."""
    fo = np.array([gaussian, factorized], dtype=float)
    n = np.broadcast_to((np.array(fractions) * 1000)[None, None, :, None], fo.shape)
    dims = ("readout", "neurons", "fraction", "animal")
    return xr.Dataset({"fraction_oracle": (dims, fo), "n_train_images": (dims, n)},
                      coords={"readout": ["gaussian", "factorized"], "neurons": list(neurons),
                              "fraction": list(fractions),
                              "animal": [f"a{k}" for k in range(fo.shape[-1])]})


def test_the_gap_text_reads_each_gap_and_its_shrinking_off_intervals():
    # all neurons: gaps 0.3, 0.4, 0.5 with few images; 0.1, 0.1, 0.1 with all
    g = [[[0.8, 0.9, 1.0], [0.8, 0.8, 0.8]], [[0.5, 0.5, 0.5], [0.6, 0.6, 0.6]]]
    f = [[[0.5, 0.5, 0.5], [0.7, 0.7, 0.7]], [[0.5, 0.4, 0.6], [0.6, 0.6, 0.6]]]
    text = readout_gap.gap_text(result_of(g, f))
    half = T2 * 0.1 / np.sqrt(3)  # SD 0.1 over 3 animals
    assert (f"With all neurons, the Gaussian readout's fraction oracle minus the factorized "
            f"one's is +0.400 [{0.4 - half:+.3f}, {0.4 + half:+.3f}] with 100 training images, "
            "which is a resolved gain") in text
    assert "+0.100 [+0.100, +0.100] with 1,000, which is a resolved gain" in text
    assert f"is +0.300 [{0.3 - half:+.3f}, {0.3 + half:+.3f}], which is a resolved gain" in text
    # 50 neurons: gaps 0, 0.1, -0.1 with few images, 0 with all: nothing resolved
    fifty = text[text.index("With 50 neurons per animal"):]
    assert fifty.count("is not resolved") == 3 and "resolved gain" not in fifty
    assert text.endswith("over 3 animals, each with its own seed and training subsets.)")


def test_neuron_counts_without_models_are_left_out_of_the_text():
    g = [[[0.8, 0.9, 1.0], [0.8, 0.8, 0.8]], [[np.nan] * 3, [np.nan] * 3]]
    f = [[[0.5, 0.5, 0.5], [0.7, 0.7, 0.7]], [[np.nan] * 3, [np.nan] * 3]]
    text = readout_gap.gap_text(result_of(g, f))
    assert "With all neurons" in text and "50 neurons" not in text


def test_a_gap_largest_between_the_ends_is_named():
    # gaps 0.1, 0.4 (+-0.1), 0.1 at 100, 300 and 1,000 images
    g = [[[0.3, 0.3, 0.3], [0.7, 0.8, 0.9], [0.8, 0.8, 0.8]]]
    f = [[[0.2, 0.2, 0.2], [0.4, 0.4, 0.4], [0.7, 0.7, 0.7]]]
    text = readout_gap.gap_text(result_of(g, f, fractions=(0.1, 0.3, 1.0), neurons=(ALL,)))
    half = T2 * 0.1 / np.sqrt(3)
    assert (f"It is largest in between, with 300 images: +0.400 [{0.4 - half:+.3f}, "
            f"{0.4 + half:+.3f}], which is a resolved gain") in text
    assert "largest in between" not in readout_gap.gap_text(result_of(
        [[[0.5] * 3, [0.5] * 3, [0.9] * 3]], [[[0.4] * 3, [0.4] * 3, [0.4] * 3]],
        fractions=(0.1, 0.3, 1.0), neurons=(ALL,)))


def test_one_amount_of_data_gives_one_gap_and_no_trend():
    text = readout_gap.gap_text(result_of([[[0.8, 0.9, 1.0]]], [[[0.5, 0.5, 0.5]]],
                                          fractions=(1.0,), neurons=(ALL,)))
    assert "fraction oracle minus the factorized one's is +0.400 [" in text
    assert "fewer images" not in text and "in between" not in text
