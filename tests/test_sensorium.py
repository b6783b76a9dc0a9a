"""Sensorium 2022 static files (folder or zip) <-> the static schema."""

import functools
import hashlib
import http.server
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from skimage.transform import rescale

import v1lib.data.sensorium as sensorium
from v1lib.data import STATIC
from v1lib.data.sensorium import (
    SensoriumFormatError,
    load_sensorium,
    scan_key,
    write_sensorium_folder,
)
from v1lib.datasets import ManifestError, load, read_manifest

KEY = "21067-10-18"
NAME = f"static{KEY}-GrayImageNet-94c6ff995dac583098847cfecd43e7b6"
T, N = 12, 7
TIERS = ["train"] * 6 + ["validation"] * 2 + ["test"] * 4
IMAGE_IDS = [10, 11, 12, 13, 14, 15, 20, 21, 30, 31, 30, 31]  # test images 30, 31 shown twice


def make_folder(root: Path, name: str = NAME, image_shape=(1, 144, 256), seed=0) -> tuple[Path, dict]:
    """A small scan in the exact FileTree layout, written with plain numpy."""
    rng = np.random.default_rng(seed)
    folder = root / name
    raw = {
        "images": rng.integers(0, 256, (T, *image_shape), dtype=np.uint8),
        "responses": rng.gamma(0.5, 20.0, (T, N)).astype(np.float32),
        "behavior": rng.uniform(0, 10, (T, 3)).astype(np.float32),
        "pupil_center": rng.uniform(100, 200, (T, 2)).astype(np.float32),
    }
    for key, values in raw.items():
        (folder / "data" / key).mkdir(parents=True)
        for t in range(T):
            np.save(folder / "data" / key / f"{t}.npy", values[t])
    meta = {
        "neurons/unit_ids": np.arange(100, 100 + N),
        "neurons/cell_motor_coordinates": rng.uniform(0, 600, (N, 3)).astype(np.float32),
        "neurons/animal_ids": np.full(N, 21067),
        "neurons/area": np.array(["V1"] * N),
        "trials/tiers": np.array(TIERS),
        "trials/frame_image_id": np.array(IMAGE_IDS),
        "trials/trial_idx": rng.permutation(T),
    }
    for rel, values in meta.items():
        (folder / "meta" / rel).parent.mkdir(parents=True, exist_ok=True)
        np.save(folder / "meta" / f"{rel}.npy", values)
    return folder, {**raw, **{rel.split("/")[1]: v for rel, v in meta.items()}}


def zip_folder(folder: Path, path: Path, top_level: bool = False) -> Path:
    """Zip ``folder`` as shipped (the folder inside the zip) or with data/ and meta/ at the top."""
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(folder.rglob("*")):
            rel = f.relative_to(folder if top_level else folder.parent)
            z.write(f, rel.as_posix())
    return path


def listing(path: Path) -> list:
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*"))


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path)


@pytest.fixture
def scan():
    """A tiny scan shaped like the simulator's output (uint8 36 x 64 images, an extra
    ``image_class`` coordinate, ``gt_*`` variables), made directly: simulating one takes
    seconds, and these tests must stay fast."""
    rng = np.random.default_rng(3)
    t, n = 15, 9
    tier = np.array(["train"] * 8 + ["validation"] * 3 + ["test"] * 4)
    ds = xr.Dataset(
        {
            "images": (("trial", "y", "x"), rng.integers(0, 256, (t, 36, 64), dtype=np.uint8)),
            "responses": (("trial", "neuron"), rng.gamma(0.4, 1.0, (t, n)).astype(np.float32)),
            "behavior": (("trial", "behavior_var"), rng.uniform(0, 9, (t, 3)).astype(np.float32)),
            "pupil_center": (("trial", "eye_axis"), rng.uniform(90, 180, (t, 2)).astype(np.float32)),
            "gt_rate": (("trial", "neuron"), rng.uniform(0, 1, (t, n)).astype(np.float32)),
        },
        coords={
            "trial": np.arange(t), "tier": ("trial", tier),
            "image_id": ("trial", np.r_[np.arange(11), [50, 51, 50, 51]]),
            "image_class": ("trial", np.where(np.arange(t) % 2, "natural", "noise")),
            "y": np.arange(36), "x": np.arange(64),
            "cortical_x": ("neuron", rng.uniform(0, 600, n).astype(np.float32)),
            "cortical_y": ("neuron", rng.uniform(0, 600, n).astype(np.float32)),
            "cortical_z": ("neuron", rng.uniform(100, 400, n).astype(np.float32)),
            "animal": ("neuron", np.full(n, "insilico-3-1")),
            "unit_id": ("neuron", np.arange(n)),
            "behavior_var": ["pupil", "dpupil", "running"], "eye_axis": ["x", "y"],
        },
        attrs={"scan": "insilico-3-1"},
    )
    return STATIC.validate(ds)


