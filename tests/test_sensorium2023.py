"""Sensorium 2023 video files (folder or zip) <-> the video schema."""

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import v1lib.data.sensorium2023 as sensorium2023
from v1lib.data import VIDEO
from v1lib.data.sensorium import rescale_images
from v1lib.data.sensorium2023 import (
    Sensorium2023FormatError,
    is_sensorium2023,
    load_sensorium2023,
    scan_key,
    write_sensorium2023_folder,
)
from v1lib.datasets import load, read_manifest

from .test_sensorium import make_folder as make_2022_folder

KEY = "29156-11-10"
NAME = f"dynamic{KEY}-Video-8744edeac3b4d1ce16b680916b5267ce"
C, F, N = 6, 40, 20  # clips, frames, neurons
TIERS = ["train", "train", "train", "validation", "test", "test"]
CLIP_IDS = [0, 1, 2, 3, 7, 7]  # the test clip is shown twice
TYPES = ["natural", "natural", "monet", "trippy", "grating", "grating"]
VARS = ("videos", "responses", "behavior", "pupil_center")


def make_scan(clips=C, frames=F, neurons=N, tiers=TIERS, clip_ids=CLIP_IDS, types=TYPES,
              seed=0) -> xr.Dataset:
    """A small video-schema scan: random uint8 clips, gamma responses, dpupil the change
    of the pupil per frame (as the reader derives it)."""
    rng = np.random.default_rng(seed)
    pupil = rng.uniform(20, 40, (clips, frames)).astype(np.float32)
    running = rng.uniform(0, 10, (clips, frames)).astype(np.float32)
    behavior = np.stack([pupil, np.gradient(pupil, axis=1), running], axis=-1)
    ds = xr.Dataset(
        {
            "videos": (VIDEO.variables["videos"],
                       rng.integers(0, 256, (clips, frames, 36, 64), dtype=np.uint8)),
            "responses": (VIDEO.variables["responses"],
                          rng.gamma(0.5, 2.0, (clips, frames, neurons)).astype(np.float32)),
            "behavior": (VIDEO.variables["behavior"], behavior),
            "pupil_center": (VIDEO.variables["pupil_center"],
                             rng.uniform(100, 200, (clips, frames, 2)).astype(np.float32)),
            "gt_rate": (("clip", "time", "neuron"), np.ones((clips, frames, neurons), np.float32)),
        },
        coords={
            "clip": np.arange(clips),
            "time": ("time", np.arange(frames) / 30.0, {"units": "s"}),
            "tier": ("clip", np.array(tiers)),
            "clip_id": ("clip", np.array(clip_ids)),
            "stimulus_type": ("clip", np.array(types)),
            "y": np.arange(36), "x": np.arange(64),
            "cortical_x": ("neuron", rng.uniform(0, 600, neurons).astype(np.float32)),
            "cortical_y": ("neuron", rng.uniform(0, 600, neurons).astype(np.float32)),
            "cortical_z": ("neuron", rng.uniform(100, 400, neurons).astype(np.float32)),
            "animal": ("neuron", np.full(neurons, KEY)),
            "unit_id": ("neuron", np.arange(100, 100 + neurons)),
            "area": ("neuron", np.array(["V1"] * neurons)),
            "behavior_var": ["pupil", "dpupil", "running"], "eye_axis": ["x", "y"],
        },
        attrs={"scan": KEY},
    )
    return VIDEO.validate(ds)


def write(root: Path, scan=None, name=NAME) -> Path:
    return write_sensorium2023_folder(make_scan() if scan is None else scan, root / name)


