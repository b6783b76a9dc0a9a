"""A catalogue of bad inputs to the command line: each is refused before any work
with exit code 1 (bad input) or 2 (bad command line) and one line ``error: ...``
naming the option, file or variable, no traceback, and nothing written, changed
or removed (a previous good run is still in place)."""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from v1lib.cli import main
from v1lib.data import STATIC, save_scans
from v1lib.data.sensorium import write_sensorium_folder

from .conftest import ROOT

FIT = "fit --model point --profile smoke --seed 1 --quiet"


def micro_scan(name="m1", n_neurons=6, seed=0) -> xr.Dataset:
    """A tiny scan in the static schema: 24 train, 6 validation, 4 test images x 2."""
    rng = np.random.default_rng(seed)
    tiers = ["train"] * 24 + ["validation"] * 6 + ["test"] * 8
    n, h, w = len(tiers), 18, 32
    f32 = lambda a: a.astype(np.float32)
    ds = xr.Dataset(
        {"images": (("trial", "y", "x"), f32(rng.integers(0, 255, (n, h, w)))),
         "responses": (("trial", "neuron"), f32(rng.gamma(1.0, 1.0, (n, n_neurons)))),
         "behavior": (("trial", "behavior_var"), f32(rng.random((n, 3)) + 1)),
         "pupil_center": (("trial", "eye_axis"), f32(rng.normal(size=(n, 2))))},
        coords={"trial": np.arange(n), "tier": ("trial", np.array(tiers)),
                "image_id": ("trial", np.r_[np.arange(30), np.repeat(np.arange(30, 34), 2)]),
                "y": np.arange(h), "x": np.arange(w), "behavior_var": ["pupil", "dpupil", "running"],
                "eye_axis": ["x", "y"], "animal": ("neuron", np.full(n_neurons, name)),
                "unit_id": ("neuron", np.arange(n_neurons)),
                **{f"cortical_{a}": ("neuron", f32(100 * rng.random(n_neurons))) for a in "xyz"}},
        attrs={"scan": name, "schema": "static"})
    return STATIC.validate(ds)


def run(argv) -> tuple[int, str, str]:
    """``main(argv)`` in-process: exit code, stdout, stderr."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:  # argparse
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A good NetCDF file, a finished fit on it, and a Sensorium folder and zip."""
    base = tmp_path_factory.mktemp("base")
    save_scans({"m1": micro_scan()}, base / "good.nc")
    rc, _, err = run([*FIT.split(), "--data", base / "good.nc", "--out", base / "run"])
    assert rc == 0, err
    folder = write_sensorium_folder(micro_scan("21067-10-18"),
                                    base / "static21067-10-18-GrayImageNet-0", image_shape=None)
    with zipfile.ZipFile(base / "scan.zip", "w") as z:
        for p in sorted(folder.rglob("*.npy")):
            z.write(p, p.relative_to(base).as_posix())
    return base


@pytest.fixture
def paths(base, tmp_path) -> dict:
    """Fresh copies of the good inputs in ``tmp_path``, by placeholder."""
    for name in ("good.nc", "scan.zip"):
        shutil.copy(base / name, tmp_path / name)
    for name in ("run", "static21067-10-18-GrayImageNet-0"):
        shutil.copytree(base / name, tmp_path / name)
    (tmp_path / "afile").write_text("a file, not a folder\n")
    (tmp_path / "old.nc").write_bytes(b"a previous good result")
    return {"tmp": tmp_path, "data": tmp_path / "good.nc", "run": tmp_path / "run",
            "sens": tmp_path / "static21067-10-18-GrayImageNet-0", "zip": tmp_path / "scan.zip",
            "out": tmp_path / "new", "root": ROOT}


# -- ways to spoil a good input --------------------------------------------------------------


def write(rel, text):
    return lambda p: (p["tmp"] / rel).write_text(text)


def truncate(rel, keep=40):
    def spoil(p):
        path = p["tmp"] / rel
        path.write_bytes(path.read_bytes()[:keep])
    return spoil


