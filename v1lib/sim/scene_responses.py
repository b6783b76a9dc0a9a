"""The in-silico V1 shown a set of natural scenes, each many times: our stand-in
for the Allen Brain Observatory's 118 natural scenes (about 50 repeats each),
which Shi et al. (2022) compared task-trained networks with.

The scenes are crops of the test photographs (no network of the book trains
on them); the neurons are one simulated animal's, at unit behavioural gain and
the mean eye position, so the only trial-to-trial variability is the
simulator's response noise. The noise-free rates are kept as ``gt_rate``:
the representation a noise-free experiment would record.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from .photographs import SHARED_SCENES
from .static import StaticConfig, animals
from .stimuli import natural_crops

BATCH = 64


def scene_responses(config: StaticConfig, seed: int, animal: int = 0, images: int = 118,
                    repeats: int = 10, show_progress: bool = False) -> xr.Dataset:
    """Responses ``(repeat, image, neuron)`` of animal ``animal`` (of the
    dataset ``config`` and ``seed`` simulate) to ``images`` natural scenes,
    with the scenes and the noise-free rates ``gt_rate``."""
    if images < 3 or repeats < 2:
        raise ValueError(f"scene responses need at least 3 images and 2 repeats, got {images} "
                         f"images and {repeats} repeats")
    pops = animals(config, seed)
    if not 0 <= animal < len(pops):
        raise ValueError(f"no animal {animal}: the dataset has {len(pops)} animals")
    pop = pops[animal]
    rng = np.random.default_rng([seed, 118, animal])
    scenes = natural_crops(images, (config.height, config.width), rng,
                           pool=SHARED_SCENES["test"])
    with torch.no_grad():
        rate = np.concatenate([pop.stimulus_rate(torch.from_numpy(scenes[i:i + BATCH])).numpy()
                               for i in range(0, images, BATCH)])
    trials = np.stack([pop.sample_responses(rate, rng) for _ in range(repeats)])
    return xr.Dataset(
        {"images": (("image", "y", "x"), scenes, {"long_name": "natural scene", "units": "grey level"}),
         "responses": (("repeat", "image", "neuron"), trials,
                       {"long_name": "response on each presentation"}),
         "gt_rate": (("image", "neuron"), rate.astype(np.float32),
                     {"long_name": "noise-free rate at unit gain and the mean eye position"})},
        coords={"image": np.arange(images), "repeat": np.arange(repeats),
                "neuron": np.arange(rate.shape[1])},
        attrs={"sim_seed": seed, "animal": animal, "deg_per_px": config.deg_per_px,
               "scenes": ", ".join(SHARED_SCENES["test"])})