# -- reading ------------------------------------------------------------------------


def test_folder_reads_into_the_schema(folder):
    path, raw = folder
    before = listing(path)
    scans = load_sensorium(path)
    assert list(scans) == [KEY]
    ds = scans[KEY]
    assert dict(ds.sizes) == {"trial": T, "neuron": N, "y": 36, "x": 64, "behavior_var": 3,
                              "eye_axis": 2}
    np.testing.assert_array_equal(ds.responses.values, raw["responses"])  # raw, not normalised
    np.testing.assert_array_equal(ds.behavior.sel(behavior_var="running").values, raw["behavior"][:, 2])
    np.testing.assert_array_equal(ds.pupil_center.sel(eye_axis="x").values, raw["pupil_center"][:, 0])
    np.testing.assert_array_equal(ds.pupil_center.sel(eye_axis="y").values, raw["pupil_center"][:, 1])
    assert list(ds.tier.values) == TIERS
    assert ds.image_id.dtype == np.int64 and list(ds.image_id.values) == IMAGE_IDS
    np.testing.assert_array_equal(ds.unit_id.values, raw["unit_ids"])
    np.testing.assert_allclose(ds.cortical_z.values, raw["cell_motor_coordinates"][:, 2])
    assert set(ds.animal.values) == {KEY}
    np.testing.assert_array_equal(ds.trial_idx.values, raw["trial_idx"])
    assert list(ds.area.values) == ["V1"] * N and "animal_ids" in ds.coords
    # images: float32, 0-255 kept, exactly as skimage.rescale(0.25) of each image
    assert ds.images.dtype == np.float32
    expected = np.stack([rescale(im[0].astype(np.float32), 0.25, order=1, mode="reflect",
                                 anti_aliasing=False, preserve_range=True) for im in raw["images"]])
    np.testing.assert_allclose(ds.images.values, expected, atol=1e-4)
    assert 0 <= ds.images.min() and ds.images.max() <= 255
    assert ds.attrs["scan"] == KEY and ds.attrs["format"] == "sensorium2022"
    assert ds.attrs["source"] == NAME  # file name only, no machine path
    assert ds.attrs["withheld_tiers"] == ""
    assert listing(path) == before  # nothing written into the data folder


@pytest.mark.parametrize("top_level", [False, True], ids=["folder-in-zip", "top-level"])
def test_zip_reads_the_same_without_extracting(tmp_path, folder, top_level):
    path, _ = folder
    z = zip_folder(path, tmp_path / f"{NAME}.zip", top_level=top_level)
    shutil.rmtree(path)
    before = listing(tmp_path)
    from_zip = load_sensorium(z)[KEY]
    assert listing(tmp_path) == before  # nothing extracted
    expected = load_sensorium(make_folder(tmp_path / "again")[0])[KEY]
    for var in ("images", "responses", "behavior", "pupil_center"):
        np.testing.assert_array_equal(from_zip[var].values, expected[var].values)
    assert list(from_zip.tier.values) == TIERS
    assert from_zip.attrs["source"] == f"{NAME}.zip"


