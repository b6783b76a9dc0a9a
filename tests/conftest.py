import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from v1lib.sim.static import StaticConfig, simulate_static

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"

TINY = {
    "n_animals": 2, "n_train": 60, "n_validation": 10, "n_test_images": 12, "test_repeats": 4,
    "population": {"n_neurons": 60},
}


# Under pytest-xdist the test processes already share the cores: a sweep in one of
# them runs its jobs in turn (tests that are about side-by-side jobs set this).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("V1LIB_WORKERS", "1")


@pytest.fixture(autouse=True, scope="session")
def _threads():
    # one thread: the tests' tiny models gain nothing from more, and on a busy
    # machine threads that wait for each other make the fast loop minutes long
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_config() -> StaticConfig:
    return StaticConfig.from_dict(TINY)


@pytest.fixture(scope="session")
def tiny_scans(tiny_config):
    return simulate_static(tiny_config, seed=3, show_progress=False)


@pytest.fixture(scope="session")
def stats_scans():
    """One animal with enough neurons and repeats for statistical checks."""
    cfg = StaticConfig.from_dict({"n_animals": 1, "n_train": 150, "n_validation": 10,
                                  "n_test_images": 60, "test_repeats": 8,
                                  "population": {"n_neurons": 400}})
    return cfg, simulate_static(cfg, seed=11, show_progress=False)


@pytest.fixture
def scan(tiny_scans):
    return next(iter(tiny_scans.values())).copy(deep=True)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def copy_project(dst: Path, with_chapters: bool = True) -> Path:
    """A copy of the project files the runner needs, in ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("data_manifest.yaml",):
        shutil.copy(ROOT / name, dst / name)
    shutil.copytree(ROOT / "profiles", dst / "profiles")
    (dst / "notebooks").mkdir()
    if with_chapters:
        for p in (ROOT / "notebooks").glob("*.py"):
            shutil.copy(p, dst / "notebooks" / p.name)
    return dst


def rng(seed=0):
    return np.random.default_rng(seed)


class SmallClassifier(nn.Module):
    """Convolutions (5 x 5, then 3 x 3 after 2 x 2 max pooling), a pool over
    space and a linear map to the classes: small enough to train through
    ``fit`` in a test. Called as the book's models are: ``model(scan, stimulus)``."""

    def __init__(self, n_classes: int, channels=(4,), pool: str = "avg"):
        super().__init__()
        layers, prev = [], 1
        for k, c in enumerate(channels):
            layers += ([nn.MaxPool2d(2)] if k else []) + [
                nn.Conv2d(prev, c, 3 if k else 5, padding=1 if k else 2), nn.ReLU()]
            prev = c
        layers += [nn.AdaptiveAvgPool2d(1) if pool == "avg" else nn.AdaptiveMaxPool2d(1),
                   nn.Flatten()]
        self.core = nn.Sequential(*layers)
        self.head = nn.Linear(prev, n_classes)

    def forward(self, scan, stimulus, features=None):
        return self.head(self.core(stimulus) if features is None else features)

    def regularizer(self, scan, core=True):
        return torch.zeros(())

    def clamp_(self):
        pass
