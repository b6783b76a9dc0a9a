"""Declared schemas, NetCDF files of scans, the manifest and checksum-verified fetching."""

import dataclasses
import functools
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from v1lib.data import STATIC, SchemaError, load_scans, save_scans, schemas
from v1lib.datasets import ManifestError, load, read_manifest


def _drop(ds, name):
    return ds.drop_vars(name)


VIOLATIONS = {
    "missing responses": (lambda ds: ds.drop_vars("responses"), "missing variable 'responses'"),
    "missing tier": (lambda ds: ds.drop_vars("tier"), "missing coordinate 'tier'"),
    "transposed responses": (
        lambda ds: ds.assign(responses=ds.responses.transpose("neuron", "trial")),
        r"variable 'responses' has dims \('neuron', 'trial'\)"),
    "NaN responses": (
        lambda ds: ds.assign(responses=ds.responses.where(ds.trial != 3)),
        "variable 'responses' holds 60 NaN"),
    "NaN behaviour": (
        lambda ds: ds.assign(behavior=ds.behavior.where(ds.trial != 0)),
        "variable 'behavior' holds 3 NaN"),
    "infinite pupil": (
        lambda ds: ds.assign(pupil_center=ds.pupil_center.where(ds.trial != 1, np.inf)),
        "variable 'pupil_center' holds 2 NaN or infinite"),
    "negative responses": (lambda ds: ds.assign(responses=ds.responses - 1.0),
                           "'responses' has negative values"),
    "behaviour order": (
        lambda ds: ds.assign_coords(behavior_var=["running", "pupil", "dpupil"]),
        r"coordinate 'behavior_var' must be \['pupil', 'dpupil', 'running'\]"),
    "eye axes": (lambda ds: ds.assign_coords(eye_axis=["h", "v"]), "coordinate 'eye_axis'"),
    "unknown tier": (
        lambda ds: ds.assign_coords(tier=("trial", np.where(ds.tier == "test", "holdout",
                                                            ds.tier.values))),
        r"unknown value\(s\) \['holdout'\]"),
    "duplicate unit ids": (
        lambda ds: ds.assign_coords(unit_id=("neuron", np.zeros(ds.sizes["neuron"], int))),
        "'unit_id' has duplicate values"),
    "text images": (lambda ds: ds.assign(images=ds.images.astype(str)),
                    "variable 'images' must be numeric"),
    "NaN cortical position": (
        lambda ds: ds.assign_coords(cortical_x=ds.cortical_x.where(ds.unit_id != 0)),
        "coordinate 'cortical_x' holds NaN"),
}


@pytest.mark.parametrize("case", list(VIOLATIONS))
def test_each_schema_violation_has_a_clear_error(scan, case):
    break_it, message = VIOLATIONS[case]
    with pytest.raises(SchemaError, match=message) as err:
        STATIC.validate(break_it(scan), source="myfile.nc")
    assert str(err.value).startswith("myfile.nc: ")


def test_round_trip_keeps_everything(tmp_path, tiny_scans):
    path = save_scans(tiny_scans, tmp_path / "scans.nc", attrs={"seed": 3})
    back = load_scans(path)
    assert list(back) == list(tiny_scans)
    for name, ds in tiny_scans.items():
        # data variables, coordinates, and the attributes of each and of the scan
        xr.testing.assert_identical(back[name], ds.assign_attrs(seed=3))
        for var in ds.variables:
            assert back[name][var].dtype == ds[var].dtype, var
        assert len(ds.coords) > 5 and ds.attrs and any(ds[v].attrs for v in ds.variables)


def test_plain_single_scan_file_loads(tmp_path, scan):
    scan.drop_attrs().to_netcdf(tmp_path / "one.nc", engine="h5netcdf")
    scans = load_scans(tmp_path / "one.nc")
    assert list(scans) == ["one"]


def test_invalid_scan_in_file_is_named(tmp_path, scan):
    bad = scan.assign(responses=scan.responses.where(scan.trial != 0))
    save_scans({"mouse-a": bad}, tmp_path / "bad.nc")
    with pytest.raises(SchemaError, match=r"bad.nc \(scan 'mouse-a'\): variable 'responses'"):
        load_scans(tmp_path / "bad.nc")


def test_malformed_files(tmp_path):
    (tmp_path / "junk.nc").write_text("not a netcdf file")
    with pytest.raises(ValueError, match="junk.nc: not a readable NetCDF file"):
        load_scans(tmp_path / "junk.nc")
    with pytest.raises(FileNotFoundError, match="missing.nc"):
        load_scans(tmp_path / "missing.nc")