def zip_folder(folder: Path, path: Path, top_level: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(folder.rglob("*")):
            z.write(f, f.relative_to(folder if top_level else folder.parent).as_posix())
    return path


def listing(path: Path) -> list:
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*"))


def set_trial(folder: Path, t: int, frames: int, video=None):
    """Replace trial ``t`` by its first ``frames`` frames (or by ``video``)."""
    for key in VARS:
        a = np.load(folder / "data" / key / f"{t}.npy")
        np.save(folder / "data" / key / f"{t}.npy",
                video if key == "videos" and video is not None else a[..., :frames])


# -- reading ------------------------------------------------------------------------


def test_round_trip_through_the_folder(tmp_path):
    scan = make_scan()
    out = write(tmp_path, scan)
    first = np.load(out / "data" / "videos" / "0.npy")
    assert first.shape == (36, 64, F) and first.dtype == np.uint8  # frames last
    assert np.load(out / "data" / "responses" / "0.npy").shape == (N, F)
    np.testing.assert_array_equal(np.load(out / "data" / "behavior" / "2.npy"),
                                  scan.behavior.sel(behavior_var=["pupil", "running"])
                                  .isel(clip=2).values.T)
    assert list(np.load(out / "meta" / "trials" / "tiers.npy")) == [
        "train", "train", "train", "validation", "oracle", "oracle"]
    before = listing(out)
    ds = load_sensorium2023(out)[KEY]
    assert listing(out) == before  # nothing written into the data folder
    assert ds.videos.dtype == np.uint8 and dict(ds.sizes) == dict(scan.sizes)
    for var in VARS:
        np.testing.assert_array_equal(ds[var].values, scan[var].values)
    for coord in ("time", "tier", "clip_id", "stimulus_type", "unit_id", "cortical_x",
                  "cortical_y", "cortical_z", "area"):
        np.testing.assert_array_equal(ds[coord].values, scan[coord].values)
    assert list(ds.source_tier.values) == ["train"] * 3 + ["validation", "oracle", "oracle"]
    assert ds.time.attrs["units"] == "s" and set(ds.animal.values) == {KEY}
    assert not [v for v in ds.data_vars if v.startswith("gt_")]
    expected = {"scan": KEY, "schema": "video", "format": "sensorium2023", "source": NAME,
                "frame_rate_hz": 30.0, "frames_per_clip": F, "cropped_from": F,
                "withheld_tiers": "", "validation_from_train": "", "competition_skip_frames": 50}
    assert {k: ds.attrs[k] for k in expected} == expected
    assert ds.attrs["frame_rescaling"] == "none"


def test_a_larger_source_is_rescaled_frame_by_frame(tmp_path):
    scan = make_scan()
    out = write(tmp_path, scan)
    for t in range(C):  # 72 x 128 by pixel repetition
        v = np.load(out / "data" / "videos" / f"{t}.npy")
        np.save(out / "data" / "videos" / f"{t}.npy", v.repeat(2, axis=0).repeat(2, axis=1))
    ds = load_sensorium2023(out, shape=(36, 64))[KEY]
    assert ds.videos.dtype == np.float32 and ds.videos.shape == (C, F, 36, 64)
    big = np.load(out / "data" / "videos" / "4.npy")
    np.testing.assert_array_equal(ds.videos.values[4], rescale_images(np.moveaxis(big, -1, 0)))
    np.testing.assert_allclose(ds.videos.values, scan.videos.values.astype(np.float32), atol=1e-4)
    assert ds.attrs["original_frame_shape"] == [72, 128]
    assert ds.attrs["frame_rescaling"].startswith("bilinear")


@pytest.mark.parametrize("top_level", [False, True], ids=["folder-in-zip", "top-level"])
def test_zip_reads_the_same_without_extracting(tmp_path, top_level):
    out = write(tmp_path / "src")
    z = zip_folder(out, tmp_path / f"{NAME}.zip", top_level=top_level)
    before = listing(tmp_path)
    from_zip = load_sensorium2023(z)[KEY]
    assert listing(tmp_path) == before  # nothing extracted
    expected = load_sensorium2023(out)[KEY]
    for var in VARS:
        np.testing.assert_array_equal(from_zip[var].values, expected[var].values)
    assert from_zip.attrs["source"] == f"{NAME}.zip"
    assert is_sensorium2023(z) and is_sensorium2023(out)


def test_competition_tiers_map_into_the_schema(tmp_path):
    source = ["train"] * 8 + ["oracle", "oracle", "live_test_main", "live_test_bonus",
                              "final_test_main", "final_test_bonus"]
    scan = make_scan(clips=14, tiers=["train"] * 14, clip_ids=list(range(14)),
                     types=["natural"] * 14)
    out = write(tmp_path, scan)
    np.save(out / "meta" / "trials" / "tiers.npy", np.array(source))
    for t in range(10, 14):  # the test responses are withheld (zeros)
        np.save(out / "data" / "responses" / f"{t}.npy", np.zeros((N, F), np.float32))
    ds = load_sensorium2023(out)[KEY]
    assert list(ds.source_tier.values) == source
    tier = list(ds.tier.values)
    assert tier[8:] == ["test"] * 2 + ["final_test"] * 4
    held = [i for i, t in enumerate(tier) if t == "validation"]
    assert len(held) == 1 and held[0] < 8  # a tenth of 8 train clips, at least one
    assert ds.attrs["validation_from_train"].startswith("1 of 8 train clips")
    assert ds.attrs["withheld_tiers"] == "final_test"
    assert ds.attrs["withheld_source_tiers"] == ("final_test_bonus,final_test_main,"
                                                 "live_test_bonus,live_test_main")
    again = load_sensorium2023(out)[KEY]  # deterministic
    assert list(again.tier.values) == tier


def test_validation_from_train_keeps_repeats_together(tmp_path):
    ids = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11]
    scan = make_scan(clips=24, frames=4, tiers=["train"] * 24, clip_ids=ids,
                     types=["natural"] * 24)
    ds = load_sensorium2023(write(tmp_path, scan))[KEY]
    val = ds.clip_id.values[ds.tier.values == "validation"]
    assert len(val) in (2, 4) and not set(val) & set(ds.clip_id.values[ds.tier.values == "train"])