def interrupted_run(checkpoint: bytes | None):
    """The finished run as if stopped mid-training, its checkpoint replaced."""
    def spoil(p):
        for name in ("model.pt", "history.nc", "provenance.json", "metrics.json", "predictions.nc"):
            (p["run"] / name).unlink()
        if checkpoint is None:
            torch.save({"model": {}, "optimizer": {}}, p["run"] / "checkpoint.pt")
            truncate("run/checkpoint.pt", 100)(p)
        else:
            (p["run"] / "checkpoint.pt").write_bytes(checkpoint)
    return spoil


def scan_file(name="bad.nc", **change):
    """A NetCDF file of one micro scan with ``change(ds)`` applied."""
    def spoil(p):
        ds = micro_scan()
        for fn in change.values():
            ds = fn(ds) or ds
        save_scans({"m1": ds}, p["tmp"] / name)
    return spoil


def responses(fn):
    def change(ds):
        ds["responses"].values[:] = fn(ds["responses"].values, ds["tier"].values)
    return change


def attrs(**new):
    """Rewrite root attributes of good.nc as bad.nc."""
    def spoil(p):
        import h5py

        shutil.copy(p["data"], p["tmp"] / "bad.nc")
        with h5py.File(p["tmp"] / "bad.nc", "a") as f:
            f.attrs.update(new)
    return spoil


def sens(rel, value=None, remove=False):
    """Replace (or remove) one file of the Sensorium folder."""
    def spoil(p):
        path = p["sens"] / rel
        if remove:
            path.unlink()
        elif isinstance(value, bytes):
            path.write_bytes(value)
        else:
            np.save(path, value, allow_pickle=True)
    return spoil


SIM = "simulate static --seed 1 --quiet --out {tmp}/old.nc"
DATA = "--data {data} --out {run}"