def test_failed_write_leaves_nothing(tmp_path, scan):
    bad = scan.copy()
    bad.attrs["nested"] = {"a": 1}  # NetCDF cannot store a dict attribute
    with pytest.raises(TypeError, match="nested"):
        save_scans({"x": bad}, tmp_path / "out.nc")
    assert list(tmp_path.iterdir()) == []


def test_files_record_and_dispatch_on_their_schema(tmp_path, scan):
    path = save_scans({"a": scan}, tmp_path / "s.nc")
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as root:
        assert root.attrs["schema"] == "static"
    # a file that names an unknown schema is refused by name
    bad = scan.copy()
    bad.attrs["schema"] = "holography"
    with pytest.raises(SchemaError,
                       match=r"unknown schema 'holography'; known: \['session', 'static', 'task', 'video'\]"):
        save_scans({"a": bad}, tmp_path / "t.nc")
    assert not (tmp_path / "t.nc").exists()
    # a plain file without the attribute is matched by its variables
    plain = scan.drop_attrs()
    assert schemas.of(plain) is STATIC
    with pytest.raises(SchemaError, match="matches no declared schema"):
        schemas.of(plain.drop_vars("images"))
    # files written before schemas had names
    old = scan.copy()
    old.attrs["schema"] = "v1lib static"
    assert schemas.of(old) is STATIC


def test_a_file_holds_scans_of_one_schema(tmp_path, scan, monkeypatch):
    from v1lib.data import schemas as registry

    other = dataclasses.replace(STATIC, name="other")
    monkeypatch.setitem(registry.SCHEMAS, "other", other)
    b = scan.copy()
    b.attrs["schema"] = "other"
    with pytest.raises(ValueError, match=r"follow different schemas \{'a': 'static', 'b': 'other'\}"):
        save_scans({"a": scan, "b": b}, tmp_path / "mixed.nc")
    assert not (tmp_path / "mixed.nc").exists()


def test_the_static_schema_declares_its_model_inputs():
    roles = {i.role: i.variable for i in STATIC.inputs}
    assert roles == {"stimulus": "images", "eye": "pupil_center", "behavior": "behavior"}
    assert STATIC.sample_dim == "trial" and STATIC.repeat_key == "image_id"
    assert STATIC.input("stimulus").channel and not STATIC.input("behavior").center
    with pytest.raises(KeyError, match="no input in role 'head'"):
        STATIC.input("head")


# -- the manifest -------------------------------------------------------------------


def test_repository_manifest_is_valid():
    entries = read_manifest()
    assert {"insilico-static", "insilico-static-smoke", "insilico-static-large"} <= set(entries)


def test_manifest_records_the_source_and_licence_of_every_photograph():
    from v1lib.datasets import photograph_sources
    from v1lib.sim import photographs as ph

    sources = photograph_sources()
    assert set(sources) == set(ph.SOURCES)
    for name, e in sources.items():
        listed = {f"{name}:{f}" for f in e["files"]}
        assert listed == {p for p in ph.PHOTOGRAPHS if p.startswith(f"{name}:")}, name
        assert e["licence"].strip() and e["folder"] == "/".join(ph.SOURCES[name])
    assert sources["mvtb"]["licence"].startswith("MIT")
    assert set(sources["skimage"]["licences"]) == set(sources["skimage"]["files"])
    assert all(ph._path(p).is_file() for p in ph.PHOTOGRAPHS)  # shipped in the installed packages


def _profile_datasets():
    """(main, twin key, twin) for every twin a profile names for its own data."""
    root = Path(__file__).resolve().parent.parent / "profiles"
    for path in sorted(root.glob("*.yaml")):
        prof = yaml.safe_load(path.read_text())
        main = prof.get("parameters", {}).get("data")
        for key in ("well_specified_data", "foreign_data"):
            twin = (prof.get("static_models") or {}).get(key)
            if main and twin:
                yield main, key, twin


def test_twins_keep_their_datasets_photographs_and_foreign_animals_train_on_their_own():
    from v1lib.sim.static import StaticConfig, photo_part

    entries = read_manifest()
    config = lambda n: StaticConfig.from_dict(entries[n].get("config"), source=n)
    seen = set()
    for main, key, twin in _profile_datasets():
        a, b = config(main), config(twin)
        seen.add(key)
        if key == "well_specified_data":  # the same config but the switch: the same photographs
            assert b.population.well_specified and not a.population.well_specified
            assert dataclasses.replace(b, population=a.population) == a, twin
            assert entries[twin]["seed"] == entries[main]["seed"]
        else:
            assert b.photo_parts == a.photo_parts, twin  # the same split of the scenes
            used = {photo_part(a, i) for i in range(a.n_animals)}
            assert not used & {photo_part(b, i) for i in range(b.n_animals)}, twin
    assert seen == {"well_specified_data", "foreign_data"}