@pytest.mark.parametrize("name", ["condition_hash", "frame_image_id", "video_id"])
def test_clip_ids_come_from_the_condition_array(tmp_path, name):
    out = write(tmp_path)
    (out / "meta" / "trials" / "condition_hash.npy").unlink()
    hashes = np.array(["a9f", "0c1", "77e", "0c1", "a9f", "a9f"])  # repeats share a hash
    np.save(out / "meta" / "trials" / f"{name}.npy", hashes)
    ds = load_sensorium2023(out)[KEY]
    ids = ds.clip_id.values
    assert ids.dtype == np.int64
    assert ids[0] == ids[4] == ids[5] and ids[1] == ids[3] and len(set(ids)) == 3
    assert list(ds[name].values) == list(hashes)  # the originals kept
    assert ds.attrs["clip_id_source"] == f"meta/trials/{name}.npy"


def test_without_a_condition_array_each_clip_is_its_own(tmp_path):
    out = write(tmp_path)
    (out / "meta" / "trials" / "condition_hash.npy").unlink()
    ds = load_sensorium2023(out)[KEY]
    assert list(ds.clip_id.values) == list(range(C))
    assert ds.attrs["clip_id_source"].startswith("none")


def test_stimulus_types_are_mapped(tmp_path):
    out = write(tmp_path)
    raw = ["Clip", "cinematic", "Monet2", "Trippy", "Grating", "dotsequence"]
    np.save(out / "meta" / "trials" / "stimulus_type.npy", np.array(raw))
    ds = load_sensorium2023(out)[KEY]
    assert list(ds.stimulus_type.values) == ["natural", "natural", "monet", "trippy",
                                             "grating", "other"]
    assert list(ds.source_stimulus_type.values) == raw
    (out / "meta" / "trials" / "stimulus_type.npy").unlink()
    np.save(out / "meta" / "trials" / "trial_type.npy", np.array(raw))
    assert list(load_sensorium2023(out)[KEY].stimulus_type.values)[:3] == ["natural"] * 2 + ["monet"]


def test_stimulus_types_from_timestamps_or_unknown(tmp_path):
    out = write(tmp_path)
    (out / "meta" / "trials" / "stimulus_type.npy").unlink()
    ds = load_sensorium2023(out)[KEY]
    assert set(ds.stimulus_type.values) == {"other"}
    assert ds.attrs["stimulus_type_source"].startswith("unknown")
    nat = np.array(["NaT"] * C)
    np.save(out / "meta" / "trials" / "clip_trial_ts.npy",
            np.where(np.arange(C) < 4, "2022-01-05 10:00:00", nat))
    np.save(out / "meta" / "trials" / "dotsequence_trial_ts.npy",
            np.where(np.arange(C) >= 4, "2022-01-05 11:00:00", nat))
    ds = load_sensorium2023(out)[KEY]
    assert list(ds.stimulus_type.values) == ["natural"] * 4 + ["other"] * 2
    assert list(ds.source_stimulus_type.values) == ["clip"] * 4 + ["dotsequence"] * 2