# (id, spoil the good inputs, command, exit code, words the one-line message holds)
CASES = [
    # simulate
    ("sim-negative-seed", None, "simulate static --seed -3 --out {tmp}/old.nc", 2, ["--seed", "-3"]),
    ("sim-huge-seed", None, "simulate static --seed 4294967296 --out {tmp}/old.nc", 2,
     ["--seed", "4294967296"]),
    ("sim-fractional-seed", None, "simulate static --seed 1.5 --out {tmp}/old.nc", 2, ["--seed"]),
    ("sim-unknown-kind", None, "simulate holography --seed 1 --out {tmp}/old.nc", 2, ["holography"]),
    ("sim-missing-out", None, "simulate static --seed 1", 2, ["--out"]),
    ("sim-config-missing", None, SIM + " --config {tmp}/none.yaml", 1, ["--config", "none.yaml"]),
    ("sim-config-not-yaml", write("c.yaml", "n_train: [1,\n"), SIM + " --config {tmp}/c.yaml", 1,
     ["--config", "c.yaml", "YAML"]),
    ("sim-config-a-list", write("c.yaml", "- 1\n"), SIM + " --config {tmp}/c.yaml", 1,
     ["c.yaml", "mapping"]),
    ("sim-config-float-count", write("c.yaml", "n_train: 200.7\n"), SIM + " --config {tmp}/c.yaml",
     1, ["c.yaml", "n_train: expected an integer, got 200.7"]),
    ("sim-config-text-count", write("c.yaml", "population: {n_neurons: many}\n"),
     SIM + " --config {tmp}/c.yaml", 1, ["population.n_neurons", "'many'"]),
    ("sim-config-unknown-option", write("c.yaml", "n_animal: 2\n"), SIM + " --config {tmp}/c.yaml",
     1, ["c.yaml", "n_animal"]),
    ("sim-config-section-not-mapping", write("c.yaml", "population: 5\n"),
     SIM + " --config {tmp}/c.yaml", 1, ["population", "mapping"]),
    ("sim-config-one-repeat", write("c.yaml", "test_repeats: 1\n"), SIM + " --config {tmp}/c.yaml",
     1, ["test_repeats"]),
    ("sim-config-bad-image-mix", write("c.yaml", "image_mix: {natural: 0}\n"),
     SIM + " --config {tmp}/c.yaml", 1, ["image_mix"]),
    ("sim-out-under-a-file", None, "simulate static --seed 1 --out {tmp}/afile/x.nc", 1,
     ["--out", "afile"]),
    ("sim-out-a-folder", None, "simulate static --seed 1 --out {run}", 1, ["--out", "folder"]),
    ("sim-unknown-device", None, SIM + " --device tpu", 2, ["--device", "tpu"]),
    ("sim-missing-cuda-device", None, SIM + " --device cuda:99", 1, ["--device", "cuda:99"]),
    ("sim-objects-missing-cuda-device", None, SIM.replace("static", "objects") + " --device cuda:99",
     1, ["--device", "cuda:99"]),
    # fit: the command line
    ("fit-negative-seed", None, "fit --model point --seed -1 " + DATA, 2, ["--seed"]),
    ("fit-huge-seed", None, f"fit --model point --seed {2**32} " + DATA, 2, ["--seed"]),
    ("fit-unknown-device", None, FIT + " --device tpu " + DATA, 2, ["--device", "tpu"]),
    ("fit-missing-cuda-device", None, FIT + " --device cuda:99 " + DATA, 1, ["--device", "cuda:99"]),
    ("fit-unknown-readout", None, "fit --model gauss --seed 1 " + DATA, 2, ["--model", "gauss"]),
    ("fit-unscorable-tier", None, FIT + " --tier train " + DATA, 2, ["--tier", "train"]),
    ("fit-unknown-profile", None, "fit --model point --profile nope --seed 1 " + DATA, 1,
     ["profile 'nope'"]),
    ("fit-shifter-without-position", None, FIT.replace("point", "factorized") + " --shifter "
     + DATA, 1, ["factorized", "shifter"]),
    # fit: the output folder
    ("fit-out-a-file", None, FIT + " --data {data} --out {tmp}/afile", 1, ["--out", "afile"]),
    ("fit-out-under-a-file", None, FIT + " --data {data} --out {tmp}/afile/run", 1,
     ["--out", "afile"]),
    ("fit-results-dir-a-file", None, FIT + " --results-dir {tmp}/afile " + DATA, 1,
     ["--results-dir", "afile"]),
    ("fit-another-configuration", None, FIT.replace("--seed 1", "--seed 2") + " " + DATA, 1,
     ["run", "another configuration", "--restart"]),
    ("fit-truncated-model", truncate("run/model.pt"), FIT + " " + DATA, 1,
     ["model.pt", "unreadable", "--restart"]),
    ("fit-truncated-checkpoint", interrupted_run(None), FIT + " " + DATA, 1,
     ["checkpoint.pt", "unreadable", "--restart"]),
    ("fit-text-checkpoint", interrupted_run(b"not a checkpoint\n"), FIT + " " + DATA, 1,
     ["checkpoint.pt", "unreadable", "--restart"]),
    ("fit-corrupt-config-json", write("run/config.json", '{"seed": '), FIT + " " + DATA, 1,
     ["config.json", "--restart"]),
    ("fit-corrupt-history", truncate("run/history.nc"), FIT + " " + DATA, 1,
     ["history.nc", "--restart"]),
    # fit: the data
    ("fit-unknown-dataset", None, FIT + " --data no-such-dataset --out {out}", 1,
     ["unknown dataset 'no-such-dataset'"]),
    ("fit-text-file-as-data", write("text.nc", "hello\n"), FIT + " --data {tmp}/text.nc --out {out}",
     1, ["text.nc", "NetCDF"]),
    ("fit-no-test-trials", scan_file(t=lambda ds: ds.isel(trial=ds.tier.values != "test")),
     FIT + " --data {tmp}/bad.nc --out {out}", 1, ["bad.nc", "'m1'", "no 'test' samples"]),
    ("fit-no-validation-trials", scan_file(t=lambda ds: ds.isel(trial=ds.tier.values != "validation")),
     FIT + " --data {tmp}/bad.nc --out {out}", 1, ["bad.nc", "no 'validation' samples"]),
    ("fit-all-zero-responses", scan_file(r=responses(lambda r, t: 0)),
     FIT + " --data {tmp}/bad.nc --out {out}", 1, ["bad.nc", "'responses'", "all zero"]),
    ("fit-withheld-test-responses", scan_file(r=responses(lambda r, t: r * (t != "test")[:, None])),
     FIT + " --data {tmp}/bad.nc --out {out}", 1, ["'test' tier are all zero", "--tier"]),
    ("fit-constant-responses", scan_file(r=responses(lambda r, t: np.ones_like(r))),
     FIT + " --data {tmp}/bad.nc --out {out}", 1, ["bad.nc", "constant"]),
    ("fit-nan-responses", scan_file(r=responses(lambda r, t: np.where(t[:, None] == "train", np.nan, r))),
     FIT + " --data {tmp}/bad.nc --out {run}", 1, ["bad.nc", "'responses'", "NaN"]),
    # data: names and NetCDF files
    ("data-unknown-name", None, "data nope", 1, ["unknown dataset 'nope'"]),
    ("data-results-dir-a-file", None, "data {data} --results-dir {tmp}/afile", 1,
     ["--results-dir", "afile"]),
    ("nc-truncated", truncate("good.nc", 200), "data {data}", 1, ["good.nc", "NetCDF"]),
    ("nc-scans-attr-not-json", attrs(scans="m1, m2"), "data {tmp}/bad.nc", 1,
     ["bad.nc", "attribute 'scans'"]),
    ("nc-scans-attr-a-number", attrs(scans="3"), "data {tmp}/bad.nc", 1,
     ["bad.nc", "attribute 'scans'"]),
    ("nc-missing-group", attrs(scans='["m1", "m2"]'), "data {tmp}/bad.nc", 1,
     ["bad.nc", "scans/m2"]),
    ("nc-unknown-schema", attrs(schema="video9"), "data {tmp}/bad.nc", 1, ["bad.nc", "video9"]),
    # the Sensorium 2022 reader
    ("sens-missing-tiers", sens("meta/trials/tiers.npy", remove=True), "data {sens}", 1,
     ["static21067", "tiers.npy"]),
    ("sens-truncated-trial", sens("data/responses/3.npy", b"\x93NUMPY\x01"), "data {sens}", 1,
     ["data/responses/3.npy"]),
    ("sens-nan-response", sens("data/responses/2.npy", np.full(6, np.nan, np.float32)),
     "data {sens}", 1, ["responses", "NaN", "2.npy"]),
    ("sens-neuron-count", sens("data/responses/5.npy", np.ones(7, np.float32)), "data {sens}", 1,
     ["data/responses/5.npy", "shape"]),
    ("sens-missing-trial", sens("data/behavior/4.npy", remove=True), "data {sens}", 1,
     ["static21067", "behavior"]),
    ("sens-unknown-tier", sens("meta/trials/tiers.npy", np.array(["train"] * 37 + ["holdout"])),
     "data {sens}", 1, ["tiers.npy", "holdout"]),
    ("sens-unit-ids-length", sens("meta/neurons/unit_ids.npy", np.arange(5)), "data {sens}", 1,
     ["unit_ids.npy", "length"]),
    ("sens-pickled-meta", sens("meta/trials/frame_image_id.npy", np.array([{}] * 38, dtype=object)),
     "data {sens}", 1, ["frame_image_id.npy", "pickled"]),
    ("sens-zip-not-a-zip", write("fake.zip", "not a zip\n"), "data {tmp}/fake.zip", 1, ["fake.zip"]),
    ("sens-zip-missing-meta", lambda p: _drop_from_zip(p["zip"], "cell_motor_coordinates.npy"),
     "data {zip}", 1, ["scan.zip", "cell_motor_coordinates.npy"]),
    # the book runner
    ("book-unknown-profile", None, "book --profile nope --no-html", 1, ["profile 'nope'"]),
    ("book-unknown-chapter", None, "book --profile smoke --only 99 --no-html", 1,
     ["chapter '99'"]),
    ("book-only-without-chapter", None, "book --only", 2, ["--only"]),
    ("book-results-dir-a-file", None, "book --profile smoke --results-dir {tmp}/afile", 1,
     ["--results-dir", "afile"]),
    ("book-unknown-option", None, "book --profiel smoke", 2, ["--profiel"]),
    ("book-unknown-executor", None, "book --profile smoke --executor threads --no-html", 1,
     ["--executor", "'threads'", "dask:N"]),
    ("book-no-dask-workers", None, "book --profile smoke --executor dask:0 --no-html", 1,
     ["--executor", "'dask:0'", "positive integer"]),
    ("no-command", None, "", 2, ["command"]),
]