@pytest.mark.parametrize("photographs, message", [
    ([], "'photographs' must map each source"),
    ({"pkg": {"package": "p", "folder": "p/d", "files": []}}, r"missing key\(s\) \['licence'\]"),
    ({"pkg": {"package": "p", "folder": "p/d", "licence": "MIT", "files": ["a.png"],
              "licences": {"b.png": "CC0"}}}, r"names files not in 'files': \['b.png'\]"),
    ({"pkg": {"package": "p", "folder": "p/d", "licence": "MIT", "files": "a.png"}},
     "'files' must be a list"),
])
def test_malformed_photograph_sources(tmp_path, photographs, message):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "photographs": photographs, "datasets": {}}))
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)
    path.write_text(yaml.safe_dump({"version": 1, "photos": {}, "datasets": {}}))
    with pytest.raises(ManifestError, match=r"unknown top-level key\(s\) \['photos'\]"):
        read_manifest(path)


def _write_manifest(path: Path, datasets: dict) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "datasets": datasets}))
    return path


@pytest.mark.parametrize("entry, message", [
    ({"kind": "recorded"}, "'kind' must be 'simulated' or 'external'"),
    ({"kind": "simulated", "generator": "static"}, r"missing key\(s\) \['seed'\]"),
    ({"kind": "simulated", "generator": "movies", "seed": 1}, "unknown generator 'movies'"),
    ({"kind": "simulated", "generator": "static", "seed": 1, "colour": 2}, "unknown key"),
    ({"kind": "external", "source": "x", "licence": "CC", "format": "netcdf", "loader": "netcdf",
      "files": [{"name": "a.nc", "url": "http://127.0.0.1/a.nc"}]},
     "every file needs 'name', 'url' and 'sha256'"),
    ({"kind": "external", "source": "x", "licence": "CC", "format": "zarr", "loader": "zarr",
      "files": []}, "unknown loader 'zarr'"),
])
def test_malformed_manifest_entries(tmp_path, entry, message):
    path = _write_manifest(tmp_path / "m.yaml", {"bad-entry": entry})
    with pytest.raises(ManifestError, match=f"dataset 'bad-entry': {message}"):
        read_manifest(path)


def test_unknown_dataset_name(tmp_path):
    path = _write_manifest(tmp_path / "m.yaml", {})
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        load("nope", manifest=path, results_dir=tmp_path)


