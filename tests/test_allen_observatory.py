"""Allen Brain Observatory ophys NWB 1 files (natural scenes) -> the static schema."""

import contextlib
import io
from pathlib import Path

import h5py
import numpy as np
import pytest

from v1lib.cli import main
from v1lib.data import load_scans
from v1lib.data.allen_observatory import (
    DFF,
    EYE,
    PRESENTATION,
    PUPIL,
    RUNNING,
    SEGMENTATION,
    TEMPLATES,
    AllenObservatoryFormatError,
    convert_natural_scenes,
    read_natural_scenes,
)
from v1lib.data.static import STATIC
from v1lib.datasets import ManifestError, load, read_manifest

EXPERIMENT, SPECIMEN = "501929146", "Cux2-CreERT2;Camk2a-tTA;Ai93-222426"
SCENES, REPEATS, CELLS, FRAMES, HZ, LENGTH = 6, 5, 8, 300, 30.0, 7
TEMPLATE_SHAPE, FOV_PX = (20, 30), 512
NS = f"{PRESENTATION}/natural_scenes_stimulus"
CENTRES = [(40, 100), (200, 30), (300, 450), (10, 10), (500, 256), (128, 384), (64, 64),
           (256, 300)]  # (x, y) pixel at the centre of each ROI's 3 x 3 mask