def test_unequal_trial_lengths_are_cropped_to_the_shortest(tmp_path):
    scan = make_scan()
    out = write(tmp_path, scan)
    set_trial(out, 2, 30)
    padded = np.load(out / "data" / "videos" / "4.npy").astype(np.float32)
    padded[..., 35:] = np.nan  # trailing all-NaN frames are padding
    set_trial(out, 4, F, video=padded)
    ds = load_sensorium2023(out)[KEY]
    assert ds.sizes["time"] == 30 and ds.attrs["frames_per_clip"] == 30
    assert ds.attrs["cropped_from"] == F and ds.attrs["nan_padded_trials"] == 1
    for var in ("videos", "responses", "pupil_center"):
        np.testing.assert_array_equal(ds[var].values, scan[var].isel(time=slice(0, 30)).values)
    pupil = scan.behavior.sel(behavior_var="pupil").values[:, :30]
    np.testing.assert_allclose(ds.behavior.sel(behavior_var="dpupil").values,
                               np.gradient(pupil, axis=1))
    assert ds.videos.dtype == np.uint8  # whole numbers, even from a float source
    np.testing.assert_allclose(ds.time.values, np.arange(30) / 30.0)


def test_frame_rate_sets_the_time_axis(tmp_path):
    ds = load_sensorium2023(write(tmp_path), frame_rate_hz=10)[KEY]
    assert ds.attrs["frame_rate_hz"] == 10.0 and ds.time.values[-1] == pytest.approx(3.9)
    with pytest.raises(ValueError, match="frame_rate_hz must be a positive number"):
        load_sensorium2023(tmp_path / NAME, frame_rate_hz=0)


def test_scan_key_from_names():
    assert scan_key(NAME) == KEY
    assert scan_key(f"{NAME}.zip") == KEY
    assert scan_key("dynamic29515-10-12-Video-9b4f6a1a067fe51e15306b9628efea20") == "29515-10-12"
    assert scan_key("dynamic29515-10-12") == "29515-10-12"
    assert scan_key("my-scan") == "my-scan"


# -- malformed files: each problem is named -------------------------------------------


def _remove(rel):
    return lambda p: (shutil.rmtree if (p / rel).is_dir() else Path.unlink)(p / rel)


def _save(rel, value):
    return lambda p: np.save(p / rel, value)


def _nan_at(rel, index, value=np.nan):
    def change(p):
        a = np.load(p / rel).astype(np.float32)
        a[index] = value
        np.save(p / rel, a)
    return change


