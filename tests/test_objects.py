"""The object-recognition task: deterministic, balanced, backgrounds of held-out
tiers from held-out scenes, in the task schema; its config, manifest entries
and command line."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from v1lib import datasets
from v1lib.data import load_scans, schemas
from v1lib.data.schema import SchemaError
from v1lib.sim import objects
from v1lib.sim.objects import SHAPES, ObjectsConfig, simulate_objects
from v1lib.sim.photographs import SCENE_POOLS

from .conftest import ROOT

SMALL = {"n_train": 24, "n_validation": 12, "n_test": 12, "size": 40}


@pytest.fixture(scope="module")
def small():
    return simulate_objects(ObjectsConfig.from_dict(SMALL), seed=5, show_progress=False)["objects"]


def test_same_seed_same_images_other_seed_other_images(small):
    again = simulate_objects(ObjectsConfig.from_dict(SMALL), seed=5, show_progress=False)["objects"]
    for name in ("images", "label", "gt_x", "gt_diameter", "gt_contrast"):
        np.testing.assert_array_equal(small[name].values, again[name].values)
    other = simulate_objects(ObjectsConfig.from_dict(SMALL), seed=6, show_progress=False)["objects"]
    assert not np.array_equal(small.images.values, other.images.values)


def test_classes_balanced_and_all_present_in_every_tier(small):
    assert len(SHAPES) >= 10 and list(small.class_name.values) == list(SHAPES)
    for tier, n in (("train", 24), ("validation", 12), ("test", 12)):
        labels = small.label.values[small.tier.values == tier]
        counts = np.bincount(labels, minlength=len(SHAPES))
        assert len(labels) == n and counts.min() >= 1 and counts.max() - counts.min() <= 1, tier
    cfg = ObjectsConfig.from_dict({**SMALL, "n_train": 30})  # not a multiple of 12
    ds = simulate_objects(cfg, seed=1, show_progress=False)["objects"]
    counts = np.bincount(ds.label.values[ds.tier.values == "train"])
    assert counts.sum() == 30 and counts.max() - counts.min() == 1


def test_images_are_8_bit_with_ground_truth_and_provenance(small):
    assert small.images.dtype == np.uint8 and small.images.shape == (48, 40, 40)
    assert small.attrs["schema"] == "task" and small.attrs["sim_seed"] == 5
    assert ObjectsConfig.from_dict(json.loads(small.attrs["sim_config"])) == \
        ObjectsConfig.from_dict(SMALL)
    d = small.gt_diameter.values
    assert np.all((d >= 0.3 * 40 - 1e-4) & (d <= 0.7 * 40 + 1e-4))
    assert np.all(np.abs(small.gt_contrast.values) >= 25 - 1e-4)
    assert (small.gt_contrast.values > 0).any() and (small.gt_contrast.values < 0).any()


def test_train_backgrounds_come_from_other_scenes_than_held_out_ones(monkeypatch):
    scenes = objects.background_scenes()
    assert set(scenes["train"]).isdisjoint(scenes["validation"] + scenes["test"])
    assert scenes == {t: SCENE_POOLS[t] for t in ("train", "validation", "test")}
    used = []
    real = objects.natural_crops
    monkeypatch.setattr(objects, "natural_crops",
                        lambda n, shape, rng, pool: used.append(pool) or real(n, shape, rng, pool))
    simulate_objects(ObjectsConfig.from_dict(SMALL), seed=5, show_progress=False)
    assert used == [scenes["train"], scenes["validation"], scenes["test"]]


def test_objects_are_anti_aliased_silhouettes_of_their_size():
    shapes = objects.templates(["disc", "square"])
    params = {"x": np.array([20.0, 20.0]), "y": np.array([20.0, 20.0]),
              "diameter": np.array([24.0, 24.0]), "rotation": np.array([0.0, np.pi / 4])}
    cover = objects.draw(shapes, np.array([0, 1]), params, 40)
    assert cover.min() >= 0 and cover.max() <= 1 + 1e-6
    edge = (cover[0] > 0.05) & (cover[0] < 0.95)
    assert edge.any()  # partial coverage at the edge
    np.testing.assert_allclose(cover[0].sum(), np.pi * (0.75 * 12) ** 2, rtol=0.02)
    np.testing.assert_allclose(cover[1].sum(), (1.24 * 12) ** 2, rtol=0.02)  # rotation keeps area
    bg = np.full((2, 40, 40), 100.0)
    img = objects.compose(bg, cover, np.array([50.0, -50.0]))
    assert img[0, 20, 20] == pytest.approx(150) and img[1, 20, 20] == pytest.approx(50)
    assert img[0, 0, 0] == 100


def test_the_task_validates_and_bad_labels_are_caught(small):
    schemas.validate(small, "objects.nc")
    assert schemas.of(small).name == "task" and not schemas.get("task").has_neurons
    bad = small.copy(deep=True)
    bad["label"].values[3] = 12
    with pytest.raises(SchemaError, match=r"objects.nc: variable 'label' has value\(s\) \[12\] "
                                          r"outside 0..11"):
        schemas.validate(bad, "objects.nc")
    floats = small.assign(label=small.label.astype(float))
    with pytest.raises(SchemaError, match="objects.nc: variable 'label' must hold integer"):
        schemas.validate(floats, "objects.nc")
    missing = small.copy(deep=True)
    missing["label"].values[(small.tier.values == "train") & (small.label.values == 4)] = 3
    with pytest.raises(SchemaError, match=r"variable 'label': class\(es\) \['cross'\] have no 'train'"):
        schemas.validate(missing, "objects.nc")
    with pytest.raises(SchemaError, match="missing variable 'label'"):
        schemas.validate(small.drop_vars("label"), "objects.nc", schema="task")


@pytest.mark.parametrize("options, message", [
    ({"n_trian": 10}, "unknown option 'n_trian'"),
    ({"n_train": 10.5}, "n_train: expected an integer"),
    ({"n_test": 5}, "'n_test' must be at least the number of classes"),
    ({"scale": [0.5, 1.5]}, "'scale' must be"),
    ({"contrast": [40, 20]}, "'contrast' must be"),
    ({"background_contrast": [-1, 20]}, "'background_contrast' must be"),
    ({"classes": ["disc", "blob"]}, "'classes' must be two or more distinct shapes"),
    ({"size": 8}, "'size' must be at least 16"),
])
def test_config_errors_name_the_option(options, message):
    with pytest.raises(ValueError, match=f"objects.yaml: .*{message}"):
        ObjectsConfig.from_dict(options, source="objects.yaml")


def test_manifest_entries_make_the_task(tmp_path):
    entries = datasets.read_manifest()
    for name in ("insilico-objects", "insilico-objects-smoke", "insilico-objects-large"):
        assert entries[name]["generator"] == "objects"
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"version": 1, "datasets": {"tiny-objects": {
        "kind": "simulated", "generator": "objects", "seed": 3,
        "config": {"n_train": 12, "n_validation": 12, "n_test": 12, "size": 24}}}}))
    scans = datasets.load("tiny-objects", results_dir=tmp_path, manifest=manifest,
                          show_progress=False)
    ds = scans["objects"]
    assert ds.images.shape == (36, 24, 24) and ds.attrs["seed"] == 3
    direct = simulate_objects(ObjectsConfig.from_dict({"n_train": 12, "n_validation": 12,
                                                       "n_test": 12, "size": 24}), 3, False)
    np.testing.assert_array_equal(ds.images.values, direct["objects"].images.values)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "v1lib", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


@pytest.mark.slow
def test_cli_simulate_objects_writes_a_valid_file_and_a_bad_option_none(tmp_path):
    cfg = tmp_path / "objects.yaml"
    cfg.write_text(yaml.safe_dump({"n_train": 24, "n_validation": 12, "n_test": 12, "size": 32}))
    out = tmp_path / "objects.nc"
    proc = cli("simulate", "objects", "--seed", "4", "--config", str(cfg), "--out", str(out),
               "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "48 images, 12 classes" in proc.stdout
    ds = load_scans(out)["objects"]
    assert ds.attrs["schema"] == "task" and ds.attrs["seed"] == 4 and ds.images.shape == (48, 32, 32)
    cfg.write_text("n_trian: 24\n")
    proc = cli("simulate", "objects", "--seed", "4", "--config", str(cfg), "--out",
               str(tmp_path / "bad.nc"))
    assert proc.returncode == 1 and "unknown option 'n_trian'" in proc.stderr
    assert not (tmp_path / "bad.nc").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["objects.nc", "objects.yaml"]