def test_load_dispatches_folders_and_zips(tmp_path, folder):
    path, raw = folder
    z = zip_folder(path, tmp_path / "copy.zip")
    for p in (path, str(path), z):
        scans = load(p)
        assert list(scans) == [KEY]
        np.testing.assert_array_equal(scans[KEY].responses.values, raw["responses"])


def test_images_already_at_model_resolution_are_kept(tmp_path):
    path, raw = make_folder(tmp_path, image_shape=(36, 64))
    ds = load_sensorium(path)[KEY]
    np.testing.assert_array_equal(ds.images.values, raw["images"].astype(np.float32))
    assert ds.attrs["image_rescaling"] == "none"


def test_withheld_test_responses_are_flagged(folder):
    path, _ = folder
    for t, tier in enumerate(TIERS):
        if tier == "test":
            np.save(path / "data" / "responses" / f"{t}.npy", np.zeros(N, np.float32))
    ds = load_sensorium(path)[KEY]
    assert ds.attrs["withheld_tiers"] == "test"
    assert "withheld" not in ds.coords


def test_scan_key_from_names():
    assert scan_key(NAME) == KEY
    assert scan_key(f"{NAME}.zip") == KEY
    assert scan_key("static26872-17-20-GrayImageNet-94c6ff995dac583098847cfecd43e7b6") == "26872-17-20"
    assert scan_key("static20457-5-9-preproc0") == "20457-5-9"
    assert scan_key("my-scan") == "my-scan"


# -- malformed files: each problem is named -------------------------------------------


def _remove(rel):
    return lambda p: (shutil.rmtree if (p / rel).is_dir() else Path.unlink)(p / rel)


def _save(rel, value):
    return lambda p: np.save(p / rel, value)


def _renumber(p):
    for key in ("images", "responses", "behavior", "pupil_center"):
        (p / "data" / key / "11.npy").rename(p / "data" / key / "12.npy")


MALFORMED = {
    "missing key folder": (_remove("data/behavior"), r"missing folder 'data/behavior/'"),
    "unequal file counts": (_remove("data/responses/11.npy"),
                            r"different numbers of trial files: .*'responses': 11"),
    "gap in numbering": (_renumber, r"data/images/: trial files must be numbered 0..11; missing 11.npy"),
    "wrong image shape": (_save("data/images/3.npy", np.zeros((1, 144, 255), np.uint8)),
                          r"data/images/3.npy: shape \(1, 144, 255\)"),
    "images not 2-D": (_save("data/images/0.npy", np.zeros((2, 144, 256), np.uint8)),
                       r"data/images/0.npy: shape \(2, 144, 256\); expected \(1, H, W\) or \(H, W\)"),
    "behaviour length": (_save("data/behavior/5.npy", np.zeros(4, np.float32)),
                         r"data/behavior/5.npy: shape \(4,\)"),
    "pupil length": (_save("data/pupil_center/0.npy", np.zeros(3, np.float32)),
                     r"data/pupil_center/0.npy: shape \(3,\); expected \(2,\)"),
    "responses length": (_save("data/responses/4.npy", np.zeros(N + 1, np.float32)),
                         r"data/responses/4.npy: shape \(8,\) .*different length"),
    "neuron meta length": (_save("meta/neurons/unit_ids.npy", np.arange(N - 1)),
                           r"meta/neurons/unit_ids.npy: length 6 but the scan has 7 neurons"),
    "trial meta length": (_save("meta/trials/tiers.npy", np.array(TIERS[:-1])),
                          r"meta/trials/tiers.npy: length 11 but the scan has 12 trials"),
    "optional meta length": (_save("meta/trials/trial_idx.npy", np.arange(T + 2)),
                             r"meta/trials/trial_idx.npy: length 14 but the scan has 12 trials"),
    "coordinates shape": (_save("meta/neurons/cell_motor_coordinates.npy", np.zeros((N, 2))),
                          r"cell_motor_coordinates.npy: shape \(7, 2\); expected \(7, 3\)"),
    "missing meta file": (_remove("meta/trials/frame_image_id.npy"),
                          r"missing file 'meta/trials/frame_image_id.npy'"),
    "NaN responses": (_save("data/responses/2.npy", np.array([1, np.nan, 0, 0, 0, 0, 0], np.float32)),
                      r"variable 'responses' holds NaN or infinite values in 1 trial\(s\) \(2.npy\)"),
    "NaN behaviour": (_save("data/behavior/7.npy", np.array([1, np.nan, 0], np.float32)),
                      r"variable 'behavior' holds NaN"),
    "unknown tier": (_save("meta/trials/tiers.npy", np.array(TIERS[:-1] + ["live_test"])),
                     r"meta/trials/tiers.npy: unknown tier value\(s\) \['live_test'\]"),
}


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_scans_have_clear_errors(tmp_path, case, as_zip):
    path, _ = make_folder(tmp_path / "src")
    break_it, message = MALFORMED[case]
    break_it(path)
    target = zip_folder(path, tmp_path / f"{NAME}.zip") if as_zip else path
    before = listing(tmp_path)
    with pytest.raises(SensoriumFormatError, match=message) as err:
        load_sensorium(target)
    assert str(err.value).startswith(target.name)  # names the scan, not the machine path
    assert listing(tmp_path) == before  # a failure leaves nothing behind


