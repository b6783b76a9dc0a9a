"""The negative control of core transfer: gains of transfer over direct
training on the source animals' kind of V1 and on a foreign one, paired by
source core, and the guards of the study."""

import numpy as np
import pytest
import xarray as xr

from v1lib.studies import negative_control as nc

METRIC = nc.METRIC
T2 = 4.302653  # Student t, 97.5 % quantile, 2 degrees of freedom


def curve(direct, transfer, fractions=(0.1, 1.0)):
    v = np.array([direct, transfer], dtype=float)  # (condition, fraction, animal)
    return xr.Dataset({METRIC: (("condition", "fraction", "animal"), v)},
                      coords={"condition": ["direct", "transfer"], "fraction": list(fractions),
                              "animal": ["a1", "a2", "a3"]})


def control(direct, transfer, fractions=(0.1, 1.0)):
    d = np.repeat(np.asarray(direct, dtype=float)[:, None], 3, axis=1)
    v = np.array([d, transfer], dtype=float)  # (condition, fraction, source)
    return xr.Dataset({METRIC: (("condition", "fraction", "source"), v)},
                      coords={"condition": ["direct", "transfer"], "fraction": list(fractions),
                              "source": ["a1", "a2", "a3"]}, attrs={"animal": "f1"})


SAME = curve(direct=[[0.2, 0.3, 0.25], [0.6, 0.7, 0.65]],
             transfer=[[0.5, 0.6, 0.55], [0.7, 0.8, 0.75]])


def test_scores_pair_each_core_on_its_held_out_animal_and_on_the_foreign_one():
    foreign = control(direct=[0.3, 0.7], transfer=[[0.31, 0.33, 0.32], [0.6, 0.62, 0.64]])
    s = nc.scores(SAME, foreign)
    np.testing.assert_allclose(s.transfer_same.sel(fraction=0.1), [0.5, 0.6, 0.55])
    np.testing.assert_allclose(s.transfer_foreign.sel(fraction=1.0), [0.6, 0.62, 0.64])
    np.testing.assert_allclose(s.gain_same.sel(fraction=0.1), [0.3, 0.3, 0.3])
    np.testing.assert_allclose(s.gain_foreign.sel(fraction=0.1), [0.01, 0.03, 0.02])
    np.testing.assert_allclose(s.gain_foreign.sel(fraction=1.0), [-0.1, -0.08, -0.06])
    assert list(s.source.values) == ["a1", "a2", "a3"]


def test_a_core_that_serves_the_foreign_animal_worse_is_a_resolved_loss():
    foreign = control(direct=[0.3, 0.7], transfer=[[0.31, 0.33, 0.32], [0.6, 0.62, 0.64]])
    text = nc.control_text(SAME, foreign)
    # transfer at 10 %: foreign - same = -0.19, -0.27, -0.23: mean -0.23, s.d. 0.04
    half = T2 * 0.04 / np.sqrt(3)
    assert f"-0.230 [{-0.23 - half:+.3f}, {-0.23 + half:+.3f}]" in text
    # gains at 10 %: differences -0.29, -0.27, -0.28 -> mean -0.28, s.d. 0.01
    half = T2 * 0.01 / np.sqrt(3)
    assert f"-0.280 [{-0.28 - half:+.3f}, {-0.28 + half:+.3f}]" in text
    assert text.count("is a resolved loss") == 4
    assert "0.300 on the foreign one (means; from 0.300 to 0.300 over its seeds)" in text
    assert "fraction of image-only ceiling" in text


def test_a_foreign_animal_served_like_the_own_kind_is_not_resolved():
    foreign = control(direct=[0.3, 0.7], transfer=[[0.45, 0.65, 0.6], [0.75, 0.82, 0.7]])
    text = nc.control_text(SAME, foreign)
    assert "is not resolved" in text and "resolved loss" not in text


def test_missing_scores_are_named_not_averaged():
    foreign = control(direct=[0.3, np.nan], transfer=[[0.31, 0.33, 0.32], [0.6, 0.62, 0.64]])
    assert "At 100 % of the data, not all models have scores" in nc.control_text(SAME, foreign)


def test_the_foreign_animal_exists_for_the_profiles_own_data_only():
    assert nc.foreign_scans("smoke", "some/recording.nc") is None


def test_a_foreign_animal_named_like_a_source_animal_is_refused():
    scans = {"a1": xr.Dataset(), "a2": xr.Dataset()}
    with pytest.raises(ValueError, match="has the name of a source animal"):
        nc.foreign_transfer({"a1": xr.Dataset()}, scans, {}, "smoke", [1.0])
    with pytest.raises(ValueError, match="one foreign animal"):
        nc.foreign_transfer({"f1": xr.Dataset(), "f2": xr.Dataset()}, scans, {}, "smoke", [1.0])
    with pytest.raises(ValueError, match="no source core for held-out animal"):
        nc.foreign_transfer({"f1": xr.Dataset()}, scans, {"a1": None}, "smoke", [1.0])
