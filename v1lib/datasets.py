"""``data_manifest.yaml``: every dataset the book can use, and ``load(name)``.

A *simulated* entry names a generator (:func:`_generators`), its config and seed;
the data are made on first use and cached by config hash. An *external* entry
names its source, licence, files (URL and sha256), format and loader
(:data:`LOADERS`); files are fetched with pooch, verified against their
checksum, and read by the loader. A file whose checksum is not recorded yet
(``sha256: null``) is never downloaded unverified: ``load(name)`` asks the user
to download it and ``load(path)`` it instead. Both kinds are made under a lock
(:mod:`v1lib.locking`): processes that need a dataset at once make it once. A
path is read by the reader of its format (:data:`READERS`): NetCDF files of any
declared schema, the folders and zips of the Sensorium file-tree layout, the
release of Xu et al. 2023 (freely moving sessions), and the ophys NWB 1 files of the
Allen Brain Observatory (natural scenes).
The manifest's ``photographs`` record the source and licence of the photographs
that simulated entries crop their natural images from (:func:`photograph_sources`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from . import parallel, paths, profiles
from .cache import config_hash, netcdf_attrs, provenance
from .config import load_yaml
from .data.allen_observatory import load_natural_scenes
from .data.image_folder import is_image_folder, load_image_folder
from .data.netcdf import load_scans, save_scans
from .data.sensorium import load_sensorium
from .data.sensorium2023 import is_sensorium2023, load_sensorium2023
from .data.xu2023 import is_xu2023, load_xu2023
from .locking import locked

SIMULATED_KEYS = {"kind", "description", "generator", "config", "seed"}
EXTERNAL_KEYS = {"kind", "description", "source", "doi", "url", "licence", "files", "format",
                 "loader", "citation"}
TOP_KEYS = {"version", "datasets", "photographs"}
# each source of the simulator's photographs: the package and folder its files are in,
# the files, and their licence (`licences`: per file, where the files' licences differ)
PHOTOGRAPH_KEYS = {"package", "folder", "url", "licence", "licences", "citation", "files"}
PHOTOGRAPH_NEEDS = {"package", "folder", "licence", "files"}


class ManifestError(ValueError):
    """The manifest is malformed or does not list a dataset."""


class UnknownDatasetError(ManifestError, KeyError):
    """A name that is neither a file nor a dataset of the manifest."""

    __str__ = ValueError.__str__


def _generators():
    """Each generator: (config dict, seed) -> (typed config, scan names, simulate
    one scan, simulator version)."""
    from .sim import freely_moving, objects, static, video

    def generator(module, config_class, on_device=True):
        def make(config: dict, seed: int):
            cfg = config_class.from_dict(config, source="data_manifest.yaml")
            extra = lambda device: {"device": device} if on_device else {}
            return (cfg, module.scan_names(cfg, seed),
                    lambda i, show, device: module.simulate_scan(cfg, seed, i, show,
                                                                 **extra(device)),
                    module.SIMULATOR_VERSION)
        return make

    return {"static": generator(static, static.StaticConfig),
            "video": generator(video, video.VideoConfig),
            "freely_moving": generator(freely_moving, freely_moving.FreelyMovingConfig),
            "objects": generator(objects, objects.ObjectsConfig, on_device=False)}


def _make_simulated(name: str, entry: dict, path: Path, show_progress: bool) -> None:
    """Simulate scan by scan into ``<path>.parts/`` (so an interrupted run resumes
    from the scans already written), then assemble ``path`` atomically. The
    caller holds the lock of ``path``."""
    seed = int(entry["seed"])
    cfg, names, simulate, _ = _generators()[entry["generator"]](entry.get("config") or {}, seed)
    parts = path.with_suffix(".parts")
    todo = [(i, scan) for i, scan in enumerate(names) if not (parts / f"{scan}.nc").is_file()]
    device = profiles.device()  # CUDA when present: there, scans are simulated one by one
    one_by_one = parallel.workers(device, jobs=len(todo)) == 1

    def make(i, scan):  # scans are independent: on a CPU, several are simulated at once
        # "auto": each job picks its device where it runs (a Dask worker may have no GPU)
        save_scans({scan: simulate(i, show_progress and one_by_one, "auto")}, parts / f"{scan}.nc")

    if todo:
        parallel.run_jobs(make, todo, device=device, desc=f"simulating {name}", unit="scan",
                          show_progress=show_progress)
    scans = {k: v for scan in names for k, v in load_scans(parts / f"{scan}.nc",
                                                            validate=False).items()}
    made_on = sorted({ds.attrs.get("sim_device", "cpu") for ds in scans.values()})
    prov = provenance(config=cfg, seed=seed, device="+".join(made_on))
    save_scans(scans, path, attrs={"dataset": name, **netcdf_attrs(prov)})
    for part in parts.glob("*.nc"):
        part.unlink()
    parts.rmdir()


# loader name (in the manifest) -> reader of one file, folder or zip -> {scan: Dataset}
LOADERS = {"netcdf": load_scans, "sensorium2022": load_sensorium,
           "sensorium2023": load_sensorium2023, "xu2023": load_xu2023,
           "allen_observatory": load_natural_scenes, "image_folder": load_image_folder}
# how a path given by the user is read: (does this reader take it?, reader); the first that
# takes it reads it (a file tree with data/videos is Sensorium 2023 video data; one with
# {train,test}_nsp_seg_<i>.npy files the Xu et al. 2023 release; a .nwb file an Allen Brain
# Observatory ophys experiment; a folder of one folder of images per class, or of train/ and
# val/ such folders, a task's labelled images)
READERS = (
    (lambda p: (p.is_dir() or p.suffix == ".zip") and is_sensorium2023(p), load_sensorium2023),
    (lambda p: (p.is_dir() or p.suffix == ".zip") and is_xu2023(p), load_xu2023),
    (is_image_folder, load_image_folder),
    (lambda p: p.is_dir() or p.suffix == ".zip", load_sensorium),
    (lambda p: p.suffix == ".nwb", load_natural_scenes),
    (lambda p: p.suffix in (".nc", ".h5", ".netcdf") or p.is_file(), load_scans),
)


def _read_all(loader: str, files) -> dict:
    return {k: v for f in files for k, v in LOADERS[loader](f).items()}


def _read_doc(path=None) -> tuple[Path, dict]:
    path = Path(path) if path else paths.repo_root() / "data_manifest.yaml"
    try:
        doc = load_yaml(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ManifestError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("datasets"), dict):
        raise ManifestError(f"{path}: expected a top-level mapping 'datasets'")
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise ManifestError(f"{path.name}: unknown top-level key(s) {sorted(unknown)}; "
                            f"known: {sorted(TOP_KEYS)}")
    _check_photographs(path, doc.get("photographs", {}))
    return path, doc


def _check_photographs(path: Path, sources) -> None:
    if not isinstance(sources, dict):
        raise ManifestError(f"{path.name}: 'photographs' must map each source of photographs "
                            f"to its {sorted(PHOTOGRAPH_NEEDS)}")
    for name, e in sources.items():
        where = f"{path.name}: photographs '{name}'"
        if not isinstance(e, dict):
            raise ManifestError(f"{where}: expected a mapping of {sorted(PHOTOGRAPH_NEEDS)}")
        if set(e) - PHOTOGRAPH_KEYS:
            raise ManifestError(f"{where}: unknown key(s) {sorted(set(e) - PHOTOGRAPH_KEYS)}")
        if PHOTOGRAPH_NEEDS - set(e):
            raise ManifestError(f"{where}: missing key(s) {sorted(PHOTOGRAPH_NEEDS - set(e))}")
        files = e["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ManifestError(f"{where}: 'files' must be a list of file names")
        stray = set(e.get("licences") or {}) - set(files)
        if stray:
            raise ManifestError(f"{where}: 'licences' names files not in 'files': {sorted(stray)}")


def photograph_sources(path=None) -> dict:
    """The manifest's sources of the simulator's photographs: ``{source: entry}``
    with the package, folder, files and licence of each."""
    return _read_doc(path)[1].get("photographs", {})


def read_manifest(path=None) -> dict:
    """Read and check the manifest; return ``{name: entry}``."""
    path, doc = _read_doc(path)
    for name, e in doc["datasets"].items():
        where = f"{path.name}: dataset '{name}'"
        if not isinstance(e, dict) or e.get("kind") not in ("simulated", "external"):
            raise ManifestError(f"{where}: 'kind' must be 'simulated' or 'external'")
        allowed = SIMULATED_KEYS if e["kind"] == "simulated" else EXTERNAL_KEYS
        unknown = set(e) - allowed
        if unknown:
            raise ManifestError(f"{where}: unknown key(s) {sorted(unknown)}")
        need = ({"generator", "seed"} if e["kind"] == "simulated"
                else {"source", "licence", "files", "format", "loader"})
        missing = need - set(e)
        if missing:
            raise ManifestError(f"{where}: missing key(s) {sorted(missing)}")
        seed = e.get("seed")
        if e["kind"] == "simulated" and (type(seed) is not int or not 0 <= seed < 2**32):
            raise ManifestError(f"{where}: 'seed' must be an integer from 0 to 2**32 - 1, "
                                f"got {seed!r}")
        if e["kind"] == "simulated" and e["generator"] not in _generators():
            raise ManifestError(f"{where}: unknown generator '{e['generator']}'; "
                                f"known: {sorted(_generators())}")
        if e["kind"] == "external":
            if e["loader"] not in LOADERS:
                raise ManifestError(f"{where}: unknown loader '{e['loader']}'; "
                                    f"known: {sorted(LOADERS)}")
            for f in e["files"]:
                if not isinstance(f, dict) or not {"name", "url", "sha256"} <= set(f):
                    raise ManifestError(f"{where}: every file needs 'name', 'url' and 'sha256'")
                sha = f["sha256"]
                if sha is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(sha)):
                    raise ManifestError(f"{where}, file '{f['name']}': 'sha256' must be 64 hex "
                                        f"digits, or null while the checksum is not recorded")
    return doc["datasets"]


def simulated_path(name: str, entry: dict, results_dir=None) -> Path:
    """Cache file of a simulated entry, keyed by the *resolved* config (defaults
    included), the seed and the simulator version: changing any of them makes a
    new dataset instead of reusing a stale one."""
    cfg, _, _, version = _generators()[entry["generator"]](entry.get("config") or {},
                                                           int(entry["seed"]))
    key = config_hash({"generator": entry["generator"], "config": cfg, "seed": int(entry["seed"]),
                       "version": version})
    return paths.results_dir(results_dir) / "data" / f"{name}-{key}.nc"


def fetch(name: str, entry: dict, cache_dir) -> list[Path]:
    """Download (once) and verify every file of an external dataset."""
    import pooch

    for f in entry["files"]:
        if f["sha256"] is None:
            raise ManifestError(
                f"dataset '{name}', file '{f['name']}': no sha256 is recorded in "
                f"data_manifest.yaml, so the download could not be verified and is not made. "
                f"Download the file yourself from {f['url']} and load it by path, "
                f"v1lib.datasets.load('path/to/{f['name']}'), or record its sha256 "
                f"(sha256sum {f['name']}) under datasets.{name}.files in data_manifest.yaml.")
    out = []
    folder = Path(cache_dir) / name
    with locked(folder):  # one process at a time downloads a dataset
        for f in entry["files"]:
            try:
                local = pooch.retrieve(f["url"], known_hash=f"sha256:{f['sha256']}",
                                       fname=f["name"], path=folder, progressbar=False)
            except ValueError as err:  # pooch: hash mismatch (the download is discarded)
                raise ValueError(f"dataset '{name}', file '{f['name']}': checksum mismatch; "
                                 f"the download from {f['url']} does not match the sha256 in "
                                 f"data_manifest.yaml ({err})") from None
            except Exception as err:  # network and HTTP errors
                raise OSError(f"dataset '{name}', file '{f['name']}': download from {f['url']} "
                              f"failed ({type(err).__name__}: {err})") from None
            out.append(Path(local))
    return out


def load(name_or_path: str | os.PathLike, results_dir=None, manifest=None,
         show_progress: bool = True):
    """Load a dataset by manifest name, or by path: ``{scan: Dataset}``.

    A path is a NetCDF file, or one Sensorium scan (its folder or ``.zip``): 2023 video data
    (with ``data/videos``, :func:`v1lib.data.sensorium2023.load_sensorium2023`), else 2022
    static data (:func:`v1lib.data.sensorium.load_sensorium`); or the Xu et al. 2023 release
    (folder or ``.zip`` with ``{train,test}_nsp_seg_<i>.npy`` files,
    :func:`v1lib.data.xu2023.load_xu2023`); or an Allen Brain Observatory ophys ``.nwb`` file
    (:func:`v1lib.data.allen_observatory.load_natural_scenes`); or a folder of labelled images,
    ``<class>/*`` or ``train/<class>/*`` and ``val/<class>/*``
    (:func:`v1lib.data.image_folder.read_image_folder`).
    """
    p = Path(str(name_or_path)).expanduser()
    for takes, read in READERS:
        if takes(p):
            return read(p)
    entries = read_manifest(manifest)
    if str(name_or_path) not in entries:
        raise UnknownDatasetError(f"unknown dataset '{name_or_path}': not a file and not in "
                       f"data_manifest.yaml (known: {sorted(entries)})")
    name = str(name_or_path)
    entry = entries[name]
    if entry["kind"] == "simulated":
        path = simulated_path(name, entry, results_dir)
        if not path.is_file():
            with locked(path):
                if not path.is_file():  # not made by another process meanwhile
                    _make_simulated(name, entry, path, show_progress)
        return load_scans(path)
    files = fetch(name, entry, paths.results_dir(results_dir) / "downloads")
    return _read_all(entry["loader"], files)