def test_nonexistent_path(tmp_path):
    with pytest.raises(SensoriumFormatError, match="no such Sensorium folder or zip file"):
        load_sensorium(tmp_path / "missing.zip")
    with pytest.raises(SensoriumFormatError, match="no such Sensorium folder or zip file"):
        load(tmp_path / f"{NAME}.zip")


def test_not_a_zip(tmp_path):
    (tmp_path / "junk.zip").write_text("not a zip")
    with pytest.raises(SensoriumFormatError, match="junk.zip: not a readable zip file"):
        load_sensorium(tmp_path / "junk.zip")


def test_zip_with_two_scans_is_refused(tmp_path):
    a, _ = make_folder(tmp_path, name="staticA-GrayImageNet-x")
    b, _ = make_folder(tmp_path, name="staticB-GrayImageNet-x")
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        for f in [*a.rglob("*.npy"), *b.rglob("*.npy")]:
            z.write(f, f.relative_to(tmp_path).as_posix())
    with pytest.raises(SensoriumFormatError, match="more than one scan folder"):
        load_sensorium(tmp_path / "two.zip")


# -- writing --------------------------------------------------------------------------


def test_simulated_scan_round_trip(tmp_path, scan):
    name = f"static{scan.attrs['scan']}-GrayImageNet-sim"
    out = write_sensorium_folder(scan, tmp_path / name)
    assert (out / "data" / "images" / "0.npy").is_file()
    first = np.load(out / "data" / "images" / "0.npy")
    assert first.shape == (1, 144, 256) and first.dtype == np.uint8
    assert np.load(out / "meta" / "statistics" / "responses" / "all" / "std.npy").shape == (9,)
    back = load_sensorium(out)
    assert list(back) == [scan.attrs["scan"]]
    ds = back[scan.attrs["scan"]]
    # upscaling by repetition then bilinear x0.25 returns the original pixels
    np.testing.assert_allclose(ds.images.values, scan.images.values.astype(np.float32), atol=1e-4)
    for var in ("responses", "behavior", "pupil_center"):
        np.testing.assert_allclose(ds[var].values, scan[var].values, rtol=1e-6)
    for coord in ("tier", "image_id", "unit_id", "cortical_x", "cortical_y", "cortical_z",
                  "image_class"):
        np.testing.assert_array_equal(ds[coord].values, scan[coord].values)
    assert set(ds.animal.values) == {scan.attrs["scan"]}
    assert not [v for v in ds.data_vars if v.startswith("gt_")]


