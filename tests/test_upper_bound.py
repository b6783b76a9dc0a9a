"""The true-bank core (the simulator's feature bank as a frozen model core) and
chapter 2's upper bound built on it."""

import numpy as np
import pytest
import torch

from v1lib.models.core import CORES
from v1lib.models.encoder import ModelConfig
from v1lib.sim.static import populations_of
from v1lib.studies import upper_bound


def test_the_true_bank_core_computes_the_simulators_features(tiny_scans):
    """At a pixel, the core's map of feature k is the bank's feature k there,
    read from the normalised stimulus the model gets."""
    name, ds = next(iter(tiny_scans.items()))
    cfg = upper_bound.true_bank_config(ds, "smoke")
    cfg = ModelConfig.from_dict({**cfg.to_dict(), "core": {**cfg.to_dict()["core"], "stride": 1}})
    core = CORES[cfg.core_type][1](cfg.core)
    pop = populations_of(tiny_scans)[name]
    imgs = torch.from_numpy(ds.images.values[:3].astype(np.float32))
    x = ((imgs - cfg.core.stimulus_mean) / cfg.core.stimulus_std)[:, None]
    maps = core(x)
    assert maps.shape == (3, len(pop.bank.features), ds.sizes["y"], ds.sizes["x"])
    assert sum(p.numel() for p in core.parameters()) == 0
    comps = pop.bank.components(imgs)
    n = np.arange(10)
    xs, ys = np.round(pop.rf_x[n]), np.round(pop.rf_y[n])
    want = pop.bank.sample_from(comps, torch.from_numpy(pop.primary[n]),
                                torch.from_numpy(xs).float(), torch.from_numpy(ys).float())
    got = maps[:, pop.primary[n], ys.astype(int), xs.astype(int)]
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)


def test_the_upper_bound_trains_only_a_readout_on_every_animal(tiny_scans, tmp_path):
    bound = upper_bound.upper_bounds({"default": tiny_scans}, "smoke", tmp_path)["default"]
    assert list(bound.animal.values) == list(tiny_scans)
    assert np.isfinite(bound.gt_stimulus_only_ceiling_fraction.values).all()
    cfg = upper_bound.true_bank_config(next(iter(tiny_scans.values())), "smoke",
                                       {"gamma_readout": 0.5})
    assert cfg.core_type == "true_bank" and cfg.readout == "gaussian" and cfg.gamma_readout == 0.5
    with pytest.raises(ValueError, match="built for"):
        CORES["true_bank"][1](cfg.core).output_shape(10, 10)


def test_bound_text_pairs_animals_and_reads_the_difference_off_its_interval():
    import xarray as xr

    key = "gt_stimulus_only_ceiling_fraction"
    animals = ["a1", "a2", "a3"]
    comp = xr.Dataset({key: (("variant", "animal"), [[0.60, 0.62, 0.58], [0.5, 0.5, 0.5]])},
                      coords={"variant": ["gaussian", "factorized"], "animal": animals})
    bound = xr.Dataset({key: ("animal", [0.80, 0.83, 0.79])}, coords={"animal": animals})
    text = upper_bound.bound_text(comp, bound, "default")
    assert "reaches 0.807 [" in text and "the trained core 0.600 [" in text
    assert "0.207 of the ceiling below the bound" in text and "a resolved difference" in text
    assert "ran into the limit" not in text
    capped = bound.assign(epochs=("animal", [20, 20, 14])).assign_attrs(max_epochs=20)
    assert "2 of 3 readouts of the bound ran into the limit of 20 epochs" in upper_bound.bound_text(
        comp, capped, "default")
    noisy = bound.assign({key: ("animal", [0.50, 0.75, 0.60])})
    assert "not resolved" in upper_bound.bound_text(comp, noisy, "default")
