"""Allen Brain Observatory (Visual Coding, two-photon) natural-scenes responses -> the
static schema (:mod:`v1lib.data.static`).

One ophys experiment file ``<ophys_experiment_id>.nwb`` (NWB 1.x, as the Allen Institute
distributes it; the 118 natural scenes are in ``three_session_B``) is read with h5py, as
pynwb 4.x reads NWB 2 only. Its layout (``P`` = ``processing/brain_observatory_pipeline``)::

    P/DfOverF/imaging_plane_1/data, timestamps     (cells, frames) ΔF/F; (frames,) s
    P/ImageSegmentation/cell_specimen_ids          (cells,)
    P/ImageSegmentation/imaging_plane_1/roi_list   ROI names: <roi>/img_mask (512, 512)
                                                   or <roi>/pix_mask (n, 2) = x, y
    stimulus/presentation/natural_scenes_stimulus/data, frame_duration
                                                   scene (-1: grey); (n, 2) start, end frame
    stimulus/templates/natural_scenes_image_stack/data    (118, 918, 1174)
    P/BehavioralTimeSeries/running_speed, P/PupilTracking/pupil_size,
    P/EyeTracking/pupil_location_spherical         data, timestamps (optional)

One trial per natural-scene presentation (grey screens dropped). A response is the mean
ΔF/F over the presentation's 2P frames ``[start, end)`` (or over a window in seconds after
onset) clipped at 0: ΔF/F, not the deconvolved (L0) events Shi et al. 2022 summed. The
tiers split the scenes (every repeat of a scene in one tier).
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from .static import BEHAVIOR_VARS, EYE_AXES, STATIC

FORMAT = "allen-observatory-nwb1"
# HDF5 paths as AllenInstitute/AllenSDK allensdk/core/brain_observatory_nwb_data_set.py reads
# them (get_dff_traces, get_cell_specimen_ids, get_roi_mask, get_stimulus_table,
# get_stimulus_template, get_running_speed, get_pupil_size, get_pupil_location); the same
# paths in catalystneuro/visual-coding-to-nwb-v2 src/visual_coding_to_nwb_v2/visual_coding_ophys/
# interfaces/ (_processed_ophys.py, _running_speed.py, _pupil_tracking.py, _eye_tracking.py)
PIPE = "processing/brain_observatory_pipeline"
DFF = f"{PIPE}/DfOverF/imaging_plane_1"
SEGMENTATION = f"{PIPE}/ImageSegmentation"
PRESENTATION = "stimulus/presentation"
SCENES = ("natural_scenes_stimulus", "natural_scenes")  # _find_stimulus_presentation_group
# frame_duration rows are (start, end) 2P frames: AllenSDK allensdk/brain_observatory/
# stimulus_analysis.py slices the traces with them; the templates are 918 x 1174
# (allensdk/brain_observatory/stimulus_info.py NATURAL_SCENES_PIXELS)
TEMPLATES = "stimulus/templates/natural_scenes_image_stack/data"
RUNNING = f"{PIPE}/BehavioralTimeSeries/running_speed"
PUPIL = f"{PIPE}/PupilTracking/pupil_size"
# columns azimuth, altitude (deg): AllenSDK allensdk/internal/brain_observatory/
# eye_calibration.py stacks [meridian, elevation]
EYE = f"{PIPE}/EyeTracking/pupil_location_spherical"
# AllenSDK's FILE_METADATA_MAPPING; the experiment id is general/ophys_experiment_id in
# catalystneuro's interfaces/_general_metadata.py
META = {"ophys_experiment_id": ("general/session_id", "general/ophys_experiment_id"),
        "experiment_container_id": ("general/experiment_container_id",),
        "targeted_structure": ("general/optophysiology/imaging_plane_1/location",),
        "genotype": ("general/subject/genotype",), "session_type": ("general/session_type",),
        "specimen_name": ("general/specimen_name",), "fov": ("general/fov",)}
DEPTH = "general/optophysiology/imaging_plane_1/imaging depth"  # e.g. "175 microns"
# general/fov reads "400x400 microns (512 x 512 pixels)" (AllenSDK allensdk/internal/api/
# ophys_lims_api.py; catalystneuro's interfaces/shared_methods.py: grid spacing 0.78 µm)
DEFAULT_UM_PER_PX = 400.0 / 512.0
_FOV = re.compile(r"([\d.]+)\s*x\s*([\d.]+)\s*microns?\s*\(\s*(\d+)\s*x\s*(\d+)\s*pixels?\s*\)")
MISSING_FILL = 0.0  # behaviour the file lacks: a constant (its SD is 0; the normaliser uses 1)


class AllenObservatoryFormatError(ValueError):
    """A file does not follow the layout of the Allen Brain Observatory ophys NWB files."""


_E = AllenObservatoryFormatError


def read_natural_scenes(path, image_size=(36, 64), test_fraction: float = 0.2,
                        validation_fraction: float = 0.1, seed: int = 0,
                        window=None) -> xr.Dataset:
    """Read one ophys experiment file into the static schema.

    ``window``: None (each presentation's frames), ``w`` or ``(a, b)`` seconds after onset
    (frames with onset + a <= t < onset + b). A seeded choice of ``test_fraction`` and
    ``validation_fraction`` of the scenes (at least one each when > 0) are the test and
    validation tiers. Behaviour the file lacks is 0 and named in ``attrs["missing_behavior"]``.
    Raises :class:`AllenObservatoryFormatError` naming the file and the HDF5 path.
    """
    path, window = Path(path), _window(window)
    if not 0 < test_fraction < 1 or not 0 <= validation_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1) and validation_fraction in [0, 1), "
                         f"got {test_fraction!r} and {validation_fraction!r}")
    if not path.is_file():
        raise _E(f"{path.name}: no such Allen Brain Observatory file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise _E(f"{path.name}: not a readable HDF5 (NWB 1) file ({err})") from None
    with f:
        return _read(f, path.name, tuple(int(s) for s in image_size),
                     (test_fraction, validation_fraction, seed), window)


def load_natural_scenes(path, **kwargs) -> dict[str, xr.Dataset]:
    """:func:`read_natural_scenes` as ``{scan: Dataset}``, the scan named by the experiment id."""
    ds = read_natural_scenes(path, **kwargs)
    return {ds.attrs["scan"]: ds}


def convert_natural_scenes(path, out, **kwargs) -> Path:
    """Read ``path`` into a NetCDF file of scans at ``out``; it appears only when complete."""
    from ..cache import netcdf_attrs, provenance
    from .netcdf import save_scans

    scans = load_natural_scenes(path, **kwargs)
    return save_scans(scans, out, attrs={"dataset": Path(out).stem,
                                         **netcdf_attrs(provenance())})


def _window(window):
    if window is None:
        return None
    a, b = (0.0, window) if np.isscalar(window) else tuple(window)
    if not (np.isfinite(a) and np.isfinite(b) and 0 <= a < b):
        raise ValueError(f"window must be None, w > 0 or (a, b) s with 0 <= a < b, got {window!r}")
    return float(a), float(b)


def _get(f, name: str, hpath: str, ndim: int, expected: str, numeric=True) -> np.ndarray:
    """A dataset, checked for its presence, number of dimensions and (numeric) type."""
    if hpath not in f or not isinstance(f[hpath], h5py.Dataset):
        raise _E(f"{name}: missing dataset '{hpath}' ({expected})")
    a = np.asarray(f[hpath][()])
    if ndim == 1 and a.ndim == 2 and a.shape[1] == 1:  # pipeline 0.9 stored some as (n, 1)
        a = a[:, 0]
    if a.ndim != ndim or (numeric and not np.issubdtype(a.dtype, np.number)):
        raise _E(f"{name}: dataset '{hpath}' has shape {a.shape} and dtype {a.dtype}; "
                 f"expected {expected}")
    return a


def _text(f, paths) -> str | None:
    """The first of ``paths`` that is a dataset, as text (None: none is)."""
    for p in paths:
        if p in f and isinstance(f[p], h5py.Dataset):
            v = f[p][()]
            v = v.reshape(-1)[0] if isinstance(v, np.ndarray) and v.size else v
            return v.decode("utf-8") if isinstance(v, bytes) else str(v)
    return None


def _read(f, name: str, image_size, split, window) -> xr.Dataset:
    dff = _get(f, name, f"{DFF}/data", 2, "(cells, frames) ΔF/F")
    ts = _get(f, name, f"{DFF}/timestamps", 1, "(frames,) seconds")
    if dff.shape[1] != len(ts):
        raise _E(f"{name}: '{DFF}/data' has {dff.shape[1]} frames but '{DFF}/timestamps' has "
                 f"{len(ts)} (one timestamp per frame)")
    if not (np.isfinite(ts).all() and (np.diff(ts) > 0).all()):
        raise _E(f"{name}: '{DFF}/timestamps' must be finite and increasing")
    scene, start, end, grey = _presentations(f, name, len(ts))
    lo, hi = _frames(name, ts, start, end, window)
    responses, clipped = _responses(name, dff, lo, hi, start)
    behavior, eye, behavior_attrs = _behavior(f, name, ts[lo], ts[hi - 1])
    images, shape = _images(f, name, scene, image_size)
    meta = _metadata(f, name)
    ids, xy, um = _cells(f, name, dff.shape[0], meta["fov"])
    n, f32 = len(ids), lambda a: np.asarray(a, np.float32)
    ds = xr.Dataset(
        {"images": (STATIC.variables["images"], images[np.searchsorted(np.unique(scene), scene)]),
         "responses": (STATIC.variables["responses"], responses),
         "behavior": (STATIC.variables["behavior"], behavior),
         "pupil_center": (STATIC.variables["pupil_center"], eye)},
        coords={"trial": np.arange(len(scene)), "tier": ("trial", _tiers(scene, *split)),
                "image_id": ("trial", scene), "onset_s": ("trial", ts[start]),
                "y": np.arange(image_size[0]), "x": np.arange(image_size[1]),
                "cortical_x": ("neuron", f32(xy[:, 0] * um[0])),
                "cortical_y": ("neuron", f32(xy[:, 1] * um[1])),
                "cortical_z": ("neuron", f32(np.full(n, meta["imaging_depth_um"]))),
                "animal": ("neuron", np.full(n, meta["specimen_name"] or f"experiment-{meta['scan']}")),
                "unit_id": ("neuron", ids.astype(np.int64)),
                "behavior_var": list(BEHAVIOR_VARS), "eye_axis": list(EYE_AXES)},
        attrs={**meta, **behavior_attrs,
               **_attrs(name, shape, image_size, window, clipped, grey, split, um)})
    return STATIC.validate(ds, source=name)


def _presentations(f, name: str, n_frames: int):
    """Scene, first and end (exclusive) 2P frame of each natural-scene presentation, by
    onset; and the number of grey-screen presentations dropped."""
    group = next((f"{PRESENTATION}/{g}" for g in SCENES if f"{PRESENTATION}/{g}" in f), None)
    if group is None:
        found = sorted(f[PRESENTATION]) if PRESENTATION in f else []
        raise _E(f"{name}: no natural-scenes stimulus: '{PRESENTATION}/{SCENES[0]}' is absent "
                 f"(session type '{_text(f, META['session_type'])}'; stimuli in the file: "
                 f"{found}); the natural scenes are shown in three_session_B sessions")
    raw = _get(f, name, f"{group}/data", 1, "(presentations,) scene index, -1 for grey")
    frames = _get(f, name, f"{group}/frame_duration", 2, "(presentations, 2) start, end frame")
    if frames.shape != (len(raw), 2) or not (np.isfinite(raw).all() and np.isfinite(frames).all()):
        raise _E(f"{name}: '{group}/frame_duration' has shape {frames.shape} for {len(raw)} "
                 f"presentations in '{group}/data'; expected ({len(raw)}, 2) finite frame indices")
    scene, frames = raw.astype(np.int64), frames.astype(np.int64)
    if (scene != raw).any() or (scene < -1).any():
        raise _E(f"{name}: '{group}/data' must hold whole numbers >= -1 (scene; -1: grey)")
    bad = (frames[:, 0] < 0) | (frames[:, 1] <= frames[:, 0]) | (frames[:, 1] > n_frames)
    if bad.any():
        i = int(np.argmax(bad))
        raise _E(f"{name}: '{group}/frame_duration' row {i} is {frames[i].tolist()}; expected "
                 f"0 <= start < end <= {n_frames} (the frames of '{DFF}/data')")
    keep = scene >= 0
    if not keep.any():
        raise _E(f"{name}: '{group}/data' holds no natural scene (only the grey screen, -1)")
    order = np.argsort(frames[keep, 0], kind="stable")
    s, fr = scene[keep][order], frames[keep][order]
    return s, fr[:, 0], fr[:, 1], int((~keep).sum())


def _frames(name: str, ts, start, end, window):
    """The frames ``[lo, hi)`` averaged for each trial."""
    if window is None:
        return start, end
    lo = np.searchsorted(ts, ts[start] + window[0], side="left")
    hi = np.searchsorted(ts, ts[start] + window[1], side="left")
    if (hi <= lo).any():
        i = int(np.argmax(hi <= lo))
        raise _E(f"{name}: the window {window} s after the onset of natural-scene presentation "
                 f"{i} (frame {int(start[i])}) holds no frame of '{DFF}/timestamps'")
    return lo, hi


def _responses(name: str, dff, lo, hi, start):
    """Mean ΔF/F of each trial's frames, clipped at 0; and the fraction clipped."""
    out = np.empty((len(lo), dff.shape[0]), np.float64)
    for i, (a, b) in enumerate(zip(lo, hi)):
        out[i] = dff[:, a:b].mean(axis=1, dtype=np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        i, j = (int(k[0]) for k in np.nonzero(bad))
        raise _E(f"{name}: '{DFF}/data' holds NaN or infinite values in the frames of "
                 f"{int(bad.any(axis=1).sum())} natural-scene presentation(s) (first: cell index "
                 f"{j}, frames {int(lo[i])}..{int(hi[i]) - 1}, onset frame {int(start[i])})")
    return np.maximum(out, 0).astype(np.float32), float((out < 0).mean())


def _series(f, name: str, group: str, width: int):
    """``(data, timestamps)`` of an optional time series; None when the group is absent."""
    if group not in f:
        return None
    shape = "(samples,)" if width == 1 else f"(samples, {width})"
    data = _get(f, name, f"{group}/data", 1 if width == 1 else 2, f"{shape} values")
    t = _get(f, name, f"{group}/timestamps", 1, "(samples,) seconds")
    if len(data) != len(t) or (width > 1 and data.shape[1] != width):
        raise _E(f"{name}: '{group}/data' has shape {data.shape} but '{group}/timestamps' has "
                 f"{len(t)} samples; expected {shape} with one timestamp per sample")
    keep = np.isfinite(t)  # samples without a time are not placed in any trial
    if not (np.diff(t[keep]) >= 0).all():
        raise _E(f"{name}: '{group}/timestamps' must increase")
    return data.astype(np.float64).reshape(len(t), -1)[keep], t[keep]


def _trial_means(data, t, t_lo, t_hi) -> np.ndarray:
    """Mean of the finite samples with t_lo <= t <= t_hi per trial (NaN where none)."""
    lo, hi = np.searchsorted(t, t_lo, "left"), np.searchsorted(t, t_hi, "right")
    ok = np.isfinite(data)
    cs = np.concatenate([np.zeros((1, data.shape[1])), np.cumsum(np.where(ok, data, 0), 0)])
    cn = np.concatenate([np.zeros((1, data.shape[1])), np.cumsum(ok, 0)])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (cs[hi] - cs[lo]) / (cn[hi] - cn[lo])


def _behavior(f, name: str, t_lo, t_hi):
    """Pupil, dpupil, running and the pupil centre per trial; a trial without samples takes
    the variable's mean, a variable the file lacks :data:`MISSING_FILL`."""
    found = {key: _series(f, name, group, width) for key, group, width in
             (("running", RUNNING, 1), ("pupil", PUPIL, 1), ("eye", EYE, 2))}
    if found["pupil"] is not None:
        p, t = found["pupil"]
        found["dpupil"] = (np.gradient(p[:, 0], t)[:, None] if len(t) > 1 else p * np.nan, t)
    names = {"pupil": ["pupil"], "dpupil": ["dpupil"], "running": ["running"],
             "eye": ["pupil_center_x", "pupil_center_y"]}
    cols, missing, filled = {}, [], {}
    for key, series in ((k, found.get(k)) for k in names):
        means = (_trial_means(*series, t_lo, t_hi) if series is not None
                 else np.full((len(t_lo), len(names[key])), np.nan))
        for j, col in enumerate(names[key]):
            v = means[:, j]
            if not np.isfinite(v).any():
                missing.append(col)
                v = np.full(len(v), MISSING_FILL)
            filled[col] = int((~np.isfinite(v)).sum())
            cols[col] = np.where(np.isfinite(v), v, np.nanmean(v))
    behavior = np.stack([cols[v] for v in BEHAVIOR_VARS], 1).astype(np.float32)
    eye = np.stack([cols["pupil_center_x"], cols["pupil_center_y"]], 1).astype(np.float32)
    return behavior, eye, {
        "missing_behavior": ",".join(missing), "missing_behavior_fill": MISSING_FILL,
        "behavior_nan_filled_with_mean": ",".join(f"{k}:{v}" for k, v in filled.items()),
        "behavior_units": "pupil: pupil_size as stored (area, px), dpupil: per s, running: "
                          "cm/s, pupil_center: azimuth, altitude (deg)"}


def _images(f, name: str, scene, image_size):
    """Each scene's template (in the order of its index), resized with anti-aliasing."""
    from skimage.transform import resize

    if TEMPLATES not in f or not isinstance(f[TEMPLATES], h5py.Dataset):
        raise _E(f"{name}: missing dataset '{TEMPLATES}' (scenes, height, width) templates")
    stack = f[TEMPLATES]  # read one scene at a time (118 x 918 x 1174 float32 in the files)
    if stack.ndim != 3 or not np.issubdtype(stack.dtype, np.number):
        raise _E(f"{name}: dataset '{TEMPLATES}' has shape {stack.shape}; expected (scenes, "
                 "height, width)")
    if scene.max() >= stack.shape[0]:
        raise _E(f"{name}: '{TEMPLATES}' holds {stack.shape[0]} scenes but the natural-scenes "
                 f"stimulus shows scene {int(scene.max())} (indices run 0..{stack.shape[0] - 1})")
    out = []
    for k in np.unique(scene):
        img = stack[int(k)].astype(np.float32)
        if not np.isfinite(img).all():
            raise _E(f"{name}: '{TEMPLATES}' scene {int(k)} holds NaN")
        small = resize(img, image_size, order=1, mode="reflect", anti_aliasing=True,
                       preserve_range=True)
        out.append(np.clip(small, 0, 255).astype(np.float32))
    return np.stack(out), tuple(stack.shape[1:])


def _tiers(scene, test_fraction: float, validation_fraction: float, seed: int) -> np.ndarray:
    """A seeded choice of scenes is test, one of the rest validation, the others train."""
    scenes = np.unique(scene)
    n_test = max(1, int(round(test_fraction * len(scenes))))
    n_val = max(1, int(round(validation_fraction * len(scenes)))) if validation_fraction else 0
    if n_test + n_val >= len(scenes):
        raise ValueError(f"{len(scenes)} scenes cannot make {n_test} test and {n_val} "
                         "validation scenes and leave one to train on")
    order = np.random.default_rng(seed).permutation(scenes)
    tier = np.full(len(scene), "train", dtype="<U10")
    tier[np.isin(scene, order[:n_test])] = "test"
    tier[np.isin(scene, order[n_test:n_test + n_val])] = "validation"
    return tier


def _metadata(f, name: str) -> dict:
    meta = {k: _text(f, paths) or "" for k, paths in META.items()}
    depth = _text(f, (DEPTH,))
    try:
        meta["imaging_depth_um"] = float(depth.split()[0])
    except (AttributeError, IndexError, ValueError):
        raise _E(f"{name}: dataset '{DEPTH}' is {depth!r}; expected the imaging depth, e.g. "
                 "'175 microns' (the neurons' cortical_z)") from None
    meta["cre_line"] = meta["genotype"].split(";")[0]  # as AllenSDK's get_metadata
    meta["scan"] = meta["ophys_experiment_id"] or Path(name).stem
    return meta


def _cells(f, name: str, n_cells: int, fov: str):
    """Each cell's specimen id and ROI centroid (x, y, pixels), and µm per x, y pixel."""
    ids_path, listed = f"{SEGMENTATION}/cell_specimen_ids", f"{SEGMENTATION}/imaging_plane_1/roi_list"
    ids = _get(f, name, ids_path, 1, "(cells,) ids")
    rois = [v.decode("utf-8") if isinstance(v, bytes) else str(v)
            for v in _get(f, name, listed, 1, "(cells,) ROI names", numeric=False)]
    for hpath, got in ((ids_path, ids.tolist()), (listed, rois)):
        if len(got) != n_cells or len(set(got)) != n_cells:
            raise _E(f"{name}: '{hpath}' holds {len(got)} entries ({len(set(got))} distinct) for "
                     f"{n_cells} cells of '{DFF}/data'; expected one distinct entry per cell")
    xy = np.empty((n_cells, 2))
    for i, roi in enumerate(rois):
        g = f"{SEGMENTATION}/imaging_plane_1/{roi}"
        if f"{g}/img_mask" in f or f"{g}/pix_mask" not in f:
            m = _get(f, name, f"{g}/img_mask", 2, f"the mask of ROI '{roi}', cell index {i}")
            w, (ys, xs) = m[m != 0].astype(float), np.nonzero(m)
        else:  # rows of [x, y] (AllenSDK allensdk/brain_observatory/roi_masks.py)
            px = _get(f, name, f"{g}/pix_mask", 2, "(pixels, 2) x, y")
            xs, ys, w = px[:, 0], px[:, 1], np.ones(len(px))
        if w.sum() <= 0 or not np.isfinite(w).all():
            raise _E(f"{name}: the mask of ROI '{roi}' ('{g}') is empty")
        xy[i] = np.average(xs, weights=w), np.average(ys, weights=w)
    m = _FOV.search(fov)
    um = (float(m[1]) / int(m[3]), float(m[2]) / int(m[4])) if m else (DEFAULT_UM_PER_PX,) * 2
    return ids, xy, (*um, "general/fov" if m else "default 400 µm / 512 px (no general/fov)")


def _attrs(name, shape, image_size, window, clipped, grey, split, um) -> dict:
    frames = ("each presentation's frames [start, end)" if window is None else
              f"the frames {window[0]:g} <= t - onset < {window[1]:g} s")
    return {"schema": STATIC.name, "format": FORMAT, "source": name,
            "response": f"mean ΔF/F over {frames}", "responses_clipped_fraction": clipped,
            "response_note": "ΔF/F, not deconvolved events (Shi et al. 2022 summed L0 events)",
            "grey_presentations_dropped": grey, "test_fraction": split[0],
            "tier_split": "by scene: every repeat of a scene in one tier",
            "validation_fraction": split[1], "seed": int(split[2]),
            "original_image_shape": list(shape), "um_per_pixel": list(um[:2]),
            "um_per_pixel_from": um[2],
            "image_rescaling": f"bilinear with anti-aliasing to {list(image_size)} (skimage "
                               "resize), 0-255 kept; aspect ratio not kept"}