def test_written_zip_loads(tmp_path, scan):
    out = write_sensorium_folder(scan, tmp_path / "static7-1-1-GrayImageNet-sim", image_shape=None)
    z = zip_folder(out, tmp_path / "static7-1-1-GrayImageNet-sim.zip")
    ds = load(z)["7-1-1"]
    np.testing.assert_array_equal(ds.images.values, scan.images.values.astype(np.float32))


def test_write_is_atomic(tmp_path, scan, monkeypatch):
    target = tmp_path / "static1-2-3-GrayImageNet-x"
    real, calls = np.save, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 50:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(sensorium.np, "save", failing)
    with pytest.raises(OSError, match="disk full"):
        write_sensorium_folder(scan, target)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a temporary one
    write_sensorium_folder(scan, target)
    with pytest.raises(FileExistsError, match="already exists"):
        write_sensorium_folder(scan, target)
    small = scan.isel(trial=slice(0, 5))
    write_sensorium_folder(small, target, overwrite=True)
    assert load_sensorium(target)["1-2-3"].sizes["trial"] == 5
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_write_refuses_non_integer_upscaling(tmp_path, scan):
    with pytest.raises(ValueError, match="not an integer multiple"):
        write_sensorium_folder(scan, tmp_path / "x", image_shape=(100, 100))
    assert list(tmp_path.iterdir()) == []


# -- the manifest ---------------------------------------------------------------------


def test_repository_manifest_lists_sensorium_scans():
    entries = read_manifest()
    e = entries["sensorium2022-21067-10-18"]
    assert e["kind"] == "external" and e["loader"] == "sensorium2022"
    assert e["doi"] == "10.48550/arXiv.2206.08666"
    assert e["files"][0]["name"] == f"{NAME}.zip"
    assert e["files"][0]["url"].startswith("https://gin.g-node.org/cajal/Sensorium2022/")


def _manifest(path: Path, url: str, sha) -> Path:
    entry = {"kind": "external", "description": "test", "source": "the tests", "url": url,
             "licence": "CC0-1.0", "format": "sensorium2022", "loader": "sensorium2022",
             "files": [{"name": f"{NAME}.zip", "url": f"{url}/{NAME}.zip", "sha256": sha}]}
    path.write_text(yaml.safe_dump({"version": 1, "datasets": {"scan": entry}}))
    return path


def test_unrecorded_checksum_asks_for_a_manual_download(tmp_path):
    m = _manifest(tmp_path / "m.yaml", "http://127.0.0.1:9", None)
    assert read_manifest(m)["scan"]["files"][0]["sha256"] is None
    with pytest.raises(ManifestError, match=r"no sha256 is recorded .* Download the file yourself "
                                            rf"from http://127.0.0.1:9/{NAME}.zip .*load\("):
        load("scan", manifest=m, results_dir=tmp_path / "res")
    assert not (tmp_path / "res").exists()  # nothing downloaded
    with pytest.raises(ManifestError, match="no sha256 is recorded"):
        load("sensorium2022-21067-10-18", results_dir=tmp_path / "res")


def test_malformed_checksum_is_refused(tmp_path):
    m = _manifest(tmp_path / "m.yaml", "http://127.0.0.1:9", "abc")
    with pytest.raises(ManifestError, match="'sha256' must be 64 hex digits, or null"):
        read_manifest(m)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_external_sensorium_entry_is_fetched_and_read(tmp_path, folder):
    path, raw = folder
    www = tmp_path / "www"
    www.mkdir()
    zip_folder(path, www / f"{NAME}.zip")
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www)))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        sha = hashlib.sha256((www / f"{NAME}.zip").read_bytes()).hexdigest()
        m = _manifest(tmp_path / "m.yaml", f"http://127.0.0.1:{httpd.server_address[1]}", sha)
        scans = load("scan", manifest=m, results_dir=tmp_path / "res")
    finally:
        httpd.shutdown()
    np.testing.assert_array_equal(scans[KEY].responses.values, raw["responses"])