MALFORMED = {
    "missing videos folder": (_remove("data/videos"), r"missing folder 'data/videos/'"),
    "missing tiers": (_remove("meta/trials/tiers.npy"), r"missing file 'meta/trials/tiers.npy'"),
    "missing unit ids": (_remove("meta/neurons/unit_ids.npy"),
                         r"missing file 'meta/neurons/unit_ids.npy'"),
    "unequal trial counts": (_remove("data/responses/5.npy"),
                             r"different numbers of trial files: .*'responses': 5"),
    "videos not 3-D": (_save("data/videos/3.npy", np.zeros((36, 64), np.uint8)),
                       r"data/videos/3.npy: shape \(36, 64\); expected \(H, W, frames\), frames last"),
    "frame size differs": (_save("data/videos/2.npy", np.zeros((36, 65, F), np.uint8)),
                           r"data/videos/2.npy: shape \(36, 65, 40\); .*H, W = \(36, 64\)"),
    "neuron count": (_save("data/responses/1.npy", np.zeros((N + 1, F), np.float32)),
                     r"data/responses/1.npy: shape \(21, 40\); expected \(20, frames\).*unit_ids"),
    "responses 1-D": (_save("data/responses/0.npy", np.zeros(N, np.float32)),
                      r"data/responses/0.npy: shape \(20,\); expected \(20, frames\)"),
    "behavior rows": (_save("data/behavior/4.npy", np.zeros((3, F), np.float32)),
                      r"data/behavior/4.npy: shape \(3, 40\); expected \(2, frames\) = pupil dilation"),
    "pupil rows": (_save("data/pupil_center/0.npy", np.zeros((1, F), np.float32)),
                   r"data/pupil_center/0.npy: shape \(1, 40\); expected \(2, frames\)"),
    "frames within a trial": (_save("data/responses/3.npy", np.zeros((N, F - 1), np.float32)),
                              r"data/responses/3.npy: 39 frames but data/videos/3.npy has 40"),
    "NaN responses": (_nan_at("data/responses/2.npy", (5, 7)),
                      r"data/responses/2.npy: variable 'responses' holds NaN or infinite values "
                      r"in 1 frame\(s\) \(first: frame 7\)"),
    "inf behaviour": (_nan_at("data/behavior/1.npy", (1, 3), np.inf),
                      r"data/behavior/1.npy: variable 'behavior' holds NaN or infinite"),
    "NaN inside a video": (_nan_at("data/videos/0.npy", (0, 0, 5)),
                           r"data/videos/0.npy: variable 'videos' holds NaN"),
    "too short": (lambda p: set_trial(p, 5, 1), r"data/videos/5.npy: 1 frame\(s\), the shortest"),
    "unknown tier": (_save("meta/trials/tiers.npy", np.array(TIERS[:-1] + ["live_test"])),
                     r"meta/trials/tiers.npy: unknown tier value\(s\) \['live_test'\]"),
    "tiers length": (_save("meta/trials/tiers.npy", np.array(TIERS[:-1])),
                     r"meta/trials/tiers.npy: length 5 but the scan has 6 trials"),
    "condition length": (_save("meta/trials/condition_hash.npy", np.arange(C + 1)),
                         r"meta/trials/condition_hash.npy: length 7 but the scan has 6 trials"),
    "coordinates shape": (_save("meta/neurons/cell_motor_coordinates.npy", np.zeros((N, 2))),
                          r"cell_motor_coordinates.npy: shape \(20, 2\); expected \(20, 3\)"),
}


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_scans_have_clear_errors(tmp_path, case, as_zip):
    path = write(tmp_path / "src")
    break_it, message = MALFORMED[case]
    break_it(path)
    target = zip_folder(path, tmp_path / f"{NAME}.zip") if as_zip else path
    before = listing(tmp_path)
    with pytest.raises(Sensorium2023FormatError, match=message) as err:
        load_sensorium2023(target)
    assert isinstance(err.value, ValueError)
    assert str(err.value).startswith(target.name)  # names the scan, not the machine path
    assert listing(tmp_path) == before  # a failure leaves nothing behind


def test_nonexistent_path(tmp_path):
    with pytest.raises(Sensorium2023FormatError, match="no such Sensorium 2023 folder or zip"):
        load_sensorium2023(tmp_path / "missing.zip")
    assert not is_sensorium2023(tmp_path / "missing.zip")


# -- writing and dispatch -----------------------------------------------------------------


def test_write_is_atomic(tmp_path, monkeypatch):
    target, real, calls = tmp_path / NAME, np.save, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 10:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(sensorium2023.np, "save", failing)
    with pytest.raises(OSError, match="disk full"):
        write(tmp_path)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a temporary one
    write(tmp_path)
    with pytest.raises(FileExistsError, match="already exists"):
        write(tmp_path)
    write_sensorium2023_folder(make_scan().isel(clip=slice(0, 3)), target, overwrite=True)
    assert load_sensorium2023(target)[KEY].sizes["clip"] == 3
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_load_dispatches_on_the_layout(tmp_path):
    out = write(tmp_path)
    z = zip_folder(out, tmp_path / "copy.zip")
    for p in (out, str(out), z):
        ds = load(p)[KEY]
        assert ds.attrs["format"] == "sensorium2023" and ds.attrs["schema"] == "video"
    static, _ = make_2022_folder(tmp_path / "static")
    ds = load(static)["21067-10-18"]
    assert ds.attrs["format"] == "sensorium2022" and not is_sensorium2023(static)
    assert ds.attrs["format"] == load(zip_folder(static, tmp_path / "s.zip"))["21067-10-18"].attrs[
        "format"]


def test_repository_manifest_lists_a_sensorium2023_scan():
    e = read_manifest()["sensorium2023-29156-11-10"]
    assert e["kind"] == "external" and e["loader"] == "sensorium2023"
    assert e["doi"] == "10.48550/arXiv.2305.19654"
    assert e["files"][0]["name"] == f"{NAME}.zip" and e["files"][0]["sha256"] is None
    assert e["files"][0]["url"].startswith("https://gin.g-node.org/pollytur/Sensorium2023Data/")