def write_experiment(path: Path, eye=True, running=True, seed=0) -> dict:
    """A small ophys experiment file in the layout of the Allen Brain Observatory's NWB 1
    files: 6 scenes of 20 x 30 px shown 5 times each, interleaved with 6 grey screens, 8
    cells, 300 frames at 30 Hz. Returns what was written."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.repeat(np.arange(SCENES), REPEATS)).tolist()
    for k in range(6):  # grey screens between the scenes
        order.insert(5 * k + 2, -1)
    starts = 10 + LENGTH * np.arange(len(order))
    frames = np.stack([starts, starts + LENGTH], 1).astype(np.float64)
    dff = (rng.normal(0.05, 0.3, (CELLS, FRAMES))).astype(np.float32)
    dff[:, -3] = np.nan  # after the last presentation: never read
    t = np.arange(FRAMES) / HZ + 5.0
    speed = rng.uniform(0, 20, FRAMES)
    speed[[40, 41]] = np.nan
    pupil, gaze = rng.uniform(800, 1200, FRAMES), rng.normal(0, 5, (FRAMES, 2))
    with h5py.File(path, "w") as f:
        f[f"{DFF}/data"], f[f"{DFF}/timestamps"] = dff, t
        f[f"{SEGMENTATION}/cell_specimen_ids"] = 517000000 + np.arange(CELLS) * 7
        rois = [f"roi_{i}".encode() for i in range(CELLS)]
        f[f"{SEGMENTATION}/imaging_plane_1/roi_list"] = rois
        for i, (roi, (x, y)) in enumerate(zip(rois, CENTRES)):
            mask = np.zeros((FOV_PX, FOV_PX), np.uint8)
            mask[y - 1:y + 2, x - 1:x + 2] = 1
            g = f"{SEGMENTATION}/imaging_plane_1/{roi.decode()}"
            if i == CELLS - 1:  # only the pixel list, rows of [x, y]
                f[f"{g}/pix_mask"] = np.argwhere(mask)[:, ::-1].astype(np.uint16)
            else:
                f[f"{g}/img_mask"] = mask
        f[f"{NS}/data"], f[f"{NS}/frame_duration"] = np.array(order), frames
        f[f"{PRESENTATION}/spontaneous_stimulus/data"] = np.zeros(2)
        f[TEMPLATES] = rng.integers(0, 256, (SCENES, *TEMPLATE_SHAPE)).astype(np.float32)
        if running:
            f[f"{RUNNING}/data"], f[f"{RUNNING}/timestamps"] = speed[:, None], t
        if eye:
            f[f"{PUPIL}/data"], f[f"{PUPIL}/timestamps"] = pupil, t
            f[f"{EYE}/data"], f[f"{EYE}/timestamps"] = gaze, t
        g = "general/"
        for key, value in {"session_id": EXPERIMENT, "session_type": "three_session_B",
                           "specimen_name": SPECIMEN, "experiment_container_id": "511510715",
                           "fov": "400x400 microns (512 x 512 pixels)",
                           "subject/genotype": "Cux2-CreERT2/wt;Camk2a-tTA/wt;Ai93",
                           "optophysiology/imaging_plane_1/location": "VISal",
                           "optophysiology/imaging_plane_1/imaging depth": "175 microns"}.items():
            f[g + key] = value.encode()
    return {"order": np.array(order), "frames": frames.astype(int), "dff": dff, "t": t,
            "speed": speed, "pupil": pupil, "gaze": gaze}


@pytest.fixture
def nwb(tmp_path) -> tuple[Path, dict]:
    path = tmp_path / f"{EXPERIMENT}.nwb"
    return path, write_experiment(path)


def expected_means(w, window=None, values=None):
    """Hand-computed per-trial means (trials by onset; grey screens dropped)."""
    keep = w["order"] >= 0
    out = []
    for (s, e) in w["frames"][keep]:
        if window is not None:
            rel = w["t"] - w["t"][s]
            idx = np.flatnonzero((rel >= window[0]) & (rel < window[1]))
        else:
            idx = np.arange(s, e)
        out.append(np.nanmean((w["dff"].T if values is None else values)[idx], axis=0))
    return np.array(out)


def test_a_file_reads_into_the_static_schema(nwb):
    path, w = nwb
    ds = read_natural_scenes(path)
    STATIC.validate(ds)
    n = SCENES * REPEATS
    assert ds.images.shape == (n, 36, 64) and ds.responses.shape == (n, CELLS)
    assert float(ds.images.min()) >= 0 and float(ds.images.max()) <= 255
    np.testing.assert_array_equal(ds.image_id.values, w["order"][w["order"] >= 0])
    mean = expected_means(w)
    np.testing.assert_allclose(ds.responses.values, np.maximum(mean, 0), rtol=1e-5, atol=1e-6)
    assert ds.attrs["responses_clipped_fraction"] == pytest.approx((mean < 0).mean())
    for k in range(SCENES):  # every repeat of a scene: one tier and one image
        rows = ds.image_id.values == k
        assert len(set(ds.tier.values[rows])) == 1
        assert (ds.images.values[rows] == ds.images.values[rows][0]).all()
    tiers = {t: len(set(ds.image_id.values[ds.tier.values == t])) for t in set(ds.tier.values)}
    assert tiers == {"test": 1, "validation": 1, "train": 4}
    um = 400 / 512
    np.testing.assert_allclose(ds.cortical_x, [c[0] * um for c in CENTRES], atol=1e-3)
    np.testing.assert_allclose(ds.cortical_y, [c[1] * um for c in CENTRES], atol=1e-3)
    assert (ds.cortical_z.values == 175).all() and (ds.animal.values == SPECIMEN).all()
    assert ds.unit_id.values.tolist() == (517000000 + np.arange(CELLS) * 7).tolist()
    a = ds.attrs
    assert (a["scan"], a["source"], a["format"]) == (EXPERIMENT, path.name, "allen-observatory-nwb1")
    assert (a["targeted_structure"], a["cre_line"], a["imaging_depth_um"]) == ("VISal",
                                                                              "Cux2-CreERT2/wt", 175)
    assert a["session_type"] == "three_session_B" and a["grey_presentations_dropped"] == 6
    assert a["original_image_shape"] == list(TEMPLATE_SHAPE) and a["missing_behavior"] == ""


def test_window_behaviour_and_eye_position_are_trial_means(nwb):
    path, w = nwb
    ds = read_natural_scenes(path, window=(0.05, 0.15), image_size=(10, 15))
    assert ds.images.shape[1:] == (10, 15)
    np.testing.assert_allclose(ds.responses.values,
                               np.maximum(expected_means(w, (0.05, 0.15)), 0), rtol=1e-5, atol=1e-6)
    running = expected_means(w, (0.05, 0.15), w["speed"][:, None])[:, 0]
    nan = np.isnan(running)
    running[nan] = np.nanmean(running)
    np.testing.assert_allclose(ds.behavior.sel(behavior_var="running"), running, rtol=1e-5)
    assert "running:" in ds.attrs["behavior_nan_filled_with_mean"]
    pupil = expected_means(w, (0.05, 0.15), w["pupil"][:, None])[:, 0]
    np.testing.assert_allclose(ds.behavior.sel(behavior_var="pupil"), pupil, rtol=1e-5)
    gaze = expected_means(w, (0.05, 0.15), w["gaze"])
    np.testing.assert_allclose(ds.pupil_center.values, gaze, rtol=1e-4, atol=1e-5)
    dpupil = expected_means(w, (0.05, 0.15), np.gradient(w["pupil"], w["t"])[:, None])[:, 0]
    np.testing.assert_allclose(ds.behavior.sel(behavior_var="dpupil"), dpupil, rtol=1e-4)
    assert read_natural_scenes(path, window=0.12).attrs["response"].endswith("0.12 s")


def test_tiers_are_seeded(nwb):
    path, _ = nwb
    tiers = [read_natural_scenes(path, seed=s, image_size=(4, 6)).tier.values for s in (0, 0, 5)]
    assert (tiers[0] == tiers[1]).all()
    many = read_natural_scenes(path, test_fraction=0.5, validation_fraction=0, image_size=(4, 6))
    assert set(many.tier.values) == {"test", "train"}
    with pytest.raises(ValueError, match="leave one to train on"):
        read_natural_scenes(path, test_fraction=0.8, validation_fraction=0.5)
    with pytest.raises(ValueError, match="window must be"):
        read_natural_scenes(path, window=(0.2, 0.1))


def test_missing_eye_tracking_and_running_are_constant_and_listed(tmp_path):
    from v1lib.models.normalizer import input_stats

    path = tmp_path / "x.nwb"
    write_experiment(path, eye=False, running=False)
    ds = read_natural_scenes(path, image_size=(4, 6))
    STATIC.validate(ds)
    assert ds.attrs["missing_behavior"] == "pupil,dpupil,running,pupil_center_x,pupil_center_y"
    assert (ds.behavior.values == 0).all() and (ds.pupil_center.values == 0).all()
    for values, center in ((ds.behavior.values, False), (ds.pupil_center.values, True)):
        st = input_stats(values, per_column=True, center=center)
        assert (st.std == 1.0).all()  # a zero SD is replaced: no division by zero
        assert np.isfinite((values - st.mean) / st.std).all()


# -- malformed files: each problem names the file and the HDF5 path -------------------------


def _delete(hpath):
    def change(f):
        del f[hpath]
    return change


def _replace(hpath, value):
    def change(f):
        del f[hpath]
        f[hpath] = value
    return change


def _nan_in_presented_frame(f):
    d = f[f"{DFF}/data"]
    row = d[2]
    row[int(f[f"{NS}/frame_duration"][0, 0]) + 1] = np.nan
    d[2] = row


MALFORMED = {
    "no dF/F traces": (_delete(f"{DFF}/data"), f"missing dataset '{DFF}/data'"),
    "no timestamps": (_delete(f"{DFF}/timestamps"), f"missing dataset '{DFF}/timestamps'"),
    "no templates": (_delete(TEMPLATES), f"missing dataset '{TEMPLATES}'"),
    "no cell ids": (_delete(f"{SEGMENTATION}/cell_specimen_ids"),
                    f"missing dataset '{SEGMENTATION}/cell_specimen_ids'"),
    "no ROI mask": (_delete(f"{SEGMENTATION}/imaging_plane_1/roi_3/img_mask"),
                    "missing dataset .*roi_3/img_mask' .*cell index 3"),
    "no natural scenes": (_delete(NS), r"no natural-scenes stimulus: "
                          f"'{NS}' is absent .*'three_session_B'.*'spontaneous_stimulus'"),
    "short timestamps": (_replace(f"{DFF}/timestamps", np.arange(FRAMES - 1) / HZ),
                         f"'{DFF}/data' has {FRAMES} frames but '{DFF}/timestamps' has "
                         f"{FRAMES - 1}"),
    "NaN in a presented frame": (_nan_in_presented_frame,
                                 f"'{DFF}/data' holds NaN .* cell index 2, frames 10..16"),
    "too few templates": (_replace(TEMPLATES, np.zeros((SCENES - 1, 4, 4), np.float32)),
                          f"'{TEMPLATES}' holds 5 scenes but the natural-scenes stimulus shows "
                          "scene 5"),
    "frames past the end": (_replace(f"{NS}/frame_duration", np.full((36, 2), FRAMES + 1.0)),
                            f"'{NS}/frame_duration' row 0 is .* <= {FRAMES}"),
    "duplicate cell ids": (_replace(f"{SEGMENTATION}/cell_specimen_ids", np.zeros(CELLS, int)),
                           f"'{SEGMENTATION}/cell_specimen_ids' holds 8 entries \\(1 distinct\\)"),
    "no depth": (_delete("general/optophysiology/imaging_plane_1/imaging depth"),
                 "'general/optophysiology/imaging_plane_1/imaging depth' is None"),
    "pupil without timestamps": (_delete(f"{PUPIL}/timestamps"),
                                 f"missing dataset '{PUPIL}/timestamps'"),
}


def listing(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_files_have_clear_errors_and_leave_nothing(nwb, tmp_path, case):
    path, _ = nwb
    change, message = MALFORMED[case]
    with h5py.File(path, "a") as f:
        change(f)
    before = listing(tmp_path)
    with pytest.raises(AllenObservatoryFormatError, match=message) as err:
        read_natural_scenes(path, image_size=(4, 6))
    assert str(err.value).startswith(f"{path.name}: ")
    with pytest.raises(AllenObservatoryFormatError):
        convert_natural_scenes(path, tmp_path / "out" / "scans.nc", image_size=(4, 6))
    assert listing(tmp_path) == before  # nothing written, not even the folder's file


def test_not_a_file_or_not_hdf5(tmp_path):
    with pytest.raises(AllenObservatoryFormatError, match="missing.nwb: no such"):
        read_natural_scenes(tmp_path / "missing.nwb")
    (tmp_path / "bad.nwb").write_bytes(b"not hdf5")
    with pytest.raises(AllenObservatoryFormatError, match="bad.nwb: not a readable HDF5"):
        read_natural_scenes(tmp_path / "bad.nwb")


# -- conversion, dispatch, the command line and the manifest --------------------------------


def test_convert_load_by_path_and_command_line(nwb, tmp_path):
    path, _ = nwb
    ds = load(path)[EXPERIMENT]
    out = convert_natural_scenes(path, tmp_path / "abo.nc")
    back = load_scans(out)[EXPERIMENT]
    for var in ("images", "responses", "behavior", "pupil_center", "tier", "image_id", "unit_id"):
        np.testing.assert_array_equal(back[var].values, ds[var].values)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(["data", str(path)])
    assert rc == 0 and stdout.getvalue().strip() == f"{EXPERIMENT}: 30 trials x 8 neurons"


def test_the_manifest_lists_the_data_and_never_downloads_them():
    e = read_manifest()["allen-observatory-natural-scenes"]
    assert e["kind"] == "external" and e["loader"] == "allen_observatory"
    f = e["files"][0]
    assert f["sha256"] is None and f["url"].endswith(f"/ophys_experiment_data/{f['name']}")
    assert "de Vries" in e["citation"] and "Terms of Use" in e["licence"]
    with pytest.raises(ManifestError, match="no sha256 is recorded"):
        load("allen-observatory-natural-scenes")  # stops before any download