def test_simulated_entry_is_made_once_and_cached(tmp_path):
    entry = {"kind": "simulated", "generator": "static", "seed": 5,
             "config": {"n_animals": 1, "n_train": 20, "n_validation": 5, "n_test_images": 4,
                        "test_repeats": 2, "population": {"n_neurons": 10}}}
    path = _write_manifest(tmp_path / "m.yaml", {"tiny": entry})
    first = load("tiny", manifest=path, results_dir=tmp_path / "res", show_progress=False)
    files = list((tmp_path / "res" / "data").glob("tiny-*.nc"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    second = load("tiny", manifest=path, results_dir=tmp_path / "res")
    assert files[0].stat().st_mtime_ns == mtime  # not regenerated
    ds = second["insilico-5-1"]
    np.testing.assert_array_equal(first["insilico-5-1"].responses, ds.responses)
    assert ds.attrs["config_hash"] and ds.attrs["seed"] == 5 and "git_commit" in ds.attrs


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _external(url, sha):
    return {"kind": "external", "description": "test data", "source": "the tests",
            "url": url, "licence": "CC0-1.0", "format": "netcdf", "loader": "netcdf",
            "files": [{"name": "scans.nc", "url": f"{url}/scans.nc", "sha256": sha}]}


def test_external_dataset_fetched_and_verified(tmp_path, server, tiny_scans):
    www, url = server
    save_scans(tiny_scans, www / "scans.nc")
    sha = hashlib.sha256((www / "scans.nc").read_bytes()).hexdigest()
    path = _write_manifest(tmp_path / "m.yaml", {"remote": _external(url, sha)})
    scans = load("remote", manifest=path, results_dir=tmp_path / "res")
    assert list(scans) == list(tiny_scans)
    assert (tmp_path / "res" / "downloads" / "remote" / "scans.nc").is_file()


def test_checksum_mismatch_is_refused(tmp_path, server, tiny_scans):
    www, url = server
    save_scans(tiny_scans, www / "scans.nc")
    path = _write_manifest(tmp_path / "m.yaml", {"remote": _external(url, "0" * 64)})
    with pytest.raises(ValueError, match="dataset 'remote', file 'scans.nc': checksum mismatch"):
        load("remote", manifest=path, results_dir=tmp_path / "res")
    folder = tmp_path / "res" / "downloads" / "remote"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_missing_remote_file(tmp_path, server):
    _, url = server
    path = _write_manifest(tmp_path / "m.yaml", {"remote": _external(url, "0" * 64)})
    with pytest.raises(OSError, match="dataset 'remote', file 'scans.nc': download from"):
        load("remote", manifest=path, results_dir=tmp_path / "res")


@pytest.mark.slow
def test_interrupted_simulation_resumes(tmp_path, monkeypatch):
    import v1lib.datasets as manifest

    entry = {"kind": "simulated", "generator": "static", "seed": 9,
             "config": {"n_animals": 2, "n_train": 20, "n_validation": 5, "n_test_images": 4,
                        "test_repeats": 2, "population": {"n_neurons": 10}}}
    path = _write_manifest(tmp_path / "m.yaml", {"two": entry})
    real = manifest._generators

    def failing_second():
        gens = real()

        def static(config, seed):
            cfg, names, simulate, version = gens["static"](config, seed)

            def sim(i, show, device):
                if i == 1:
                    raise KeyboardInterrupt("stopped by the user")
                return simulate(i, show, device)

            return cfg, names, sim, version

        return {"static": static}

    monkeypatch.setattr(manifest, "_generators", failing_second)
    with pytest.raises(KeyboardInterrupt):
        load("two", manifest=path, results_dir=tmp_path / "res", show_progress=False)
    data = tmp_path / "res" / "data"
    assert not list(data.glob("*.nc"))  # no incomplete dataset
    parts = list(data.glob("*.parts/*.nc"))
    assert [p.name for p in parts] == ["insilico-9-1.nc"]
    mtime = parts[0].stat().st_mtime_ns

    calls = []

    def counting():
        gens = real()

        def static(config, seed):
            cfg, names, simulate, version = gens["static"](config, seed)
            count = lambda i, show, device: calls.append(i) or simulate(i, show, device)
            return cfg, names, count, version

        return {"static": static}

    monkeypatch.setattr(manifest, "_generators", counting)
    assert parts[0].stat().st_mtime_ns == mtime
    scans = load("two", manifest=path, results_dir=tmp_path / "res", show_progress=False)
    assert calls == [1]  # only the missing scan was simulated
    assert list(scans) == ["insilico-9-1", "insilico-9-2"]
    assert not list(data.glob("*.parts"))
    # and the resumed dataset equals an uninterrupted simulation
    from v1lib.sim.static import StaticConfig, simulate_static

    fresh = simulate_static(StaticConfig.from_dict(entry["config"]), 9, show_progress=False)
    for name in fresh:
        np.testing.assert_array_equal(scans[name].responses.values, fresh[name].responses.values)
        # each scan says where its drives were computed, and so does the dataset's provenance
        made_on = "cuda" if torch.cuda.is_available() else "cpu"
        assert scans[name].attrs["sim_device"] == fresh[name].attrs["sim_device"] == made_on
    assert {ds.attrs["device"] for ds in scans.values()} == {made_on}


def test_cache_key_follows_resolved_config(monkeypatch, tmp_path):
    from v1lib.datasets import simulated_path

    entry = {"kind": "simulated", "generator": "static", "seed": 1, "config": {}}
    before = simulated_path("x", entry, tmp_path)
    # spelling out a default is the same dataset
    assert simulated_path("x", {**entry, "config": {"n_animals": 3}}, tmp_path) == before
    assert simulated_path("x", {**entry, "seed": 2}, tmp_path) != before
    noisier = {**entry, "config": {"population": {"noise_log_mean": 0.5}}}
    assert simulated_path("x", noisier, tmp_path) != before
    # a new simulator version never reuses data made by the old one
    monkeypatch.setattr("v1lib.sim.static.SIMULATOR_VERSION", 999)
    assert simulated_path("x", entry, tmp_path) != before
