"""Config hashes, atomic writes and the results cache."""

import json

import numpy as np
import pytest
import xarray as xr

from v1lib.cache import atomic_path, cached_result, config_hash


def test_config_hash_ignores_key_order_and_sees_values():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert len(config_hash({})) == 16


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.nc") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(tmp_path / "x.nc") as tmp:
        tmp.write_text("whole")
    assert [p.name for p in tmp_path.iterdir()] == ["x.nc"]


def test_cached_result_computes_once(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return xr.DataArray(np.arange(3.0), dims="neuron", name="score")

    a = cached_result(tmp_path, "demo", {"n": 3}, 1, compute)
    b = cached_result(tmp_path, "demo", {"n": 3}, 1, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(a.score, b.score)
    folder = next((tmp_path / "demo").iterdir())
    assert json.loads((folder / "config.json").read_text())["config"] == {"n": 3}
    prov = json.loads((folder / "provenance.json").read_text())
    assert {"git_commit", "git_dirty", "versions", "seed", "config_hash"} <= set(prov)
    assert b.attrs["config_hash"] == prov["config_hash"]
    cached_result(tmp_path, "demo", {"n": 3}, 2, compute)  # another seed: computed again
    assert len(calls) == 2


def test_cached_result_is_recomputed_when_the_code_changes(tmp_path, monkeypatch):
    import xarray as xr

    import v1lib.cache as cache

    calls = []

    def compute():
        calls.append(1)
        return xr.DataArray([1.0, 2.0], dims="x", name="v")

    cached_result(tmp_path, "demo", {"n": 1}, 0, compute)
    monkeypatch.setattr(cache, "code_digest", lambda code=None: "another version of v1lib")
    cached_result(tmp_path, "demo", {"n": 1}, 0, compute)
    assert len(calls) == 2
