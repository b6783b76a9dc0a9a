"""The simulator on a GPU: every tensor of a drive lives on the device of its
input, so a simulation runs wherever its images are.

On a machine without CUDA the device tests run on PyTorch's ``meta`` device,
which computes shapes only and refuses most mixtures of devices: a tensor made
on the CPU and combined with the input in a drive fails them as it would on a
GPU (not every one: ``meta.index_select`` takes a CPU index, CUDA does not).
Where CUDA is present, whole scans of the three simulators made on it match the
CPU's to float tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from v1lib.sim import freely_moving, static, video
from v1lib.sim.temporal import TemporalConfig, VideoNeurons

from .conftest import TINY
from .test_freely_moving_sim import TINY as TINY_MOVING
from .test_video_sim import TINY_VIDEO

META = torch.device("meta")


@pytest.fixture(scope="module")
def pop():
    cfg = static.StaticConfig.from_dict(TINY)
    population = static.animals(cfg, 3)[0]
    population.outside_sign[:5] = 1.0  # some neurons read luminance outside the bank
    return population


def test_a_static_drive_stays_on_the_device_of_its_images(pop):
    images = torch.empty(4, *pop.bank.shape, device=META)
    rows = torch.tensor([0, 0, 1, 2, 3, 3])  # repeated images seen at other eye positions
    shift, torsion = np.linspace(-2, 2, 6), np.linspace(-0.1, 0.1, 6)
    z = pop.drive(images, shift, -shift, rows, torsion)
    assert z.device == META and z.shape == (6, pop.config.n_neurons)
    assert pop.output(z).device == META
    pre, weight = torch.empty(3, z.shape[1], device=META), torch.empty(6, 3, z.shape[1], device=META)
    assert pop.weighted_output(z, pre, weight).device == META
    assert pop.bank.dense(images).device == META


def test_a_video_drive_stays_on_the_device_of_its_frames(pop):
    vn = VideoNeurons(pop, TemporalConfig(), 30.0, np.random.default_rng(0))
    frames = np.full((12, *pop.bank.shape), 127, dtype=np.uint8)
    for (kind, sign), (lum, comps) in vn.filtered(frames, META).items():
        assert lum.device == META and all(c.device == META for c in comps), kind
        z = pop.drive(lum, np.zeros(12), np.zeros(12), None, np.zeros(12), components=comps,
                      neurons=np.arange(7))
        assert z.device == META and z.shape == (12, 7), (kind, sign)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("module, config, rates", [
    (static, static.StaticConfig.from_dict(TINY),
     ("gt_rate", "gt_stimulus_rate", "gt_stimulus_only_rate")),
    (video, video.VideoConfig.from_dict(TINY_VIDEO), ("gt_rate", "gt_stimulus_rate")),
    (freely_moving, freely_moving.FreelyMovingConfig.from_dict(TINY_MOVING), ("gt_rate",)),
], ids=["static", "video", "freely_moving"])
def test_a_scan_simulated_on_cuda_matches_the_cpu(module, config, rates):
    cpu = module.simulate_scan(config, 3, 0, show_progress=False, device="cpu")
    gpu = module.simulate_scan(config, 3, 0, show_progress=False, device="cuda")
    assert (cpu.attrs["sim_device"], gpu.attrs["sim_device"]) == ("cpu", "cuda")
    for var in rates:
        a, b = cpu[var].values, gpu[var].values
        ok = np.isfinite(a)
        np.testing.assert_allclose(b[ok], a[ok], rtol=1e-3, atol=1e-4 * np.abs(a[ok]).max())
    assert (cpu.responses.values == gpu.responses.values).mean() > 0.99
