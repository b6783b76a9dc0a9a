"""A user's folder of labelled images, in either layout, read as a task; each
malformed folder is refused with an error naming the folder or file."""

import numpy as np
import pytest
from PIL import Image

from v1lib import datasets
from v1lib.data import schemas
from v1lib.data.image_folder import is_image_folder, read_image_folder
from v1lib.data.schema import SchemaError


def _write(folder, classes, per_class, seed=0):
    """``per_class`` images of random sizes, RGB PNGs and grey JPEGs, per class."""
    rng = np.random.default_rng(seed)
    for c in classes:
        (folder / c).mkdir(parents=True)
        for i in range(per_class):
            h, w = rng.integers(20, 60, size=2)
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            if i % 2:
                Image.fromarray(pixels).save(folder / c / f"{i}.png")
            else:
                Image.fromarray(pixels[..., 0]).save(folder / c / f"{i}.JPG")
        (folder / c / "notes.txt").write_text("not an image")  # left out


def test_class_folders_split_into_three_tiers(tmp_path):
    _write(tmp_path, ["zebra", "cat", "dog"], 10)
    ds = read_image_folder(tmp_path, size=16, validation_fraction=0.2, seed=1)
    schemas.validate(ds, "folder")
    assert ds.images.shape == (30, 16, 16) and ds.images.dtype == np.uint8
    assert list(ds.class_name.values) == ["cat", "dog", "zebra"]
    for tier, n in (("train", 6), ("validation", 2), ("test", 2)):
        labels = ds.label.values[ds.tier.values == tier]
        assert sorted(np.bincount(labels)) == [n] * 3, tier
    assert list(ds.tier.values[:18]) == ["train"] * 18  # samples in tier order
    names = [f.split("/")[0] for f in ds.file.values]
    assert [list(ds.class_name.values).index(n) for n in names] == list(ds.label.values)
    again = read_image_folder(tmp_path, size=16, validation_fraction=0.2, seed=1)
    np.testing.assert_array_equal(again.file.values, ds.file.values)
    other = read_image_folder(tmp_path, size=16, validation_fraction=0.2, seed=2)
    assert not np.array_equal(other.file.values, ds.file.values)


def test_imagenet_layout_val_is_test_and_part_of_train_validation(tmp_path):
    _write(tmp_path / "train", ["b", "a"], 10)
    _write(tmp_path / "val", ["a", "b"], 3, seed=1)
    ds = read_image_folder(tmp_path, size=12, validation_fraction=0.1, seed=0)
    assert ds.images.shape == (26, 12, 12)
    assert list(ds.class_name.values) == ["a", "b"]
    tiers = {t: int((ds.tier == t).sum()) for t in ("train", "validation", "test")}
    assert tiers == {"train": 18, "validation": 2, "test": 6}
    assert all(f.startswith("val/") for f in ds.file.values[ds.tier.values == "test"])
    assert is_image_folder(tmp_path) and is_image_folder(tmp_path / "train")
    scans = datasets.load(tmp_path)  # read by path, at the defaults
    assert list(scans) == [tmp_path.name] and scans[tmp_path.name].images.shape == (26, 64, 64)


def test_images_are_grey_resized_by_the_shorter_side_and_centre_cropped(tmp_path):
    (tmp_path / "halves").mkdir()
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, 20:] = (255, 0, 0)  # the right half red: grey 76 (Rec. 601)
    Image.fromarray(pixels).save(tmp_path / "halves" / "a.png")
    (tmp_path / "other").mkdir()
    Image.fromarray(pixels).save(tmp_path / "other" / "b.png")
    img = read_image_folder(tmp_path, size=10, validation_fraction=0).images.values[0]
    assert img.shape == (10, 10)  # 40 x 20 -> 20 x 10, columns 5..14 kept
    assert (img[:, :4] == 0).all() and (abs(img[:, 6:].astype(int) - 76) <= 1).all()


@pytest.mark.parametrize("case, message", [
    ("empty", r"no class folders"),
    ("no images", r"class folder 'b' holds no images"),
    ("corrupt", r"b[/\\]bad.png: not a readable image"),
    ("truncated", r"b[/\\]cut.png: not a readable image"),
    ("classes differ", r"class folders of 'train' and 'val' differ: only in train \['c'\]"),
    ("no val", r"has a 'train' folder but no 'val' folder"),
])
def test_malformed_folders_raise_clear_errors(tmp_path, case, message):
    root = tmp_path / "data"
    root.mkdir()
    if case in ("no images", "corrupt", "truncated"):
        _write(root, ["a"], 2)
        (root / "b").mkdir()
        if case == "corrupt":
            (root / "b" / "bad.png").write_bytes(b"not an image at all")
        elif case == "truncated":
            Image.fromarray(np.full((30, 30), 9, dtype=np.uint8)).save(root / "b" / "cut.png")
            data = (root / "b" / "cut.png").read_bytes()
            (root / "b" / "cut.png").write_bytes(data[:len(data) // 2])
    elif case == "classes differ":
        _write(root / "train", ["a", "c"], 2)
        _write(root / "val", ["a"], 1)
    elif case == "no val":
        _write(root / "train", ["a"], 2)
    with pytest.raises(SchemaError, match=message) as err:
        read_image_folder(root)
    assert "data" in str(err.value)  # names the folder or file


def test_a_missing_folder_and_bad_options_are_refused(tmp_path):
    with pytest.raises(SchemaError, match="nowhere: no such folder"):
        read_image_folder(tmp_path / "nowhere")
    _write(tmp_path / "ok", ["a", "b"], 2)
    with pytest.raises(ValueError, match="validation_fraction must be"):
        read_image_folder(tmp_path / "ok", validation_fraction=0.7)
    # one image per class: it stays in train
    _write(tmp_path / "one", ["a", "b"], 1)
    ds = read_image_folder(tmp_path / "one", validation_fraction=0.4)
    assert list(ds.tier.values) == ["train", "train"]