def _drop_from_zip(path: Path, name: str) -> None:
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist() if not i.filename.endswith(name)}
    with zipfile.ZipFile(path, "w") as z:
        for member, data in members.items():
            z.writestr(member, data)


def refused(argv, code: int, words) -> str:
    rc, out, err = run(argv)
    lines = err.strip().splitlines()
    assert "Traceback" not in out + err, err
    assert rc == code, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.mark.parametrize("spoil, command, code, words", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(paths, spoil, command, code, words):
    if spoil is not None:
        spoil(paths)
    before = snapshot(paths["tmp"])
    refused(command.format(**paths).split(), code, [w.format(**paths) for w in words])
    assert snapshot(paths["tmp"]) == before  # nothing written, changed or removed


def test_the_catalogue_is_large():
    assert len(CASES) >= 30


def test_explicit_cuda_without_cuda_is_refused(paths):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    line = refused([*FIT.split(), "--device", "cuda", "--data", paths["data"], "--out",
                    paths["out"]], 1, ["--device 'cuda'", "CUDA"])
    assert "auto" in line and not paths["out"].exists()


def test_unknown_profile_behind_auto_names_the_variable(paths, monkeypatch):
    monkeypatch.setenv("V1LIB_PROFILE", "nope")
    refused(["book", "--no-html"], 1, ["V1LIB_PROFILE=nope"])


def test_restart_trains_over_an_unreadable_checkpoint(paths):
    interrupted_run(b"garbage")(paths)
    argv = [*FIT.split(), "--data", paths["data"], "--out", paths["run"]]
    refused(argv, 1, ["checkpoint.pt"])
    rc, _, err = run([*argv, "--restart"])
    assert rc == 0, err
    assert not (paths["run"] / "checkpoint.pt").exists()
    assert (paths["run"] / "metrics.json").is_file()


def test_model_files_are_byte_reproducible(base, tmp_path):
    rc, _, err = run([*FIT.split(), "--data", base / "good.nc", "--out", tmp_path / "again"])
    assert rc == 0, err
    for name in ("model.pt", "metrics.json"):
        assert (tmp_path / "again" / name).read_bytes() == (base / "run" / name).read_bytes(), name


def test_ctrl_c_is_one_line_and_exit_130(paths, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("v1lib.sim.static.simulate_static", interrupt)
    rc, _, err = run(["simulate", "static", "--seed", "1", "--quiet", "--out", paths["out"]])
    assert rc == 130 and err == "interrupted\n"
    assert not paths["out"].exists()


def test_ctrl_c_between_a_bars_lines_still_prints_its_own_line(paths, monkeypatch):
    """A bar stopped after it drew itself and before it ended its line (Ctrl-C
    lands anywhere): "interrupted" still goes on a line of its own."""
    from v1lib.progress import progress

    def interrupt(*args, **kwargs):
        bar = progress(total=46, desc="simulating insilico-1-1")  # draws "...| 0/46 [...]"
        bar.disable = True  # what tqdm does first when it closes a bar, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr("v1lib.sim.static.simulate_static", interrupt)
    rc, _, err = run(["simulate", "static", "--seed", "1", "--out", paths["out"]])
    assert rc == 130 and "0/46" in err and err.endswith("]\ninterrupted\n"), repr(err)


@pytest.mark.slow
def test_sigint_during_a_simulation(tmp_path):
    """A real Ctrl-C (SIGINT) while simulating: exit 130, one line, no file."""
    out = tmp_path / "sim.nc"
    proc = subprocess.Popen([sys.executable, "-m", "v1lib", "simulate", "static", "--seed", "1",
                             "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = ""
    while "simulating" not in seen:  # the progress bar: the simulation is running
        char = proc.stderr.read(1)
        assert char, seen
        seen += char
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    assert "Traceback" not in rest and rest.strip().splitlines()[-1] == "interrupted"
    assert not out.exists()
