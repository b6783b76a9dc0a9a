"""The Xu et al. 2023 release (folder or zip of per-segment .npy files) -> the session schema."""

import contextlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from v1lib.cli import main
from v1lib.data import load_scans, save_scans
from v1lib.data.session import SESSION
from v1lib.data.xu2023 import AUTHORS_DROPPED, Xu2023FormatError, is_xu2023, load_xu2023
from v1lib.datasets import load, read_manifest

from .test_sensorium import make_folder as make_2022_folder

SESSION_NAME = "000000_TEST01"
RELEASE = "mouse-data-10-segment-split-70-30-48ms"
SEGMENTS, TRAIN, TEST, UNITS, LOW = 2, 35, 15, 5, 2  # LOW: the unit firing below 3 Hz
BEHAVIOR = {"speed": "speed", "pitch": "pitch", "roll": "roll", "phi": "eye_phi",
            "th": "eye_theta", "eyerad": "pupil"}
NAN_AT = ("train", 1, "phi", [3, 4, 9])  # NaN bins in one behaviour file


def write_session(folder: Path, units=UNITS, seed=0, videos=("vid_mean", "vid_middle")) -> dict:
    """A session in the release layout: 2 segments of 35 train and 15 test bins, 60 x 80
    frames, ``units`` units (unit 2 spikes once: under 3 Hz). Returns the arrays by
    (split, segment, key)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    arrays = {}
    for seg in range(SEGMENTS):
        for split, n in (("train", TRAIN), ("test", TEST)):
            nsp = rng.poisson(1.0, (n, units)).astype(np.float64)
            nsp[:, LOW] = 0
            arrays[split, seg, "nsp"] = nsp
            for v in videos:
                arrays[split, seg, v] = rng.uniform(0, 255, (n, 60, 80))
            for key in (*BEHAVIOR, "gz"):
                arrays[split, seg, key] = rng.normal(size=n)
    arrays["train", 0, "nsp"][5, LOW] = 1  # one spike in 100 bins: 0.2 Hz
    split, seg, key, bins = NAN_AT
    arrays[split, seg, key][bins] = np.nan
    for (split, seg, key), a in arrays.items():
        np.save(folder / f"{split}_{key}_seg_{seg}.npy", a)
    return arrays


@pytest.fixture
def release(tmp_path) -> tuple[Path, dict]:
    root = tmp_path / RELEASE
    return root, write_session(root / SESSION_NAME)


def zip_folder(folder: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(folder.rglob("*")):
            z.write(f, f.relative_to(folder.parent).as_posix())
    return path


def listing(path: Path) -> list:
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*"))


def in_order(arrays: dict, key: str) -> np.ndarray:
    """``key`` over the session: segment 0 train, segment 0 test, segment 1 train, ..."""
    return np.concatenate([arrays[split, seg, key] for seg in range(SEGMENTS)
                           for split in ("train", "test")])


# -- reading ---------------------------------------------------------------------------


def test_a_release_folder_loads_into_the_session_schema(release):
    root, arrays = release
    before = listing(root)
    scans = load_xu2023(root)
    assert listing(root) == before  # nothing written into the data folder
    ds = scans[SESSION_NAME]
    assert list(scans) == [SESSION_NAME]
    SESSION.validate(ds)
    n = SEGMENTS * (TRAIN + TEST)
    assert dict(ds.sizes) == {"time": n, "neuron": UNITS - 1, "y": 60, "x": 80, "behavior_var": 6}
    np.testing.assert_allclose(ds.frames.values, in_order(arrays, "vid_mean"), rtol=1e-6)
    np.testing.assert_array_equal(ds.responses.values,
                                  np.delete(in_order(arrays, "nsp"), LOW, axis=1))
    for key, var in BEHAVIOR.items():
        np.testing.assert_allclose(ds.behavior.sel(behavior_var=var).values,
                                   np.nan_to_num(in_order(arrays, key)), rtol=1e-6)
    np.testing.assert_allclose(ds.time.values, np.arange(n) * 0.048)
    assert ds.time.attrs["units"] == "s"
    assert list(ds.unit_id.values) == [0, 1, 3, 4] and set(ds.animal.values) == {SESSION_NAME}
    expected = {"schema": "session", "format": "xu2023", "bin_s": 0.048, "source": RELEASE,
                "session": SESSION_NAME, "video": "vid_mean", "segments": SEGMENTS,
                "units_in_source": UNITS, "dropped_units": str(LOW),
                "unit_filter": "mean rate over all bins below 3 Hz",
                "behavior_nan_set_to_zero": 3}
    assert {k: ds.attrs[k] for k in expected} == expected
    assert "eye_phi:3" in ds.attrs["behavior_nan_by_variable"]
    assert "gz" not in str(ds.behavior_var.values)


def test_tiers_and_segments_follow_the_split(release):
    ds = load_xu2023(release[0])[SESSION_NAME]
    train = int(0.8 * (TRAIN - 1))  # the authors' 80 % of the T - 1 one-step samples
    assert train == 27
    part = ["train"] * train + ["validation"] * (TRAIN - train) + ["test"] * TEST
    assert list(ds.tier.values) == part * SEGMENTS
    assert list(ds.segment.values) == [0] * (TRAIN + TEST) + [1] * (TRAIN + TEST)
    assert (ds.tier.values == "validation").sum() == 2 * 8


def test_a_zip_reads_the_same_without_extracting(release, tmp_path):
    root, _ = release
    z = zip_folder(root, tmp_path / f"{RELEASE}.zip")
    before = listing(tmp_path)
    from_zip = load_xu2023(z)[SESSION_NAME]
    assert listing(tmp_path) == before  # nothing extracted
    expected = load_xu2023(root)[SESSION_NAME]
    for var in ("frames", "responses", "behavior", "tier", "segment", "unit_id"):
        np.testing.assert_array_equal(from_zip[var].values, expected[var].values)
    assert from_zip.attrs["source"] == f"{RELEASE}.zip"
    assert is_xu2023(z) and is_xu2023(root) and is_xu2023(root / SESSION_NAME)
    one = load_xu2023(root / SESSION_NAME)  # a session folder alone
    np.testing.assert_array_equal(one[SESSION_NAME].frames.values, expected.frames.values)


def test_sessions_video_variants_and_unit_filter_options(release):
    root, arrays = release
    write_session(root / "000000_TEST02", seed=1)
    assert list(load_xu2023(root)) == [SESSION_NAME, "000000_TEST02"]
    one = load_xu2023(root, session="000000_TEST02", video="vid_middle")
    ds = one["000000_TEST02"]
    assert list(one) == ["000000_TEST02"] and ds.attrs["video"] == "vid_middle"
    everyone = load_xu2023(root, session=SESSION_NAME, min_rate_hz=None)[SESSION_NAME]
    assert everyone.sizes["neuron"] == UNITS and everyone.attrs["dropped_units"] == ""
    np.testing.assert_array_equal(everyone.responses.values, in_order(arrays, "nsp"))
    with pytest.raises(Xu2023FormatError, match=r"unknown video variant 'vid_max'.*vid_mean"):
        load_xu2023(root, video="vid_max")
    with pytest.raises(Xu2023FormatError, match=r"unknown session 'J000'; found \['000000_TEST01"):
        load_xu2023(root, session="J000")
    with pytest.raises(Xu2023FormatError, match=r"missing file '000000_TEST01/train_vid_shift_"
                                                r"mean_seg_0.npy'.*videos of this session: "
                                                r"\['vid_mean', 'vid_middle'\]"):
        load_xu2023(root, video="vid_shift_mean")
    with pytest.raises(ValueError, match="min_rate_hz must be"):
        load_xu2023(root, min_rate_hz=-1)


def test_the_papers_sessions_drop_the_authors_units(tmp_path):
    assert {k: (n, len(d)) for k, (n, d) in AUTHORS_DROPPED.items()} == {
        "070921_J553RT": (108, 40), "110421_J569LT": (52, 20), "101521_J559NC": (63, 14)}
    name = "110421_J569LT"
    write_session(tmp_path / name, units=52)
    ds = load_xu2023(tmp_path)[name]
    dropped = AUTHORS_DROPPED[name][1]
    assert ds.sizes["neuron"] == 32 and not set(ds.unit_id.values) & set(dropped)
    assert ds.attrs["dropped_units"] == ",".join(map(str, dropped))
    assert ds.attrs["unit_filter"].startswith("the authors' list")
    assert ds.attrs["paper_name"] == "Mouse 2"
    by_rate = load_xu2023(tmp_path, min_rate_hz=2.9)[name]  # another threshold: by rate
    assert by_rate.attrs["dropped_units"] == str(LOW)


def test_load_dispatches_and_converts_to_netcdf(release, tmp_path):
    root, _ = release
    z = zip_folder(root, tmp_path / "copy.zip")
    for p in (root, str(root), z):
        assert load(p)[SESSION_NAME].attrs["format"] == "xu2023"
    static, _ = make_2022_folder(tmp_path / "static")
    assert not is_xu2023(static) and load(static)["21067-10-18"].attrs["format"] == "sensorium2022"
    ds = load(root)[SESSION_NAME]
    back = load_scans(save_scans({SESSION_NAME: ds}, tmp_path / "s.nc"))[SESSION_NAME]
    assert back.attrs["schema"] == "session"
    for var in ("frames", "responses", "behavior", "tier", "segment", "time"):
        np.testing.assert_array_equal(back[var].values, ds[var].values)


def test_a_failed_conversion_leaves_nothing(release, tmp_path, monkeypatch):
    import xarray as xr

    ds = load_xu2023(release[0])[SESSION_NAME]
    out, real, calls = tmp_path / "out", xr.Dataset.to_netcdf, []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the scan's group, after the file's root
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", failing)
    with pytest.raises(OSError, match="disk full"):
        save_scans({SESSION_NAME: ds}, out / "s.nc")
    assert list(out.iterdir()) == []


# -- malformed releases: each problem is named -------------------------------------------------


def _remove(rel):
    return lambda p: (p / rel).unlink()


def _save(rel, value):
    return lambda p: np.save(p / rel, value)


def _set(rel, index, value):
    def change(p):
        a = np.load(p / rel).astype(np.float64)
        a[index] = value
        np.save(p / rel, a)
    return change


S = SESSION_NAME
MALFORMED = {
    "missing behaviour file": (_remove(f"{S}/test_th_seg_1.npy"),
                               rf"missing file '(.*/)?{S}/test_th_seg_1.npy' \(expected "
                               r"\{split\}_\{key\}_seg_\{i\}.npy"),
    "missing video file": (_remove(f"{S}/train_vid_mean_seg_0.npy"),
                           rf"missing file '(.*/)?{S}/train_vid_mean_seg_0.npy'"),
    "missing spike file": (_remove(f"{S}/test_nsp_seg_0.npy"),
                           rf"missing file '(.*/)?{S}/test_nsp_seg_0.npy'"),
    "no spikes at all": (lambda p: [f.unlink() for f in (p / S).glob("*_nsp_*")],
                         r"no spike files; expected one folder per session"),
    "behaviour shorter": (_save(f"{S}/train_speed_seg_1.npy", np.zeros(TRAIN - 1)),
                          rf"{S}/train_speed_seg_1.npy: 34 bins but train_nsp_seg_1.npy has 35 "
                          r"\(unequal lengths"),
    "video longer": (_save(f"{S}/test_vid_mean_seg_0.npy", np.zeros((TEST + 1, 60, 80))),
                     rf"{S}/test_vid_mean_seg_0.npy: 16 bins but test_nsp_seg_0.npy has 15"),
    "frame size": (_save(f"{S}/train_vid_mean_seg_1.npy", np.zeros((TRAIN, 64, 80))),
                   rf"{S}/train_vid_mean_seg_1.npy: frames of 64 x 80 pixels; expected 60 x 80"),
    "frames not 3-D": (_save(f"{S}/test_vid_mean_seg_1.npy", np.zeros((TEST, 4800))),
                       rf"{S}/test_vid_mean_seg_1.npy: shape \(15, 4800\); expected \(bins, 60, 80\)"),
    "NaN frame": (_set(f"{S}/train_vid_mean_seg_0.npy", (7, 3, 3), np.nan),
                  rf"{S}/train_vid_mean_seg_0.npy: variable 'vid_mean' \(frames\) holds NaN or "
                  r"infinite values in 1 bin\(s\) \(first: bin 7\)"),
    "NaN spikes": (_set(f"{S}/test_nsp_seg_1.npy", (4, 1), np.nan),
                   rf"{S}/test_nsp_seg_1.npy: variable 'nsp' \(spike counts\) holds NaN"),
    "negative spikes": (_set(f"{S}/train_nsp_seg_1.npy", (0, 0), -1),
                        rf"{S}/train_nsp_seg_1.npy: variable 'nsp' .* negative values"),
    "unit count": (_save(f"{S}/test_nsp_seg_1.npy", np.zeros((TEST, UNITS + 1))),
                   rf"{S}/test_nsp_seg_1.npy: 6 units but train_nsp_seg_0.npy has 5"),
    "spikes 1-D": (_save(f"{S}/train_nsp_seg_0.npy", np.zeros(TRAIN)),
                   rf"{S}/train_nsp_seg_0.npy: shape \(35,\); expected \(bins, units\)"),
    "behaviour 2-D": (_save(f"{S}/test_roll_seg_0.npy", np.zeros((TEST, 2))),
                      rf"{S}/test_roll_seg_0.npy: shape \(15, 2\); expected \(bins,\)"),
    "infinite behaviour": (_set(f"{S}/train_eyerad_seg_0.npy", 2, np.inf),
                           rf"{S}/train_eyerad_seg_0.npy: variable 'eyerad' holds infinite"),
    "text behaviour": (_save(f"{S}/train_pitch_seg_0.npy", np.array(["a"] * TRAIN)),
                       rf"{S}/train_pitch_seg_0.npy: dtype <U1 is not real numbers"),
    "truncated file": (lambda p: (p / S / "test_speed_seg_0.npy").write_bytes(b"\x93NUMPY\x01"),
                       rf"{S}/test_speed_seg_0.npy: not a readable .npy file"),
}


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_releases_have_clear_errors(release, tmp_path, case, as_zip):
    root, _ = release
    break_it, message = MALFORMED[case]
    break_it(root)
    target = zip_folder(root, tmp_path / f"{RELEASE}.zip") if as_zip else root
    before = listing(tmp_path)
    with pytest.raises(Xu2023FormatError, match=message) as err:
        load_xu2023(target)
    assert isinstance(err.value, ValueError)
    assert str(err.value).startswith(target.name)  # names the release, not the machine path
    assert listing(tmp_path) == before  # a failure leaves nothing behind


def test_nonexistent_path(tmp_path):
    with pytest.raises(Xu2023FormatError, match="no such Xu et al. 2023 folder or zip"):
        load_xu2023(tmp_path / "missing.zip")
    assert not is_xu2023(tmp_path / "missing.zip") and not is_xu2023(tmp_path)


def cli(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def test_the_command_line_reads_a_release_and_refuses_a_bad_one(release, tmp_path):
    root, _ = release
    rc, out, _ = cli(["data", root])
    assert rc == 0 and out.strip() == f"{SESSION_NAME}: 100 times x 4 neurons"
    MALFORMED["frame size"][0](root)
    before = listing(tmp_path)
    rc, _, err = cli(["data", root])
    lines = err.strip().splitlines()
    assert rc == 1 and len(lines) == 1 and lines[0].startswith("error: ")
    assert "train_vid_mean_seg_1.npy" in lines[0] and "60 x 80" in lines[0]
    assert listing(tmp_path) == before


def test_repository_manifest_lists_the_release():
    e = read_manifest()["xu2023-freely-moving"]
    assert e["kind"] == "external" and e["loader"] == "xu2023"
    assert e["doi"] == "10.17605/OSF.IO/MSP3A" and e["licence"].startswith("see source")
    assert e["files"][0]["name"] == f"{RELEASE}.zip" and e["files"][0]["sha256"] is None
    assert e["files"][0]["url"].startswith("https://osf.io/msp3a")
